//! process.terminal without --console-socket: `run` and `exec -t` in the foreground allocate
//! the pty themselves and relay it to their own stdio, with its window size, as runc does
//! (runc's tests/integration/tty.bats runs about 40 cases this way). Each test drives the
//! runtime from a pty of its own, as a person at a terminal would.

use berth_e2e::{fixture, sleeper, Container};
use serde_json::json;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

const ROWS: u16 = 33;
const COLS: u16 = 111;

/// What the runtime printed on its terminal, and how it ended.
struct Session {
    output: String,
    status: ExitStatus,
}

/// Run `command` with a new pty of ROWS x COLS as its controlling terminal and stdio; once
/// its output shows `ready`, type `input`. Gives up (killing it) after 30 s.
fn on_a_terminal(mut command: Command, input: &str) -> Session {
    let size = nix::pty::Winsize { ws_row: ROWS, ws_col: COLS, ws_xpixel: 0, ws_ypixel: 0 };
    let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
    let slave = pty.slave;
    for (fd, set) in [(0, "stdin"), (1, "stdout"), (2, "stderr")] {
        let copy: OwnedFd = slave.try_clone().unwrap_or_else(|e| panic!("dup pty for {set}: {e}"));
        match fd {
            0 => command.stdin(copy),
            1 => command.stdout(copy),
            _ => command.stderr(copy),
        };
    }
    // SAFETY: between fork and exec the closure only makes async-signal-safe syscalls
    // (setsid, ioctl) and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("spawn the runtime on a pty");
    drop(slave);
    let master = pty.master;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let mut typed = false;
    let mut buf = [0u8; 4096];
    loop {
        if !typed && String::from_utf8_lossy(&seen).contains("ready") {
            // The user resizes the window, then types: the container sees both.
            let resized = nix::pty::Winsize { ws_row: ROWS + 10, ws_col: COLS + 10, ws_xpixel: 0, ws_ypixel: 0 };
            // SAFETY: TIOCSWINSZ reads one winsize from `resized`, valid for the call.
            unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&master), libc::TIOCSWINSZ, &resized) };
            std::thread::sleep(Duration::from_millis(300));
            std::fs::File::from(master.try_clone().expect("dup master")).write_all(input.as_bytes()).expect("type");
            typed = true;
        }
        let mut fds = [nix::poll::PollFd::new(master.as_fd(), nix::poll::PollFlags::POLLIN)];
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16)).unwrap_or(0);
        if ready > 0 {
            match nix::unistd::read(master.as_fd(), &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        } else if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no end within 30 s; the terminal showed:\n{}", String::from_utf8_lossy(&seen));
        }
    }
    let status = child.wait().expect("wait for the runtime");
    Session { output: String::from_utf8_lossy(&seen).into_owned(), status }
}

/// The script each container runs on its terminal: report what it sees (the window size at
/// once, and once it is set), then echo a line typed at berth's terminal and exit 3.
const SCRIPT: &str = "echo first=$(stty size 2>/dev/null); i=0; \
    while [ \"$(stty size 2>/dev/null)\" != \"33 111\" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done; \
    echo size=$(stty size); [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-tty; echo ready; read line; echo got=$line; echo resized=$(stty size); exit 3";

fn check_session(session: &Session) {
    let out = &session.output;
    assert!(out.contains(&format!("size={ROWS} {COLS}")), "the container's terminal lacks berth's window size:\n{out}");
    if !berth_e2e::binaries::deliberate_difference("runc sizes the terminal only after the program has started") {
        assert!(out.contains(&format!("first={ROWS} {COLS}")), "the program saw its terminal before it was sized:\n{out}");
    }
    assert!(out.contains("stdio-is-a-tty"), "the container's stdio is not a terminal:\n{out}");
    assert!(out.contains("got=typed-at-the-terminal"), "what was typed did not reach the container:\n{out}");
    assert!(out.contains(&format!("resized={} {}", ROWS + 10, COLS + 10)), "a resize did not reach the container:\n{out}");
    assert_eq!(session.status.code(), Some(3), "the exit code passes through:\n{out}");
}

#[test]
fn run_relays_the_terminal_to_its_own_stdio() {
    let (runtime, mut bundle, id) = fixture("tty-run");
    bundle.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["args"] = json!(["sh", "-c", SCRIPT]);
    });
    let _guard = Container::new(&runtime, &bundle, &id);
    let command = runtime.command(["run".as_ref(), "--bundle".as_ref(), bundle.path().as_os_str(), id.as_ref()]);
    let session = on_a_terminal(command, "typed-at-the-terminal\r");
    check_session(&session);
    assert!(!runtime.root().join(&id).exists(), "run left its state behind");
}

#[test]
fn exec_tty_relays_the_terminal_to_its_own_stdio() {
    let (runtime, _bundle, container) = sleeper("tty-exec");
    container.run(&["--detach"]).success();
    let command = runtime.command(["exec", "-t", container.id(), "sh", "-c", SCRIPT]);
    let session = on_a_terminal(command, "typed-at-the-terminal\r");
    check_session(&session);
    assert_eq!(container.state()["status"], "running", "the container outlives its exec");
}

#[test]
fn run_without_a_terminal_of_its_own_still_relays_output() {
    // A manager that runs `run` with pipes or files (no terminal) still gets the output.
    if berth_e2e::binaries::deliberate_difference("runc refuses a terminal when it has none of its own (open /dev/tty: ENXIO)") {
        return;
    }
    let (runtime, mut bundle, id) = fixture("tty-files");
    bundle.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["args"] = json!(["sh", "-c", "[ -t 1 ] && echo on-a-tty; exit 4"]);
    });
    let container = Container::new(&runtime, &bundle, &id);
    let outcome = container.run(&[]);
    assert_eq!(outcome.code(), Some(4), "{outcome}");
    assert!(outcome.stdout.contains("on-a-tty"), "{outcome}");
}

#[test]
fn a_detached_terminal_without_a_console_socket_is_refused() {
    let (runtime, mut bundle, id) = fixture("tty-detach");
    bundle.edit(|c| c["process"]["terminal"] = json!(true));
    bundle.args(&["sleep", "600"]);
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&["--detach"]).failure();
    assert!(!runtime.root().join(&id).exists(), "state left behind");
}

#[test]
fn a_detached_exec_tty_without_a_console_socket_is_refused() {
    let (runtime, _bundle, container) = sleeper("tty-exec-detach");
    container.run(&["--detach"]).success();
    runtime.exec(["exec", "-t", "-d", container.id(), "true"]).failure();
}
