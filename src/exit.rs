//! Exit codes, in one place: 0 healthy / nothing to lose, 1 findings, 2 error.

/// The outcome of a command, ordered by severity so that `max` merges them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Healthy, nothing would be lost, or the work was done.
    Ok = 0,
    /// Warnings (`verify`), something would be lost (`diff`), or a refusal (`boot`).
    Findings = 1,
    /// A fatal finding or an error that stopped the command.
    Error = 2,
}

impl Exit {
    /// The more severe of two outcomes.
    pub fn merge(self, other: Exit) -> Exit {
        self.max(other)
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn merge_keeps_the_most_severe() {
        assert_eq!(Exit::Ok.merge(Exit::Findings), Exit::Findings);
        assert_eq!(Exit::Error.merge(Exit::Findings), Exit::Error);
        assert_eq!(Exit::Ok.merge(Exit::Ok), Exit::Ok);
    }
}
