//! The container process: args with PATH lookup, env, cwd, user and groups,
//! umask, rlimits, oomScoreAdj, noNewPrivileges, capabilities, preserve-fds,
//! and the example bundle's own command.

use berth_e2e::inspect::{status_field, SHELL_STATUS};
use berth_e2e::{fixture, run_script, Container};
use serde_json::json;

/// The shell's own /proc status inside a container configured by `edit`.
fn shell_status(tag: &str, edit: impl FnOnce(&mut berth_e2e::Bundle)) -> String {
    run_script(tag, SHELL_STATUS, edit)
}

#[track_caller]
fn field<'a>(status: &'a str, key: &str) -> &'a str {
    status_field(status, key).unwrap_or_else(|| panic!("no {key} in:\n{status}"))
}

#[test]
fn example_bundle_shows_hostname_pid_and_mounts() {
    let (runtime, bundle, id) = fixture("example");
    let outcome = Container::new(&runtime, &bundle, &id).run(&[]);
    outcome.success();
    let mut lines = outcome.stdout.lines();
    assert_eq!(lines.next(), Some("hostname: berth"), "{outcome}");
    assert_eq!(lines.next(), Some("pid: 1"), "{outcome}");
    assert_eq!(lines.next(), Some("mounts:"), "{outcome}");
    assert!(lines.any(|l| l.starts_with("proc /proc proc")), "{outcome}");
}

#[test]
fn args_are_looked_up_on_the_containers_path() {
    let (runtime, mut bundle, id) = fixture("path-lookup");
    // A tool only the container's PATH reaches; the host's PATH has no /opt/e2e.
    let dir = bundle.rootfs().join("opt/e2e/bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("e2e-tool"),
        "#!/bin/sh\necho tool ran with \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        dir.join("e2e-tool"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    bundle.args(&["e2e-tool", "a b", "c"]).edit(|c| {
        c["process"]["env"] = json!(["PATH=/opt/e2e/bin:/bin"]);
    });
    let outcome = Container::new(&runtime, &bundle, &id).run(&[]);
    outcome.success();
    assert_eq!(outcome.stdout, "tool ran with a b c\n");
}

#[test]
fn env_is_exactly_what_the_config_gives_plus_home() {
    let out = run_script("env", "env | sort", |b| {
        b.edit(|c| {
            c["process"]["env"] = json!([
                "PATH=/bin:/usr/bin",
                "E2E_VALUE=with spaces=and equals",
                "HOME=/root"
            ]);
        });
    });
    let vars: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL="))
        .collect();
    assert_eq!(
        vars,
        [
            "E2E_VALUE=with spaces=and equals",
            "HOME=/root",
            "PATH=/bin:/usr/bin"
        ]
    );
}

#[test]
fn cwd_is_where_the_process_starts() {
    let out = run_script("cwd", "pwd", |b| {
        b.edit(|c| c["process"]["cwd"] = json!("/etc"));
    });
    assert_eq!(out, "/etc\n");
}

#[test]
fn user_group_and_additional_groups_apply() {
    let status = shell_status("user", |b| {
        b.edit(|c| {
            c["process"]["user"] = json!({ "uid": 1000, "gid": 100, "additionalGids": [5, 65534] });
        });
    });
    assert_eq!(
        field(&status, "Uid").split_whitespace().collect::<Vec<_>>(),
        ["1000"; 4]
    );
    assert_eq!(
        field(&status, "Gid").split_whitespace().collect::<Vec<_>>(),
        ["100"; 4]
    );
    let mut groups: Vec<&str> = field(&status, "Groups").split_whitespace().collect();
    groups.sort();
    assert_eq!(groups, ["5", "65534"]);
}

#[test]
fn root_user_has_no_supplementary_groups_by_default() {
    let status = shell_status("user-root", |_| {});
    assert_eq!(field(&status, "Uid").split_whitespace().next(), Some("0"));
    assert_eq!(field(&status, "Groups"), "");
}

#[test]
fn umask_applies() {
    let status = shell_status("umask", |b| {
        b.edit(|c| c["process"]["user"]["umask"] = json!(0o027));
    });
    assert_eq!(field(&status, "Umask"), "0027");
}

#[test]
fn rlimits_apply() {
    let out = run_script("rlimits", "cat /proc/self/limits", |b| {
        b.edit(|c| {
            c["process"]["rlimits"] = json!([
                { "type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000 },
                { "type": "RLIMIT_CORE", "soft": 0, "hard": 4096 },
                { "type": "RLIMIT_NPROC", "soft": 300, "hard": 400 }
            ]);
        });
    });
    let limit = |name: &str| -> Vec<String> {
        let line = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}:\n{out}"));
        line[name.len()..]
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(limit("Max open files")[..2], ["512", "1000"]);
    assert_eq!(limit("Max core file size")[..2], ["0", "4096"]);
    assert_eq!(limit("Max processes")[..2], ["300", "400"]);
}

#[test]
fn oom_score_adj_applies() {
    let out = run_script("oom", "cat /proc/self/oom_score_adj", |b| {
        b.edit(|c| c["process"]["oomScoreAdj"] = json!(432));
    });
    assert_eq!(out, "432\n");
}

#[test]
fn no_new_privileges_is_set_when_asked() {
    let on = shell_status("nnp-on", |b| {
        b.edit(|c| c["process"]["noNewPrivileges"] = json!(true));
    });
    assert_eq!(field(&on, "NoNewPrivs"), "1");
    let off = shell_status("nnp-off", |b| {
        b.edit(|c| c["process"]["noNewPrivileges"] = json!(false));
    });
    assert_eq!(field(&off, "NoNewPrivs"), "0");
}

/// CAP_CHOWN is bit 0, CAP_KILL bit 5, CAP_NET_BIND_SERVICE bit 10.
const CHOWN_KILL_NET_BIND: &str = "0000000000000421";
const KILL: &str = "0000000000000020";

#[test]
fn capability_sets_apply_to_a_non_root_process() {
    // A non-root process keeps across execve only its ambient capabilities,
    // so this shows each set as the runtime set it.
    let status = shell_status("caps", |b| {
        b.edit(|c| {
            c["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
            c["process"]["capabilities"] = json!({
                "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL"],
                "inheritable": ["CAP_KILL"],
                "ambient": ["CAP_KILL"]
            });
        });
    });
    assert_eq!(field(&status, "CapBnd"), CHOWN_KILL_NET_BIND);
    assert_eq!(field(&status, "CapEff"), KILL);
    assert_eq!(field(&status, "CapPrm"), KILL);
    assert_eq!(field(&status, "CapInh"), KILL);
    assert_eq!(field(&status, "CapAmb"), KILL);
}

#[test]
fn capabilities_of_a_root_process_are_bounded() {
    let status = shell_status("caps-root", |b| {
        b.edit(|c| {
            c["process"]["capabilities"] = json!({
                "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL"]
            });
        });
    });
    assert_eq!(field(&status, "CapBnd"), CHOWN_KILL_NET_BIND);
    assert_eq!(field(&status, "CapAmb"), "0000000000000000");
    // Root's execve would raise permitted and effective to the bounding set,
    // but the example bundle sets noNewPrivileges, which forbids that gain.
    assert_eq!(field(&status, "CapEff"), KILL);
    assert_eq!(field(&status, "CapPrm"), KILL);
}

/// Runs the container with two extra files open as fds 3 and 4 in the
/// runtime's own process, and `flags` (e.g. --preserve-fds 2).
fn run_with_extra_fds(tag: &str, flags: &[&str]) -> berth_e2e::Outcome {
    let (runtime, mut bundle, id) = fixture(tag);
    let three = runtime.scratch().join("fd3");
    let four = runtime.scratch().join("fd4");
    std::fs::write(&three, "three\n").unwrap();
    std::fs::write(&four, "four\n").unwrap();
    bundle.script("cat <&3 && cat <&4");
    let mut command = std::process::Command::new("sh");
    // sh opens the two files as fds 3 and 4, then execs the runtime.
    command
        .args(["-c", "exec 3<\"$1\" 4<\"$2\"; shift 2; exec \"$@\"", "sh"])
        .arg(&three)
        .arg(&four)
        .arg(runtime.program())
        .arg("--root")
        .arg(runtime.root())
        .arg("run")
        .args(flags)
        .arg("--bundle")
        .arg(bundle.path())
        .arg(&id);
    let _container = Container::new(&runtime, &bundle, &id);
    runtime.exec_command(command)
}

#[test]
fn preserve_fds_passes_extra_fds_to_the_process() {
    let outcome = run_with_extra_fds("preserve-fds", &["--preserve-fds", "2"]);
    outcome.success();
    assert_eq!(outcome.stdout, "three\nfour\n");
}

#[test]
fn without_preserve_fds_extra_fds_are_closed() {
    let outcome = run_with_extra_fds("no-preserve-fds", &[]);
    assert!(
        !outcome.status.success(),
        "reading fd 3 should fail:\n{outcome}"
    );
    assert!(!outcome.stdout.contains("three"), "{outcome}");
}

#[test]
fn the_process_starts_with_no_signal_ignored() {
    // An ignored signal stays ignored across execve; the test harness (a Rust program)
    // ignores SIGPIPE, as managers often ignore others: none of that reaches the program.
    // cat, not sh: busybox's shell ignores SIGQUIT itself.
    let status = run_script("sigign", "exec cat /proc/self/status", |_| {});
    if berth_e2e::binaries::deliberate_difference("runc passes on the signals its caller ignores") {
        return;
    }
    assert_eq!(field(&status, "SigIgn"), "0000000000000000", "{status}");
}
