//! The `reconmap` binary: a thin command-line edge over the `reconmap` library.
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
