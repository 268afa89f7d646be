//! A container handle that deletes its container when dropped.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::bundle::Bundle;
use crate::poll::{until, STATE_TIMEOUT};
use crate::runtime::{Outcome, Runtime};
use crate::tempdir::TempDir;

/// One container id in one runtime root. Dropping it runs
/// `delete --force <id>`, so a failing test leaves no container running.
#[derive(Debug)]
pub struct Container {
    runtime: Runtime,
    id: String,
    bundle: PathBuf,
    /// Declared last so it drops after `delete --force` has run.
    _bundle_dir: Arc<TempDir>,
}

impl Container {
    /// A handle for `id` made from `bundle`; nothing is run yet.
    pub fn new(runtime: &Runtime, bundle: &Bundle, id: &str) -> Container {
        Container {
            runtime: runtime.clone(),
            id: id.to_owned(),
            bundle: bundle.path().to_owned(),
            _bundle_dir: bundle.keep_alive(),
        }
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The runtime it belongs to.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// `create [flags] --bundle B ID`.
    pub fn create(&self, flags: &[&str]) -> Outcome {
        self.with_bundle("create", flags)
    }

    /// `run [flags] --bundle B ID` (foreground unless `-d` is in `flags`).
    pub fn run(&self, flags: &[&str]) -> Outcome {
        self.with_bundle("run", flags)
    }

    /// `start ID`.
    pub fn start(&self) -> Outcome {
        self.verb("start", &[])
    }

    /// `kill [args] ID [signal]`: `args` go before the id, `signal` after.
    pub fn kill(&self, flags: &[&str], signal: Option<&str>) -> Outcome {
        let mut args: Vec<&str> = vec!["kill"];
        args.extend_from_slice(flags);
        args.push(&self.id);
        args.extend(signal);
        self.runtime.exec(args)
    }

    /// `delete [flags] ID`.
    pub fn delete(&self, flags: &[&str]) -> Outcome {
        self.verb("delete", flags)
    }

    /// `state ID`, which must succeed, parsed.
    #[track_caller]
    pub fn state(&self) -> Value {
        let outcome = self.verb("state", &[]);
        outcome.success();
        serde_json::from_str(&outcome.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{outcome}"))
    }

    /// Waits until `state` reports `status`; panics with the last state
    /// after [`STATE_TIMEOUT`].
    #[track_caller]
    pub fn wait_for_status(&self, status: &str) -> Value {
        let mut last = Value::Null;
        until(STATE_TIMEOUT, || {
            let outcome = self.verb("state", &[]);
            last = serde_json::from_str(&outcome.stdout).unwrap_or(Value::Null);
            (outcome.status.success() && last["status"] == status).then(|| last.clone())
        })
        .unwrap_or_else(|| panic!("{} never became {status}; last state {last}", self.id))
    }

    /// The pid in `state`, which must be non-zero.
    #[track_caller]
    pub fn pid(&self) -> i32 {
        let state = self.state();
        let pid = state["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("state has no pid: {state}"));
        assert!(pid > 0, "state pid is {pid}: {state}");
        pid as i32
    }

    /// Waits until the container's init has a handler for `signal`
    /// (`SigCgt` in its status), so a signal sent next is not lost to a shell
    /// that has not reached its `trap` yet.
    #[track_caller]
    pub fn wait_for_handler(&self, signal: i32) {
        let pid = self.pid();
        let bit = 1u64 << (signal - 1);
        until(STATE_TIMEOUT, || {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let mask = crate::inspect::status_field(&status, "SigCgt")?;
            let mask = u64::from_str_radix(mask, 16).ok()?;
            (mask & bit != 0).then_some(())
        })
        .unwrap_or_else(|| panic!("{} (pid {pid}) never handled signal {signal}", self.id));
    }

    fn with_bundle(&self, verb: &str, flags: &[&str]) -> Outcome {
        use std::ffi::OsStr;
        let mut args: Vec<&OsStr> = vec![OsStr::new(verb)];
        args.extend(flags.iter().map(OsStr::new));
        args.extend([
            OsStr::new("--bundle"),
            self.bundle.as_os_str(),
            OsStr::new(&self.id),
        ]);
        self.runtime.exec(args)
    }

    fn verb(&self, verb: &str, flags: &[&str]) -> Outcome {
        let mut args: Vec<&str> = vec![verb];
        args.extend_from_slice(flags);
        args.push(&self.id);
        self.runtime.exec(args)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // Best effort: an already deleted (or never created) id is fine.
        let _ = self
            .runtime
            .command(["delete", "--force", &self.id])
            .output();
    }
}
