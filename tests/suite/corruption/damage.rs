//! Damaging files and looking at the result: bit flips, zeroed ranges and cuts;
//! the batches of a segment; `eventlog verify`; the server's log lines.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use eventlog::storage::verify::{WalkEvent, walk};

/// A batch as found in a segment file.
#[derive(Debug, Clone, Copy)]
pub struct BatchAt {
    pub position: u64,
    pub length: u64,
    pub first: u64,
    pub last: u64,
}

/// Segment files of a partition directory in base-offset order.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    found.sort();
    found
}

/// The batches of a segment file, in order.
pub fn batches(segment: &Path) -> Vec<BatchAt> {
    let mut found = Vec::new();
    walk(segment, &mut |event| {
        if let WalkEvent::Batch {
            position, header, ..
        } = event
        {
            found.push(BatchAt {
                position,
                length: u64::from(header.length),
                first: header.base_offset,
                last: header.last_offset(),
            });
        }
    })
    .unwrap();
    found
}

pub fn flip_bit(path: &Path, position: u64) {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, position).unwrap();
    file.write_all_at(&[byte[0] ^ 0x10], position).unwrap();
}

pub fn zero_range(path: &Path, from: u64, to: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(&vec![0u8; (to - from) as usize], from)
        .unwrap();
}

pub fn truncate(path: &Path, len: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(len).unwrap();
}

/// `eventlog verify` on `data`: (success, stdout).
pub fn verify(data: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .arg("verify")
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("run eventlog verify");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.success(), format!("{stdout}{stderr}"))
}

/// Asserts that verify fails with an error line naming `path` at byte `position`.
pub fn assert_verify_finds(data: &Path, path: &Path, position: u64) {
    let (ok, out) = verify(data);
    assert!(!ok, "verify passed damaged data:\n{out}");
    let wanted = format!("error: {} at byte {position}:", path.display());
    assert!(
        out.lines().any(|l| l.starts_with(&wanted)),
        "no line starting with {wanted:?} in:\n{out}"
    );
}

/// Whether the server logged, at WARN or ERROR, a line naming `path` and `position`.
pub fn logged(logs: &[serde_json::Value], path: &Path, position: Option<u64>) -> bool {
    let path = path.display().to_string();
    logs.iter().any(|line| {
        let level = line["level"].as_str().unwrap_or_default();
        let fields = &line["fields"];
        let names_file = fields
            .as_object()
            .is_some_and(|f| f.values().any(|v| v.as_str() == Some(path.as_str())));
        let at = position.is_none_or(|p| fields["position"].as_u64() == Some(p));
        (level == "WARN" || level == "ERROR") && names_file && at
    })
}
