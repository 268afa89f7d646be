//! Heredocs as BuildKit builds them. No reference tool here can build them
//! (Debian's docker 20.10 predates heredocs in its built-in frontend and
//! buildah 1.28 has none), so these are BuildKit's own integration cases
//! (moby/buildkit frontend/dockerfile/dockerfile_heredoc_test.go), each
//! test named after the one it ports, with BuildKit's Dockerfile and its
//! expected file contents. BuildKit exports the final stage to a directory;
//! here the image is flattened with `bundle --copy` and read from there.

mod support;

use std::fs;

use support::{with_busybox, Scratch};

/// Build `dockerfile` as `tag` and compare the files of its root filesystem
/// with `expected` (path, content).
fn assert_builds(scratch: &Scratch, tag: &str, dockerfile: &str, expected: &[(&str, &str)]) {
    let ctx = scratch.context(&format!("ctx-{}", tag.replace(':', "-")), dockerfile, &[]);
    let out = scratch.run(&[
        "build",
        "--progress",
        "plain",
        "-t",
        tag,
        ctx.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = scratch
        .path()
        .join(format!("bundle-{}", tag.replace(':', "-")));
    // The images end in scratch stages without a command: give one.
    scratch.ok(&["bundle", "--copy", tag, dir.to_str().unwrap(), "--", "true"]);
    let rootfs = dir.join("rootfs");
    let found: Vec<(&str, Option<String>)> = expected
        .iter()
        .map(|(path, _)| (*path, fs::read_to_string(rootfs.join(path)).ok()))
        .collect();
    scratch.ok(&["unbundle", dir.to_str().unwrap()]);
    for ((path, want), (_, got)) in expected.iter().zip(found) {
        assert_eq!(got.as_deref(), Some(*want), "{path} of {tag}");
    }
}

/// Debian's busybox-static has no `adduser` applet: the user BuildKit's
/// `RUN adduser -D user` makes is written into passwd and group instead.
#[test]
fn test_copy_heredoc() {
    let scratch = with_busybox();
    let dockerfile = r#"
FROM busybox AS build

RUN echo 'user:x:1000:1000::/home/user:/bin/sh' >> /etc/passwd && echo 'user:x:1000:' >> /etc/group
WORKDIR /dest

COPY <<EOF single
single file
EOF

COPY <<EOF <<EOF2 double/
first file
EOF
second file
EOF2

RUN mkdir -p /permfiles
COPY --chmod=777 <<EOF /permfiles/all
dummy content
EOF
COPY --chmod=0644 <<EOF /permfiles/rw
dummy content
EOF
COPY --chown=user:user <<EOF /permfiles/owned
dummy content
EOF
RUN stat -c "%04a" /permfiles/all >> perms && \
	stat -c "%04a" /permfiles/rw >> perms && \
	stat -c "%U:%G" /permfiles/owned >> perms

FROM scratch
COPY --from=build /dest /
"#;
    assert_builds(
        &scratch,
        "copy:1",
        dockerfile,
        &[
            ("single", "single file\n"),
            ("double/EOF", "first file\n"),
            ("double/EOF2", "second file\n"),
            ("perms", "0777\n0644\nuser:user\n"),
        ],
    );
}

#[test]
fn test_copy_heredoc_special_symbols() {
    let scratch = with_busybox();
    let dockerfile = r#"
FROM scratch

COPY <<EOF quotefile
"quotes in file"
EOF

COPY <<EOF slashfile1
\
EOF
COPY <<EOF slashfile2
\\
EOF
COPY <<EOF slashfile3
\$
EOF

COPY <<"EOF" rawslashfile1
\
EOF
COPY <<"EOF" rawslashfile2
\\
EOF
COPY <<"EOF" rawslashfile3
\$
EOF
"#;
    assert_builds(
        &scratch,
        "symbols:1",
        dockerfile,
        &[
            ("quotefile", "\"quotes in file\"\n"),
            ("slashfile1", "\n"),
            ("slashfile2", "\\\n"),
            ("slashfile3", "$\n"),
            ("rawslashfile1", "\\\n"),
            ("rawslashfile2", "\\\\\n"),
            ("rawslashfile3", "\\$\n"),
        ],
    );
}

#[test]
fn test_run_basic_heredoc() {
    let scratch = with_busybox();
    let dockerfile = r#"
FROM busybox AS build

RUN <<EOF
echo "i am" >> /dest
whoami >> /dest
EOF

FROM scratch
COPY --from=build /dest /dest
"#;
    assert_builds(&scratch, "basic:1", dockerfile, &[("dest", "i am\nroot\n")]);
}

#[test]
fn test_run_fake_heredoc() {
    let scratch = with_busybox();
    let dockerfile = r#"
FROM busybox AS build

SHELL ["/bin/awk"]
RUN <<EOF
BEGIN {
	print "foo" > "/dest"
}
EOF

FROM scratch
COPY --from=build /dest /dest
"#;
    assert_builds(&scratch, "fake:1", dockerfile, &[("dest", "foo\n")]);
}

#[test]
fn test_run_shebang_heredoc() {
    let scratch = with_busybox();
    let dockerfile = r#"
FROM busybox AS build

RUN <<EOF
#!/bin/awk -f
BEGIN {
	print "hello" >> "/dest"
	print "world" >> "/dest"
}
EOF

FROM scratch
COPY --from=build /dest /dest
"#;
    assert_builds(
        &scratch,
        "shebang:1",
        dockerfile,
        &[("dest", "hello\nworld\n")],
    );
}

#[test]
fn test_run_complex_heredoc() {
    let scratch = with_busybox();
    let dockerfile = r#"
FROM busybox AS build

WORKDIR /dest

RUN cat <<EOF1 | tr '[:upper:]' '[:lower:]' > ./out1; \
	cat <<EOF2 | tr '[:lower:]' '[:upper:]' > ./out2
hello WORLD
EOF1
HELLO world
EOF2

RUN <<EOF 3<<IN1 4<<IN2 awk -f -
BEGIN {
	while ((getline line < "/proc/self/fd/3") > 0)
		print tolower(line) > "./fd3"
	while ((getline line < "/proc/self/fd/4") > 0)
		print toupper(line) > "./fd4"
}
EOF
hello WORLD
IN1
HELLO world
IN2

FROM scratch
COPY --from=build /dest /
"#;
    assert_builds(
        &scratch,
        "complex:1",
        dockerfile,
        &[
            ("out1", "hello world\n"),
            ("out2", "HELLO WORLD\n"),
            ("fd3", "hello world\n"),
            ("fd4", "HELLO WORLD\n"),
        ],
    );
}

#[test]
fn test_heredoc_indent() {
    let scratch = with_busybox();
    let dockerfile = r#"
FROM busybox AS build

COPY <<EOF /dest/foo-copy
	foo
EOF

COPY <<-EOF /dest/bar-copy
	bar
EOF

RUN <<EOF
echo "
	foo" > /dest/foo-run
EOF

RUN <<-EOF
echo "
	bar" > /dest/bar-run
EOF

RUN <<EOF
#!/bin/sh
echo "
	foo" > /dest/foo2-run
EOF

RUN <<-EOF
#!/bin/sh
echo "
	bar" > /dest/bar2-run
EOF

RUN <<EOF sh > /dest/foo3-run
echo "
	foo"
EOF

RUN <<-EOF sh > /dest/bar3-run
echo "
	bar"
EOF

FROM scratch
COPY --from=build /dest /
"#;
    assert_builds(
        &scratch,
        "indent:1",
        dockerfile,
        &[
            ("foo-copy", "\tfoo\n"),
            ("foo-run", "\n\tfoo\n"),
            ("foo2-run", "\n\tfoo\n"),
            ("foo3-run", "\n\tfoo\n"),
            ("bar-copy", "bar\n"),
            ("bar-run", "\nbar\n"),
            ("bar2-run", "\nbar\n"),
            ("bar3-run", "\nbar\n"),
        ],
    );
}

#[test]
fn test_heredoc_var_substitution() {
    let scratch = with_busybox();
    let dockerfile = r#"
FROM busybox as build

ARG name=world

COPY <<EOF /dest/c1
Hello ${name}!
EOF
COPY <<'EOF' /dest/c2
Hello ${name}!
EOF
COPY <<"EOF" /dest/c3
Hello ${name}!
EOF

COPY <<EOF /dest/q1
Hello '${name}'!
EOF
COPY <<EOF /dest/q2
Hello "${name}"!
EOF
COPY <<'EOF' /dest/qsingle1
Hello '${name}'!
EOF
COPY <<'EOF' /dest/qsingle2
Hello "${name}"!
EOF
COPY <<"EOF" /dest/qdouble1
Hello '${name}'!
EOF
COPY <<"EOF" /dest/qdouble2
Hello "${name}"!
EOF

RUN <<EOF
greeting="Hello"
echo "${greeting} ${name}!" > /dest/r1
EOF
RUN <<EOF
name="new world"
echo "Hello ${name}!" > /dest/r2
EOF

FROM scratch
COPY --from=build /dest /
"#;
    assert_builds(
        &scratch,
        "vars:1",
        dockerfile,
        &[
            ("c1", "Hello world!\n"),
            ("c2", "Hello ${name}!\n"),
            ("c3", "Hello ${name}!\n"),
            ("q1", "Hello 'world'!\n"),
            ("q2", "Hello \"world\"!\n"),
            ("qsingle1", "Hello '${name}'!\n"),
            ("qsingle2", "Hello \"${name}\"!\n"),
            ("qdouble1", "Hello '${name}'!\n"),
            ("qdouble2", "Hello \"${name}\"!\n"),
            ("r1", "Hello world!\n"),
            ("r2", "Hello new world!\n"),
        ],
    );
}

/// BuildKit pushes the base to a registry; here it is built into the same store.
#[test]
fn test_on_build_heredoc() {
    let scratch = with_busybox();
    let base = scratch.context(
        "base",
        "\nFROM busybox\nONBUILD RUN <<EOF\necho \"hello world\" >> /dest\nEOF\n",
        &[],
    );
    scratch.ok(&[
        "build",
        "-q",
        "-t",
        "onbuildheredoc:base",
        base.to_str().unwrap(),
    ]);
    let dockerfile =
        "\n\tFROM onbuildheredoc:base AS base\n\tFROM scratch\n\tCOPY --from=base /dest /dest\n\t";
    assert_builds(
        &scratch,
        "onbuild:1",
        dockerfile,
        &[("dest", "hello world\n")],
    );
}
