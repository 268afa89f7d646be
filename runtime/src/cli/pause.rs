use super::Globals;
use berth_runtime::container;
use super::Error;
use clap::Args;

/// `berth pause`.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Container id.
    pub id: String,
}

impl PauseArgs {
    pub fn run(&self, globals: &Globals) -> Result<i32, Error> {
        container::pause(&globals.root, &self.id)?;
        Ok(0)
    }
}

/// `berth resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Container id.
    pub id: String,
}

impl ResumeArgs {
    pub fn run(&self, globals: &Globals) -> Result<i32, Error> {
        container::resume(&globals.root, &self.id)?;
        Ok(0)
    }
}
