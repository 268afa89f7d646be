//! The container's log file: what it wrote, line by line, in the format a manager reads.
//!
//! - CRI (kubelet's `cri` format, as conmon writes it): `<RFC3339Nano time> <stream> <F|P> <text>`,
//!   one record per line; a chunk that does not end in a newline is written as a partial (`P`)
//!   record and the reader joins it with what follows.
//! - JSON lines like Docker's json-file driver: `{"log":"text\n","stream":"stdout","time":"…"}`.
//!
//! Each read from the container becomes one `write(2)` of all its records (so a fast writer costs
//! one syscall per chunk, not per line). Rotation by size keeps `max_files` files: the current one
//! at `path` and older ones at `path.1` (newest) … `path.N-1` (oldest), Docker's scheme.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Which of the container's output streams a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// The name both formats use.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// How records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Cri,
    Json,
}

/// Size-based rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a write would take the current file past this many bytes.
    pub max_size: u64,
    /// How many files to keep, the current one included (1: truncate in place, as conmon does).
    pub max_files: u32,
}

/// What went wrong with the log file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container log {path}: open: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("container log {path}: write: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("container log {path}: rotate to {to}: {source}")]
    Rotate { path: PathBuf, to: PathBuf, source: std::io::Error },
}

/// An open container log.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    format: Format,
    rotation: Option<Rotation>,
    file: File,
    size: u64,
    /// Records of the chunk being written, sent to the file in one write.
    pending: Vec<u8>,
}

impl LogWriter {
    /// Opens (appending to) the log at `path`.
    pub fn open(path: &Path, format: Format, rotation: Option<Rotation>) -> Result<LogWriter, Error> {
        let file = open_append(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogWriter { path: path.to_owned(), format, rotation, file, size, pending: Vec::new() })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `data`, one read's worth of `stream`, as records stamped `now`.
    pub fn write_chunk(&mut self, stream: Stream, data: &[u8], now: SystemTime) -> Result<(), Error> {
        let stamp = rfc3339_nano(now);
        let mut rest = data;
        while !rest.is_empty() {
            let (line, partial) = match rest.iter().position(|&b| b == b'\n') {
                Some(end) => (&rest[..=end], false),
                None => (rest, true),
            };
            rest = &rest[line.len()..];
            let start = self.pending.len();
            self.encode(stream, line, partial, &stamp);
            let record_len = (self.pending.len() - start) as u64;
            if self.needs_rotation(record_len) {
                // Everything before this record goes to the current file, the record to the next.
                let record = self.pending.split_off(start);
                self.flush_pending()?;
                self.rotate()?;
                self.pending = record;
            }
        }
        self.flush_pending()
    }

    fn encode(&mut self, stream: Stream, line: &[u8], partial: bool, stamp: &str) {
        match self.format {
            Format::Cri => {
                let text = line.strip_suffix(b"\n").unwrap_or(line);
                self.pending.extend_from_slice(stamp.as_bytes());
                self.pending.push(b' ');
                self.pending.extend_from_slice(stream.name().as_bytes());
                self.pending.extend_from_slice(if partial { b" P " } else { b" F " });
                self.pending.extend_from_slice(text);
                self.pending.push(b'\n');
            }
            Format::Json => {
                let record = serde_json::json!({
                    "log": String::from_utf8_lossy(line),
                    "stream": stream.name(),
                    "time": stamp,
                });
                // Writing JSON into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut self.pending, &record);
                self.pending.push(b'\n');
            }
        }
    }

    fn needs_rotation(&self, record_len: u64) -> bool {
        let Some(rotation) = self.rotation else { return false };
        let written = self.size + self.pending.len() as u64;
        // A record larger than the limit still goes into a file of its own.
        written > record_len && written > rotation.max_size
    }

    fn flush_pending(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&self.pending)
            .map_err(|source| Error::Write { path: self.path.clone(), source })?;
        self.size += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Shift `path.i` to `path.i+1` (dropping the oldest) and start an empty `path`.
    fn rotate(&mut self) -> Result<(), Error> {
        let keep = self.rotation.map_or(1, |r| r.max_files.max(1));
        if keep == 1 {
            self.file
                .set_len(0)
                .map_err(|source| Error::Write { path: self.path.clone(), source })?;
            self.size = 0;
            return Ok(());
        }
        for index in (1..keep - 1).rev() {
            let from = rotated_path(&self.path, index);
            let to = rotated_path(&self.path, index + 1);
            match std::fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(Error::Rotate { path: from, to, source }),
            }
        }
        let to = rotated_path(&self.path, 1);
        std::fs::rename(&self.path, &to)
            .map_err(|source| Error::Rotate { path: self.path.clone(), to, source })?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }

    /// Pushes what was written to the disk (before the exit is reported).
    pub fn sync(&mut self) -> Result<(), Error> {
        self.flush_pending()?;
        self.file
            .sync_data()
            .map_err(|source| Error::Write { path: self.path.clone(), source })
    }
}

fn open_append(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| Error::Open { path: path.to_owned(), source })
}

/// `path.N`: the Nth newest rotated file.
pub fn rotated_path(path: &Path, index: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{index}"));
    PathBuf::from(name)
}

/// The log's files, oldest first: `path.N-1` … `path.1`, `path`, those that exist.
pub fn files_oldest_first(path: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..)
        .map(|index| rotated_path(path, index))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    files.push(path.to_owned());
    files
}

/// `time` as RFC 3339 in UTC with nine fraction digits, as the runtime writes "created".
pub use berth_runtime::state::rfc3339 as rfc3339_nano;

/// Parses an RFC 3339 time (any fraction length, `Z` or a `±hh:mm` offset).
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<9}", &fraction[..digits.min(9)]);
        nanos = padded.parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            sign * (rest[1..3].parse::<i64>().ok()? * 3600 + rest[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One record read back from a log file.
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    pub time: SystemTime,
    pub stream: Stream,
    /// The text, with its newline unless the record is partial.
    pub text: Vec<u8>,
}

/// Parses one line of a log file in `format`; None for a line that is not a record.
pub fn parse_record(format: Format, line: &[u8]) -> Option<Record> {
    match format {
        Format::Cri => {
            let mut fields = line.splitn(4, |&b| b == b' ');
            let time = parse_rfc3339(std::str::from_utf8(fields.next()?).ok()?)?;
            let stream = parse_stream(fields.next()?)?;
            // The tag is F or P, possibly followed by more ':'-separated tags.
            let partial = fields.next()?.split(|&b| b == b':').next()? == b"P";
            let mut text = fields.next().unwrap_or_default().to_vec();
            if !partial {
                text.push(b'\n');
            }
            Some(Record { time, stream, text })
        }
        Format::Json => {
            let value: serde_json::Value = serde_json::from_slice(line).ok()?;
            let time = parse_rfc3339(value["time"].as_str()?)?;
            let stream = parse_stream(value["stream"].as_str()?.as_bytes())?;
            let text = value["log"].as_str()?.as_bytes().to_vec();
            Some(Record { time, stream, text })
        }
    }
}

fn parse_stream(name: &[u8]) -> Option<Stream> {
    match name {
        b"stdout" => Some(Stream::Stdout),
        b"stderr" => Some(Stream::Stderr),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let time = UNIX_EPOCH + Duration::new(1_796_515_029, 669_794_202);
        let text = rfc3339_nano(time);
        assert_eq!(text, "2026-12-05T23:57:09.669794202Z");
        assert_eq!(parse_rfc3339(&text), Some(time));
        assert_eq!(parse_rfc3339("2026-12-06T00:57:09.5+01:00"), Some(UNIX_EPOCH + Duration::new(1_796_515_029, 500_000_000)));
        assert_eq!(rfc3339_nano(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn cri_records_split_lines_and_mark_partials() {
        let dir = std::env::temp_dir().join(format!("berth-shim-log-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cri.log");
        let mut log = LogWriter::open(&path, Format::Cri, None).unwrap();
        log.write_chunk(Stream::Stdout, b"one\ntwo\nthr", UNIX_EPOCH).unwrap();
        log.write_chunk(Stream::Stderr, b"ee\n", UNIX_EPOCH).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let stamp = "1970-01-01T00:00:00.000000000Z";
        assert_eq!(
            text,
            format!("{stamp} stdout F one\n{stamp} stdout F two\n{stamp} stdout P thr\n{stamp} stderr F ee\n")
        );
        let record = parse_record(Format::Cri, format!("{stamp} stdout P thr").as_bytes()).unwrap();
        assert_eq!(record.text, b"thr");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
