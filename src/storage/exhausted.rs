//! Running out of file descriptors or memory maps, told apart from other I/O errors:
//! it is not damage and not a bug, but a limit an operator can raise, and the
//! operation works again once files are closed or the limit is raised.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// EMFILE: the process reached its open-file limit.
const EMFILE: i32 = 24;
/// ENFILE: the system-wide file table is full.
const ENFILE: i32 = 23;
/// ENOMEM: from `mmap`, no room for another map (`vm.max_map_count`) or address space.
const ENOMEM: i32 = 12;

/// Which resource ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// The process has as many files open as its limit (`ulimit -n`) allows.
    Files {
        /// The soft limit, when it could be read.
        limit: Option<u64>,
    },
    /// The whole system's open-file table is full.
    SystemFiles,
    /// No memory for another map: too many maps (`vm.max_map_count`) or no address space.
    Memory,
}

impl Exhausted {
    /// The resource `error` reports as exhausted, if it is one of ours.
    pub fn of(error: &io::Error) -> Option<Exhausted> {
        match error.raw_os_error()? {
            EMFILE => Some(Exhausted::Files {
                limit: open_file_limit(),
            }),
            ENFILE => Some(Exhausted::SystemFiles),
            ENOMEM => Some(Exhausted::Memory),
            _ => None,
        }
    }
}

impl fmt::Display for Exhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exhausted::Files { limit: Some(limit) } => {
                write!(f, "too many open files (limit {limit})")
            }
            Exhausted::Files { limit: None } => write!(f, "too many open files"),
            Exhausted::SystemFiles => write!(f, "the system's open-file table is full"),
            Exhausted::Memory => write!(
                f,
                "out of memory maps or address space (see vm.max_map_count)"
            ),
        }
    }
}

/// The last limit read successfully (0: none yet).
static LAST_KNOWN_LIMIT: AtomicU64 = AtomicU64::new(0);

/// The process's soft limit on open files, read from `/proc/self/limits` (Linux), so
/// the message can say which limit was hit. Reading it takes a file descriptor, which
/// is exactly what is missing when the limit is hit: then the last value read is used
/// (see [`remember_open_file_limit`]).
pub fn open_file_limit() -> Option<u64> {
    let read = || -> Option<u64> {
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    };
    match read() {
        Some(limit) => {
            LAST_KNOWN_LIMIT.store(limit, Ordering::Relaxed);
            Some(limit)
        }
        None => Some(LAST_KNOWN_LIMIT.load(Ordering::Relaxed)).filter(|l| *l > 0),
    }
}

/// Reads the file limit (once) while a descriptor is surely free, so that a later
/// message about running out can name it.
pub fn remember_open_file_limit() {
    if LAST_KNOWN_LIMIT.load(Ordering::Relaxed) == 0 {
        open_file_limit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_map_exhaustion_are_recognised() {
        let emfile = io::Error::from_raw_os_error(EMFILE);
        let Some(Exhausted::Files { limit }) = Exhausted::of(&emfile) else {
            panic!("EMFILE not recognised");
        };
        #[cfg(target_os = "linux")]
        assert!(limit.is_some_and(|l| l > 0));
        let shown = Exhausted::Files { limit: Some(128) }.to_string();
        assert_eq!(shown, "too many open files (limit 128)");
        assert_eq!(
            Exhausted::of(&io::Error::from_raw_os_error(ENFILE)),
            Some(Exhausted::SystemFiles)
        );
        assert_eq!(
            Exhausted::of(&io::Error::from_raw_os_error(ENOMEM)),
            Some(Exhausted::Memory)
        );
        assert_eq!(Exhausted::of(&io::Error::from_raw_os_error(2)), None);
        assert_eq!(Exhausted::of(&io::Error::other("x")), None);
    }
}
