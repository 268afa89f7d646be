//! berth-img: parse the command line, run the verb, map errors to exit codes.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    if let Err(error) = cli::run(args) {
        eprintln!("berth-img: {error}");
        std::process::exit(1);
    }
}
