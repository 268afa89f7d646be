use super::Globals;
use crate::container::{self, Event};
use crate::error::Error;
use clap::Args;
use std::io::Write;
use std::time::Duration;

/// `berth events`: container statistics and OOM notifications as JSON lines.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Print one stats sample and exit.
    #[arg(long)]
    pub stats: bool,
    /// Time between stats samples (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Container id.
    pub id: String,
}

impl EventsArgs {
    pub fn run(&self, globals: &Globals) -> Result<i32, Error> {
        let id = self.id.as_str();
        if self.stats {
            let stats = container::stats(&globals.root, id)?;
            println!("{}", serde_json::json!({ "type": "stats", "id": id, "data": stats }));
            return Ok(0);
        }
        let mut out = std::io::stdout();
        container::events(&globals.root, id, self.interval, |event| {
            let line = match event {
                Event::Stats(stats) => serde_json::json!({ "type": "stats", "id": id, "data": stats }),
                Event::Oom => serde_json::json!({ "type": "oom", "id": id }),
            };
            // A closed stdout (the reader went away) ends the stream.
            writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
        })?;
        Ok(0)
    }
}

/// "5s", "500ms", "1m", "2h", or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 5s or 500ms"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    if seconds <= 0.0 {
        return Err(format!("{text:?}: the interval must be positive"));
    }
    Ok(Duration::from_secs_f64(seconds))
}
