//! berth-shim's command line: global `--root`, then one command. Each command turns its flags
//! into a call of the keeper library.

mod client;
mod run;

use std::path::PathBuf;

use berth_shim::keeper::{Error, DEFAULT_ROOT};
use clap::{Parser, Subcommand};

/// berth-shim: keeps containers run from bundles: their stdio, logs, exit codes.
#[derive(Debug, Parser)]
#[command(name = "berth-shim", version)]
pub struct Cli {
    /// Directory for the keeper's per-container state.
    #[arg(long, global = true, default_value = DEFAULT_ROOT, value_name = "DIR")]
    pub root: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a container from a bundle and keep it (in the foreground, or detached with -d).
    Run(run::RunArgs),
    /// List the containers kept under --root.
    Ps(client::PsArgs),
    /// Print a container's log.
    Logs(client::LogsArgs),
    /// Attach to a container's stdio.
    Attach(client::AttachArgs),
    /// Wait for a container to end and print its exit code.
    Wait(client::IdArgs),
    /// Send a signal to a container's init (default TERM).
    Kill(client::KillArgs),
    /// Remove an ended container's state and default log.
    Rm(client::RmArgs),
}

/// Runs the command; the result is the process's exit code.
pub fn dispatch(cli: Cli) -> Result<i32, Error> {
    let root = cli.root;
    match cli.command {
        Command::Run(args) => args.run(&root),
        Command::Ps(args) => args.run(&root),
        Command::Logs(args) => args.run(&root),
        Command::Attach(args) => args.run(&root),
        Command::Wait(args) => client::wait(&root, &args.id),
        Command::Kill(args) => args.run(&root),
        Command::Rm(args) => args.run(&root),
    }
}
