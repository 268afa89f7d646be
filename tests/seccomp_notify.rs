//! seccomp `SCMP_ACT_NOTIFY` with `listenerPath` / `listenerMetadata`: the runtime connects to
//! the listener and sends the notify fd over SCM_RIGHTS with the container's state, as runc
//! does (runc's tests/integration/seccomp-notify.bats and its reference agent). The agent
//! here is a thread of the test: it answers mkdir with EXDEV, which no filesystem here
//! would, so the container's mkdir shows the agent answered.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;

use berth_e2e::binaries::deliberate_difference;
use berth_e2e::{run_foreground, TempDir};
use serde_json::{json, Value};

/// `struct seccomp_notif` (linux/seccomp.h).
#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

/// `struct seccomp_notif_resp`.
#[repr(C)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const NOTIF_RECV: libc::c_ulong = 0xc050_2100; // _IOWR('!', 0, struct seccomp_notif)
const NOTIF_SEND: libc::c_ulong = 0xc018_2101; // _IOWR('!', 1, struct seccomp_notif_resp)

/// What the agent got: the state message and the syscalls it answered.
struct Received {
    message: Value,
    answered: Vec<i64>,
}

/// Accept one connection on `socket`, take the notify fd and the state, then answer every
/// notification with -EXDEV until the container is gone.
fn agent(socket: UnixListener) -> Received {
    let (stream, _) = socket.accept().expect("the runtime connects to listenerPath");
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let msg = nix::sys::socket::recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut space), nix::sys::socket::MsgFlags::empty())
        .expect("recvmsg from the runtime");
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs().expect("control messages") {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(list) = cmsg {
            fds.extend(list);
        }
    }
    let len = msg.bytes;
    let message: Value = serde_json::from_slice(&buf[..len]).expect("the state message is JSON");
    assert_eq!(fds.len(), 1, "one fd (the seccomp notify fd) comes with the state: {message}");
    // SAFETY: the fd just arrived over SCM_RIGHTS; nothing else owns it.
    let notify = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    let mut answered = Vec::new();
    loop {
        let mut req = Notif::default();
        // SAFETY: `req` is a writable seccomp_notif the kernel fills; the fd is a notify fd.
        let rc = unsafe { libc::ioctl(notify.as_raw_fd(), NOTIF_RECV, &mut req as *mut Notif) };
        if rc != 0 {
            break; // every process under the filter is gone (ENOENT), or the fd went away
        }
        answered.push(i64::from(req.nr));
        let resp = NotifResp { id: req.id, val: 0, error: -libc::EXDEV, flags: 0 };
        // SAFETY: `resp` is a valid seccomp_notif_resp alive for the call.
        unsafe { libc::ioctl(notify.as_raw_fd(), NOTIF_SEND, &resp as *const NotifResp) };
    }
    Received { message, answered }
}

fn profile(listener: &Path) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": listener,
        "listenerMetadata": "agent-metadata",
        "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY" }]
    })
}

/// Run a container whose mkdir goes to an agent, with or without no_new_privileges (the
/// filter goes in right before execve, or before the capabilities are dropped).
fn mkdir_through_the_agent(tag: &str, no_new_privileges: bool) {
    let dir = TempDir::new(tag);
    let path = dir.path().join("agent.sock");
    let socket = UnixListener::bind(&path).expect("bind the agent's socket");
    let agent = std::thread::spawn(move || agent(socket));
    let outcome = run_foreground(tag, |b| {
        b.edit(|c| {
            c["linux"]["seccomp"] = profile(&path);
            c["process"]["noNewPrivileges"] = json!(no_new_privileges);
            c["root"]["readonly"] = json!(false);
        });
        b.script("mkdir /made-here; echo rc=$?; ls -d /made-here 2>/dev/null; echo end");
    });
    if deliberate_difference("runc 1.1's notify support is not checked here (its agent protocol is the same)") {
        return;
    }
    outcome.success();
    assert!(outcome.stdout.starts_with("rc=1\nend"), "mkdir went through the agent:\n{outcome}");
    assert!(outcome.stderr.contains("cross-device"), "the agent's EXDEV reached mkdir:\n{outcome}");
    let received = agent.join().expect("the agent ran");
    let message = &received.message;
    assert_eq!(message["fds"], json!(["seccompFd"]), "{message}");
    assert_eq!(message["metadata"], json!("agent-metadata"), "{message}");
    assert!(message["pid"].as_i64().is_some_and(|p| p > 0), "{message}");
    assert_eq!(message["state"]["pid"], message["pid"], "{message}");
    assert!(message["state"]["id"].as_str().is_some_and(|id| id.starts_with(&format!("e2e-{tag}"))), "{message}");
    assert!(!received.answered.is_empty(), "no notification reached the agent");
    assert!(received.answered.iter().all(|&nr| nr == libc::SYS_mkdir || nr == libc::SYS_mkdirat), "{:?}", received.answered);
}

#[test]
fn the_agent_answers_mkdir_with_no_new_privileges() {
    mkdir_through_the_agent("notify-nnp", true);
}

#[test]
fn the_agent_answers_mkdir_without_no_new_privileges() {
    mkdir_through_the_agent("notify-privs", false);
}

#[test]
fn notify_without_a_listener_is_refused_naming_the_field() {
    let outcome = run_foreground("notify-nolistener", |b| {
        b.edit(|c| {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_NOTIFY" }]
            });
        });
    });
    outcome.failure();
    if !deliberate_difference("runc's message differs") {
        outcome.one_line_error_naming(&["linux.seccomp", "listenerPath"]);
    }
}

#[test]
fn an_unreachable_listener_is_refused_before_anything_is_made() {
    let dir = TempDir::new("notify-gone");
    let outcome = run_foreground("notify-gone", |b| {
        b.edit(|c| c["linux"]["seccomp"] = profile(&dir.path().join("nobody-listens.sock")));
    });
    outcome.failure();
    if !deliberate_difference("runc's message differs") {
        outcome.one_line_error_naming(&["linux.seccomp.listenerPath", "nobody-listens.sock"]);
    }
}
