//! The exit-code rule, one for every command (as fd's `exit_codes.rs` and
//! ripgrep do): 0 healthy / nothing would be lost / done; 1 findings /
//! something would be lost / partly done; 2 refused / fatal / error.
//! A command that meets several outcomes reports the most severe
//! (`Ord::max`: the variants are ordered by severity). README.md and every man page's EXIT STATUS quote
//! [`RULE`].

/// The rule as one sentence per code, for `--help`, man pages and README.
pub const RULE: [(u8, &str); 3] = [
    (0, "Healthy, nothing would be lost, or the work was done."),
    (
        1,
        "Findings: layout warnings (verify, status), a declared path that would be lost (status: not persisted, missing, a copy file not saved, moved by persist but not declared), something would be lost or could not be read (diff), the work was partly done (boot: some paths failed, or an error after a bind such as writes that raced it not carried over; the others are in place), or config entries were refused for their errors (every command; the others were used).",
    ),
    (
        2,
        "Refused, fatal or error: a fatal layout finding (verify, status), a refused boot or persist, bad input (a missing PATH, a bad --root or config), or an error that stopped the command.",
    ),
];

/// The outcome of a command, ordered by severity so that `max` merges them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Healthy, nothing would be lost, or the work was done.
    Ok = 0,
    /// Findings, something would be lost, or the work was partly done.
    Findings = 1,
    /// Refused, a fatal finding, or an error that stopped the command.
    Error = 2,
}

impl Exit {
    /// [`Exit::Findings`] when something was found, else [`Exit::Ok`].
    pub fn findings_if(found: bool) -> Exit {
        if found { Exit::Findings } else { Exit::Ok }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::{Exit, RULE};

    #[test]
    fn max_keeps_the_most_severe() {
        let all = [Exit::Ok, Exit::Findings, Exit::Error];
        for a in all {
            for b in all {
                assert_eq!(a.max(b), b.max(a));
                assert_eq!(a.max(b) as u8, (a as u8).max(b as u8));
            }
        }
        assert_eq!(Exit::findings_if(true), Exit::Findings);
        assert_eq!(Exit::findings_if(false), Exit::Ok);
    }

    #[test]
    fn the_rule_names_every_code() {
        let codes: Vec<u8> = RULE.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            codes,
            [Exit::Ok as u8, Exit::Findings as u8, Exit::Error as u8]
        );
    }
}
