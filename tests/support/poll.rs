//! Waiting for a condition without fixed sleeps.

use std::time::{Duration, Instant};

/// How long tests wait for a container to change state before failing.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(10);

/// Calls `check` until it returns `Some`, backing off from 1 ms to 20 ms
/// between calls; `None` once `timeout` has passed.
pub fn until<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
