//! Break-outs: each published runtime escape attempted from inside a container, shown to fail.
//!
//! The attacker's side is `tests/breakout/probe.c`, built statically and copied into the
//! container's rootfs; it only ever opens what it obtains (a write-open without O_TRUNC is the
//! proof), so running these against a vulnerable runtime damages nothing. Where Debian's runc
//! 1.1.5 is itself vulnerable, the check says so and is skipped against it.

use berth_e2e::binaries::{deliberate_difference, workspace_root};
use berth_e2e::{fixture, poll, sleeper, Bundle, Container, Outcome, Runtime, TempDir};
use serde_json::json;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The probe, built once per test process into cargo's per-target scratch dir.
fn probe_binary() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let source = workspace_root().join("tests/breakout/probe.c");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let building = dir.join(format!("breakout-probe.{}", std::process::id()));
        let status = std::process::Command::new("cc")
            .args(["-static", "-O2", "-Wall", "-o"])
            .arg(&building)
            .arg(&source)
            .status()
            .expect("spawn cc (apt-get install gcc libc6-dev)");
        assert!(status.success(), "building {} failed: {status}", source.display());
        // Test binaries may build it at the same time: each renames its own over the last.
        let out = dir.join("breakout-probe");
        std::fs::rename(&building, &out).expect("rename the probe into place");
        out
    })
}

/// A writable rootfs with /probe in it, and the capabilities a hostile root would ask for.
fn hostile(bundle: &mut Bundle, caps: &[&str]) {
    let target = bundle.rootfs().join("probe");
    std::fs::copy(probe_binary(), &target).unwrap_or_else(|e| panic!("copy probe to {}: {e}", target.display()));
    bundle.edit(|c| {
        c["root"]["readonly"] = json!(false);
        for set in ["bounding", "effective", "permitted"] {
            let list = c["process"]["capabilities"][set].as_array_mut().expect("capability set");
            list.extend(caps.iter().map(|cap| json!(cap)));
        }
    });
}

/// A file's identity as the probe prints it: "MAJOR:MINOR INODE".
fn identity(path: &Path) -> String {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
    let dev = meta.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    format!("{major}:{minor} {}", meta.ino())
}

/// The runtime binary the host runs: what CVE-2019-5736 overwrites.
fn host_binary(runtime: &Runtime) -> PathBuf {
    std::fs::canonicalize(runtime.program()).expect("the runtime binary")
}

/// Whether a probe line "exe DEV INO REOPEN PROTECTION ..." is a handle through which the
/// host's runtime binary could be written once the runtime has exited: the same file, on a
/// writable mount and not sealed. A read-only view (runc 1.1's read-only bind mount, an
/// overlay) or a sealed copy is safe.
fn writable_host_binary(line: &str, host_identity: &str) -> bool {
    let fields: Vec<&str> = line.split_whitespace().collect();
    fields.len() >= 5 && fields[0] == "exe" && format!("{} {}", fields[1], fields[2]) == host_identity && fields[4] == "writable"
}

/// CVE-2019-5736 through the init: a process exec'd into a created container, holding
/// CAP_SYS_PTRACE (which defeats non-dumpable), opens the waiting init's /proc/1/exe.
#[test]
fn the_waiting_init_exe_is_not_the_host_binary_even_with_cap_sys_ptrace() {
    let (runtime, mut bundle, container) = sleeper("brk-init-exe");
    hostile(&mut bundle, &["CAP_SYS_PTRACE"]);
    container.create(&[]).success();
    let outcome = runtime.exec(["exec", "--cap", "CAP_SYS_PTRACE", container.id(), "/probe", "exe", "1"]);
    outcome.success();
    let host = identity(&host_binary(&runtime));
    let line = outcome.stdout.trim();
    assert!(line.starts_with("exe "), "{outcome}");
    assert!(!writable_host_binary(line, &host), "the container holds the host's runtime binary ({host}), writable, through /proc/1/exe:\n{outcome}");
}

/// CVE-2019-5736 seen from the host: the waiting init runs from a read-only view of the
/// runtime's binary (root may use the mount API, which costs less than a copy), and the file
/// behind that view is the host's binary itself, so the view is what protects it.
#[test]
fn the_waiting_init_runs_from_a_read_only_view_of_the_runtime_binary() {
    let (runtime, _bundle, container) = sleeper("brk-init-view");
    container.create(&[]).success();
    let exe = berth_e2e::inspect::exe_protection(container.pid());
    assert!(exe.is_sealed(), "the init runs from a writable binary: {exe:?}");
    if !deliberate_difference("runc 1.1 copies its binary into a sealed memfd") {
        assert!(exe.read_only_mount && !exe.link.starts_with("/memfd:"), "not a read-only view: {exe:?}");
        let init_exe = std::fs::metadata(format!("/proc/{}/exe", container.pid())).expect("stat the init's exe");
        let host = std::fs::metadata(host_binary(&runtime)).expect("stat the runtime binary");
        assert_eq!((init_exe.dev(), init_exe.ino()), (host.dev(), host.ino()), "the view is of another file");
    }
}

/// CVE-2019-5736 through the exec helper and `#!/proc/self/exe`, and the helper's own
/// environment, root and cwd: a CAP_SYS_PTRACE process polls every pid of the container while
/// the host runs `exec` (from a directory, and with a variable, only the host knows).
#[test]
fn the_exec_helper_exposes_neither_the_host_binary_nor_its_environment_root_or_cwd() {
    let (runtime, mut bundle, id) = fixture("brk-exec-helper");
    hostile(&mut bundle, &["CAP_SYS_PTRACE"]);
    let host_dir = TempDir::new("brk-host-only");
    let marker_name = format!("host-only-{}", std::process::id());
    std::fs::write(host_dir.path().join(&marker_name), "").unwrap();
    let marker_path = host_dir.path().join(&marker_name);
    let marker_env = format!("BERTH_E2E_HOST_SECRET_{}", std::process::id());
    std::fs::create_dir_all(bundle.rootfs().join("tmp/watch")).unwrap();
    // The kernel runs a script's interpreter in the process that execs it: the runtime's own.
    std::fs::write(bundle.rootfs().join("evil"), "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(bundle.rootfs().join("evil"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    bundle.args(&["/probe", "watch", "/tmp/watch", &marker_env, marker_path.to_str().unwrap(), &marker_name]);
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&["--detach"]).success();
    for round in 0..6 {
        for program in ["/bin/true", "/evil"] {
            let mut command = runtime.command(["exec", &id, program]);
            command.current_dir(host_dir.path()).env(&marker_env, "1");
            let outcome = runtime.exec_command(command);
            if program == "/bin/true" {
                assert!(outcome.status.success(), "exec round {round}:\n{outcome}");
            }
        }
    }
    std::fs::write(bundle.rootfs().join("tmp/watch/stop"), "").unwrap();
    let report_path = bundle.rootfs().join("tmp/watch/report");
    let report = poll::until(Duration::from_secs(10), || std::fs::read_to_string(&report_path).ok())
        .expect("the probe wrote no report");
    let host = identity(&host_binary(&runtime));
    for line in report.lines() {
        assert!(!writable_host_binary(line, &host), "the container got hold of the host's runtime binary ({host}), writable:\n{report}");
    }
    assert!(!report.lines().any(|l| l == "environ"), "the host's environment was readable from the container:\n{report}");
    assert!(!report.lines().any(|l| l == "root"), "the host's root was reachable through /proc/PID/root:\n{report}");
    assert!(!report.lines().any(|l| l == "cwd"), "the host's cwd was reachable through /proc/PID/cwd:\n{report}");
}

/// Climb `..` 64 times from the cwd the runtime gave us: from a cwd inside the root this stops
/// at the container's `/`; from a cwd on the host it reaches the host's `/`.
const CWD_CHECK: &str = "i=0; while [ $i -lt 64 ]; do cd .. 2>/dev/null; i=$((i+1)); done; \
                         if [ \"$(stat -c %d:%i .)\" = \"$(stat -c %d:%i /)\" ]; then echo cwd-inside; else echo cwd-ESCAPED; fi";

fn assert_cwd_stayed_inside(outcome: &Outcome, what: &str) {
    assert!(!outcome.stdout.contains("cwd-ESCAPED"), "{what}: the process started in a directory of the host:\n{outcome}");
}

/// CVE-2024-21626: process.cwd naming one of the runtime's own descriptors, through
/// /proc/self/fd/N, must not start the process in a host directory.
#[test]
fn a_cwd_through_an_inherited_fd_never_lands_on_the_host() {
    for fd in 3..=10 {
        let (runtime, mut bundle, id) = fixture("brk-cwd-fd");
        bundle.edit(|c| c["process"]["cwd"] = json!(format!("/proc/self/fd/{fd}")));
        bundle.script(CWD_CHECK);
        let container = Container::new(&runtime, &bundle, &id);
        assert_cwd_stayed_inside(&container.run(&[]), &format!("run with cwd /proc/self/fd/{fd}"));
    }
    // A caller's descriptor passed on with --preserve-fds is the plainest way in: fd 3 is a
    // host directory here.
    let host_dir = TempDir::new("brk-cwd-host");
    let script = "exec 3<\"$0\" && exec \"$@\"";
    let wrapped = Runtime::new(
        "/bin/sh".into(),
        vec!["-c".into(), script.into(), host_dir.path().into(), berth_e2e::binaries::runtime_under_test().into()],
    );
    let (_, mut bundle, id) = fixture("brk-cwd-preserved");
    bundle.edit(|c| c["process"]["cwd"] = json!("/proc/self/fd/3"));
    bundle.script(CWD_CHECK);
    let container = Container::new(&wrapped, &bundle, &id);
    let outcome = container.run(&["--preserve-fds", "1"]);
    assert_cwd_stayed_inside(&outcome, "run --preserve-fds 1 with cwd /proc/self/fd/3");
    outcome.failure();
    drop(container);
    let (runtime, _bundle, container) = sleeper("brk-cwd-fd-exec");
    container.run(&["--detach"]).success();
    for fd in 3..=10 {
        let cwd = format!("/proc/self/fd/{fd}");
        let outcome = runtime.exec(["exec", "--cwd", &cwd, container.id(), "sh", "-c", CWD_CHECK]);
        assert_cwd_stayed_inside(&outcome, &format!("exec --cwd {cwd}"));
    }
}

/// CVE-2024-21626's other half: the program starts with no descriptor of the runtime's.
#[test]
fn no_runtime_descriptor_reaches_the_program() {
    let (runtime, mut bundle, id) = fixture("brk-fds");
    hostile(&mut bundle, &[]);
    bundle.args(&["/probe", "fds"]);
    let container = Container::new(&runtime, &bundle, &id);
    let outcome = container.run(&[]);
    outcome.success();
    assert_eq!(outcome.stdout.trim(), "", "descriptors leaked into the container's init:\n{outcome}");
    drop(container);
    let (runtime, mut bundle, container) = sleeper("brk-fds-exec");
    hostile(&mut bundle, &[]);
    container.run(&["--detach"]).success();
    let outcome = runtime.exec(["exec", container.id(), "/probe", "fds"]);
    outcome.success();
    assert_eq!(outcome.stdout.trim(), "", "descriptors leaked into the exec'd process:\n{outcome}");
}

/// CVE-2019-19921: a rootfs whose /proc (or /sys) is a symlink would put procfs where the
/// runtime's later /proc writes (LSM labels, sysctls) do not look. It is refused.
#[test]
fn proc_and_sys_must_be_real_directories() {
    for name in ["proc", "sys"] {
        let (runtime, bundle, id) = fixture("brk-proc-link");
        let rootfs = bundle.rootfs();
        std::fs::create_dir_all(rootfs.join("tmp/elsewhere")).unwrap();
        let _ = std::fs::remove_dir(rootfs.join(name));
        std::os::unix::fs::symlink("/tmp/elsewhere", rootfs.join(name)).unwrap();
        let container = Container::new(&runtime, &bundle, &id);
        let outcome = container.run(&[]);
        outcome.failure();
        if !deliberate_difference("runc's error is not one line") {
            outcome.one_line_error_naming(&[&format!("/{name}")]);
        }
        assert!(!runtime.root().join(&id).exists(), "state left behind for {id}");
    }
}

/// CVE-2025-52881 and CVE-2019-16884: a mount over a procfs file (directly, or through a
/// symlink in the rootfs) would redirect the runtime's own /proc writes. Refused, except the
/// files lxcfs emulates.
#[test]
fn mounts_over_procfs_files_are_refused() {
    let host_file = TempDir::new("brk-proc-over");
    let source = host_file.path().join("value");
    std::fs::write(&source, "1\n").unwrap();
    let cases: [(&str, Option<(&str, &str)>); 3] = [
        ("/proc/sys/net/ipv4/ip_forward", None),
        ("/proc/self/attr/current", None),
        // /etc/evil -> /proc/sys/kernel inside the rootfs.
        ("/etc/evil/core_pattern", Some(("etc/evil", "/proc/sys/kernel"))),
    ];
    for (destination, link) in cases {
        let (runtime, mut bundle, id) = fixture("brk-proc-over");
        if let Some((at, target)) = link {
            std::fs::create_dir_all(bundle.rootfs().join("etc")).unwrap();
            std::os::unix::fs::symlink(target, bundle.rootfs().join(at)).unwrap();
        }
        bundle.add_mount(json!({ "destination": destination, "type": "bind", "source": source, "options": ["bind"] }));
        bundle.args(&["true"]);
        let container = Container::new(&runtime, &bundle, &id);
        let outcome = container.run(&[]);
        assert!(!outcome.status.success(), "a bind mount over {destination} was allowed:\n{outcome}");
        assert!(!runtime.root().join(&id).exists(), "state left behind for {id}");
    }
    // lxcfs binds its files over these; runc allows them, and so does berth.
    let (runtime, mut bundle, id) = fixture("brk-proc-lxcfs");
    bundle.add_mount(json!({ "destination": "/proc/uptime", "type": "bind", "source": source, "options": ["bind"] }));
    bundle.script("cat /proc/uptime");
    let container = Container::new(&runtime, &bundle, &id);
    let outcome = container.run(&[]);
    outcome.success();
    assert_eq!(outcome.stdout.trim(), "1", "{outcome}");
}

/// CVE-2025-31133: masked files are covered with the container's /dev/null; if that is not the
/// real null device (here a host file bound over it), masking would hand the container that
/// file in place of /proc/kcore. Refused.
#[test]
fn masking_refuses_a_dev_null_that_is_not_the_null_device() {
    let host_file = TempDir::new("brk-devnull");
    let source = host_file.path().join("not-null");
    std::fs::write(&source, "").unwrap();
    let (runtime, mut bundle, id) = fixture("brk-devnull");
    bundle.add_mount(json!({ "destination": "/dev/null", "type": "bind", "source": source, "options": ["bind"] }));
    bundle.edit(|c| c["linux"]["maskedPaths"] = json!(["/proc/kcore", "/proc/timer_list"]));
    bundle.script("echo written > /proc/timer_list; echo done");
    let container = Container::new(&runtime, &bundle, &id);
    let outcome = container.run(&[]);
    let written = std::fs::read_to_string(&source).unwrap_or_default();
    if deliberate_difference("runc 1.1.5 is vulnerable to CVE-2025-31133 (fixed in runc 1.2.8)") {
        return;
    }
    assert!(written.is_empty(), "a write to a masked path reached the host file:\n{outcome}");
    outcome.failure();
    outcome.one_line_error_naming(&["/dev/null"]);
    assert!(!runtime.root().join(&id).exists(), "state left behind for {id}");
}

/// The CapInh line of /proc/self/status as a number.
fn inheritable(status: &str) -> u64 {
    let hex = berth_e2e::inspect::status_field(status, "CapInh").expect("CapInh in status");
    u64::from_str_radix(hex, 16).expect("CapInh is hex")
}

/// CVE-2022-29162: `exec --cap` adds to the effective, permitted and bounding sets, never to
/// the inheritable one (which would let a file capability grow across execve).
#[test]
fn exec_cap_never_adds_inheritable_capabilities() {
    let (runtime, _bundle, container) = sleeper("brk-cap-inh");
    container.run(&["--detach"]).success();
    let outcome = runtime.exec(["exec", "--cap", "CAP_SYS_ADMIN", container.id(), "cat", "/proc/self/status"]);
    outcome.success();
    let effective = u64::from_str_radix(berth_e2e::inspect::status_field(&outcome.stdout, "CapEff").unwrap(), 16).unwrap();
    assert_ne!(effective & (1 << 21), 0, "--cap CAP_SYS_ADMIN did not reach the effective set:\n{outcome}");
    assert_eq!(inheritable(&outcome.stdout), 0, "--cap reached the inheritable set:\n{outcome}");
}

/// The container's seccomp profile binds what `exec` runs too (`kubectl exec`, exec probes).
#[test]
fn seccomp_applies_to_exec_processes() {
    let (runtime, mut bundle, container) = sleeper("brk-seccomp-exec");
    bundle.add_mount(json!({ "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"] }));
    bundle.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 }]
        })
    });
    container.run(&["--detach"]).success();
    let outcome = runtime.exec(["exec", container.id(), "sh", "-c", "mkdir /tmp/x 2>&1; grep '^Seccomp:' /proc/self/status"]);
    assert!(outcome.stdout.contains("Permission denied"), "mkdir was not refused in the exec'd process:\n{outcome}");
    assert!(outcome.stdout.contains("Seccomp:\t2"), "no seccomp filter on the exec'd process:\n{outcome}");
}

/// With --no-pivot the host's /proc stays in the container's mount namespace; a process that
/// makes its own user and pid namespace could then mount a fresh, unmasked procfs (the kernel
/// allows it while a fully visible one exists). The runtime detaches the host's procfs and
/// sysfs, so the mount is refused, as it is with pivot_root.
#[test]
fn a_fresh_proc_mount_cannot_unmask_proc() {
    for flags in [&["--no-pivot"][..], &[][..]] {
        let (runtime, mut bundle, id) = fixture("brk-nopivot");
        // Mapping uid 0 into a new user namespace needs CAP_SETFCAP (Linux 5.12); runc's
        // default capabilities include it.
        hostile(&mut bundle, &["CAP_SETFCAP"]);
        bundle.script(
            "unshare -mrpf sh -c 'mount -t tmpfs none /tmp && echo tmpfs-mounted; \
             mount -t proc none /proc 2>/dev/null && echo PROC-MOUNTED; true'",
        );
        let container = Container::new(&runtime, &bundle, &id);
        let outcome = container.run(flags);
        // Without the first mount the attack could not have worked: the check would prove nothing.
        assert!(outcome.stdout.contains("tmpfs-mounted"), "run {flags:?}: a user namespace could not mount at all:\n{outcome}");
        assert!(!outcome.stdout.contains("PROC-MOUNTED"), "run {flags:?}: a fresh procfs was mounted over the masked one:\n{outcome}");
    }
}
