//! berth-shim's standalone keeper, end to end: `run` (foreground and detached) with the CRI and
//! JSON logs, the exit file, rotation, a 200 MB burst, attach through a real terminal (tmux),
//! a keeper that outlives its killed caller, reaping, the container's file descriptors, and
//! the client commands (ps, logs, wait, kill, rm). conmon is the reference for what a manager
//! expects: a log kubelet can parse, an exit file written after the log is complete.
//!
//! The runtime under the keeper is the runtime under test (`$BERTH_RUNTIME` or berth), with
//! its own `--runtime-root`; one test runs runc under it too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_e2e::binaries::{newest_built, on_path};
use berth_e2e::poll::until;
use berth_e2e::{unique_id, Bundle, Outcome, Runtime, TempDir};

/// A private keeper root and a runtime with its own root; dropping it removes every container
/// still kept there (`rm -f`), then the runtime's leftovers.
struct Shim {
    program: PathBuf,
    root: TempDir,
    runtime: Runtime,
}

impl Shim {
    fn new() -> Shim {
        Shim::with_runtime(Runtime::under_test())
    }

    fn with_runtime(runtime: Runtime) -> Shim {
        let program = newest_built("berth-shim").expect("build berth-shim first: cargo build -p berth-shim");
        Shim { program, root: TempDir::new("shim-root"), runtime }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command.arg("--root").arg(self.root.path()).args(args);
        command
    }

    /// `berth-shim <args>`, to completion, output captured in files.
    fn exec(&self, args: &[&str]) -> Outcome {
        self.runtime.exec_command(self.command(args))
    }

    /// `run [flags] --runtime R --runtime-root RR --bundle B ID`.
    fn run(&self, bundle: &Bundle, id: &str, flags: &[&str]) -> Outcome {
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        let runtime = self.runtime.program().to_str().unwrap().to_owned();
        let runtime_root = self.runtime.root().to_str().unwrap().to_owned();
        let bundle = bundle.path().to_str().unwrap().to_owned();
        args.extend(["--runtime", &runtime, "--runtime-root", &runtime_root, "--bundle", &bundle, id]);
        self.exec(&args)
    }

    fn state_dir(&self, id: &str) -> PathBuf {
        self.root.path().join(id)
    }

    fn keeper_pid(&self, id: &str) -> i32 {
        let text = std::fs::read_to_string(self.state_dir(id).join("keeper.json")).expect("keeper.json");
        let record: serde_json::Value = serde_json::from_str(&text).unwrap();
        record["keeper_pid"].as_i64().unwrap() as i32
    }

    fn container_pid(&self, id: &str) -> i32 {
        std::fs::read_to_string(self.state_dir(id).join("pid")).expect("pid file").trim().parse().unwrap()
    }

    /// `ps --json`, the entry for `id`.
    fn ps_entry(&self, id: &str) -> serde_json::Value {
        let outcome = self.exec(&["ps", "--json"]);
        outcome.success();
        let list: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("ps --json is JSON");
        list.as_array().unwrap().iter().find(|e| e["id"] == id).cloned().unwrap_or(serde_json::Value::Null)
    }

    /// `wait ID`, which must succeed; the code it printed.
    fn wait(&self, id: &str) -> i32 {
        let outcome = self.exec(&["wait", id]);
        outcome.success();
        outcome.stdout.trim().parse().unwrap_or_else(|_| panic!("wait printed no code:\n{outcome}"))
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(self.root.path()) {
            for entry in entries.flatten() {
                let id = entry.file_name().to_string_lossy().into_owned();
                let _ = self.command(&["rm", "-f", &id]).stdout(Stdio::null()).stderr(Stdio::null()).status();
                let _ = self.runtime.command(["delete", "--force", &id]).output();
            }
        }
    }
}

/// A busybox bundle running `script` with `sh -c`.
fn script_bundle(tag: &str, script: &str) -> Bundle {
    let mut bundle = Bundle::busybox(tag);
    bundle.script(script);
    bundle
}

/// Checks one CRI record: `<RFC3339Nano> <stdout|stderr> <F|P> <text>`; returns (stream, tag, text).
#[track_caller]
fn cri_fields(line: &str) -> (&str, &str, &str) {
    let mut fields = line.splitn(4, ' ');
    let (time, stream, tag) = (fields.next().unwrap(), fields.next().unwrap_or(""), fields.next().unwrap_or(""));
    let text = fields.next().unwrap_or("");
    let b = time.as_bytes();
    let shaped = b.len() == 30
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[29] == b'Z'
        && b[20..29].iter().all(u8::is_ascii_digit);
    assert!(shaped, "not an RFC 3339 time with nanoseconds: {line:?}");
    assert!(matches!(stream, "stdout" | "stderr"), "bad stream in {line:?}");
    assert!(matches!(tag, "F" | "P"), "bad tag in {line:?}");
    (stream, tag, text)
}

#[test]
fn foreground_output_reaches_the_log_in_cri_format_and_the_exit_file() {
    let shim = Shim::new();
    let bundle = script_bundle("sk-fg", "echo to-stdout; echo to-stderr >&2; printf no-newline; exit 3");
    let id = unique_id("sk-fg");
    let exit_file = shim.root.path().join("exit-code");
    let outcome = shim.run(&bundle, &id, &["--exit-file", exit_file.to_str().unwrap()]);
    // The foreground behaves like `berth run`: output passes through, the code is the container's.
    assert_eq!(outcome.code(), Some(3), "{outcome}");
    assert_eq!(outcome.stdout, "to-stdout\nno-newline", "{outcome}");
    assert_eq!(outcome.stderr, "to-stderr\n", "{outcome}");
    assert_eq!(std::fs::read_to_string(&exit_file).unwrap().trim(), "3");
    let log = std::fs::read_to_string(shim.state_dir(&id).join("container.log")).unwrap();
    let records: Vec<_> = log.lines().map(cri_fields).collect();
    assert!(records.contains(&("stdout", "F", "to-stdout")), "{log}");
    assert!(records.contains(&("stderr", "F", "to-stderr")), "{log}");
    assert!(records.contains(&("stdout", "P", "no-newline")), "{log}");
    let entry = shim.ps_entry(&id);
    assert_eq!(entry["status"], "exited", "{entry}");
    assert_eq!(entry["exit_code"], 3, "{entry}");
    // The runtime's container is gone once its end was recorded.
    assert!(!shim.runtime.root().join(&id).exists(), "the runtime still has {id}");
    // logs gives back what the container wrote, stream by stream.
    let logs = shim.exec(&["logs", &id]);
    logs.success();
    assert_eq!(logs.stdout, "to-stdout\nno-newline");
    assert_eq!(logs.stderr, "to-stderr\n");
    shim.exec(&["rm", &id]).success();
    assert!(!shim.state_dir(&id).exists(), "rm left the state directory");
}

#[test]
fn a_json_log_has_docker_json_file_lines() {
    let shim = Shim::new();
    let bundle = script_bundle("sk-json", "echo 'a \"quoted\" line'; echo oops >&2");
    let id = unique_id("sk-json");
    let log = shim.root.path().join("json.log");
    shim.run(&bundle, &id, &["-d", "--log", log.to_str().unwrap(), "--log-format", "json"]).success();
    assert_eq!(shim.wait(&id), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    let records: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert!(records.iter().any(|r| r["log"] == "a \"quoted\" line\n" && r["stream"] == "stdout"), "{text}");
    assert!(records.iter().any(|r| r["log"] == "oops\n" && r["stream"] == "stderr"), "{text}");
    assert!(records.iter().all(|r| r["time"].as_str().is_some_and(|t| t.ends_with('Z'))), "{text}");
    let logs = shim.exec(&["logs", &id]);
    assert_eq!(logs.stdout, "a \"quoted\" line\n", "{logs}");
}

#[test]
fn a_detached_keeper_survives_its_caller_being_killed() {
    let shim = Shim::new();
    let mut bundle = Bundle::busybox("sk-detach");
    bundle.args(&["sleep", "600"]);
    let id = unique_id("sk-detach");
    // The caller runs `run -d` in a session of its own and then lingers; the whole session
    // is killed with SIGKILL afterwards, as a terminal closing or a manager dying would.
    let marker = shim.root.path().join("started");
    let run = format!(
        "{shim} --root {root} run -d --runtime {rt} --runtime-root {rr} --bundle {b} {id} && touch {m}; exec sleep 600",
        shim = shim.program.display(),
        root = shim.root.path().display(),
        rt = shim.runtime.program().display(),
        rr = shim.runtime.root().display(),
        b = bundle.path().display(),
        m = marker.display(),
    );
    let mut caller = Command::new("setsid").args(["sh", "-c", &run]).stdin(Stdio::null()).spawn().unwrap();
    until(Duration::from_secs(20), || marker.exists().then_some(())).expect("run -d reported the start");
    let session = caller.id() as i32;
    // SAFETY: kill takes plain integers; the group is the session we just made.
    unsafe { libc::kill(-session, libc::SIGKILL) };
    let _ = caller.wait();
    let keeper = shim.keeper_pid(&id);
    assert!(Path::new(&format!("/proc/{keeper}")).exists(), "the keeper died with its caller");
    let entry = shim.ps_entry(&id);
    assert_eq!(entry["status"], "running", "{entry}");
    // The keeper is in no session of the caller's and holds no terminal.
    let stat = std::fs::read_to_string(format!("/proc/{keeper}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    assert_ne!(fields[3].parse::<i32>().unwrap(), session, "keeper still in the caller's session");
    // kill through the keeper (sleep as pid 1 ignores TERM); the exit is 128+SIGKILL.
    shim.exec(&["kill", &id, "KILL"]).success();
    assert_eq!(shim.wait(&id), 128 + libc::SIGKILL);
    let entry = shim.ps_entry(&id);
    assert_eq!(entry["exit_code"], 128 + libc::SIGKILL, "{entry}");
    until(Duration::from_secs(10), || (!Path::new(&format!("/proc/{keeper}")).exists()).then_some(()))
        .expect("the keeper ends after its container");
    assert!(!shim.runtime.root().join(&id).exists(), "the runtime still has {id}");
}

#[test]
fn a_200_mb_burst_arrives_complete_before_the_exit_is_reported() {
    let shim = Shim::new();
    // 2,000,000 lines of 100 bytes written as fast as the container can, then an exit.
    let line = "0123456789".repeat(10);
    let line = &line[..99];
    let bundle = script_bundle("sk-burst", &format!("yes {line} | head -n 2000000; echo last-line"));
    let id = unique_id("sk-burst");
    let log = shim.root.path().join("burst.log");
    shim.run(&bundle, &id, &["-d", "--log", log.to_str().unwrap()]).success();
    let outcome = shim.exec(&["wait", &id]);
    outcome.success();
    // No sleep: once the exit code is known the log must already be complete.
    let text = std::fs::read(&log).unwrap();
    let (mut lines, mut partials, mut current) = (0usize, 0usize, Vec::new());
    let mut last = Vec::new();
    for record in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let mut fields = record.splitn(4, |&b| b == b' ');
        let (_time, stream, tag) = (fields.next().unwrap(), fields.next().unwrap(), fields.next().unwrap());
        assert_eq!(stream, b"stdout");
        current.extend_from_slice(fields.next().unwrap_or_default());
        if tag == b"P" {
            partials += 1;
            continue;
        }
        if current != line.as_bytes() {
            last = std::mem::take(&mut current);
            break;
        }
        lines += 1;
        current.clear();
    }
    assert_eq!(lines, 2_000_000, "lines lost or torn ({partials} partial records)");
    assert_eq!(String::from_utf8_lossy(&last), "last-line");
    assert_eq!(outcome.stdout.trim(), "0");
}

#[test]
fn rotation_keeps_the_newest_files() {
    let shim = Shim::new();
    let pad = "x".repeat(60);
    let bundle = script_bundle("sk-rotate", &format!("i=0; while [ $i -lt 3000 ]; do echo line-$i-{pad}; i=$((i+1)); done"));
    let id = unique_id("sk-rotate");
    let log = shim.root.path().join("rotate.log");
    shim.run(&bundle, &id, &["--log", log.to_str().unwrap(), "--log-max-size", "64k", "--log-max-files", "3"]).success();
    let files: Vec<PathBuf> = ["rotate.log.2", "rotate.log.1", "rotate.log"].iter().map(|n| shim.root.path().join(n)).collect();
    assert!(!shim.root.path().join("rotate.log.3").exists(), "more than 3 files kept");
    let mut numbers = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(text.len() <= 64 * 1024, "{} is {} bytes", file.display(), text.len());
        for line in text.lines() {
            let (_, tag, message) = cri_fields(line);
            assert_eq!(tag, "F");
            numbers.push(message.split('-').nth(1).unwrap().parse::<u32>().unwrap());
        }
    }
    assert_eq!(*numbers.last().unwrap(), 2999, "the newest line is not in the current file");
    assert!(numbers[0] > 0, "nothing was rotated away");
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "the kept files are not one unbroken run of lines");
    // logs reads the rotated files too, oldest first.
    let logs = shim.exec(&["logs", "--tail", "2", &id]);
    assert_eq!(logs.stdout, format!("line-2998-{pad}\nline-2999-{pad}\n"), "{logs}");
}

#[test]
fn orphans_are_reaped_and_no_keeper_fd_reaches_the_container() {
    let shim = Shim::new();
    // Without a pid namespace the container's orphans are adopted by the keeper (subreaper).
    let mut bundle = script_bundle("sk-reap", "(sleep 0.1 &); (sleep 0.1 &); (sleep 0.2 &); exec sleep 600");
    bundle.without_namespace("pid");
    let id = unique_id("sk-reap");
    shim.run(&bundle, &id, &["-d", "-i"]).success();
    let keeper = shim.keeper_pid(&id);
    let init = shim.container_pid(&id);
    std::thread::sleep(Duration::from_millis(600));
    let zombies: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let fields: Vec<&str> = stat.rsplit_once(") ").map_or(vec![], |(_, rest)| rest.split(' ').collect());
            fields.first() == Some(&"Z") && fields.get(1) == Some(&keeper.to_string().as_str())
        })
        .collect();
    assert!(zombies.is_empty(), "zombies left under the keeper {keeper}: {zombies:?}");
    // The init (sleep) holds exactly its three stdio descriptors, all pipes: no socket, log or
    // state file of the keeper's.
    let fd_dir = format!("/proc/{init}/fd");
    let mut fds: Vec<(String, String)> = std::fs::read_dir(&fd_dir)
        .unwrap()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read_link(e.path()).unwrap().display().to_string()))
        .collect();
    fds.sort();
    assert_eq!(fds.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["0", "1", "2"], "{fds:?}");
    assert!(fds.iter().all(|(_, target)| target.starts_with("pipe:")), "{fds:?}");
    shim.exec(&["kill", &id, "KILL"]).success();
    assert_eq!(shim.wait(&id), 137);
}

#[test]
fn the_keeper_works_over_runc_too() {
    let Some(runc) = on_path("runc") else {
        eprintln!("runc is not installed; skipped");
        return;
    };
    let shim = Shim::with_runtime(Runtime::new(runc, Vec::new()));
    let bundle = script_bundle("sk-runc", "echo from-runc; exit 5");
    let id = unique_id("sk-runc");
    let outcome = shim.run(&bundle, &id, &[]);
    assert_eq!(outcome.code(), Some(5), "{outcome}");
    assert_eq!(outcome.stdout, "from-runc\n");
    let log = std::fs::read_to_string(shim.state_dir(&id).join("container.log")).unwrap();
    assert!(log.lines().map(cri_fields).any(|r| r == ("stdout", "F", "from-runc")), "{log}");
    assert!(!shim.runtime.root().join(&id).exists(), "runc still has {id}");
}

#[test]
fn a_bad_bundle_is_refused_in_one_line_leaving_nothing() {
    let shim = Shim::new();
    let id = unique_id("sk-bad");
    let missing = shim.root.path().join("no-such-bundle");
    let outcome = shim.exec(&["run", "--bundle", missing.to_str().unwrap(), &id]);
    outcome.failure().one_line_error_naming(&["no-such-bundle", "config.json"]);
    assert!(!shim.state_dir(&id).exists());
    // A config the runtime refuses: the error names the runtime's step and reason.
    let mut bundle = Bundle::busybox("sk-bad");
    bundle.args(&["/no/such/program"]);
    for flags in [&[][..], &["-d"][..]] {
        let outcome = shim.run(&bundle, &id, flags);
        outcome.failure().one_line_error_naming(&["create", &id]);
        assert!(!shim.state_dir(&id).exists(), "state left after {flags:?}");
        assert!(!shim.runtime.root().join(&id).exists(), "runtime state left after {flags:?}");
    }
    let outcome = shim.exec(&["run", "../escape"]);
    outcome.failure().one_line_error_naming(&["../escape"]);
    let outcome = shim.exec(&["wait", "nope"]);
    outcome.failure().one_line_error_naming(&["nope", "does not exist"]);
}

#[test]
fn clients_wait_kill_logs_and_rm() {
    let shim = Shim::new();
    let bundle = script_bundle("sk-client", "trap 'echo got-term; exit 7' TERM; i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done");
    let id = unique_id("sk-client");
    shim.run(&bundle, &id, &["-d"]).success();
    let entry = shim.ps_entry(&id);
    assert_eq!(entry["status"], "running", "{entry}");
    assert!(entry["pid"].as_i64().is_some_and(|p| p > 0), "{entry}");
    // logs -f follows until the container ends, then returns by itself.
    let follower = shim.command(&["logs", "-f", &id]).stdout(Stdio::piped()).spawn().unwrap();
    until(Duration::from_secs(10), || {
        let out = shim.exec(&["logs", &id]);
        out.stdout.contains("tick-3").then_some(())
    })
    .expect("ticks reach the log");
    // rm refuses a running container.
    shim.exec(&["rm", &id]).failure().one_line_error_naming(&[&id, "running"]);
    shim.exec(&["kill", &id]).success();
    assert_eq!(shim.wait(&id), 7);
    let followed = follower.wait_with_output().unwrap();
    let followed = String::from_utf8_lossy(&followed.stdout);
    assert!(followed.starts_with("tick-0\n") && followed.ends_with("got-term\n"), "{followed}");
    let tail = shim.exec(&["logs", "--tail", "1", &id]);
    assert_eq!(tail.stdout, "got-term\n");
    let future = shim.exec(&["logs", "--since", "2999-01-01T00:00:00Z", &id]);
    assert_eq!(future.stdout, "");
    shim.exec(&["kill", &id]).failure().one_line_error_naming(&[&id, "not running"]);
    shim.exec(&["rm", &id]).success();
    assert!(!shim.state_dir(&id).exists());
    // rm -f of a running container kills it first.
    let id2 = unique_id("sk-client");
    shim.run(&bundle, &id2, &["-d"]).success();
    shim.exec(&["rm", "-f", &id2]).success();
    assert!(!shim.state_dir(&id2).exists());
    assert!(!shim.runtime.root().join(&id2).exists(), "the runtime still has {id2}");
}

/// A private tmux server (its own socket), killed on drop: a real terminal for `attach`.
struct Tmux {
    socket: PathBuf,
    _dir: TempDir,
}

impl Tmux {
    fn new() -> Tmux {
        let dir = TempDir::new("sk-tmux");
        Tmux { socket: dir.path().join("tmux.sock"), _dir: dir }
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").env("TERM", "xterm").arg("-S").arg(&self.socket).args(args).output().expect("tmux is installed")
    }

    /// A detached session `name` of `cols`x`rows` running `command`.
    fn session(&self, name: &str, cols: u16, rows: u16, command: &str) {
        let (cols, rows) = (cols.to_string(), rows.to_string());
        let out = self.cmd(&["new-session", "-d", "-s", name, "-x", &cols, "-y", &rows, command]);
        assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));
        // Keep the pane (and its text) after the command ends, to tell how it ended.
        self.cmd(&["set-option", "-t", name, "remain-on-exit", "on"]);
    }

    fn keys(&self, name: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }

    fn screen(&self, name: &str) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", name]).stdout).into_owned()
    }

    #[track_caller]
    fn wait_for(&self, name: &str, text: &str) -> String {
        let mut last = String::new();
        until(Duration::from_secs(15), || {
            last = self.screen(name);
            last.contains(text).then(|| last.clone())
        })
        .unwrap_or_else(|| panic!("{text:?} never appeared in tmux session {name}:\n{last}"))
    }

    /// Whether the pane's command has ended.
    fn pane_dead(&self, name: &str) -> bool {
        let out = self.cmd(&["display-message", "-p", "-t", name, "#{pane_dead}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

#[test]
fn attach_works_while_the_container_runs() {
    let shim = Shim::new();
    let mut bundle = Bundle::busybox("sk-attach");
    bundle.edit(|c| {
        c["process"]["terminal"] = serde_json::json!(true);
        c["process"]["args"] = serde_json::json!(["sh"]);
    });
    let id = unique_id("sk-attach");
    shim.run(&bundle, &id, &["-d", "-t", "-i"]).success();
    let attach = format!("{} --root {} attach {id}", shim.program.display(), shim.root.path().display());
    let tmux = Tmux::new();
    // Two clients at once: what one types, both see.
    tmux.session("one", 100, 30, &attach);
    tmux.session("two", 100, 30, &attach);
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys("one", &["echo sum-$((6*7))", "Enter"]);
    tmux.wait_for("one", "sum-42");
    tmux.wait_for("two", "sum-42");
    // A window resize reaches the container's terminal.
    assert!(tmux.cmd(&["resize-window", "-t", "one", "-x", "120", "-y", "40"]).status.success());
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys("one", &["stty size", "Enter"]);
    tmux.wait_for("one", "40 120");
    // The detach keys end that client only; the container keeps running.
    tmux.keys("two", &["C-p", "C-q"]);
    until(Duration::from_secs(10), || tmux.pane_dead("two").then_some(())).expect("ctrl-p ctrl-q detaches");
    // A client killed outright does not stop the container either.
    assert!(tmux.cmd(&["kill-session", "-t", "one"]).status.success());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(shim.ps_entry(&id)["status"], "running");
    // A new client still gets through, and sees the container end.
    // The exit code is printed by the pane's shell: tmux records a dead pane's status only
    // sometimes (it can mark the pane dead on the terminal's close before it reaps).
    tmux.session("three", 80, 24, &format!("{attach}; echo exit-code=$?; sleep 60"));
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys("three", &["echo still-$((1+1)); exit 9", "Enter"]);
    tmux.wait_for("three", "still-2");
    assert_eq!(shim.wait(&id), 9);
    tmux.wait_for("three", "exit-code=9");
}

impl Shim {
    /// The `run` command line as words, for a shell or tmux.
    fn run_line(&self, bundle: &Bundle, id: &str, flags: &str) -> String {
        format!(
            "{} --root {} run {flags} --runtime {} --runtime-root {} --bundle {} {id}",
            self.program.display(),
            self.root.path().display(),
            self.runtime.program().display(),
            self.runtime.root().display(),
            bundle.path().display(),
        )
    }
}

#[test]
fn the_foreground_passes_stdin_through_and_closes_it_at_its_end() {
    let shim = Shim::new();
    let bundle = script_bundle("sk-stdin", "tr a-z A-Z; echo stdin-closed");
    let id = unique_id("sk-stdin");
    let line = format!("printf 'hello\\nworld\\n' | timeout 30 {}", shim.run_line(&bundle, &id, "-i"));
    let out = Command::new("sh").args(["-c", &line]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO\nWORLD\nstdin-closed\n");
}

#[test]
fn the_foreground_relays_a_terminal() {
    let shim = Shim::new();
    let mut bundle = Bundle::busybox("sk-fgtty");
    bundle.edit(|c| {
        c["process"]["terminal"] = serde_json::json!(true);
        c["process"]["args"] = serde_json::json!(["sh"]);
    });
    let id = unique_id("sk-fgtty");
    let tmux = Tmux::new();
    // The exit code is printed by the pane's shell (see attach_works_while_the_container_runs).
    tmux.session("fg", 90, 25, &format!("{}; echo exit-code=$?; sleep 60", shim.run_line(&bundle, &id, "-t -i")));
    tmux.keys("fg", &["stty size; echo product-$((3*4))", "Enter"]);
    tmux.wait_for("fg", "product-12");
    tmux.wait_for("fg", "25 90");
    assert!(tmux.cmd(&["resize-window", "-t", "fg", "-x", "100", "-y", "33"]).status.success());
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys("fg", &["stty size", "Enter"]);
    tmux.wait_for("fg", "33 100");
    tmux.keys("fg", &["exit 4", "Enter"]);
    tmux.wait_for("fg", "exit-code=4");
}
