use super::Globals;
use berth_runtime::container;
use super::Error;
use clap::{Args, ValueEnum};

/// `berth ps`: the container's processes, from its cgroup.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Output format: a ps(1) table, or a JSON array of pids.
    #[arg(short = 'f', long, value_enum, default_value_t = PsFormat::Table)]
    pub format: PsFormat,
    /// Container id.
    pub id: String,
    /// Options for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `ps --format`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PsFormat {
    Table,
    Json,
}

impl PsArgs {
    pub fn run(&self, globals: &Globals) -> Result<i32, Error> {
        let pids = container::pids(&globals.root, &self.id)?;
        if let PsFormat::Json = self.format {
            println!("{}", serde_json::Value::from(pids));
            return Ok(0);
        }
        // As runc: run ps(1) and keep its header and the lines whose PID column is ours.
        let args: Vec<&str> = if self.ps_args.is_empty() { vec!["-ef"] } else { self.ps_args.iter().map(String::as_str).collect() };
        let output = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(|source| Error::Run { program: "ps", source })?;
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        let Some(header) = lines.next() else { return Ok(0) };
        let pid_column = header.split_whitespace().position(|h| h == "PID").ok_or(Error::PsNoPidColumn)?;
        println!("{header}");
        for line in lines {
            let pid = line.split_whitespace().nth(pid_column).and_then(|p| p.parse::<i32>().ok());
            if pid.is_some_and(|p| pids.contains(&p)) {
                println!("{line}");
            }
        }
        Ok(0)
    }
}
