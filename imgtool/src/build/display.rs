//! How a build shows its steps. Plain: a line when a step starts and one
//! when it ends (or one saying it came from the cache), RUN output passed
//! through. Tty: one line per step, redrawn in place ten times a second,
//! saying whether it came from the cache or how long it has been running,
//! then DONE or ERROR with its time; RUN output is kept and written below
//! the lines only if the command fails. Quiet: nothing but errors.
//!
//! The tty lines take a few escape sequences (cursor up, erase line,
//! carriage return) and a ticking thread, so they are drawn here; each is
//! cut to the terminal's width, so none wraps and the count of lines to
//! move up over stays right.

use std::io::{self, Write as _};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ProgressMode;
use crate::sys;

/// How often running steps' times are redrawn.
const TICK: Duration = Duration::from_millis(100);

/// The build's display.
pub struct Display {
    mode: ProgressMode,
    screen: Arc<Mutex<Screen>>,
    /// Output of failed RUNs, written when the build ends.
    kept: Mutex<Vec<u8>>,
    ticker: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

/// A step that is running.
pub struct Running {
    /// `[stage] Dockerfile:LINE`.
    at: String,
    started: Instant,
    /// Its tty line.
    line: usize,
}

enum State {
    Cached,
    Running(Instant),
    Ended { ok: bool, seconds: f64 },
}

/// The tty lines and how many of them are on the screen.
#[derive(Default)]
struct Screen {
    lines: Vec<(String, State)>,
    drawn: usize,
}

impl Screen {
    /// Move up over what was drawn and draw every line again, each cut to
    /// the terminal's width so none wraps (a wrapped line would throw the
    /// count of lines to move up off).
    fn redraw(&mut self) {
        let columns = sys::terminal_columns(io::stderr().as_fd()).unwrap_or(80) as usize;
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for (text, state) in &self.lines {
            let status = match state {
                State::Cached => "CACHED".to_string(),
                State::Running(started) => {
                    format!("{:.1}s", started.elapsed().as_secs_f64())
                }
                State::Ended { ok, seconds } => {
                    format!("{} {seconds:.1}s", if *ok { "DONE" } else { "ERROR" })
                }
            };
            let line = format!("{text}  {status}");
            let cut: String = line.chars().take(columns.saturating_sub(1)).collect();
            out.push_str("\r\x1b[2K");
            out.push_str(&cut);
            out.push('\n');
        }
        self.drawn = self.lines.len();
        let mut stderr = io::stderr().lock();
        let _ = stderr.write_all(out.as_bytes());
        let _ = stderr.flush();
    }

    fn any_running(&self) -> bool {
        self.lines
            .iter()
            .any(|(_, s)| matches!(s, State::Running(_)))
    }
}

impl Display {
    /// A display in `mode` on stderr.
    pub fn new(mode: ProgressMode) -> Self {
        Display {
            mode,
            screen: Arc::default(),
            kept: Mutex::new(Vec::new()),
            ticker: Mutex::new(None),
        }
    }

    /// RUN output is passed through (plain) rather than kept for a failure.
    pub fn shows_run_output(&self) -> bool {
        self.mode == ProgressMode::Plain
    }

    fn plain(&self, line: &str) {
        if self.mode == ProgressMode::Plain {
            // Held while writing: lines of parallel stages stay whole.
            let _screen = self.screen.lock();
            let _ = writeln!(io::stderr(), "{line}");
        }
    }

    /// Add a tty line and draw.
    fn add(&self, text: &str, state: State) -> usize {
        let mut screen = self.screen.lock().expect("screen");
        screen.lines.push((text.to_string(), state));
        screen.redraw();
        screen.lines.len() - 1
    }

    /// A step taken from the cache.
    pub fn cached(&self, text: &str) {
        match self.mode {
            ProgressMode::Tty => {
                self.add(text, State::Cached);
            }
            _ => self.plain(&format!("{text}  CACHED")),
        }
    }

    /// A step that has to run: `at` names it, `text` is the whole line.
    pub fn start(&self, at: &str, text: &str) -> Running {
        let started = Instant::now();
        let line = match self.mode {
            ProgressMode::Tty => {
                let line = self.add(text, State::Running(started));
                self.keep_ticking();
                line
            }
            _ => {
                self.plain(text);
                0
            }
        };
        Running {
            at: at.to_string(),
            started,
            line,
        }
    }

    /// Start the thread that redraws running steps' times, unless it runs.
    fn keep_ticking(&self) {
        let mut ticker = self.ticker.lock().expect("ticker");
        if ticker.is_some() {
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (screen, stopped) = (Arc::clone(&self.screen), Arc::clone(&stop));
        let handle = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                let mut screen = screen.lock().expect("screen");
                if screen.any_running() {
                    screen.redraw();
                }
            }
        });
        *ticker = Some((stop, handle));
    }

    /// The step ended; `ok` says how.
    pub fn finish(&self, step: Running, ok: bool) {
        let seconds = step.started.elapsed().as_secs_f64();
        match self.mode {
            ProgressMode::Tty => {
                let mut screen = self.screen.lock().expect("screen");
                screen.lines[step.line].1 = State::Ended { ok, seconds };
                screen.redraw();
            }
            _ if ok => self.plain(&format!("{} DONE {seconds:.1}s", step.at)),
            _ => {}
        }
    }

    /// Keep `text`, the output of a failed RUN, for [`Display::end`]:
    /// written now, the redrawn lines would overwrite it.
    pub fn failed_output(&self, text: &[u8]) {
        self.kept
            .lock()
            .expect("kept output")
            .extend_from_slice(text);
    }

    /// Every stage has ended: stop redrawing; write the kept output below the lines.
    pub fn end(&self) {
        if let Some((stop, handle)) = self.ticker.lock().expect("ticker").take() {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
        let kept = std::mem::take(&mut *self.kept.lock().expect("kept output"));
        let _ = io::stderr().write_all(&kept);
    }
}
