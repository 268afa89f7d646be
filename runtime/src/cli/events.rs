use super::Globals;
use berth_runtime::container::{self, Event};
use super::Error;
use berth_cgroups::Stats;
use clap::Args;
use serde::Serialize;
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
            println!("{}", Line::stats(id, &stats));
            return Ok(0);
        }
        let mut out = std::io::stdout();
        container::events(&globals.root, id, self.interval, |event| {
            let line = match &event {
                Event::Stats(stats) => Line::stats(id, stats),
                Event::Oom => Line { kind: "oom", id, data: None },
            };
            // A closed stdout (the reader went away) ends the stream.
            writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
        })?;
        Ok(0)
    }
}

/// One line of output, its keys in runc's order: `{"type":"stats","id":...,"data":{...}}`,
/// `{"type":"oom","id":...}`.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Stats>,
}

impl<'a> Line<'a> {
    fn stats(id: &'a str, stats: &'a Stats) -> Line<'a> {
        Line { kind: "stats", id, data: Some(stats) }
    }
}

impl std::fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| std::fmt::Error)?)
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
