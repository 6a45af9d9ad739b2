//! The `reconmap` binary: a thin command-line edge over the ReconMap crates.
mod cli;
mod output;

fn main() -> std::process::ExitCode {
    cli::main()
}
