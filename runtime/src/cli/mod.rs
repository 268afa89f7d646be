//! The command line, runc's: global flags, then one verb. Each verb's clap type and its
//! translation into library calls lives in a file of its own.

mod create;
mod delete;
mod error;
mod events;
mod features;
mod exec;
mod kill;
mod list;
pub mod log;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod update;

pub use error::Error;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// berth: a low-level OCI container runtime with runc's command line.
#[derive(Debug, Parser)]
#[command(name = "berth", version = VERSION, disable_version_flag = true)]
pub struct Cli {
    /// Directory for container state (tmpfs recommended).
    /// [default: /run/berth; $XDG_RUNTIME_DIR/berth for an unprivileged user]
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Write errors (and debug records) to this file too.
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Format of --log records.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log debug records.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Treat linux.cgroupsPath as systemd's "slice:prefix:name".
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility; berth has no CRIU support yet.
    #[arg(long, hide = true, value_name = "PATH")]
    pub criu: Option<String>,
    /// Accepted for runc compatibility ("auto", "true", "false"); berth finds out itself
    /// whether it runs unprivileged.
    #[arg(long, hide = true, value_name = "VALUE")]
    pub rootless: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long, action = clap::ArgAction::Version)]
    pub version: Option<bool>,
    #[command(subcommand)]
    pub command: Command,
}

const VERSION: &str = concat!("version ", env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0");

/// Format of --log records.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container from a bundle; its process waits for `start`.
    Create(create::CreateArgs),
    /// Start the process of a created container.
    Start(start::StartArgs),
    /// Print the state of a container as JSON.
    State(state::StateArgs),
    /// Send a signal to a container's init (or all its processes).
    Kill(kill::KillArgs),
    /// Delete a container and what it owns on the host.
    Delete(delete::DeleteArgs),
    /// Create and start a container, and wait for it unless detached.
    Run(run::RunArgs),
    /// List containers.
    List(list::ListArgs),
    /// Write a default config.json.
    Spec(spec::SpecArgs),
    /// Run a process in a running container.
    Exec(exec::ExecArgs),
    /// Freeze every process of a container.
    Pause(pause::PauseArgs),
    /// Thaw a paused container.
    Resume(pause::ResumeArgs),
    /// List a container's processes.
    Ps(ps::PsArgs),
    /// Print cgroup statistics and OOM events.
    Events(events::EventsArgs),
    /// Change a container's resource limits.
    Update(update::UpdateArgs),
    /// Print what this runtime supports, as the runtime-spec's features JSON.
    Features(features::FeaturesArgs),
}

/// Global settings every verb may need.
pub struct Globals {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
}

/// Is `arg` one of the verbs that clone processes into the container (the init, the exec
/// helper), as written on the command line?
///
/// berth's entry point asks this before its own relocations are applied (see early_seal):
/// byte patterns only, no table of strings (pointers stored in data) and no string
/// comparison (memcmp).
pub fn is_cloning_verb(arg: &[u8]) -> bool {
    matches!(arg, [b'c', b'r', b'e', b'a', b't', b'e'] | [b'r', b'u', b'n'] | [b'e', b'x', b'e', b'c'])
}

/// Run the verb; the result is the process exit code.
pub fn dispatch(cli: Cli) -> Result<i32, Error> {
    let root = match cli.root {
        Some(root) => root,
        None => berth_runtime::container::rootless::default_state_root().ok_or(Error::NoStateRoot)?,
    };
    let globals = Globals { root, systemd_cgroup: cli.systemd_cgroup };
    match cli.command {
        Command::Create(args) => args.run(&globals),
        Command::Start(args) => args.run(&globals),
        Command::State(args) => args.run(&globals),
        Command::Kill(args) => args.run(&globals),
        Command::Delete(args) => args.run(&globals),
        Command::Run(args) => args.run(&globals),
        Command::List(args) => args.run(&globals),
        Command::Spec(args) => args.run(),
        Command::Exec(args) => args.run(&globals).map_err(|e| Error::ExecFailed(Box::new(e))),
        Command::Pause(args) => args.run(&globals),
        Command::Resume(args) => args.run(&globals),
        Command::Ps(args) => args.run(&globals),
        Command::Events(args) => args.run(&globals),
        Command::Update(args) => args.run(&globals),
        Command::Features(args) => args.run(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cloning_verbs_are_the_subcommands_that_clone() {
        let cli = Cli::command();
        let mut cloning: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).filter(|name| is_cloning_verb(name.as_bytes())).collect();
        cloning.sort_unstable();
        assert_eq!(cloning, ["create", "exec", "run"]);
        for verb in cloning {
            let found = cli.find_subcommand(verb).unwrap_or_else(|| panic!("{verb} is not a subcommand"));
            assert!(found.get_all_aliases().next().is_none(), "{verb} has an alias main would not see");
        }
        assert!(!is_cloning_verb(b"runs") && !is_cloning_verb(b"") && !is_cloning_verb(b"Run"));
    }
}
