//! Running a runtime's command line with a private `--root`.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::binaries::runtime_under_test;
use crate::tempdir::TempDir;

/// How long one runtime command may take before the test fails: generous,
/// since it only guards against hangs (speed is measured in benches/).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A runtime binary bound to its own state directory (`--root`). Cheap to
/// clone; the state directory goes away with the last clone.
#[derive(Clone, Debug)]
pub struct Runtime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// What to execute: the runtime itself, or a wrapper such as `unshare`.
    program: PathBuf,
    /// Arguments that come before the runtime's own (a wrapper's).
    prefix: Vec<OsString>,
    /// Holds the state directory one level down, so that a runtime which
    /// wrongly acts on `<root>/..` (an id of `..`) stays inside our own dir:
    /// crun 1.8.1 removes `<root>/..` when `create ..` fails.
    root_parent: TempDir,
    io: TempDir,
}

impl Runtime {
    /// The runtime under test (see [`runtime_under_test`]) with a fresh root.
    pub fn under_test() -> Runtime {
        Runtime::new(runtime_under_test(), Vec::new())
    }

    /// `program prefix... --root <fresh dir> ...` for every command.
    pub fn new(program: PathBuf, prefix: Vec<OsString>) -> Runtime {
        let root_parent = TempDir::new("root");
        let root = root_parent.path().join("state");
        std::fs::create_dir(&root).unwrap_or_else(|e| panic!("mkdir {}: {e}", root.display()));
        Runtime {
            inner: Arc::new(Inner {
                program,
                prefix,
                root_parent,
                io: TempDir::new("io"),
            }),
        }
    }

    /// The program executed for each command.
    pub fn program(&self) -> &Path {
        &self.inner.program
    }

    /// The state directory passed as `--root`.
    pub fn root(&self) -> PathBuf {
        self.inner.root_parent.path().join("state")
    }

    /// A scratch directory for this runtime's captured output, log files and
    /// pid files.
    pub fn scratch(&self) -> &Path {
        self.inner.io.path()
    }

    /// The command `runtime --root R <args>`, not yet run.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(&self.inner.program);
        command
            .args(&self.inner.prefix)
            .arg("--root")
            .arg(self.root())
            .args(args);
        command
    }

    /// Runs `runtime --root R <args>` to completion and captures its output.
    pub fn exec<I, S>(&self, args: I) -> Outcome
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let command = self.command(args);
        self.exec_command(command)
    }

    /// Runs a prepared command with stdin from /dev/null and stdout/stderr in
    /// files (not pipes: a detached container inherits them and would keep a
    /// pipe open forever). Panics after [`COMMAND_TIMEOUT`], killing it.
    pub fn exec_command(&self, mut command: Command) -> Outcome {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let out_path = self.scratch().join(format!("out-{n}"));
        let err_path = self.scratch().join(format!("err-{n}"));
        let cmdline = format!("{command:?}");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(File::create(&out_path).expect("create stdout file"))
            .stderr(File::create(&err_path).expect("create stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
        let status = crate::poll::until(COMMAND_TIMEOUT, || child.try_wait().expect("wait"))
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{cmdline} did not finish within {COMMAND_TIMEOUT:?}")
            });
        Outcome {
            cmdline,
            status,
            stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        }
    }
}

/// What a finished command did.
#[derive(Debug)]
pub struct Outcome {
    /// The command as run, for messages.
    pub cmdline: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it (and anything that inherited its stdout) wrote.
    pub stdout: String,
    /// Everything written to its stderr.
    pub stderr: String,
}

impl Outcome {
    /// Panics, showing the output, unless the command exited 0.
    #[track_caller]
    pub fn success(&self) -> &Outcome {
        assert!(self.status.success(), "expected success:\n{self}");
        self
    }

    /// Panics unless the command exited non-zero (or was killed).
    #[track_caller]
    pub fn failure(&self) -> &Outcome {
        assert!(!self.status.success(), "expected failure:\n{self}");
        self
    }

    /// The exit code, if it exited rather than being killed.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The signal that killed it, if one did.
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }

    /// Panics unless stderr is one non-empty line (ignoring a trailing
    /// newline) containing every one of `needles`; a runtime's error must
    /// name the field or path at fault.
    #[track_caller]
    pub fn one_line_error_naming(&self, needles: &[&str]) -> &Outcome {
        let text = self.stderr.trim_end();
        assert!(!text.is_empty(), "expected an error on stderr:\n{self}");
        assert!(!text.contains('\n'), "expected a one-line error:\n{self}");
        for needle in needles {
            assert!(
                text.contains(needle),
                "error should name {needle:?}:\n{self}"
            );
        }
        self
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.cmdline)?;
        writeln!(f, "status: {}", self.status)?;
        writeln!(f, "stdout:\n{}", self.stdout)?;
        write!(f, "stderr:\n{}", self.stderr)
    }
}
