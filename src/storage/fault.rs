//! Test-only fault injection at the engine's write points: a test arms a fault for a
//! directory (or a single file) and a [`WritePoint`]; the next matching write fails
//! with the armed OS error (`ENOSPC`, `EDQUOT`) as a full disk would. Faults are keyed
//! by path, so tests running in parallel on different directories never interfere.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::fsutil::WritePoint;

/// `ENOSPC`: no space left on device.
pub const ENOSPC: i32 = 28;
/// `EDQUOT`: disk quota exceeded.
pub const EDQUOT: i32 = 122;
/// `EIO`: an input/output error (a bad sector).
pub const EIO: i32 = 5;

struct Armed {
    under: PathBuf,
    point: WritePoint,
    /// Only paths whose file name ends with this match (empty: any).
    suffix: String,
    errno: i32,
    /// How many matching writes still pass before the fault applies.
    skip: u32,
    /// How many more matching writes fail; `u32::MAX` until disarmed.
    remaining: u32,
}

static ARMED: Mutex<Vec<Armed>> = Mutex::new(Vec::new());

fn armed() -> std::sync::MutexGuard<'static, Vec<Armed>> {
    ARMED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Makes the next `count` writes at `point` to files under `under` whose name ends
/// with `suffix` fail with `errno`.
pub fn arm(under: &Path, point: WritePoint, suffix: &str, errno: i32, count: u32) {
    arm_after(under, point, suffix, errno, 0, count);
}

/// Like [`arm`], but the first `skip` matching writes succeed: a failure in the middle
/// of a multi-write operation.
pub fn arm_after(under: &Path, point: WritePoint, suffix: &str, errno: i32, skip: u32, count: u32) {
    armed().push(Armed {
        under: under.to_path_buf(),
        point,
        suffix: suffix.to_string(),
        errno,
        skip,
        remaining: count,
    });
}

/// Removes every fault armed under `under` ("space returns").
pub fn disarm(under: &Path) {
    armed().retain(|a| !a.under.starts_with(under));
}

/// Called by `fsutil` at each write point: fails if a matching fault is armed.
pub fn check(path: &Path, point: WritePoint) -> io::Result<()> {
    let mut list = armed();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let hit = list.iter_mut().position(|a| {
        a.point == point
            && a.remaining > 0
            && path.starts_with(&a.under)
            && name.as_deref().is_some_and(|n| n.ends_with(&a.suffix))
    });
    let Some(i) = hit else { return Ok(()) };
    if list[i].skip > 0 {
        list[i].skip -= 1;
        return Ok(());
    }
    let errno = list[i].errno;
    list[i].remaining -= 1;
    if list[i].remaining == 0 {
        list.remove(i);
    }
    Err(io::Error::from_raw_os_error(errno))
}

/// A read fault: the next reads of files under a directory whose name ends with a
/// suffix fail with `errno`, as a disk with a bad sector would.
struct ArmedRead {
    under: PathBuf,
    suffix: String,
    errno: i32,
}

static ARMED_READS: Mutex<Vec<ArmedRead>> = Mutex::new(Vec::new());

fn armed_reads() -> std::sync::MutexGuard<'static, Vec<ArmedRead>> {
    ARMED_READS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Makes every `pread` of files under `under` whose name ends with `suffix` fail with
/// `errno` (`EIO` for a bad sector) until [`disarm_reads`].
pub fn arm_read(under: &Path, suffix: &str, errno: i32) {
    armed_reads().push(ArmedRead {
        under: under.to_path_buf(),
        suffix: suffix.to_string(),
        errno,
    });
}

/// Removes every read fault armed under `under`.
pub fn disarm_reads(under: &Path) {
    armed_reads().retain(|a| !a.under.starts_with(under));
}

/// Called by `pread` before each read: fails if a matching read fault is armed.
pub fn check_read(path: &Path) -> io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let hit = armed_reads().iter().find_map(|a| {
        (path.starts_with(&a.under) && name.as_deref().is_some_and(|n| n.ends_with(&a.suffix)))
            .then_some(a.errno)
    });
    hit.map_or(Ok(()), |errno| Err(io::Error::from_raw_os_error(errno)))
}
