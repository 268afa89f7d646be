#!/bin/sh
# The one test command: installs what the tests need when it is missing,
# builds the workspace, runs every cargo test (unit and end-to-end) and any
# script suites. Runs as root on a fresh Debian 12.
#
#   tests/run-all.sh             test berth (target/{debug,release}/berth)
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

# Debian packages the tests and benchmarks use, by the command that shows
# each is there. busybox-static makes the example bundle; runc and crun are
# the reference runtimes; unshare, mount and stat come from util-linux, mount
# and coreutils; ip from iproute2.
missing=
need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || missing="$missing $2"; }
need busybox busybox-static
need runc runc
need crun crun
need unshare util-linux
need mount mount
need stat coreutils
need ip iproute2
if [ -x /bin/busybox ] && ! /bin/busybox --list-full >/dev/null 2>&1; then
	missing="$missing busybox-static"
fi
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

cargo build --workspace
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
