//! Test-only power-loss simulator: keeps what was written apart from what is durable,
//! and rebuilds a directory tree as a power cut would leave it.
//!
//! Every `fdatasync` and directory `fsync` of the engine goes through
//! `fsutil::sync_data` / `fsutil::sync_dir`, which report here. For paths under a root
//! registered with [`register`], a file sync records the file's bytes *as they were
//! when the sync started* as the durable content of its inode, and a directory sync
//! records the directory's entries (name → inode). Capturing before the sync is the
//! pessimistic choice: bytes written while the sync runs may or may not be covered.
//!
//! [`power_loss`] then builds a fresh copy of the tree:
//! - [`Mode::Pessimistic`]: each directory holds exactly the entries of its last
//!   synced listing (creations, renames and unlinks since then revert), and each file
//!   the content of its last sync (empty if it was never synced).
//! - [`Mode::Torn`]: less pessimistic, as a journalling file system after a crash:
//!   each directory independently keeps either its synced or its current listing,
//!   and each file keeps its synced content plus a random prefix of the bytes
//!   written since (write-back reached some point and stopped).
//!
//! Registration is per root, so tests running in parallel on different temporary
//! directories never see each other's files.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Identifies one file or directory for as long as it exists. The birth time guards
/// against an inode number reused after an unlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Inode {
    dev: u64,
    ino: u64,
    born: Option<SystemTime>,
}

impl Inode {
    fn of(meta: &std::fs::Metadata) -> Inode {
        Inode {
            dev: meta.dev(),
            ino: meta.ino(),
            born: meta.created().ok(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
}

type Listing = BTreeMap<OsString, (Inode, Kind)>;

/// The durable state of one registered tree.
struct Root {
    id: u64,
    path: PathBuf,
    root_inode: Inode,
    /// Durable content of each file: (capture sequence, bytes).
    files: HashMap<Inode, (u64, Vec<u8>)>,
    /// Durable listing of each directory: (capture sequence, entries).
    dirs: HashMap<Inode, (u64, Listing)>,
}

struct Sim {
    roots: Vec<Root>,
    next_id: u64,
    seq: u64,
}

static SIM: Mutex<Sim> = Mutex::new(Sim {
    roots: Vec::new(),
    next_id: 1,
    seq: 0,
});

fn sim() -> std::sync::MutexGuard<'static, Sim> {
    SIM.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sim {
    fn root_for(&self, path: &Path) -> Option<u64> {
        self.roots
            .iter()
            .find(|r| path.starts_with(&r.path))
            .map(|r| r.id)
    }

    fn root_mut(&mut self, id: u64) -> Option<&mut Root> {
        self.roots.iter_mut().find(|r| r.id == id)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// Keeps a tree registered until dropped.
pub struct Registration {
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        sim().roots.retain(|r| r.id != self.id);
    }
}

/// Starts tracking `root`. Whatever the tree holds now counts as durable (the test
/// made it before the simulated machine started).
pub fn register(root: &Path) -> Registration {
    let root_inode = Inode::of(&std::fs::metadata(root).expect("root exists"));
    let mut state = Root {
        id: 0,
        path: root.to_path_buf(),
        root_inode,
        files: HashMap::new(),
        dirs: HashMap::new(),
    };
    snapshot_tree(root, &mut state);
    let mut sim = sim();
    state.id = sim.next_id;
    sim.next_id += 1;
    let id = state.id;
    sim.roots.push(state);
    Registration { id }
}

fn snapshot_tree(dir: &Path, state: &mut Root) {
    let meta = std::fs::metadata(dir).expect("dir exists");
    let listing = list(dir);
    for (name, (inode, kind)) in &listing {
        let path = dir.join(name);
        match kind {
            Kind::Dir => snapshot_tree(&path, state),
            Kind::File => {
                let bytes = std::fs::read(&path).expect("readable file");
                state.files.insert(*inode, (0, bytes));
            }
        }
    }
    state.dirs.insert(Inode::of(&meta), (0, listing));
}

fn list(dir: &Path) -> Listing {
    let mut listing = Listing::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return listing;
    };
    for entry in entries.flatten() {
        // An entry removed between the listing and the stat was not there.
        let Ok(meta) = entry.metadata() else { continue };
        let kind = if meta.is_dir() {
            Kind::Dir
        } else if meta.is_file() {
            Kind::File
        } else {
            continue;
        };
        listing.insert(entry.file_name(), (Inode::of(&meta), kind));
    }
    listing
}

/// A file's bytes read just before its sync.
pub struct FileCapture {
    root: u64,
    seq: u64,
    inode: Inode,
    bytes: Vec<u8>,
}

/// A directory's entries read just before its sync.
pub struct DirCapture {
    root: u64,
    seq: u64,
    inode: Inode,
    listing: Listing,
}

/// Reads `file`'s current bytes if `path` lies under a registered root.
pub fn capture_file(file: &File, path: &Path) -> Option<FileCapture> {
    let (root, seq) = {
        let mut sim = sim();
        let root = sim.root_for(path)?;
        (root, sim.next_seq())
    };
    let meta = file.metadata().ok()?;
    // Through /proc, so a file opened write-only (or already unlinked) can be read.
    let mut bytes = Vec::new();
    File::open(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .ok()?;
    Some(FileCapture {
        root,
        seq,
        inode: Inode::of(&meta),
        bytes,
    })
}

/// Records a captured file as durable (its sync succeeded).
pub fn file_synced(capture: Option<FileCapture>) {
    let Some(c) = capture else { return };
    let mut sim = sim();
    if let Some(root) = sim.root_mut(c.root) {
        let slot = root.files.entry(c.inode).or_insert((0, Vec::new()));
        // Two syncs of one file may finish out of order: the later capture wins.
        if c.seq >= slot.0 {
            *slot = (c.seq, c.bytes);
        }
    }
}

/// Reads `dir`'s entries if it lies under a registered root.
pub fn capture_dir(dir: &Path) -> Option<DirCapture> {
    let (root, seq) = {
        let mut sim = sim();
        let root = sim.root_for(dir)?;
        (root, sim.next_seq())
    };
    let inode = Inode::of(&std::fs::metadata(dir).ok()?);
    Some(DirCapture {
        root,
        seq,
        inode,
        listing: list(dir),
    })
}

/// Records a captured directory listing as durable.
pub fn dir_synced(capture: Option<DirCapture>) {
    let Some(c) = capture else { return };
    let mut sim = sim();
    if let Some(root) = sim.root_mut(c.root) {
        let slot = root.dirs.entry(c.inode).or_insert((0, Listing::new()));
        if c.seq >= slot.0 {
            *slot = (c.seq, c.listing);
        }
    }
}

/// How much of the unsynced state survives the cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing that was not synced.
    Pessimistic,
    /// Random prefixes of unsynced writes, and directories either as synced or as
    /// they are; the seed makes the choices repeatable.
    Torn {
        /// Seed of the random choices.
        seed: u64,
    },
}

/// A small deterministic generator (SplitMix64) for repeatable test choices.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo + 1)
        }
    }
}

/// What the tree at a registered `root` would hold after a power cut now, built as a
/// fresh tree in `target` (an empty directory). The real tree is not touched, so the
/// threads still writing to it do not disturb the copy.
pub fn power_loss(root: &Path, mode: Mode, target: &Path) {
    // The durable state at one instant: taken under the lock, copied out.
    let (root_inode, files, dirs) = {
        let sim = sim();
        let state = sim
            .roots
            .iter()
            .find(|r| r.path == root)
            .expect("root is registered");
        (state.root_inode, state.files.clone(), state.dirs.clone())
    };
    let mut rebuild = Rebuild {
        files,
        dirs,
        rng: match mode {
            Mode::Pessimistic => None,
            Mode::Torn { seed } => Some(Rng::new(seed)),
        },
    };
    rebuild.dir(root_inode, Some(root), target);
}

struct Rebuild {
    files: HashMap<Inode, (u64, Vec<u8>)>,
    dirs: HashMap<Inode, (u64, Listing)>,
    rng: Option<Rng>,
}

impl Rebuild {
    /// Writes directory `inode` into `target`; `live` is where it exists now, if known.
    fn dir(&mut self, inode: Inode, live: Option<&Path>, target: &Path) {
        let synced = self
            .dirs
            .get(&inode)
            .map(|d| d.1.clone())
            .unwrap_or_default();
        let current = live.map(list);
        let keep_current = self.rng.as_mut().is_some_and(|rng| rng.next_u64() % 2 == 0);
        let listing = match current {
            Some(current) if keep_current => current,
            _ => synced,
        };
        for (name, (child, kind)) in listing {
            let out = target.join(&name);
            // The child's present location, if it still has this name.
            let live_child = live
                .map(|p| p.join(&name))
                .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| Inode::of(&m) == child));
            match kind {
                Kind::Dir => {
                    std::fs::create_dir(&out).expect("create dir in copy");
                    self.dir(child, live_child.as_deref(), &out);
                }
                Kind::File => {
                    let bytes = self.file(child, live_child.as_deref());
                    std::fs::write(&out, bytes).expect("write file in copy");
                }
            }
        }
    }

    fn file(&mut self, inode: Inode, live: Option<&Path>) -> Vec<u8> {
        let durable = self
            .files
            .get(&inode)
            .map(|f| f.1.clone())
            .unwrap_or_default();
        let Some(rng) = &mut self.rng else {
            return durable;
        };
        let Some(current) = live.and_then(|p| std::fs::read(p).ok()) else {
            return durable;
        };
        // Write-back reached some point past the last synced byte and stopped there.
        let same = durable
            .iter()
            .zip(&current)
            .take_while(|(a, b)| a == b)
            .count();
        let cut = rng.range(same as u64, current.len() as u64) as usize;
        let mut out = current[..cut].to_vec();
        if durable.len() > cut {
            out.extend_from_slice(&durable[cut..]);
        }
        out
    }
}
