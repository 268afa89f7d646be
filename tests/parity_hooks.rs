//! Hook behaviour from runc's hooks.bats and the runtime spec: poststart and poststop failures
//! are warnings and the remaining hooks still run, createContainer hooks run in the
//! container's root, startContainer hooks inherit the process's environment, and a failed
//! create leaves nothing behind.

use berth_e2e::{fixture, Container, TempDir};
use serde_json::json;

/// A hook that records that it ran in `dir/name`.
fn marker(dir: &TempDir, name: &str) -> serde_json::Value {
    json!({ "path": "/bin/sh", "args": ["sh", "-c", format!("cat >/dev/null; echo ran > {}/{name}", dir.path().display())] })
}

fn fails() -> serde_json::Value {
    json!({ "path": "/bin/false" })
}

#[test]
fn a_failing_poststart_or_poststop_hook_does_not_stop_the_rest() {
    if berth_e2e::binaries::deliberate_difference("runc fails run on a failing poststart hook; the runtime spec makes it a warning") {
        return;
    }
    let (runtime, mut bundle, id) = fixture("hooks-post-fail");
    let dir = TempDir::new("hooks-post-fail-log");
    bundle.script("exit 6");
    bundle.edit(|c| {
        c["hooks"] = json!({
            "poststart": [fails(), marker(&dir, "poststart-second")],
            "poststop": [fails(), marker(&dir, "poststop-second")]
        })
    });
    let log = runtime.scratch().join("hooks.log");
    let container = Container::new(&runtime, &bundle, &id);
    let outcome = runtime.exec([
        "--log", log.to_str().unwrap(), "--log-format", "json",
        "run", "--bundle", bundle.path().to_str().unwrap(), container.id(),
    ]);
    assert_eq!(outcome.code(), Some(6), "the process's exit code, not a hook failure:\n{outcome}");
    assert!(dir.path().join("poststart-second").exists(), "the second poststart hook did not run");
    assert!(dir.path().join("poststop-second").exists(), "the second poststop hook did not run");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let warnings = text.lines().filter(|l| l.contains("\"level\":\"warning\"")).count();
    assert_eq!(warnings, 2, "one warning per failed hook in --log:\n{text}");
}

#[test]
fn create_container_hooks_run_in_the_container_root() {
    let (runtime, mut bundle, id) = fixture("hooks-cwd");
    let dir = TempDir::new("hooks-cwd-log");
    let out = dir.path().join("cwd");
    bundle.args(&["true"]);
    bundle.edit(|c| {
        c["hooks"] = json!({ "createContainer": [{ "path": "/bin/sh", "args": ["sh", "-c", format!("pwd > {}", out.display())] }] })
    });
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&[]).success();
    let cwd = std::fs::read_to_string(&out).expect("the createContainer hook ran");
    assert_eq!(cwd.trim(), bundle.rootfs().to_str().unwrap());
}

#[test]
fn start_container_hooks_inherit_the_process_environment() {
    // runc's "runc run [startContainer hook should inherit process environment]".
    let (runtime, mut bundle, id) = fixture("hooks-env");
    let script = bundle.rootfs().join("check-env.sh");
    std::fs::write(&script, "#!/bin/sh -ue\ntest $ONE = two\ntest $FOO = bar\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    bundle.edit(|c| {
        c["process"]["args"] = json!(["/bin/true"]);
        c["process"]["env"] = json!(["PATH=/bin:/usr/bin", "ONE=two", "FOO=bar"]);
        c["hooks"] = json!({ "startContainer": [{ "path": "/check-env.sh" }] });
    });
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&[]).success();
}

#[test]
fn a_failing_create_container_hook_leaves_no_state() {
    // runc's "runc create [hook fails]" for createContainer.
    let (runtime, mut bundle, id) = fixture("hooks-cc-fail");
    bundle.edit(|c| c["hooks"] = json!({ "createContainer": [{ "path": "/bin/true" }, fails()] }));
    let container = Container::new(&runtime, &bundle, &id);
    container.create(&[]).failure();
    assert!(!runtime.root().join(&id).exists(), "state left behind for {id}");
}
