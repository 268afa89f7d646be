//! Named steps at which a test can have berth-img killed, to show that a
//! store command killed at any point leaves the store consistent.
//!
//! `BERTH_IMG_KILL_AT=STEP` makes the process SIGKILL itself when it reaches
//! STEP (`import:unpacked`, `bundle:mounted`, ...). Debug builds only: a
//! release binary has no kill points.

/// Reached `step`: die here if the test asked for it.
pub(crate) fn reached(step: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("BERTH_IMG_KILL_AT").is_some_and(|wanted| wanted == step) {
        crate::sys::kill_self();
    }
    #[cfg(not(debug_assertions))]
    let _ = step;
}
