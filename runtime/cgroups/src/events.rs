//! What `berth events` prints, one JSON object per line, in runc's shape:
//! `{"type":"stats","id":"c1","data":{...}}` and `{"type":"oom","id":"c1"}`.
//! Also `ps`'s filtering of the system `ps` output down to the container's processes.

use serde::Serialize;

use crate::Stats;

/// One line of `events` output.
#[derive(Clone, Debug, Serialize)]
pub struct Event<'a> {
    /// "stats" or "oom".
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The container id.
    pub id: &'a str,
    /// The stats, for "stats" events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a Stats>,
}

impl<'a> Event<'a> {
    /// A stats event.
    pub fn stats(id: &'a str, stats: &'a Stats) -> Event<'a> {
        Event {
            kind: "stats",
            id,
            data: Some(stats),
        }
    }

    /// An OOM notification.
    pub fn oom(id: &'a str) -> Event<'a> {
        Event {
            kind: "oom",
            id,
            data: None,
        }
    }

    /// The JSON line (without the newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why `ps` output could not be filtered.
#[derive(Debug, thiserror::Error)]
pub enum PsError {
    /// The header has no PID column (e.g. `ps -o comm`).
    #[error("ps: the output of ps has no PID column in its header {header:?}")]
    NoPidColumn {
        /// The header line.
        header: String,
    },
}

/// Keep the header of `ps` output and the lines whose PID is one of `pids` (runc's `ps`).
pub fn filter_ps_output(output: &str, pids: &[i32]) -> Result<String, PsError> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or("");
    let column = header
        .split_whitespace()
        .position(|c| c == "PID")
        .ok_or_else(|| PsError::NoPidColumn {
            header: header.to_owned(),
        })?;
    let mut out = String::from(header);
    out.push('\n');
    for line in lines {
        let pid = line.split_whitespace().nth(column).and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_runcs_shape() {
        let stats = Stats::default();
        let line = Event::stats("c1", &stats).to_json_line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["type"], "stats");
        assert_eq!(v["id"], "c1");
        assert!(v["data"]["memory"]["usage"].is_object());
        assert_eq!(Event::oom("c1").to_json_line(), r#"{"type":"oom","id":"c1"}"#);
    }

    #[test]
    fn ps_output_is_filtered_by_the_pid_column() {
        let ps = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 init\nroot 42 1 0 10:00 ? 00:00:00 sleep 5\n";
        assert_eq!(
            filter_ps_output(ps, &[42]).unwrap(),
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:00 ? 00:00:00 sleep 5\n"
        );
        assert!(filter_ps_output("COMMAND\nsleep\n", &[1]).is_err());
    }
}
