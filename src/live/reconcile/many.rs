//! Reconciling several hidden originals at once: `boot` binds every seeded
//! entry first and then settles them together, so the [`SETTLE`] quiet time
//! is waited once per run, not once per entry (289 seeded directories took
//! 56 s of sleeping before). Each original still follows the single rules
//! of [`reconcile`](super::reconcile): passes until nothing
//! was carried for [`SETTLE`], no holder, a final pass that carries nothing;
//! an error per original after [`GIVE_UP`].

use std::collections::HashSet;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Carried, GIVE_UP, SETTLE, Snapshot, give_up_message, held, pass};

/// One original to reconcile: see [`reconcile`](super::reconcile).
#[derive(Debug)]
pub struct Original<'a> {
    /// An fd opened on the original before the bind.
    pub hidden: BorrowedFd<'a>,
    /// The bound copy (host path).
    pub copy: &'a Path,
    /// The snapshot of the copy taken right after copying.
    pub snap: &'a mut Snapshot,
    /// The live path, for messages.
    pub shown: &'a Path,
}

/// Where one original is.
struct State {
    out: Carried,
    last: Instant,
    ids: HashSet<(u64, u64)>,
    changing: Vec<std::path::PathBuf>,
    done: Option<anyhow::Result<Carried>>,
}

/// Reconcile every original in `all` together (see the module docs); the
/// result for each, in order. `forced`: see
/// [`reconcile`](super::reconcile).
pub fn reconcile_all(all: &mut [Original<'_>], forced: &[u32]) -> Vec<anyhow::Result<Carried>> {
    let proc = Path::new("/proc");
    let start = Instant::now();
    let mut st: Vec<State> = all
        .iter()
        .map(|_| State {
            out: Carried::default(),
            last: start,
            ids: HashSet::new(),
            changing: Vec::new(),
            done: None,
        })
        .collect();
    let mut snaps: Vec<&mut Snapshot> = all.iter_mut().map(|o| &mut *o.snap).collect();
    super::note_mapped(proc, &mut snaps);
    loop {
        let now = Instant::now();
        let mut ready = Vec::new();
        for (i, (o, s)) in all.iter_mut().zip(&mut st).enumerate() {
            if s.done.is_some() {
                continue;
            }
            match pass(o.hidden, o.copy, o.snap, &mut s.out) {
                Err(e) => s.done = Some(Err(e)),
                Ok(p) => {
                    (s.ids, s.changing) = (p.ids, p.changing);
                    if p.carried {
                        s.last = Instant::now();
                    } else if now - s.last >= SETTLE {
                        ready.push(i);
                    }
                }
            }
        }
        if !ready.is_empty() {
            settle(proc, all, &mut st, &ready);
        }
        if now - start >= GIVE_UP {
            for (o, s) in all.iter().zip(&mut st).filter(|(_, s)| s.done.is_none()) {
                s.done = Some(give_up(proc, o, s, forced));
            }
        }
        if st.iter().all(|s| s.done.is_some()) {
            return st.into_iter().map(|s| s.done.expect("all done")).collect();
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The originals quiet for [`SETTLE`] (`ready`: indices): one holders
/// scan for all of them (one per original only when something holds one),
/// then each one's final pass.
fn settle(proc: &Path, all: &mut [Original<'_>], st: &mut [State], ready: &[usize]) {
    let union: HashSet<(u64, u64)> = ready
        .iter()
        .flat_map(|&i| st[i].ids.iter().copied())
        .collect();
    let (holders, cwds) = held(proc, &union);
    let anyone = !holders.is_empty() || !cwds.is_empty();
    if holders.iter().any(|h| h.how == super::Hold::Mapped) {
        let mut snaps: Vec<&mut Snapshot> = (all.iter_mut().enumerate())
            .filter(|(i, _)| ready.contains(i))
            .map(|(_, o)| &mut *o.snap)
            .collect();
        super::note_mapped(proc, &mut snaps);
    }
    for &i in ready {
        let (o, s) = (&mut all[i], &mut st[i]);
        let (holders, cwds) = if anyone {
            held(proc, &s.ids)
        } else {
            (Vec::new(), Vec::new())
        };
        if !holders.is_empty() {
            continue;
        }
        match pass(o.hidden, o.copy, o.snap, &mut s.out) {
            Err(e) => s.done = Some(Err(e)),
            Ok(p) if !p.carried => {
                super::warn_working_directories(o.shown, &cwds);
                s.done = Some(Ok(std::mem::take(&mut s.out)));
            }
            Ok(_) => s.last = Instant::now(),
        }
    }
}

/// [`GIVE_UP`] reached for `o`: an error naming what still changes and who
/// holds what, unless only `forced` writers hold it and nothing changes.
fn give_up(
    proc: &Path,
    o: &Original<'_>,
    s: &mut State,
    forced: &[u32],
) -> anyhow::Result<Carried> {
    let (holders, cwds) = held(proc, &s.ids);
    super::warn_working_directories(o.shown, &cwds);
    if s.changing.is_empty() && holders.iter().all(|h| forced.contains(&h.pid)) {
        for h in &holders {
            tracing::warn!(path = %o.shown.display(), "{h} after {} s (--force): what it writes from now on goes to the original hidden under the bind of {}, which the reboot discards; restart it", GIVE_UP.as_secs(), o.shown.display());
        }
        return Ok(std::mem::take(&mut s.out));
    }
    anyhow::bail!(give_up_message(o.shown, o.copy, &s.changing, &holders))
}
