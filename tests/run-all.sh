#!/bin/sh
# The one test command: installs what the tests need when it is missing,
# builds the workspace, runs every cargo test (unit and end-to-end) and any
# script suites. Runs as root on a fresh Debian 12.
#
#   tests/run-all.sh             test berth as shipped (cargo berth-static's build)
#   tests/run-all.sh --runc      run the end-to-end tests against Debian's runc
#                                instead, to check the tests themselves
#
# BERTH_RUNTIME=/path/to/runtime picks the runtime under test explicitly.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "run-all: the tests create containers, mounts and cgroups: run as root" >&2
	exit 1
fi

# Debian packages the workspace's tests and benchmarks use, each found by a
# command (or file) it provides. busybox-static makes the example bundle and
# the VM's initramfs; runc and crun are the reference runtimes; containerd
# and podman (with conmon) drive berth as their runtime; skopeo, umoci,
# docker-registry and openssl serve the image and registry tests; qemu, the cloud kernel and cpio boot the cgroup v2
# VM; protoc builds the CRI API types of tests/cri.rs; the rest are the tools the tests call.
missing=
need_cmd() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || missing="$missing $2"; }
need_cmd busybox busybox-static
need_cmd runc runc
need_cmd crun crun
need_cmd containerd containerd
need_cmd ctr containerd
need_cmd podman podman
need_cmd conmon conmon
need_cmd umoci umoci
need_cmd skopeo skopeo
need_cmd buildah buildah
need_cmd dockerd docker.io
need_cmd docker-registry docker-registry
need_cmd openssl openssl
need_cmd qemu-system-x86_64 qemu-system-x86
need_cmd cpio cpio
need_cmd unshare util-linux
need_cmd setpriv util-linux
need_cmd newuidmap uidmap
need_cmd useradd passwd
need_cmd mount mount
need_cmd ps procps
need_cmd strace strace
need_cmd ip iproute2
need_cmd stat coreutils
need_cmd tar tar
need_cmd tmux tmux
need_cmd protoc protobuf-compiler
# tests/breakout.rs builds its attacker probe statically (cc -static needs libc.a).
need_cmd cc gcc
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || missing="$missing libc6-dev"
ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1 || missing="$missing linux-image-cloud-amd64"
if [ -n "$missing" ]; then
	echo "run-all: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086 # one word per package
	apt-get install -y -q $missing
fi

if ! command -v cargo >/dev/null 2>&1; then
	for dir in "${CARGO_HOME:-$HOME/.cargo}/bin" /root/.cargo/bin /usr/local/cargo/bin; do
		[ -x "$dir/cargo" ] && PATH="$dir:$PATH" && break
	done
fi
command -v cargo >/dev/null 2>&1 || {
	echo "run-all: cargo not found; install a Rust toolchain (rustup) first" >&2
	exit 1
}

# The example bundle's rootfs is generated, not committed.
[ -x bundles/busybox/rootfs/bin/busybox ] || bundles/make-busybox.sh

if [ "${1:-}" = "--runc" ]; then
	BERTH_RUNTIME=$(command -v runc || echo /usr/sbin/runc)
	export BERTH_RUNTIME
	echo "run-all: end-to-end tests against $BERTH_RUNTIME" >&2
	exec cargo test -p berth-e2e
fi

# --all-targets: benches are built too, so a changed API cannot leave one uncompilable.
cargo build --workspace --all-targets
# The end-to-end tests run berth as shipped: static, whose entry point runs before its own
# relocations are applied (runtime/src/early_seal.rs), which only this build exercises.
cargo berth-static
BERTH_RUNTIME=${BERTH_RUNTIME:-$(pwd)/target/berth-release/berth}
export BERTH_RUNTIME
# --no-fail-fast: one failing crate must not hide the results of the others.
cargo test --workspace --no-fail-fast

# Script suites: any executable tests/suites/*.sh, each run from the root.
status=0
for suite in tests/suites/*.sh; do
	[ -x "$suite" ] || continue
	echo "run-all: $suite" >&2
	"$suite" || status=1
done
exit $status
