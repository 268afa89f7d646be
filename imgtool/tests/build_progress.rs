//! `build` progress in a real terminal (a tmux pane): on a terminal each
//! step is one line, redrawn in place (cached, or running with its elapsed
//! time, then DONE or ERROR with it); `--progress plain` writes a line when
//! a step starts and another when it ends; a failed RUN's output follows
//! the lines.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::{berth_img, with_busybox, Scratch};

/// A private tmux server (its own socket), killed on drop.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn new(scratch: &Scratch) -> Tmux {
        Tmux {
            socket: scratch.path().join("tmux.sock"),
        }
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .env("TERM", "xterm")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is installed")
    }

    /// A detached 150x30 session `name` running `command`, kept after it ends.
    fn session(&self, name: &str, command: &str) {
        let out = self.cmd(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "150",
            "-y",
            "30",
            command,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.cmd(&["set-option", "-t", name, "remain-on-exit", "on"]);
    }

    /// The pane's non-empty lines, from the start of its history.
    fn screen(&self, name: &str) -> Vec<String> {
        let out = self.cmd(&["capture-pane", "-p", "-S", "-", "-t", name]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim_end().to_string())
            .collect()
    }

    /// The first screen `done` accepts (within a minute).
    #[track_caller]
    fn wait_for(&self, name: &str, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let start = Instant::now();
        loop {
            let screen = self.screen(name);
            if done(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{what} never appeared:\n{}",
                screen.join("\n")
            );
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The berth-img build command line, for a shell in the pane.
fn build_command(scratch: &Scratch, ctx: &Path, extra: &str) -> String {
    format!(
        "{} --store {} build {extra} -t p:1 {}; echo EXIT=$?",
        berth_img(),
        scratch.store().display(),
        ctx.display()
    )
}

/// A context whose first RUN is already cached, then `rest`.
fn context(scratch: &Scratch, rest: &str) -> PathBuf {
    let ctx = scratch.context("ctx", "FROM busybox\nRUN echo one > /one\n", &[]);
    scratch.ok(&["build", "-q", ctx.to_str().unwrap()]);
    fs::write(
        ctx.join("Dockerfile"),
        format!("FROM busybox\nRUN echo one > /one\n{rest}"),
    )
    .unwrap();
    ctx
}

/// The seconds a step line shows (`... 1.3s ⠋` while running).
fn seconds(line: &str) -> Option<String> {
    line.split_whitespace()
        .find(|w| w.ends_with('s') && w[..w.len() - 1].parse::<f64>().is_ok())
        .map(str::to_string)
}

#[test]
fn tty_progress_redraws_each_step_in_place() {
    let scratch = with_busybox();
    let ctx = context(&scratch, "RUN sleep 2 && echo slept\nRUN echo three\n");
    let tmux = Tmux::new(&scratch);
    tmux.session("tty", &build_command(&scratch, &ctx, ""));
    let sleeping = |screen: &[String]| {
        screen
            .iter()
            .position(|l| l.contains("Dockerfile:3 RUN /bin/sh -c sleep 2"))
    };
    // 1. The cached step says so; the running one counts its seconds.
    let first = tmux.wait_for("tty", "the running step", |s| {
        sleeping(s).is_some_and(|i| seconds(&s[i]).is_some() && !s[i].contains("DONE"))
    });
    let row = sleeping(&first).unwrap();
    assert!(
        first[row - 1].ends_with("Dockerfile:2 RUN /bin/sh -c echo one > /one  CACHED"),
        "{first:?}"
    );
    let shown = seconds(&first[row]).unwrap();
    // 2. The same line, redrawn with a later time.
    tmux.wait_for("tty", "a later time on the same line", |s| {
        sleeping(s) == Some(row) && seconds(&s[row]).is_some_and(|t| t != shown)
    });
    // 3. Done: the step's line says DONE where it ran, once; the last step follows.
    let last = tmux.wait_for("tty", "the end", |s| s.iter().any(|l| l == "EXIT=0"));
    assert_eq!(sleeping(&last), Some(row), "{last:?}");
    assert!(last[row].contains("  DONE "), "{last:?}");
    let mentions = last.iter().filter(|l| l.contains("sleep 2")).count();
    assert_eq!(
        mentions, 1,
        "the step's line was not redrawn in place: {last:?}"
    );
    assert!(
        last[row + 1].contains("Dockerfile:4 RUN /bin/sh -c echo three  DONE "),
        "{last:?}"
    );
    // RUN output is not shown on a terminal unless the RUN fails.
    assert!(!last.iter().any(|l| l == "slept"), "{last:?}");
}

#[test]
fn tty_progress_shows_a_failed_run_and_its_output() {
    let scratch = with_busybox();
    let ctx = context(&scratch, "RUN echo boom && exit 3\n");
    let tmux = Tmux::new(&scratch);
    tmux.session("fail", &build_command(&scratch, &ctx, ""));
    let last = tmux.wait_for("fail", "the end", |s| s.iter().any(|l| l == "EXIT=1"));
    let at = last
        .iter()
        .position(|l| l.contains("Dockerfile:3 RUN /bin/sh -c echo boom && exit 3  ERROR "))
        .unwrap_or_else(|| panic!("no ERROR line: {last:?}"));
    assert_eq!(last[at + 1], "boom", "{last:?}");
    assert!(last[at + 2].contains("exited with code 3"), "{last:?}");
}

#[test]
fn plain_progress_on_a_terminal_writes_lines() {
    let scratch = with_busybox();
    let ctx = context(&scratch, "RUN echo slept\n");
    let tmux = Tmux::new(&scratch);
    tmux.session("plain", &build_command(&scratch, &ctx, "--progress plain"));
    let last = tmux.wait_for("plain", "the end", |s| s.iter().any(|l| l == "EXIT=0"));
    let step = last
        .iter()
        .position(|l| l == "[stage-0] Dockerfile:3 RUN /bin/sh -c echo slept")
        .unwrap_or_else(|| panic!("no start line: {last:?}"));
    assert_eq!(last[step + 1], "slept", "{last:?}");
    assert!(
        last[step + 2].starts_with("[stage-0] Dockerfile:3 DONE "),
        "{last:?}"
    );
}
