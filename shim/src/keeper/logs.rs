//! `berth-shim logs`: the container's log read back as the text it wrote, split into stdout
//! and stderr, with partial records joined, optionally only the last lines, only lines since a
//! time, and following new output (across rotations) until the container ends.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::error::Error;
use super::state::{StateDir, Status};
use crate::container_log::{files_oldest_first, parse_record, parse_rfc3339, Format, Stream};

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    pub since: Option<SystemTime>,
    pub tail: Option<usize>,
}

/// Parses `--since`: an RFC 3339 time, or a duration before now (`90s`, `10m`, `2h`, `1h30m`).
pub fn parse_since(text: &str) -> Result<SystemTime, Error> {
    let bad = || Error::BadSince { value: text.to_owned() };
    if let Some(time) = parse_rfc3339(text) {
        return Ok(time);
    }
    let mut total = 0u64;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        total += digits.parse::<u64>().map_err(|_| bad())? * unit;
        digits.clear();
    }
    if !digits.is_empty() || text.is_empty() {
        return Err(bad());
    }
    Ok(SystemTime::now() - Duration::from_secs(total))
}

/// Joins partial records into whole lines and sends them where they belong.
struct Printer<'a> {
    options: &'a LogsOptions,
    partial: [Vec<u8>; 2],
    tail: VecDeque<(Stream, Vec<u8>)>,
    holding: bool,
}

impl Printer<'_> {
    fn record(&mut self, format: Format, line: &[u8]) {
        let Some(record) = parse_record(format, line) else { return };
        let slot = &mut self.partial[record.stream as usize];
        slot.extend_from_slice(&record.text);
        if !slot.ends_with(b"\n") {
            return;
        }
        let text = std::mem::take(slot);
        if self.options.since.is_some_and(|since| record.time < since) {
            return;
        }
        if self.holding {
            self.tail.push_back((record.stream, text));
            if self.tail.len() > self.options.tail.unwrap_or(usize::MAX) {
                self.tail.pop_front();
            }
        } else {
            emit(record.stream, &text);
        }
    }

    /// The last line of a log may have no newline (a container that ended mid-line): print it.
    fn finish(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let text = std::mem::take(&mut self.partial[stream as usize]);
            if !text.is_empty() {
                if self.holding {
                    self.tail.push_back((stream, text));
                } else {
                    emit(stream, &text);
                }
            }
        }
        self.release();
    }

    /// Prints the held tail; from now on lines are printed as they come.
    fn release(&mut self) {
        let keep = self.options.tail.unwrap_or(usize::MAX);
        while self.tail.len() > keep {
            self.tail.pop_front();
        }
        for (stream, text) in self.tail.drain(..) {
            emit(stream, &text);
        }
        self.holding = false;
    }
}

fn emit(stream: Stream, text: &[u8]) {
    let _ = match stream {
        Stream::Stdout => std::io::stdout().lock().write_all(text),
        Stream::Stderr => std::io::stderr().lock().write_all(text),
    };
}

/// A log file being read line by line, remembering an unfinished last line.
struct Reader {
    file: File,
    rest: Vec<u8>,
}

impl Reader {
    fn open(path: &Path) -> Result<Reader, Error> {
        Ok(Reader { file: File::open(path).map_err(Error::io(path, "open"))?, rest: Vec::new() })
    }

    /// Reads what has been appended and hands each complete line to `printer`.
    fn pump(&mut self, path: &Path, format: Format, printer: &mut Printer<'_>) -> Result<(), Error> {
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let n = self.file.read(&mut chunk).map_err(Error::io(path, "read"))?;
            if n == 0 {
                return Ok(());
            }
            self.rest.extend_from_slice(&chunk[..n]);
            let end = match self.rest.iter().rposition(|&b| b == b'\n') {
                Some(end) => end,
                None => continue,
            };
            for line in self.rest[..end].split(|&b| b == b'\n') {
                printer.record(format, line);
            }
            self.rest.drain(..=end);
        }
    }
}

/// Prints the log of `id`.
pub fn logs(root: &Path, id: &str, options: &LogsOptions) -> Result<(), Error> {
    let state = StateDir::open(root, id)?;
    let record = state.record()?;
    let (Some(path), Some(format)) = (record.log.clone(), log_format(&record.log_format)) else {
        return Err(Error::NoLog { id: id.to_owned() });
    };
    let mut printer = Printer { options, partial: Default::default(), tail: VecDeque::new(), holding: options.tail.is_some() };
    // 1. Every file there is, oldest first; the current one stays open for following.
    let files = files_oldest_first(&path);
    let (current, older) = files.split_last().expect("the current file is always listed");
    for old in older {
        if let Ok(mut reader) = Reader::open(old) {
            reader.pump(old, format, &mut printer)?;
        }
    }
    let mut reader = match Reader::open(current) {
        Ok(reader) => reader,
        Err(_) if !path.exists() => {
            printer.finish();
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    reader.pump(current, format, &mut printer)?;
    if !options.follow {
        printer.finish();
        return Ok(());
    }
    printer.release();
    // 2. Follow: poll for growth and for rotation (a new file at the path) until the
    //    container has ended and everything it wrote has been read.
    loop {
        let ended = matches!(state.status()?, Status::Exited(_) | Status::Lost);
        reader.pump(current, format, &mut printer)?;
        if rotated(&reader.file, current) {
            // The old file gets no writes after the rename: finish it, then move on.
            reader.pump(current, format, &mut printer)?;
            if let Ok(next) = Reader::open(current) {
                reader = next;
                continue;
            }
        }
        if ended {
            printer.finish();
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `path` now names another file than the one open.
fn rotated(open: &File, path: &PathBuf) -> bool {
    match (open.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() != b.ino() || a.dev() != b.dev(),
        _ => false,
    }
}

fn log_format(name: &str) -> Option<Format> {
    match name {
        "cri" => Some(Format::Cri),
        "json" => Some(Format::Json),
        _ => None,
    }
}
