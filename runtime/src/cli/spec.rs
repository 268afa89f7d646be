use super::Error;
use clap::Args;
use std::path::PathBuf;

/// `berth spec`.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Where to write config.json.
    #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Accepted for runc compatibility; a rootless template is not offered yet.
    #[arg(long)]
    pub rootless: bool,
}

impl SpecArgs {
    pub fn run(&self) -> Result<i32, Error> {
        let path = self.bundle.join("config.json");
        if path.exists() {
            return Err(Error::SpecExists(path));
        }
        let text = serde_json::to_string_pretty(&berth_runtime::plan::default_config()).expect("a JSON value serializes");
        std::fs::write(&path, text + "\n").map_err(|source| Error::Write { path, source })?;
        Ok(0)
    }
}
