//! gc against running and killed builds: a gc during a build keeps the
//! layers the build made but has not named yet (its lease), and a build
//! killed mid-RUN leaves nothing gc (or the next build) does not clear:
//! no overlay mount under the store, no scratch directory, no lease.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::{berth_img, sha256_hex, with_busybox, Scratch};

/// Start `build -t TAG` of a context holding `dockerfile`, in the background.
fn spawn_build(scratch: &Scratch, name: &str, tag: &str, dockerfile: &str) -> KillOnDrop {
    let ctx = scratch.context(name, dockerfile, &[]);
    let store = scratch.store();
    let child = Command::new(berth_img())
        .args(["--store", store.to_str().unwrap(), "build", "-q", "-t", tag])
        .arg(&ctx)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    KillOnDrop(Some(child))
}

/// A build process killed (and reaped) if the test ends before it does.
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    fn finish(&mut self) -> std::process::Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        sleep(Duration::from_millis(20));
    }
}

/// Mount points of this mount namespace below `dir`.
fn mounts_below(dir: &Path) -> Vec<String> {
    let dir = dir.to_str().unwrap();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(dir))
        .map(str::to_string)
        .collect()
}

fn entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every blob the image's manifest names is in the store with its digest.
fn assert_blobs_verify(scratch: &Scratch, image: &str) {
    let inspect: serde_json::Value =
        serde_json::from_str(&scratch.ok(&["inspect", image])).unwrap();
    let manifest = &inspect["manifest"];
    let mut digests = vec![manifest["config"]["digest"].as_str().unwrap().to_string()];
    for layer in manifest["layers"].as_array().unwrap() {
        digests.push(layer["digest"].as_str().unwrap().to_string());
    }
    for digest in digests {
        let hex = digest.trim_start_matches("sha256:");
        let path = scratch.store().join("blobs/sha256").join(hex);
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{digest} of {image}: {e}"));
        assert_eq!(
            sha256_hex(&bytes),
            hex,
            "blob {digest} of {image} is corrupt"
        );
    }
}

#[test]
fn gc_during_a_build_keeps_the_layers_it_has_made() {
    let scratch = with_busybox();
    let layers = scratch.store().join("layers");
    let before = entries(&layers).len();
    let mut build = spawn_build(
        &scratch,
        "ctx",
        "gcrace:1",
        "FROM busybox:latest\nRUN echo one > /one\nRUN sleep 2 && echo two > /two\n",
    );
    // 1. The first RUN's layer is in the store, named by no image yet.
    wait_for("the first RUN's layer", || entries(&layers).len() > before);
    // 2. gc while the second RUN sleeps.
    scratch.ok(&["gc"]);
    assert!(
        entries(&layers).len() > before,
        "gc removed the running build's layer"
    );
    let out = build.finish();
    assert!(
        out.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 3. The image is whole: blobs verify and its filesystem has both files.
    assert_blobs_verify(&scratch, "gcrace:1");
    let dir = scratch.path().join("bundle");
    scratch.ok(&["bundle", "--copy", "gcrace:1", dir.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(dir.join("rootfs/one")).unwrap(), "one\n");
    assert_eq!(fs::read_to_string(dir.join("rootfs/two")).unwrap(), "two\n");
    scratch.ok(&["unbundle", dir.to_str().unwrap()]);
    // 4. The finished build leaves no lease behind.
    assert!(entries(&scratch.store().join("leases")).is_empty());
}

#[test]
fn gc_after_a_build_killed_mid_run_leaves_no_mount_or_scratch() {
    let scratch = with_busybox();
    let store = scratch.store();
    let tmp = store.join("tmp");
    let mut build = spawn_build(
        &scratch,
        "ctx",
        "killed:1",
        "FROM busybox:latest\nRUN sleep 3\n",
    );
    // 1. Killed while the RUN's overlay is mounted.
    wait_for("the RUN's overlay", || !mounts_below(&tmp).is_empty());
    let child = build.0.as_mut().unwrap();
    child.kill().unwrap(); // SIGKILL: no cleanup runs
    child.wait().unwrap();
    build.0 = None;
    assert!(
        !mounts_below(&tmp).is_empty(),
        "the kill left no mount to clear"
    );
    // The container's own sleep ends by itself; let it go before removing its root.
    sleep(Duration::from_secs(4));
    // 2. gc clears mounts, scratch and lease.
    let out = scratch.run(&["gc"]);
    assert!(
        out.status.success(),
        "gc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mounts_below(&store), Vec::<String>::new());
    assert_eq!(entries(&tmp), Vec::<String>::new());
    assert!(entries(&store.join("leases")).is_empty());
    // 3. A new build succeeds.
    let mut again = spawn_build(
        &scratch,
        "ctx2",
        "after:1",
        "FROM busybox:latest\nRUN echo ok > /ok\n",
    );
    let out = again.finish();
    assert!(
        out.status.success(),
        "build after the kill failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_blobs_verify(&scratch, "after:1");
}

/// A build leases what it stands on as well as what it makes: its base
/// image's layers (found when the plan resolves FROM) and the layers of the
/// steps it takes from the cache. `rm` of the base and every other name of
/// its layers, then `gc`, while the build runs, leave the build whole.
#[test]
fn rm_and_gc_of_the_base_during_a_build_keep_base_and_cached_layers() {
    let scratch = with_busybox();
    // 1. A base of two layers, and a cached step on it that no image names.
    let base = scratch.context("base-ctx", "FROM busybox:latest\nRUN echo base > /base\n", &[]);
    scratch.ok(&["build", "-q", "-t", "racebase:1", base.to_str().unwrap()]);
    let steps = "FROM racebase:1\nRUN echo one > /one\n";
    let first = scratch.context("first-ctx", steps, &[]);
    scratch.ok(&["build", "-q", "-t", "cached:1", first.to_str().unwrap()]);
    scratch.ok(&["rm", "cached:1"]);
    // 2. The build: the first RUN from the cache, the second sleeps.
    let tmp = scratch.store().join("tmp");
    let mut build = spawn_build(
        &scratch,
        "ctx",
        "race:1",
        &format!("{steps}RUN sleep 2 && echo two > /two\n"),
    );
    wait_for("the second RUN's overlay", || {
        !mounts_below(&tmp).is_empty()
    });
    // 3. Nothing names the base's layers or the cached one any more; gc.
    scratch.ok(&["rm", "racebase:1", "busybox:latest"]);
    scratch.ok(&["gc"]);
    let out = build.finish();
    assert!(
        out.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 4. The image is whole: every blob verifies, every layer's files are there.
    assert_blobs_verify(&scratch, "race:1");
    let dir = scratch.path().join("bundle");
    scratch.ok(&["bundle", "--copy", "race:1", dir.to_str().unwrap()]);
    let rootfs = dir.join("rootfs");
    assert!(rootfs.join("bin/busybox").is_file());
    assert_eq!(fs::read_to_string(rootfs.join("base")).unwrap(), "base\n");
    assert_eq!(fs::read_to_string(rootfs.join("one")).unwrap(), "one\n");
    assert_eq!(fs::read_to_string(rootfs.join("two")).unwrap(), "two\n");
    scratch.ok(&["unbundle", dir.to_str().unwrap()]);
}

/// `commit` moves its new layer into the store before the image that names it is recorded:
/// strace holds it right after that move (every rename is held a second on its way out)
/// while gc runs again and again; the committed image must still be whole.
#[test]
fn gc_during_a_commit_keeps_its_new_layer() {
    let scratch = with_busybox();
    let bundle = scratch.path().join("bundle");
    scratch.ok(&["bundle", "busybox:latest", bundle.to_str().unwrap()]);
    fs::write(bundle.join("rootfs/new"), "new\n").unwrap();
    let store = scratch.store();
    let renames = "rename,renameat,renameat2";
    let child = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("trace={renames}"))
        .arg("-e")
        .arg(format!("inject={renames}:delay_exit=1000000"))
        .arg(berth_img())
        .args(["--store", store.to_str().unwrap(), "commit"])
        .arg(&bundle)
        .arg("committed:1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut commit = KillOnDrop(Some(child));
    let started = Instant::now();
    while commit.0.as_mut().unwrap().try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(120), "commit did not finish");
        scratch.ok(&["gc"]);
        sleep(Duration::from_millis(100));
    }
    let output = commit.finish();
    assert!(output.status.success(), "commit: {}", String::from_utf8_lossy(&output.stderr));
    assert_blobs_verify(&scratch, "committed:1");
    scratch.ok(&["unbundle", bundle.to_str().unwrap()]);
}
