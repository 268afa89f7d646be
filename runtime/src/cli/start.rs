use super::Globals;
use berth_runtime::container;
use super::Error;
use clap::Args;

/// `berth start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Container id.
    pub id: String,
}

impl StartArgs {
    pub fn run(&self, globals: &Globals) -> Result<i32, Error> {
        container::start(&globals.root, &self.id)?;
        Ok(0)
    }
}
