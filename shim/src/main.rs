//! `berth-shim`: parse the command line, run the command, map the outcome to an exit code.
//!
//! `run` exits with the container's code in the foreground; every other failure prints one
//! line to stderr and exits 1, as berth and runc do.

mod cli;

use clap::Parser;

fn main() {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    // The keeper must outlive a closed stdout; a client (`logs | head`) ends like any tool.
    if !matches!(cli.command, cli::Command::Run(_)) {
        berth_shim::sys::restore_default_sigpipe();
    }
    let code = match cli::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth-shim: {e}");
            1
        }
    };
    std::process::exit(code);
}
