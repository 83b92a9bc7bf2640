//! The `authzd` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    authzd::cli::main()
}
