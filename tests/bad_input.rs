//! Bad input: each is refused with a non-zero exit and one line on stderr
//! naming the field or path at fault, and leaves nothing behind (no state
//! directory, cgroup, process or mount).

use berth_e2e::binaries::deliberate_difference;
use berth_e2e::leftovers::assert_nothing_left;
use berth_e2e::{fixture, Bundle, Container};
use serde_json::json;

/// What the error must name: `always` on every runtime, and `berth_also`
/// where runc's message is vaguer than ours (with the reason).
struct Naming<'a> {
    always: &'a [&'a str],
    berth_also: Option<(&'a [&'a str], &'a str)>,
}

/// Runs `verb` (create or run) on a bundle spoiled by `spoil`, and checks
/// the refusal and that nothing is left.
#[track_caller]
fn assert_refused(tag: &str, verb: &str, spoil: impl FnOnce(&mut Bundle), naming: Naming) {
    let (runtime, mut bundle, id) = fixture(tag);
    spoil(&mut bundle);
    let container = Container::new(&runtime, &bundle, &id);
    let outcome = if verb == "run" {
        container.run(&[])
    } else {
        container.create(&[])
    };
    outcome.failure();
    outcome.one_line_error_naming(naming.always);
    if let Some((needles, why)) = naming.berth_also {
        if !deliberate_difference(why) {
            outcome.one_line_error_naming(needles);
        }
    }
    // Checked before the guard's `delete --force` could tidy anything up.
    assert_nothing_left(&runtime, &id, bundle.path(), &id);
    assert!(
        runtime.exec(["state", &id]).status.code() != Some(0),
        "state of {id} still answers"
    );
}

#[test]
fn invalid_json_is_refused() {
    assert_refused(
        "bad-json",
        "create",
        |b| b.write_raw_config("{ \"ociVersion\": \"1.0.2\", \"process\": "),
        Naming {
            always: &[],
            berth_also: Some((
                &["config.json"],
                "runc says only `unexpected EOF`, naming no file",
            )),
        },
    );
}

#[test]
fn a_field_of_the_wrong_type_is_refused() {
    assert_refused(
        "bad-type",
        "create",
        |b| {
            b.edit(|c| c["process"]["args"] = json!("sh"));
        },
        Naming {
            always: &["process.args"],
            berth_also: None,
        },
    );
}

#[test]
fn a_wrongly_typed_number_is_refused() {
    assert_refused(
        "bad-uid",
        "create",
        |b| {
            b.edit(|c| c["process"]["user"]["uid"] = json!("root"));
        },
        Naming {
            always: &["process.user.uid"],
            berth_also: None,
        },
    );
}

#[test]
fn an_unknown_namespace_type_is_refused() {
    assert_refused(
        "bad-ns",
        "create",
        |b| {
            b.edit(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({ "type": "bogus" }))
            });
        },
        Naming {
            always: &["bogus"],
            berth_also: None,
        },
    );
}

#[test]
fn a_missing_rootfs_is_refused() {
    assert_refused(
        "bad-rootfs",
        "create",
        |b| {
            b.edit(|c| c["root"]["path"] = json!("no-such-rootfs"));
        },
        Naming {
            always: &["no-such-rootfs"],
            berth_also: None,
        },
    );
}

#[test]
fn a_bad_mount_type_is_refused() {
    assert_refused(
        "bad-mount-type",
        "create",
        |b| {
            b.add_mount(json!({ "destination": "/mnt/x", "type": "nosuchfs", "source": "x" }));
        },
        Naming {
            always: &["/mnt/x"],
            berth_also: Some((&["nosuchfs"], "runc names the destination but not the type")),
        },
    );
}

#[test]
fn a_relative_mount_destination_is_refused() {
    if deliberate_difference(
        "runc 1.1.5 only warns about a relative mount destination and mounts it under /",
    ) {
        return;
    }
    assert_refused(
        "bad-mount-dest",
        "create",
        |b| {
            b.add_mount(
                json!({ "destination": "relative/dir", "type": "tmpfs", "source": "tmpfs" }),
            );
        },
        Naming {
            always: &["relative/dir"],
            berth_also: None,
        },
    );
}

#[test]
fn a_missing_executable_is_refused_at_create() {
    assert_refused(
        "bad-exe",
        "create",
        |b| {
            b.args(&["/no/such/binary"]);
        },
        Naming {
            always: &["/no/such/binary"],
            berth_also: None,
        },
    );
}

#[test]
fn a_command_not_on_path_is_refused_by_run() {
    assert_refused(
        "bad-exe-path",
        "run",
        |b| {
            b.args(&["no-such-command"]);
        },
        Naming {
            always: &["no-such-command"],
            berth_also: None,
        },
    );
}

#[test]
fn verbs_on_an_unknown_container_are_refused() {
    let runtime = berth_e2e::Runtime::under_test();
    let id = berth_e2e::unique_id("unknown");
    let verbs: [&[&str]; 5] = [
        &["start"],
        &["state"],
        &["kill"],
        &["delete"],
        &["kill", "--all"],
    ];
    for verb in verbs {
        let mut args = verb.to_vec();
        args.push(&id);
        let outcome = runtime.exec(&args);
        outcome.failure();
        outcome.one_line_error_naming(&[]);
        if !deliberate_difference("runc says `container does not exist` without the id") {
            outcome.one_line_error_naming(&[&id]);
        }
    }
    let left: Vec<_> = std::fs::read_dir(runtime.root()).unwrap().collect();
    assert!(left.is_empty(), "state root not empty: {left:?}");
}

#[test]
fn a_create_error_reaches_the_json_log() {
    // containerd's shim reports create failures from the --log file.
    let (runtime, mut bundle, id) = fixture("bad-logged");
    bundle.edit(|c| c["root"]["path"] = json!("no-such-rootfs"));
    let _container = Container::new(&runtime, &bundle, &id);
    let log = runtime.scratch().join("create.log");
    let outcome = runtime.exec([
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    outcome.failure();
    let text = std::fs::read_to_string(&log).expect("log written");
    let error = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["level"] == "error")
        .unwrap_or_else(|| panic!("no error record in {text:?}"));
    assert!(
        error["msg"]
            .as_str()
            .is_some_and(|m| m.contains("no-such-rootfs")),
        "{error}"
    );
    assert_nothing_left(&runtime, &id, bundle.path(), &id);
}
