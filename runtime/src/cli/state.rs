use super::Globals;
use crate::container;
use crate::error::Error;
use clap::Args;

/// `berth state`.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// Container id.
    pub id: String,
}

impl StateArgs {
    pub fn run(&self, globals: &Globals) -> Result<i32, Error> {
        let (state, status, _) = container::load(&globals.root, &self.id)?;
        let json = serde_json::to_string_pretty(&state.public_json(status)).expect("a JSON value serializes");
        println!("{json}");
        Ok(0)
    }
}
