//! `berth`: parse the command line, run the verb, map the outcome to an exit code.

mod cli;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod early_seal;

use clap::Parser;
use cli::log::Log;
use cli::{Cli, LogFormat};
use std::os::unix::ffi::OsStrExt;

fn main() {
    berth_runtime::restore_default_sigpipe();
    // The verbs that clone processes into the container run them from a sealed view of this
    // binary (see berth_runtime::seal). On x86-64 Linux the entry point has re-executed berth
    // from one before libc started (early_seal); this is the general way, and the fallback
    // when the entry point could not (an unprivileged caller gets a sealed memfd copy): before
    // anything else, the command line parse included, which would otherwise run twice. Those
    // verbs are words of the command line; a container merely named like one costs a
    // needless re-exec, no more.
    if std::env::args_os().skip(1).any(|arg| cli::is_cloning_verb(arg.as_bytes())) && !found_sealed_at_entry() {
        if let Err(e) = berth_runtime::seal::reexec_sealed() {
            Log::stderr_only().fatal(&e.to_string());
            std::process::exit(1);
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are not errors; bad usage exits 1 like runc's.
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let log = match Log::open(cli.log.as_deref(), cli.log_format == LogFormat::Json, cli.debug) {
        Ok(log) => log.install(),
        Err(e) => {
            Log::stderr_only().fatal(&e.to_string());
            std::process::exit(1);
        }
    };
    let code = match cli::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            log.fatal(&e.to_string());
            e.exit_code()
        }
    };
    std::process::exit(code);
}

/// Did berth's entry point (early_seal) already find it running from a sealed view?
fn found_sealed_at_entry() -> bool {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    return early_seal::found_sealed();
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    return false;
}
