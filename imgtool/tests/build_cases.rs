//! `berth-img build` behaviour, checked from the resulting images: the
//! cache (hit, miss after a context change, --no-cache), .dockerignore
//! beside the Dockerfile, heredocs, each RUN --mount type, --network=none,
//! a failing RUN, ONBUILD, ADD of a tar and of a URL served on loopback,
//! --target, --bundle and --output, and bad Dockerfiles (one line naming
//! file and line; nothing left in the store).

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use support::{listing, with_busybox, Scratch};

/// Build; (image digest, stderr).
fn build(scratch: &Scratch, args: &[&str]) -> (String, String) {
    let mut all = vec!["build", "--progress", "plain"];
    all.extend_from_slice(args);
    let out = scratch.run(&all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "build {args:?} failed: {stderr}");
    (
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        stderr,
    )
}

/// Read a file of an image's root filesystem.
fn read(scratch: &Scratch, image: &str, path: &str) -> Option<String> {
    let dir = scratch
        .path()
        .join(format!("read-{}", image.replace([':', '/'], "-")));
    let _ = fs::remove_dir_all(&dir);
    scratch.ok(&["bundle", "--copy", image, dir.to_str().unwrap()]);
    let content = fs::read_to_string(dir.join("rootfs").join(path.trim_start_matches('/'))).ok();
    scratch.ok(&["unbundle", dir.to_str().unwrap()]);
    content
}

fn config(scratch: &Scratch, image: &str) -> serde_json::Value {
    let inspect: serde_json::Value =
        serde_json::from_str(&scratch.ok(&["inspect", image])).unwrap();
    let digest = inspect["manifest"]["config"]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    serde_json::from_slice(&fs::read(scratch.store().join("blobs/sha256").join(digest)).unwrap())
        .unwrap()
}

#[test]
fn cache_hits_then_misses_after_a_context_change() {
    let scratch = with_busybox();
    let ctx = scratch.context(
        "ctx",
        "FROM busybox\nRUN echo first > /first\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\n",
        &[("a.txt", "one\n")],
    );
    let ctx = ctx.to_str().unwrap();
    let (first, log) = build(&scratch, &["-t", "c:1", ctx]);
    assert!(!log.contains("CACHED"), "{log}");
    // Unchanged: every step from the cache, the same image.
    let (again, log) = build(&scratch, &["-t", "c:1", ctx]);
    assert_eq!(first, again);
    assert_eq!(log.matches("CACHED").count(), 3, "{log}");
    // A touched but unchanged file is still a hit (times are not content).
    let file = Path::new(ctx).join("a.txt");
    fs::write(&file, "one\n").unwrap();
    let (touched, _) = build(&scratch, &["-t", "c:1", ctx]);
    assert_eq!(first, touched);
    // Changed content: the RUN before the COPY is cached, the rest runs.
    fs::write(&file, "two\n").unwrap();
    let (changed, log) = build(&scratch, &["-t", "c:2", ctx]);
    assert_ne!(first, changed);
    assert_eq!(log.matches("CACHED").count(), 1, "{log}");
    assert_eq!(read(&scratch, "c:2", "/copy").as_deref(), Some("two\n"));
    // --no-cache runs everything.
    let (_, log) = build(&scratch, &["--no-cache", "-t", "c:3", ctx]);
    assert!(!log.contains("CACHED"), "{log}");
    // gc reclaims the cache: with the images gone, nothing is cached.
    scratch.ok(&["rm", "c:1", "c:2", "c:3"]);
    scratch.ok(&["gc"]);
    assert!(!scratch.store().join("build-cache").exists());
    let (_, log) = build(&scratch, &["-t", "c:4", ctx]);
    assert!(!log.contains("CACHED"), "{log}");
}

/// The context's content digests are remembered by stat; a file rewritten
/// with the same size and its mtime put back still differs in ctime, so the
/// COPY misses and the new content is in the image.
#[test]
fn a_rewrite_keeping_size_and_mtime_still_misses_the_cache() {
    let scratch = with_busybox();
    let ctx = scratch.context(
        "ctx",
        "FROM busybox\nCOPY d/ /d/\n",
        &[("d/a.txt", "one\n"), ("d/b.txt", "bbb\n")],
    );
    let file = ctx.join("d/a.txt");
    let mtime = fs::metadata(&file).unwrap().modified().unwrap();
    // Files changed less than a second before a build are never remembered
    // (their timestamps may not have ticked yet): let these settle, so the
    // first build remembers their digests.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let ctx = ctx.to_str().unwrap();
    build(&scratch, &["-t", "m:1", ctx]);
    assert!(scratch
        .store()
        .join("build-cache/contexts")
        .read_dir()
        .is_ok_and(|mut d| d.next().is_some()));
    assert_eq!(read(&scratch, "m:1", "/d/a.txt").as_deref(), Some("one\n"));
    // Same size, same mtime, different content.
    fs::write(&file, "two\n").unwrap();
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(fs::metadata(&file).unwrap().modified().unwrap(), mtime);
    let (_, log) = build(&scratch, &["-t", "m:2", ctx]);
    assert!(!log.contains("COPY d/ /d/  CACHED"), "{log}");
    assert_eq!(read(&scratch, "m:2", "/d/a.txt").as_deref(), Some("two\n"));
}

#[test]
fn dockerignore_beside_the_dockerfile_wins() {
    let scratch = with_busybox();
    let ctx = scratch.context(
        "ctx",
        "FROM busybox\nCOPY . /c/\n",
        &[
            (".dockerignore", "a\n"),
            ("Dockerfile.dockerignore", "b\n"),
            ("a", "a"),
            ("b", "b"),
            ("d/x.tmp", "x"),
            ("d/y", "y"),
        ],
    );
    build(&scratch, &["-t", "i:1", ctx.to_str().unwrap()]);
    assert_eq!(read(&scratch, "i:1", "/c/a").as_deref(), Some("a"));
    assert_eq!(read(&scratch, "i:1", "/c/b"), None);
    fs::write(ctx.join("Dockerfile.dockerignore"), "**/*.tmp\n").unwrap();
    build(&scratch, &["-t", "i:2", ctx.to_str().unwrap()]);
    assert_eq!(read(&scratch, "i:2", "/c/d/x.tmp"), None);
    assert_eq!(read(&scratch, "i:2", "/c/d/y").as_deref(), Some("y"));
}

#[test]
fn heredocs() {
    let scratch = with_busybox();
    let dockerfile = "FROM busybox\nENV NAME=berth\nRUN <<EOF\necho \"script $NAME\" > /script\necho second >> /script\nEOF\nRUN <<EOF\n#!/bin/sh\necho \"shebang $0\" > /shebang\nEOF\nCOPY <<EOF /expanded\nhello $NAME\nEOF\nCOPY <<'EOF' /literal\nhello $NAME\nEOF\nRUN cat <<A > /two && cat <<B >> /two\nfrom a\nA\nfrom b\nB\n";
    let ctx = scratch.context("ctx", dockerfile, &[]);
    build(&scratch, &["-t", "h:1", ctx.to_str().unwrap()]);
    assert_eq!(
        read(&scratch, "h:1", "/script").as_deref(),
        Some("script berth\nsecond\n")
    );
    assert_eq!(
        read(&scratch, "h:1", "/shebang").as_deref(),
        Some("shebang /dev/pipes/EOF\n")
    );
    assert_eq!(
        read(&scratch, "h:1", "/expanded").as_deref(),
        Some("hello berth\n")
    );
    assert_eq!(
        read(&scratch, "h:1", "/literal").as_deref(),
        Some("hello $NAME\n")
    );
    assert_eq!(
        read(&scratch, "h:1", "/two").as_deref(),
        Some("from a\nfrom b\n")
    );
    // The pipe mount point does not stay in the image.
    assert_eq!(read(&scratch, "h:1", "/dev/pipes/EOF"), None);
}

#[test]
fn run_mounts_of_every_type() {
    let scratch = with_busybox();
    let secret = scratch.path().join("token");
    fs::write(&secret, "s3cret\n").unwrap();
    let dockerfile = "FROM busybox AS other\nRUN echo from-stage > /made\n\
FROM busybox\n\
RUN --mount=type=cache,target=/cache echo run >> /cache/count && cp /cache/count /count\n\
RUN --mount=type=bind,source=data,target=/mnt cat /mnt/file > /bound\n\
RUN --mount=type=bind,from=other,source=/made,target=/m cat /m > /from-stage\n\
RUN --mount=type=tmpfs,target=/scratchpad echo t > /scratchpad/t && ls /scratchpad > /tmpfs-list\n\
RUN --mount=type=secret,id=token cat /run/secrets/token > /secret-copy\n";
    let ctx = scratch.context("ctx", dockerfile, &[("data/file", "bound\n")]);
    let secret_arg = format!("id=token,src={}", secret.display());
    build(
        &scratch,
        &["--secret", &secret_arg, "-t", "m:1", ctx.to_str().unwrap()],
    );
    assert_eq!(read(&scratch, "m:1", "/count").as_deref(), Some("run\n"));
    assert_eq!(read(&scratch, "m:1", "/bound").as_deref(), Some("bound\n"));
    assert_eq!(
        read(&scratch, "m:1", "/from-stage").as_deref(),
        Some("from-stage\n")
    );
    assert_eq!(read(&scratch, "m:1", "/tmpfs-list").as_deref(), Some("t\n"));
    assert_eq!(
        read(&scratch, "m:1", "/secret-copy").as_deref(),
        Some("s3cret\n")
    );
    // Nothing of the mounts stays: no mount points, no tmpfs or cache contents.
    for gone in [
        "/mnt/file",
        "/m",
        "/scratchpad/t",
        "/cache/count",
        "/run/secrets/token",
    ] {
        assert_eq!(read(&scratch, "m:1", gone), None, "{gone}");
    }
    // The cache mount outlives the build: --no-cache reruns and appends.
    build(
        &scratch,
        &[
            "--no-cache",
            "--secret",
            &secret_arg,
            "-t",
            "m:2",
            ctx.to_str().unwrap(),
        ],
    );
    assert_eq!(
        read(&scratch, "m:2", "/count").as_deref(),
        Some("run\nrun\n")
    );
}

#[test]
fn run_network_host_by_default_none_on_request() {
    let scratch = with_busybox();
    let dockerfile = "FROM busybox\nRUN ls /sys/class/net > /host-net\nRUN --network=none ls /sys/class/net > /no-net\n";
    let ctx = scratch.context("ctx", dockerfile, &[]);
    build(&scratch, &["-t", "n:1", ctx.to_str().unwrap()]);
    assert_eq!(read(&scratch, "n:1", "/no-net").as_deref(), Some("lo\n"));
    let host = fs::read_dir("/sys/class/net").unwrap().count();
    let seen = read(&scratch, "n:1", "/host-net").unwrap();
    assert_eq!(seen.lines().count(), host, "host network: {seen}");
}

#[test]
fn failing_run_reports_its_code_and_makes_no_image() {
    let scratch = with_busybox();
    let ctx = scratch.context(
        "ctx",
        "FROM busybox\nRUN echo ok > /ok\nRUN exit 3\n",
        &[],
    );
    let before = scratch.ok(&["images"]);
    let error = scratch.fails(&["build", "-q", "-t", "broken:1", ctx.to_str().unwrap()]);
    assert!(
        error.contains("Dockerfile:3: RUN:") && error.contains("exited with code 3"),
        "{error}"
    );
    assert_eq!(scratch.ok(&["images"]), before);
    assert!(
        fs::read_dir(scratch.store().join("tmp"))
            .unwrap()
            .next()
            .is_none(),
        "tmp left behind"
    );
}

#[test]
fn onbuild_triggers_run_in_the_child() {
    let scratch = with_busybox();
    let parent = scratch.context("parent",
        "FROM busybox\nONBUILD RUN echo triggered > /trigger\nONBUILD COPY f /f\n",
        &[],
    );
    build(&scratch, &["-t", "parent:1", parent.to_str().unwrap()]);
    assert_eq!(
        config(&scratch, "parent:1")["config"]["OnBuild"],
        serde_json::json!(["RUN echo triggered > /trigger", "COPY f /f"])
    );
    assert_eq!(read(&scratch, "parent:1", "/trigger"), None);
    let child = scratch.context("child",
        "FROM parent:1\nRUN cat /trigger /f > /both\n",
        &[("f", "file\n")],
    );
    build(&scratch, &["-t", "child:1", child.to_str().unwrap()]);
    assert_eq!(
        read(&scratch, "child:1", "/both").as_deref(),
        Some("triggered\nfile\n")
    );
    assert!(config(&scratch, "child:1")["config"]["OnBuild"].is_null());
}

/// Serve `body` on loopback (one response per connection); the URL.
fn serve(body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://127.0.0.1:{port}/files/page.txt")
}

#[test]
fn add_extracts_a_tar_and_downloads_a_url() {
    use std::os::unix::fs::MetadataExt;
    let scratch = with_busybox();
    let url = serve("downloaded\n");
    let dockerfile = format!(
        "FROM busybox\nADD bundle.tar.gz /x/\nADD {url} /dl/\nCOPY bundle.tar.gz /copied/\n"
    );
    let ctx = scratch.context(
        "ctx",
        &dockerfile,
        &[("tree/inner/f", "in tar\n")],
    );
    let out = Command::new("tar")
        .arg("-czf")
        .arg(ctx.join("bundle.tar.gz"))
        .arg("-C")
        .arg(&ctx)
        .arg("tree")
        .output()
        .unwrap();
    assert!(out.status.success());
    build(&scratch, &["-t", "a:1", ctx.to_str().unwrap()]);
    let dir = scratch.path().join("look");
    scratch.ok(&["bundle", "--copy", "a:1", dir.to_str().unwrap()]);
    let root = dir.join("rootfs");
    assert_eq!(
        fs::read_to_string(root.join("x/tree/inner/f")).unwrap(),
        "in tar\n"
    );
    assert_eq!(
        fs::read_to_string(root.join("dl/page.txt")).unwrap(),
        "downloaded\n"
    );
    let meta = fs::metadata(root.join("dl/page.txt")).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_eq!(meta.mtime(), 784_111_777);
    // COPY does not extract.
    assert!(root.join("copied/bundle.tar.gz").is_file());
    scratch.ok(&["unbundle", dir.to_str().unwrap()]);
}

#[test]
fn target_builds_only_the_stages_it_needs_and_outputs() {
    let scratch = with_busybox();
    let dockerfile = "FROM busybox AS broken\nRUN exit 1\nFROM busybox AS base\nRUN echo base > /base\nFROM base AS app\nCMD [\"cat\", \"/base\"]\n";
    let ctx = scratch.context("ctx", dockerfile, &[]);
    let bundle = scratch.path().join("bundle");
    let archive = scratch.path().join("app.tar");
    let output = format!("type=oci,dest={}", archive.display());
    let args = [
        "--target",
        "app",
        "-t",
        "app:1",
        "-t",
        "app:2",
        "--bundle",
        bundle.to_str().unwrap(),
        "--output",
        &output,
        ctx.to_str().unwrap(),
    ];
    build(&scratch, &args);
    assert_eq!(
        fs::read_to_string(bundle.join("rootfs/base")).unwrap(),
        "base\n"
    );
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["process"]["args"], serde_json::json!(["cat", "/base"]));
    scratch.ok(&["unbundle", bundle.to_str().unwrap()]);
    let images = scratch.ok(&["images"]);
    assert_eq!(
        images.lines().filter(|l| l.starts_with("app ")).count(),
        2,
        "{images}"
    );
    let other = Scratch::new();
    other.ok(&["import", archive.to_str().unwrap(), "imported:1"]);
}

#[test]
fn bad_dockerfiles_fail_on_one_line_and_leave_nothing() {
    let scratch = with_busybox();
    let cases: &[(&str, &str)] = &[
        (
            "FROM busybox\nFROB x\n",
            "Dockerfile:2: FROB: unknown instruction: FROB",
        ),
        (
            "FROM busybox\nCOPY --frm=x a b\n",
            "Dockerfile:2: COPY: unknown flag: --frm",
        ),
        (
            "FROM busybox\nRUN echo runs-first\nCOPY missing.txt /\n",
            "Dockerfile:3: COPY: \"missing.txt\": not found",
        ),
        (
            "FROM busybox\nCOPY *.none /\n",
            "Dockerfile:2: COPY: \"*.none\": no source files were specified",
        ),
        (
            "FROM busybox\nCOPY --from=nowhere /a /b\n",
            "Dockerfile:2: COPY: nowhere",
        ),
        (
            "FROM busybox\nARG X\nRUN echo hi\nENV Y=${X:?required}\n",
            "Dockerfile:4: ENV: X: required",
        ),
        (
            "FROM busybox\nRUN <<END\necho\n",
            "Dockerfile:2: Dockerfile: unterminated heredoc",
        ),
        ("FROM no-such-image\n", "Dockerfile:1: FROM: no-such-image"),
        (
            "FROM busybox\nRUN --mount=type=nfs,target=/x true\n",
            "Dockerfile:2: RUN: unsupported mount type \"nfs\"",
        ),
        (
            "FROM busybox\nHEALTHCHECK --retries=-1 CMD true\n",
            "Dockerfile:2: HEALTHCHECK: --retries cannot be negative (-1)",
        ),
        (
            "FROM busybox\nSTOPSIGNAL SIGNOPE\n",
            "Dockerfile:2: STOPSIGNAL: Invalid signal: SIGNOPE",
        ),
    ];
    let before = listing(&scratch.store());
    for (i, (dockerfile, expected)) in cases.iter().enumerate() {
        let ctx = scratch.context(&format!("bad{i}"), dockerfile, &[]);
        let error = scratch.fails(&["build", "-q", "-t", "bad:1", ctx.to_str().unwrap()]);
        assert!(
            error.contains(expected),
            "case {i}: expected {expected:?} in {error:?}"
        );
    }
    assert_eq!(listing(&scratch.store()), before, "the store changed");
    let ctx = scratch.context("t", "FROM busybox\n", &[]);
    let error = scratch.fails(&["build", "-q", "--target", "nope", ctx.to_str().unwrap()]);
    assert!(
        error.contains("target stage \"nope\" could not be found"),
        "{error}"
    );
}

#[test]
fn commit_makes_an_image_of_a_changed_bundle() {
    let scratch = with_busybox();
    let bundle = scratch.path().join("bundle");
    scratch.ok(&["bundle", "busybox:latest", bundle.to_str().unwrap()]);
    // What a container would do: add, delete, replace a directory.
    let root = bundle.join("rootfs");
    fs::write(root.join("new"), "new\n").unwrap();
    fs::remove_file(root.join("etc/group")).unwrap();
    fs::remove_dir_all(root.join("tmp")).unwrap();
    fs::create_dir(root.join("tmp")).unwrap();
    fs::write(root.join("tmp/t"), "t\n").unwrap();
    scratch.ok(&[
        "commit",
        bundle.to_str().unwrap(),
        "committed:1",
        "--change",
        "CMD [\"cat\", \"/new\"]",
        "--change",
        "ENV X=1",
    ]);
    scratch.ok(&["unbundle", bundle.to_str().unwrap()]);
    assert_eq!(
        read(&scratch, "committed:1", "/new").as_deref(),
        Some("new\n")
    );
    assert_eq!(read(&scratch, "committed:1", "/etc/group"), None);
    assert_eq!(
        read(&scratch, "committed:1", "/tmp/t").as_deref(),
        Some("t\n")
    );
    assert!(read(&scratch, "committed:1", "/etc/passwd").is_some());
    let config = config(&scratch, "committed:1");
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["cat", "/new"]));
    assert!(config["config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("X=1")));
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    // Only config instructions can be changes; the store is left as it was.
    let bundle = scratch.path().join("bundle2");
    scratch.ok(&["bundle", "busybox:latest", bundle.to_str().unwrap()]);
    let before = scratch.ok(&["images"]);
    let error = scratch.fails(&[
        "commit",
        bundle.to_str().unwrap(),
        "bad:1",
        "--change",
        "RUN rm -rf /",
    ]);
    assert!(
        error.contains("--change:1: RUN: only config instructions can be changed"),
        "{error}"
    );
    assert_eq!(scratch.ok(&["images"]), before);
    scratch.ok(&["unbundle", bundle.to_str().unwrap()]);
}
