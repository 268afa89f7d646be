#!/bin/sh
# The main job, end to end on a fresh Debian 12 machine, as root:
#   1. install what is missing (busybox-static; a Rust toolchain must be there),
#   2. build berth (release, statically linked) and berth-img,
#   3. make the example busybox image, import it into a throwaway store,
#   4. turn it into a bundle (an overlayfs rootfs, made in milliseconds),
#   5. run it with berth: the container prints its hostname, its pid (1) and its mounts,
#   6. remove the bundle and the store again.
set -eu
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "demo: run as root (containers need it)" >&2; exit 1; }
if ! [ -x /bin/busybox ] || ! /bin/busybox --list >/dev/null 2>&1; then
	DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static
fi
command -v cargo >/dev/null 2>&1 || PATH="$HOME/.cargo/bin:$PATH"
cargo -q berth-static      # berth as shipped: static-pie, size-optimised (.cargo/config.toml)
cargo build --release -q -p berth-img
berth=$PWD/target/berth-release/berth
img=$PWD/target/release/berth-img

work=$(mktemp -d /tmp/berth-demo.XXXXXX)
cleanup() {
	"$berth" --root "$work/run" delete --force demo >/dev/null 2>&1 || true
	"$img" --store "$work/store" unbundle "$work/bundle" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

bundles/make-busybox-image.sh "$work/image" >/dev/null
"$img" --store "$work/store" import "$work/image" busybox:latest
"$img" --store "$work/store" bundle --hostname berth-demo busybox:latest "$work/bundle" -- \
	sh -c 'echo "hostname: $(hostname)"; echo "pid: $$"; echo "mounts:"; cat /proc/self/mounts'
"$berth" --root "$work/run" run --bundle "$work/bundle" demo
