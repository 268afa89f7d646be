use super::Globals;
use berth_runtime::container;
use super::Error;
use clap::Args;

/// `berth delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill the container first if it is still running (SIGKILL).
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Container id.
    pub id: String,
}

impl DeleteArgs {
    pub fn run(&self, globals: &Globals) -> Result<i32, Error> {
        container::delete(&globals.root, &self.id, self.force)?;
        Ok(0)
    }
}
