//! config.json hooks: each stage runs at its point of the lifecycle with the state on stdin,
//! and a failing hook before the program runs fails the container and leaves nothing.

use berth_e2e::{fixture, Container, TempDir};
use serde_json::{json, Value};
use std::path::Path;

/// A hook that saves its stdin (the state JSON) to `file`.
fn saving_hook(file: &Path) -> Value {
    json!({ "path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", file.display())] })
}

fn saved_state(file: &Path) -> Value {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("hook did not run ({}): {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("hook's stdin was not JSON ({e}): {text}"))
}

#[test]
fn every_stage_runs_in_order_with_the_state_on_stdin() {
    let (runtime, mut bundle, id) = fixture("hooks-all");
    let log = TempDir::new("hooks-log");
    let host = |name: &str| log.path().join(format!("{name}.json"));
    // startContainer runs inside the container, after pivot_root: it writes through a bind.
    bundle.add_mount(json!({ "destination": "/hooklog", "type": "bind", "source": log.path(), "options": ["rbind"] }));
    bundle.args(&["sleep", "600"]);
    let hooks = json!({
        "prestart": [saving_hook(&host("prestart"))],
        "createRuntime": [saving_hook(&host("createRuntime"))],
        "createContainer": [saving_hook(&host("createContainer"))],
        "startContainer": [{ "path": "/bin/sh", "args": ["sh", "-c", "cat > /hooklog/startContainer.json"] }],
        "poststart": [saving_hook(&host("poststart"))],
        "poststop": [saving_hook(&host("poststop"))]
    });
    bundle.edit(|c| c["hooks"] = hooks);
    let container = Container::new(&runtime, &bundle, &id);
    container.create(&[]).success();
    let pid = container.pid();
    for stage in ["prestart", "createRuntime", "createContainer"] {
        let state = saved_state(&host(stage));
        assert_eq!(state["id"], id.as_str(), "{stage}: {state}");
        // The runtime spec's state carries the pid "as seen by the host".
        if stage == "createContainer" && berth_e2e::binaries::deliberate_difference("runc gives createContainer hooks the pid inside the container (1)") {
            continue;
        }
        assert_eq!(state["pid"], pid, "{stage}: {state}");
    }
    if !berth_e2e::binaries::deliberate_difference("runc 1.1 runs startContainer and poststart hooks at create, not at start") {
        assert!(!host("startContainer").exists(), "startContainer ran before start");
        assert!(!host("poststart").exists(), "poststart ran before start");
    }
    container.start().success();
    assert_eq!(saved_state(&host("startContainer"))["id"], id.as_str());
    assert_eq!(saved_state(&host("poststart"))["id"], id.as_str());
    assert!(!host("poststop").exists(), "poststop ran before delete");
    container.kill(&[], Some("KILL")).success();
    container.wait_for_status("stopped");
    container.delete(&[]).success();
    assert_eq!(saved_state(&host("poststop"))["id"], id.as_str());
}

#[test]
fn a_failing_prestart_hook_fails_create_and_leaves_nothing() {
    let (runtime, mut bundle, id) = fixture("hooks-fail");
    bundle.edit(|c| c["hooks"] = json!({ "prestart": [{ "path": "/bin/false" }] }));
    let container = Container::new(&runtime, &bundle, &id);
    let outcome = container.create(&[]);
    outcome.failure();
    if !berth_e2e::binaries::deliberate_difference("runc's message does not name the hook's field") {
        outcome.one_line_error_naming(&["hooks.prestart[0]"]);
    }
    assert!(!runtime.root().join(&id).exists(), "state left behind for {id}");
}

#[test]
fn a_hook_past_its_timeout_is_killed_and_fails_create() {
    let (runtime, mut bundle, id) = fixture("hooks-timeout");
    bundle.edit(|c| c["hooks"] = json!({ "createRuntime": [{ "path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1 }] }));
    let container = Container::new(&runtime, &bundle, &id);
    let started = std::time::Instant::now();
    let outcome = container.create(&[]);
    outcome.failure();
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "the hook was not stopped at its timeout");
    assert!(!runtime.root().join(&id).exists(), "state left behind for {id}");
}
