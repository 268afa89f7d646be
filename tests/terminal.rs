//! process.terminal: the pty master reaches the manager over --console-socket (SCM_RIGHTS),
//! and the container's process has the slave as its stdio and controlling terminal.

use berth_e2e::{fixture, Bundle, Container, Runtime, TempDir};
use serde_json::json;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

/// Accept one connection on `listener` and take the fd it sends.
fn receive_master(listener: UnixListener) -> OwnedFd {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let (stream, _) = listener.accept().expect("the runtime connects to the console socket");
    let mut name = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()).expect("recvmsg");
    for cmsg in msg.cmsgs().expect("control messages") {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            // SAFETY: the kernel just installed this descriptor in our table for us alone.
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no file descriptor came over the console socket");
}

/// Create the container with a console socket of this test's own, take the pty master the
/// runtime sends over it, and start the container.
fn start_with_console(runtime: &Runtime, bundle: &Bundle, id: &str, tag: &str) -> (Container, OwnedFd) {
    let dir = TempDir::new(tag);
    let socket = dir.path().join("console.sock");
    let listener = UnixListener::bind(&socket).expect("bind console socket");
    let receiver = std::thread::spawn(move || receive_master(listener));
    let container = Container::new(runtime, bundle, id);
    container.create(&["--console-socket", socket.to_str().unwrap()]).success();
    let master = receiver.join().expect("receiver thread");
    container.start().success();
    (container, master)
}

/// Read from the pty master until `marker` shows up or a few seconds pass.
fn read_until(master: &OwnedFd, marker: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline && !String::from_utf8_lossy(&seen).contains(marker) {
        let mut fds = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(master), nix::poll::PollFlags::POLLIN)];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16)).unwrap_or(0) == 0 {
            continue;
        }
        match nix::unistd::read(master, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn the_terminal_goes_to_the_console_socket() {
    let (runtime, mut bundle, id) = fixture("tty");
    bundle.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["args"] = json!(["sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-tty; echo tty-marker; sleep 5"]);
    });
    let (_container, master) = start_with_console(&runtime, &bundle, &id, "tty-socket");
    let out = read_until(&master, "tty-marker");
    assert!(out.contains("/dev/pts/"), "the process's stdin is not a pty:\n{out}");
    assert!(out.contains("stdio-is-a-tty"), "stdin/stdout are not the terminal:\n{out}");
    assert!(out.contains("tty-marker"), "{out}");
}

#[test]
fn a_terminal_without_a_console_socket_is_refused() {
    let (runtime, mut bundle, id) = fixture("tty-nosock");
    bundle.edit(|c| c["process"]["terminal"] = json!(true));
    let container = Container::new(&runtime, &bundle, &id);
    let outcome = container.create(&[]);
    outcome.failure();
    assert!(!runtime.root().join(&id).exists(), "state left behind for {id}");
}

#[test]
fn dev_console_is_the_containers_terminal() {
    // The runtime spec asks for /dev/console with process.terminal; it must be the pty the
    // process has (bound from the pty itself, not from a path in /dev/pts: CVE-2025-52565).
    let (runtime, mut bundle, id) = fixture("tty-console");
    bundle.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["args"] = json!(["sh", "-c", "echo console=$(stat -c %t:%T /dev/console) tty=$(stat -L -c %t:%T /proc/self/fd/0); \
            grep -c ' /dev/console ' /proc/self/mountinfo; echo tty-marker; sleep 5"]);
    });
    let (_container, master) = start_with_console(&runtime, &bundle, &id, "tty-console-socket");
    let out = read_until(&master, "tty-marker");
    let field = |name: &str| out.split_whitespace().find_map(|w| w.strip_prefix(&format!("{name}="))).unwrap_or_default().to_owned();
    assert!(!field("tty").is_empty() && field("console") == field("tty"), "/dev/console is not the process's pty:\n{out}");
    assert!(out.lines().any(|l| l.trim() == "1"), "/dev/console is not a mount of its own:\n{out}");
}

#[test]
fn a_terminal_in_a_user_namespace_belongs_to_the_mapped_root() {
    // Issue 8: in a user namespace the pty, /dev/console, /dev/pts and /dev/shm must belong to
    // the container's root (the mapped host ids), or the container's root cannot use its own
    // terminal. Seen from inside, the pty (and /dev/console, bound from it) is root's with the
    // tty group that devpts' gid=5 option gives it, as in runc; /dev/pts and /dev/shm are 0:0.
    // From the host, the pty belongs to the mapped ids.
    const HOST_ROOT: u32 = 300_000;
    let (runtime, mut bundle, id) = fixture("tty-userns");
    bundle.namespace("user", None);
    bundle.edit(|c| {
        c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": HOST_ROOT, "size": 65536 }]);
        c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": HOST_ROOT, "size": 65536 }]);
        c["process"]["terminal"] = json!(true);
        c["process"]["args"] = json!(["sh", "-c", "echo owners $(stat -L -c %u:%g /proc/self/fd/0 /dev/console /dev/pts /dev/shm) \
            ptsname=$(readlink /proc/self/fd/0) pid=$$; echo tty-marker; sleep 5"]);
    });
    let chowned = std::process::Command::new("chown")
        .args(["-R", "-h", &format!("{HOST_ROOT}:{HOST_ROOT}")])
        .arg(bundle.rootfs())
        .status()
        .expect("run chown");
    assert!(chowned.success(), "chown the rootfs to the mapped root");
    let (container, master) = start_with_console(&runtime, &bundle, &id, "tty-userns-socket");
    let out = read_until(&master, "tty-marker");
    let owners: Vec<&str> = out
        .split_whitespace()
        .skip_while(|w| *w != "owners")
        .skip(1)
        .take_while(|w| !w.starts_with("ptsname="))
        .collect();
    assert_eq!(owners, ["0:5", "0:5", "0:0", "0:0"], "pty, /dev/console, /dev/pts, /dev/shm seen from inside:\n{out}");
    // From the host: the process's terminal (its fd 0) is owned by the mapped root.
    let pid = container.pid();
    let meta = std::fs::metadata(format!("/proc/{pid}/fd/0")).expect("stat the container's terminal from the host");
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.gid()), (HOST_ROOT, HOST_ROOT + 5), "the pty seen from the host:\n{out}");
}
