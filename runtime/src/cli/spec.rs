use super::Error;
use clap::Args;
use std::path::PathBuf;

/// `berth spec`.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Where to write config.json.
    #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Write the template for an unprivileged user: the caller's ids mapped to root in a user
    /// namespace, no network namespace, /sys bound from the host, no resources.
    #[arg(long)]
    pub rootless: bool,
}

impl SpecArgs {
    pub fn run(&self) -> Result<i32, Error> {
        let path = self.bundle.join("config.json");
        if path.exists() {
            return Err(Error::SpecExists(path));
        }
        let mut config = berth_runtime::plan::default_config();
        if self.rootless {
            berth_runtime::plan::to_rootless(&mut config, nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
        }
        let text = serde_json::to_string_pretty(&config).expect("a JSON value serializes");
        std::fs::write(&path, text + "\n").map_err(|source| Error::Write { path, source })?;
        Ok(0)
    }
}
