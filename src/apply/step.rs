//! Running one step: its operations in order, stopping at the first that
//! fails; a seed that processes write to ends the step as pending.

use tracing::debug;

use super::{Cx, Outcome, dirs, links, live, moved, ops};
use crate::config::Entry;
use crate::plan::{Op, Step, What, Why};

/// Run the operations of `st` (`entry`: its config entry; every step has
/// one); the operations that completed, and how it ended.
pub(super) fn run(cx: &mut Cx, entry: Option<&Entry>, st: &Step) -> (Vec<Op>, Outcome) {
    let ops = match &st.what {
        What::Skip(why) => return (Vec::new(), Outcome::Skipped(why.clone())),
        What::Fail { error } => return (Vec::new(), failed(error.clone())),
        What::Do { ops } => ops,
    };
    if let Some(owner) = live::deferred_owner(cx, entry, ops) {
        tracing::info!(path = %st.path.display(), "{} deferred: its owner {owner} does not exist yet (created later in this activation); the pass after users and groups applies it", st.path.display());
        return (Vec::new(), Outcome::Skipped(Why::DeferredOwner { owner }));
    }
    if let Err(e) = ops::finish_fill(cx, entry, ops) {
        return (Vec::new(), failed(format!("{e:#}")));
    }
    if let Some(error) = live::written_hidden(cx, entry, ops) {
        return (Vec::new(), failed(error));
    }
    live::unsaved_seed(cx, entry, ops);
    let mut done = Vec::new();
    let mut outcome = failed("nothing to do".into());
    let (mut seeded, mut detached) = (false, false);
    let mut guard = live::SeedGuard::before(cx, entry, ops);
    for op in ops {
        debug!(path = %st.path.display(), ?op, "apply");
        let binds = matches!(op, Op::Mount { .. } | Op::Link);
        if seeded && binds && guard.pending() {
            // Seeded, not bound: processes write there (see crate::live::pending).
            let writers = std::mem::take(&mut guard.writers);
            return (done, Outcome::Pending { writers });
        }
        if let (true, Op::Mount { .. }, Some(e)) = (seeded, op, entry) {
            guard.arm(cx, e);
        }
        let same = |()| outcome.clone();
        let r = match (op, entry) {
            (_, None) => Err(anyhow::anyhow!(
                "{} is not in the config",
                st.path.display()
            )),
            (Op::CreateSource, Some(e)) => dirs::create_source(cx, e).map(same),
            (Op::Seed, Some(e)) => {
                // A merge cannot stay pending (a pending save replaces the
                // nested entries' sources): refused before it starts.
                if guard.pending() && ops::merges(cx, e) {
                    return (done, failed(live::merge_written(e, &guard.writers)));
                }
                seeded = true;
                ops::seed(cx, e).map(same)
            }
            (Op::InitMachineId, Some(e)) => ops::init_machine_id(cx, e).map(same),
            (Op::CreateTarget, Some(e)) => dirs::create_target(cx, e).map(same),
            (Op::Mount { options, hides }, Some(e)) => {
                // Planned over an empty or missing target: it must still be empty.
                let expect_empty = !*hides && !seeded && !detached;
                let r = ops::bind(cx, e, options, *hides, expect_empty).map(|()| Outcome::Bound);
                if r.is_ok() && seeded {
                    guard.reconcile(cx, e);
                }
                r
            }
            (Op::CopyIn, Some(e)) => {
                crate::live::files::copy_in(cx.root, e).map(|_| Outcome::Copied)
            }
            (Op::SaveCopy, Some(e)) => {
                crate::live::files::save(cx.root, e).map(|_| Outcome::Copied)
            }
            // Nothing to keep as planned: checked again, what holds more now is kept.
            (Op::KeepLive | Op::NothingToKeep { .. }, Some(e)) => live::keep_live(cx, e).map(same),
            (Op::CompletePending, Some(e)) => live::complete_pending(cx, e),
            (Op::Link, Some(e)) => ops::link(cx, e, seeded).map(|()| Outcome::Linked),
            (Op::Migrate { from }, Some(e)) => moved::migrate(cx, e, from).map(same),
            (Op::Detach { from }, Some(e)) => {
                detached = true;
                moved::detach(cx, e, from).map(same)
            }
            (Op::StoreLink, Some(e)) => links::store_link(cx, e).map(|()| Outcome::Linked),
            (Op::RestoreLink, Some(e)) => links::restore_link(cx, e).map(|()| Outcome::Linked),
        };
        match r {
            Ok(o) => {
                outcome = o;
                done.push(op.clone());
            }
            Err(e) => {
                let mut error = format!("{e:#}");
                if let (true, Some(entry)) = (read_only_fs(&e), entry) {
                    let fix = crate::live::status::remount_fix(&entry.root, "impermctl boot");
                    error.push_str(&format!(" ({fix})"));
                }
                return (done, failed(error));
            }
        }
    }
    // Bound or linked: the seed is the live data now (its racing writes
    // carried over once settled), its mark goes.
    if let (true, Outcome::Bound | Outcome::Linked, Some(e)) = (seeded, &outcome, entry) {
        cx.unmark.push(e.clone());
    }
    (done, outcome)
}

fn failed(error: String) -> Outcome {
    Outcome::Failed { error }
}

/// Did `e` come from a read-only filesystem (`EROFS`)? The fix is then
/// to remount the persistence root, not to rerun `boot`. Some messages
/// keep only the OS error's text (`… (os error 30)`, as std shows it).
fn read_only_fs(e: &anyhow::Error) -> bool {
    let erofs = rustix::io::Errno::ROFS;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(erofs.raw_os_error()))
            || c.downcast_ref::<rustix::io::Errno>() == Some(&erofs)
            || c.to_string()
                .ends_with(&format!("(os error {})", erofs.raw_os_error()))
    })
}
