//! The `eventlog` binary; everything lives in the library's [`eventlog::cli`].

fn main() -> std::process::ExitCode {
    eventlog::cli::main()
}
