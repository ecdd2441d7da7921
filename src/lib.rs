//! eventlog
pub mod storage;
