//! Test-only observation of file syncs: a test watches the files under a directory whose
//! names end with a suffix, counting their syncs (`fdatasync`/`fsync`) and optionally
//! running a callback just before each one, to hold a sync while it arranges a race.
//! Watches are keyed by path, like `fault.rs`, so parallel tests never see each other.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Runs in the syncing thread, before the sync, with the synced file's path.
pub type BeforeSync = Arc<dyn Fn(&Path) + Send + Sync>;

struct Watch {
    id: u64,
    under: PathBuf,
    suffix: String,
    count: Arc<AtomicU64>,
    before: Option<BeforeSync>,
}

static WATCHES: Mutex<(u64, Vec<Watch>)> = Mutex::new((0, Vec::new()));

fn watches() -> MutexGuard<'static, (u64, Vec<Watch>)> {
    WATCHES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A registered watch; dropping it stops watching.
pub struct SyncWatch {
    id: u64,
    count: Arc<AtomicU64>,
}

impl SyncWatch {
    /// Syncs of watched files so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }
}

impl Drop for SyncWatch {
    fn drop(&mut self) {
        watches().1.retain(|w| w.id != self.id);
    }
}

/// Watches syncs of files under `under` whose name ends with `suffix`.
pub fn watch(under: &Path, suffix: &str, before: Option<BeforeSync>) -> SyncWatch {
    let mut list = watches();
    list.0 += 1;
    let (id, count) = (list.0, Arc::new(AtomicU64::new(0)));
    list.1.push(Watch {
        id,
        under: under.to_path_buf(),
        suffix: suffix.to_string(),
        count: count.clone(),
        before,
    });
    SyncWatch { id, count }
}

/// Called by `fsutil` before each sync of `path`.
pub(crate) fn observe(path: &Path) {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let callbacks: Vec<BeforeSync> = {
        let list = watches();
        list.1
            .iter()
            .filter(|w| {
                path.starts_with(&w.under)
                    && name.as_deref().is_some_and(|n| n.ends_with(&w.suffix))
            })
            .filter_map(|w| {
                w.count.fetch_add(1, Ordering::AcqRel);
                w.before.clone()
            })
            .collect()
    };
    // Outside the lock: a callback may block until other syncs have happened.
    callbacks.iter().for_each(|f| f(path));
}
