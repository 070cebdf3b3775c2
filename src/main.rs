//! The `impermctl` binary: a thin shim over the library (see `lib.rs`).

fn main() -> std::process::ExitCode {
    impermctl::cli::main()
}
