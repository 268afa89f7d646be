use super::Globals;
use berth_runtime::container;
use super::Error;
use clap::{Args, ValueEnum};
use std::io::Write;

/// `berth list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print ids only.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `list --format`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

impl ListArgs {
    pub fn run(&self, globals: &Globals) -> Result<i32, Error> {
        let containers = container::list(&globals.root)?;
        let mut out = std::io::stdout().lock();
        if self.quiet {
            for (state, _) in &containers {
                let _ = writeln!(out, "{}", state.id);
            }
            return Ok(0);
        }
        let owner = owner_name();
        match self.format {
            ListFormat::Json => {
                let items: Vec<_> = containers
                    .iter()
                    .map(|(state, status)| {
                        let mut public = state.public(*status);
                        public.owner = &owner;
                        public
                    })
                    .collect();
                // runc prints null for an empty list; managers accept both, people prefer [].
                let _ = writeln!(out, "{}", serde_json::to_string(&items).expect("plain data serializes"));
            }
            ListFormat::Table => {
                let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from).to_vec()];
                for (state, status) in &containers {
                    let pid = if *status == berth_runtime::state::Status::Stopped { 0 } else { state.pid };
                    rows.push(vec![
                        state.id.clone(),
                        pid.to_string(),
                        status.as_str().to_owned(),
                        state.bundle.display().to_string(),
                        state.created.clone(),
                        owner.clone(),
                    ]);
                }
                print_table(&mut out, &rows);
            }
        }
        Ok(0)
    }
}

/// Columns at least 12 wide, three spaces apart, as runc's tabwriter lays them out.
fn print_table(out: &mut impl Write, rows: &[Vec<String>]) {
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns).map(|c| rows.iter().map(|r| r[c].len() + 3).max().unwrap_or(0).max(12)).collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == columns {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}", width = widths[c]));
            }
        }
        let _ = writeln!(out, "{line}");
    }
}

/// The user running berth, by name as runc shows it. Read from /etc/passwd rather than
/// through NSS, which a statically linked berth cannot load.
fn owner_name() -> String {
    let uid = nix::unistd::getuid().as_raw().to_string();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == uid).then(|| name.to_owned())
            })
        })
        .unwrap_or(uid)
}
