//! The container's /dev: the default devices, linux.devices, /dev/pts and
//! /dev/ptmx, /dev/shm, /dev/mqueue and the /dev/fd and std* links.

use berth_e2e::run_script;
use serde_json::json;

/// `stat` of each path: name, file type, major and minor (hex), octal mode.
fn stat_lines(tag: &str, paths: &[&str], edit: impl FnOnce(&mut berth_e2e::Bundle)) -> Vec<String> {
    let script = format!("stat -c '%n|%F|%t|%T|%a|%u|%g' {}", paths.join(" "));
    run_script(tag, &script, edit)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn default_devices_are_character_devices_with_the_right_numbers() {
    let wanted = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ];
    let paths: Vec<&str> = wanted.iter().map(|(p, _, _)| *p).collect();
    let lines = stat_lines("dev-default", &paths, |_| {});
    for ((path, major, minor), line) in wanted.iter().zip(&lines) {
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields[0], *path);
        assert_eq!(fields[1], "character special file", "{line}");
        assert_eq!(fields[2], format!("{major:x}"), "{line}");
        assert_eq!(fields[3], format!("{minor:x}"), "{line}");
        assert_eq!(fields[4], "666", "{line}");
    }
}

#[test]
fn default_devices_work() {
    let out = run_script(
        "dev-work",
        "echo gone > /dev/null && echo null-ok; \
         head -c 4 /dev/zero | od -An -tx1; \
         head -c 16 /dev/urandom | wc -c; \
         echo x > /dev/full 2>/dev/null || echo full-refuses",
        |_| {},
    );
    assert_eq!(out, "null-ok\n 00 00 00 00\n16\nfull-refuses\n");
}

#[test]
fn pts_ptmx_shm_and_mqueue_are_there() {
    let out = run_script(
        "dev-pts",
        "test -c /dev/pts/ptmx && echo pts-ptmx; \
         test -c /dev/ptmx && echo ptmx; \
         test -d /dev/shm && echo shm > /dev/shm/probe && cat /dev/shm/probe; \
         test -d /dev/mqueue && echo mqueue",
        |_| {},
    );
    assert_eq!(out, "pts-ptmx\nptmx\nshm\nmqueue\n");
}

#[test]
fn fd_and_std_links_point_into_proc_self() {
    let out = run_script(
        "dev-links",
        "for l in fd stdin stdout stderr; do echo $l=$(readlink /dev/$l); done",
        |_| {},
    );
    assert_eq!(
        out,
        "fd=/proc/self/fd\nstdin=/proc/self/fd/0\nstdout=/proc/self/fd/1\nstderr=/proc/self/fd/2\n"
    );
}

#[test]
fn linux_devices_creates_nodes_with_numbers_mode_and_owner() {
    let lines = stat_lines(
        "dev-linux-devices",
        &["/dev/e2e-char", "/dev/e2e-block"],
        |b| {
            b.edit(|c| {
                c["linux"]["devices"] = json!([
                    { "path": "/dev/e2e-char", "type": "c", "major": 1, "minor": 3,
                      "fileMode": 0o640, "uid": 1000, "gid": 100 },
                    { "path": "/dev/e2e-block", "type": "b", "major": 7, "minor": 200,
                      "fileMode": 0o600, "uid": 0, "gid": 0 }
                ]);
            });
        },
    );
    assert_eq!(
        lines,
        [
            "/dev/e2e-char|character special file|1|3|640|1000|100",
            "/dev/e2e-block|block special file|7|c8|600|0|0"
        ]
    );
}
