use super::Globals;
use berth_runtime::container;
use super::Error;
use clap::Args;

/// `berth kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process in the container's cgroup, not only its init.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Container id.
    pub id: String,
    /// Signal name (TERM, SIGTERM) or number (0 only checks that the init exists).
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

impl KillArgs {
    pub fn run(&self, globals: &Globals) -> Result<i32, Error> {
        let signal = container::parse_signal(&self.signal)?;
        container::kill(&globals.root, &self.id, signal, self.all)?;
        Ok(0)
    }
}
