use super::create::CreateFlags;
use super::Globals;
use berth_runtime::container::{self, RunMode};
use super::Error;
use clap::Args;

/// `berth run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CreateFlags,
    /// Return once the process has started instead of waiting for it.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep the container once its process has exited (delete it later).
    #[arg(long)]
    pub keep: bool,
    /// Container id.
    pub id: String,
}

impl RunArgs {
    pub fn run(&self, globals: &Globals) -> Result<i32, Error> {
        Ok(container::run(&globals.root, &self.common.options(&self.id, globals), RunMode { detach: self.detach, keep: self.keep })?)
    }
}
