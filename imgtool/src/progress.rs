//! Progress bars for long transfers and unpacks, drawn only when stderr is a
//! terminal (indicatif draws nothing to a hidden target).

use std::io::{IsTerminal, Read};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte-counting progress bar, or nothing when stderr is not a terminal.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar for `total` bytes labelled `label`; hidden off a terminal.
    pub fn bytes(label: &str, total: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), Self::target());
        let style = ProgressStyle::with_template(
            "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            bar.set_style(style);
        }
        bar.set_message(label.to_string());
        Self { bar }
    }

    /// No bar at all.
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
        }
    }

    fn target() -> ProgressDrawTarget {
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        }
    }

    /// Count `n` more bytes.
    pub fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Set the total, once it is known.
    pub fn set_total(&self, total: u64) {
        self.bar.set_length(total);
    }

    /// Set the count to `done` bytes.
    pub fn set(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Wrap a reader so what it reads advances the bar.
    pub fn reader<R: Read>(&self, inner: R) -> ProgressReader<R> {
        ProgressReader {
            inner,
            progress: self.clone(),
        }
    }

    /// Remove the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl crate::layer::ByteMeter for Progress {
    fn set_total(&self, total: u64) {
        Progress::set_total(self, total);
    }

    fn advance(&self, n: u64) {
        Progress::advance(self, n);
    }
}

/// A reader that advances a [`Progress`].
pub struct ProgressReader<R> {
    inner: R,
    progress: Progress,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}
