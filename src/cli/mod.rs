//! The `eventlog` command line (being filled in).
