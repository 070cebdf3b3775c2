//! Is a NixOS activation running? It rewrites files the baseline has
//! (`/etc`, users files), then relinks `/run/current-system`, and the
//! NixOS module retakes the baseline (`impermctl-baseline.path`), adopting
//! them. While it runs, the watcher holds a rewrite of a baseline file back
//! ([`super::judge::HOLD`]) instead of warning about it; at any other time
//! (`sed -i`, `passwd`, an editor) it warns at once, naming the writer.
//! Source of facts: each process's `comm` (`sys::proc::any_comm`) (a false positive only
//! delays a warning, as before).

use std::time::{Duration, Instant};

/// How long one look at `/proc` is trusted (a burst of rewrites costs one).
const FRESH: Duration = Duration::from_secs(1);

/// Is a process named `comm` (as `/proc/PID/comm` has it: at most 15
/// bytes) a NixOS activation? `switch-to-configuration` (`nixos-rebuild
/// switch|test|boot`, truncated to `switch-to-confi`) and the generation's
/// `activate` script (run at boot and by hand).
pub fn is_activation(comm: &str) -> bool {
    comm.starts_with("switch-to-conf") || comm == "activate"
}

/// The last look at `/proc`: when, and whether an activation ran.
#[derive(Debug, Default)]
pub struct Activation {
    last: Option<(Instant, bool)>,
    /// Set by tests of the decision: the answer, without looking.
    pub assumed: Option<bool>,
}

impl Activation {
    /// Does an activation run now (looked up at most every [`FRESH`])?
    pub fn running(&mut self) -> bool {
        if let Some(yes) = self.assumed {
            return yes;
        }
        if let Some((t, yes)) = self.last
            && t.elapsed() < FRESH
        {
            return yes;
        }
        let yes = crate::sys::proc::any_comm(std::path::Path::new("/proc"), is_activation);
        self.last = Some((Instant::now(), yes));
        yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_are_told_by_their_process_name() {
        for (comm, yes) in [
            ("switch-to-confi", true),
            ("switch-to-configuration", true),
            ("activate", true),
            ("sed", false),
            ("passwd", false),
            ("vim", false),
            ("activate-foo", false),
            ("bash", false),
        ] {
            assert_eq!(is_activation(comm), yes, "{comm}");
        }
        // This test process is none: a look finds none (unless one runs).
        let mut a = Activation::default();
        let first = a.running();
        assert_eq!(a.running(), first, "cached");
    }
}
