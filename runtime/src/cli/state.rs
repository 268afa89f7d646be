use super::Globals;
use berth_runtime::container;
use super::Error;
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
        let mut json = serde_json::to_string_pretty(&state.public(status)).expect("plain data serializes");
        json.push('\n');
        std::io::Write::write_all(&mut std::io::stdout().lock(), json.as_bytes()).map_err(|source| Error::Write { path: "stdout".into(), source })?;
        Ok(0)
    }
}
