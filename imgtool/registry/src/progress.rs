//! The progress hook: how callers learn how far a transfer has come, so a
//! command line can draw a bar on a terminal and stay quiet elsewhere.

/// Receives the byte count of a transfer as it moves.
///
/// Closures `Fn(done, total)` implement it, so an indicatif bar hooks in as
/// `&|done, _total| bar.set_position(done)`.
pub trait Progress {
    /// `done` of `total` bytes have moved; called after every chunk and once
    /// more when the transfer has been verified.
    fn update(&self, done: u64, total: u64);
}

impl<F: Fn(u64, u64)> Progress for F {
    fn update(&self, done: u64, total: u64) {
        self(done, total)
    }
}

/// A [`Progress`] that ignores every update.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _done: u64, _total: u64) {}
}
