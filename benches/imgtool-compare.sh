#!/bin/bash
# Layer unpack and bundle speed of berth-img against umoci and gzip|tar, side
# by side in one run, on a large generated image: /usr/share and /usr/include
# of this machine as two gzip layers, the second also whiting out part of the
# first (.wh. files and an opaque directory).
#
#   benches/imgtool-compare.sh [RUNS]
#
# Needs root, umoci, hyperfine, python3. The image is cached in
# $BERTH_BENCH_DIR (default /var/tmp/berth-img-bench); delete it to remake.
# Outputs go to a private tmpfs so that the numbers measure the unpackers,
# not the disk's writeback (which other work on the machine disturbs); set
# BERTH_BENCH_ON_DISK=1 to write to $BERTH_BENCH_DIR instead (a real disk
# filesystem when it is under /var/tmp). BERTH_BENCH_UNPACK_ONLY=1 times
# only berth-img unpack against gzip -dc | tar -x (no umoci, no bundles).
set -euo pipefail

runs=${1:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${BERTH_BENCH_DIR:-/var/tmp/berth-img-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target/img}
berth_img=$CARGO_TARGET_DIR/release/berth-img

(cd "$repo" && cargo build --release -q -p berth-img)

layout=$work/layout
make_image() {
    rm -rf "$work" && mkdir -p "$work/stage"
    echo "making the bench image in $layout (once)..." >&2
    # Layer 1: /usr/share.
    tar -C / -cf - usr/share | gzip > "$work/layer1.tar.gz"
    # Layer 2: /usr/include, plus whiteouts of part of layer 1.
    mkdir -p "$work/stage/usr/share/doc"
    cp -a /usr/include "$work/stage/usr/include"
    for name in $(ls /usr/share/doc | sed -n 1,300p); do : > "$work/stage/usr/share/doc/.wh.$name"; done
    for dir in man/man1 locale/de; do
        if [ -d "/usr/share/$dir" ]; then
            mkdir -p "$work/stage/usr/share/$dir"
            : > "$work/stage/usr/share/$dir/.wh..wh..opq"
        fi
    done
    tar -C "$work/stage" -cf - usr | gzip > "$work/layer2.tar.gz"
    rm -rf "$work/stage"
    python3 - "$work" <<'PY'
import hashlib, json, os, platform, shutil, subprocess, sys
work = sys.argv[1]
layout = os.path.join(work, "layout")
blobs = os.path.join(layout, "blobs", "sha256")
os.makedirs(blobs)
def put(data):
    digest = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, digest), "wb").write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}
layers, diff_ids = [], []
for name in ("layer1.tar.gz", "layer2.tar.gz"):
    path = os.path.join(work, name)
    h = hashlib.sha256()
    with subprocess.Popen(["gzip", "-dc", path], stdout=subprocess.PIPE) as p:
        for chunk in iter(lambda: p.stdout.read(1 << 20), b""):
            h.update(chunk)
    diff_ids.append("sha256:" + h.hexdigest())
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    shutil.copy(path, os.path.join(blobs, digest))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + digest, "size": os.path.getsize(path)})
arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
config = {"architecture": arch, "os": "linux", "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
cdesc = put(json.dumps(config).encode()) | {"mediaType": "application/vnd.oci.image.config.v1+json"}
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cdesc, "layers": layers}
mdesc = put(json.dumps(manifest).encode()) | {"mediaType": "application/vnd.oci.image.manifest.v1+json", "annotations": {"org.opencontainers.image.ref.name": "bench"}}
open(os.path.join(layout, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
open(os.path.join(layout, "index.json"), "w").write(json.dumps({"schemaVersion": 2, "manifests": [mdesc]}))
PY
}
[ -f "$layout/index.json" ] || make_image

run=$work/run
mkdir -p "$run"
if [ "${BERTH_BENCH_ON_DISK:-0}" != 1 ]; then
    mount -t tmpfs -o size=8g,mode=755 berth-img-bench "$run"
fi
store=$run/store
out=$run/out
bundle=$run/bundle
cleanup() {
    "$berth_img" --store "$store" unbundle "$bundle" 2>/dev/null || true
    rm -rf "$out" "$bundle" "$store"
    if [ "${BERTH_BENCH_ON_DISK:-0}" != 1 ]; then umount "$run"; fi
}
trap cleanup EXIT
rm -rf "$store" "$out" "$bundle"
"$berth_img" --store "$store" import --no-unpack "$layout" bench:latest >/dev/null
files=$(tar -tzf "$work/layer1.tar.gz" | wc -l)
size=$(du -sh "$layout/blobs" | cut -f1)
echo "image: 2 gzip layers, $size compressed, $((files + $(tar -tzf "$work/layer2.tar.gz" | wc -l))) entries" >&2

layer1=$work/layer1.tar.gz
layer2=$work/layer2.tar.gz
commands=(
    -n "berth-img unpack" "$berth_img --store $store unpack bench"
    -n "gzip -dc | tar -x" "gzip -dc $layer1 | tar -x -C $out && gzip -dc $layer2 | tar -x -C $out"
)
if [ "${BERTH_BENCH_UNPACK_ONLY:-0}" != 1 ]; then
    commands+=(
        -n "berth-img bundle --copy" "rmdir $out && $berth_img --store $store bundle --copy bench $out"
        -n "umoci raw unpack" "rmdir $out && umoci raw unpack --image $layout:bench $out"
        -n "umoci unpack" "rmdir $out && umoci unpack --image $layout:bench $out"
    )
fi
hyperfine --runs "$runs" --warmup 1 --export-json "$work/unpack.json" \
    --prepare "sync; rm -rf $out $store/layers/* && mkdir -p $out" "${commands[@]}" >&2

reports=("$work/unpack.json")
if [ "${BERTH_BENCH_UNPACK_ONLY:-0}" != 1 ]; then
    "$berth_img" --store "$store" unpack bench
    hyperfine --runs $((runs * 4)) --warmup 2 --export-json "$work/bundle.json" -N \
        --prepare "sh -c '$berth_img --store $store unbundle $bundle 2>/dev/null || true'" \
        -n "berth-img bundle" "$berth_img --store $store bundle bench $bundle" >&2
    reports+=("$work/bundle.json")
fi

python3 - "${reports[@]}" <<'PY'
import json, sys
rows = []
for path in sys.argv[1:]:
    rows += [(r["command"], r["median"], r["user"] + r["system"]) for r in json.load(open(path))["results"]]
medians = {name: median for name, median, _ in rows}
base, gz = medians["berth-img unpack"], medians["gzip -dc | tar -x"]
print("| command | median | CPU (user+sys) | time / berth-img unpack | time / gzip -dc \\| tar -x |")
print("|---|---:|---:|---:|---:|")
for name, median, cpu in rows:
    shown = f"{median * 1000:.1f} ms" if median < 1 else f"{median:.2f} s"
    cpu_shown = f"{cpu * 1000:.1f} ms" if cpu < 1 else f"{cpu:.2f} s"
    ratios = "| - | -" if name == "berth-img bundle" else f"| {median / base:.2f}x | {median / gz:.2f}x"
    print(f"| {name.replace('|', chr(92) + '|')} | {shown} | {cpu_shown} {ratios} |")
PY
