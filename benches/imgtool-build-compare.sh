#!/bin/bash
# Dockerfile builds: berth-img build against buildah bud and docker build
# (BuildKit), side by side in one run, on one multi-stage Dockerfile
# (several RUN steps, a COPY of a few thousand files, COPY --from):
#   cold       no cache (a fresh berth-img store; --no-cache for the others)
#   one-file   warm cache, one file of the context changed
#   no-change  warm cache, nothing changed
#
#   benches/imgtool-build-compare.sh [RUNS]
#
# Needs root, buildah, docker.io (dockerd and /usr/bin/docker), busybox-static.
# Everything (stores, a private dockerd with --bridge=none --iptables=false)
# lives under a temporary directory removed at the end. Prints medians and
# ratios to berth-img as a markdown table.
set -euo pipefail

runs=${1:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target/img}
(cd "$repo" && cargo build --release -q -p berth-img -p berth-runtime)
berth_img=$CARGO_TARGET_DIR/release/berth-img
export BERTH_RUNTIME=$CARGO_TARGET_DIR/release/berth

work=$(mktemp -d /var/tmp/berth-build-bench.XXXXXX)
dockerd_pid=
# dockerd (with BuildKit) makes docker/buildkit cgroups in every hierarchy and never removes
# them: remember which were absent, and remove those (if empty) when done.
absent_cgroups=
for root in $(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i+1) ~ /^cgroup2?$/) print $5; break } }' /proc/self/mountinfo); do
    for rel in docker docker/buildkit; do
        [ -d "$root/$rel" ] || absent_cgroups="$root/$rel $absent_cgroups"
    done
done
cleanup() {
    if [ -n "$dockerd_pid" ]; then kill -TERM "$dockerd_pid" 2>/dev/null || true; wait "$dockerd_pid" 2>/dev/null || true; fi
    for dir in $absent_cgroups; do rmdir "$dir" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# The context: a few thousand small files and a multi-stage Dockerfile.
ctx=$work/ctx
mkdir -p "$ctx/src"
for d in $(seq 1 30); do
    mkdir -p "$ctx/src/d$d"
    for f in $(seq 1 100); do echo "file $d/$f" > "$ctx/src/d$d/f$f.txt"; done
done
cat > "$ctx/Dockerfile" <<'EOF'
FROM busybox AS tools
RUN mkdir -p /opt/tools && for i in $(seq 1 200); do echo "tool $i" > /opt/tools/t$i; done
RUN tar -C /opt -cf /opt/tools.tar tools

FROM busybox AS build
WORKDIR /build
COPY src/ src/
RUN find src -type f | sort | xargs cat | md5sum > checksum
RUN for d in src/*; do ls "$d" | wc -l; done > counts

FROM busybox
COPY --from=tools /opt/tools.tar /opt/
COPY --from=build /build/checksum /build/counts /app/
RUN echo built > /app/stamp
CMD ["cat", "/app/checksum"]
EOF

bash "$repo/bundles/make-busybox-image.sh" "$work/busybox-oci" >/dev/null
bash "$repo/bundles/make-busybox-image.sh" --docker-archive "$work/busybox.tar" >/dev/null

# berth-img.
store=$work/berth-store
berth() { "$berth_img" --store "$store" "$@"; }
# A fresh store per round, in a new directory: deleting the last one right before the timed
# cold build would make it pay for the deletion (on an ext4 without a journal, as here, new
# inodes are then found by scanning past the recently deleted ones). buildah and docker keep
# their stores and use --no-cache, so nothing is deleted before theirs either.
rounds_made=0
berth_fresh() {
    rounds_made=$((rounds_made + 1))
    store=$work/berth-store-$rounds_made
    berth import "$work/busybox-oci" busybox:latest >/dev/null
}

# buildah, private storage.
bh() { buildah --root "$work/buildah/root" --runroot "$work/buildah/run" --storage-driver vfs "$@"; }
bh pull -q "docker-archive:$work/busybox.tar" >/dev/null

# docker with BuildKit, private daemon.
dockerd --data-root "$work/docker/data" --exec-root "$work/docker/exec" --pidfile "$work/docker/pid" \
    -H "unix://$work/docker/sock" --bridge=none --iptables=false --ip-masq=false --ip-forward=false >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
dk() { DOCKER_BUILDKIT=1 /usr/bin/docker -H "unix://$work/docker/sock" "$@"; }
for _ in $(seq 1 120); do dk info >/dev/null 2>&1 && break; sleep 0.5; done
dk load -q -i "$work/busybox.tar" >/dev/null

now() { date +%s.%N; }
# time_one CMD...: seconds of one run, output discarded. The previous builds' writes are
# flushed first (the work directory is on disk), so no build pays for another's writeback.
time_one() { local s; sync; s=$(now); "$@" >/dev/null 2>&1; echo "$(now) - $s" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A results
toggle=0
change_one_file() { toggle=$((toggle + 1)); echo "change $toggle" > "$ctx/src/d1/f1.txt"; }

for _ in $(seq 1 "$runs"); do
    # Cold.
    berth_fresh
    results[berth,cold]+="$(time_one berth build -q -t bench:1 "$ctx") "
    results[buildah,cold]+="$(time_one bh bud -q --isolation chroot --no-cache -t bench:1 "$ctx") "
    results[docker,cold]+="$(time_one dk build -q --network host --no-cache -t bench:1 "$ctx") "
    # Warm, one file changed.
    change_one_file
    results[berth,one-file]+="$(time_one berth build -q -t bench:1 "$ctx") "
    results[buildah,one-file]+="$(time_one bh bud -q --isolation chroot --layers -t bench:1 "$ctx") "
    results[docker,one-file]+="$(time_one dk build -q --network host -t bench:1 "$ctx") "
    # Warm, nothing changed.
    results[berth,no-change]+="$(time_one berth build -q -t bench:1 "$ctx") "
    results[buildah,no-change]+="$(time_one bh bud -q --isolation chroot --layers -t bench:1 "$ctx") "
    results[docker,no-change]+="$(time_one dk build -q --network host -t bench:1 "$ctx") "
done

echo "| build | berth-img | buildah bud | vs berth-img | docker build (BuildKit) | vs berth-img |"
echo "| --- | --- | --- | --- | --- | --- |"
for case in cold one-file no-change; do
    b=$(echo "${results[berth,$case]}" | tr ' ' '\n' | grep . | median)
    h=$(echo "${results[buildah,$case]}" | tr ' ' '\n' | grep . | median)
    d=$(echo "${results[docker,$case]}" | tr ' ' '\n' | grep . | median)
    printf '| %s | %.3f s | %.3f s | %.1fx | %.3f s | %.1fx |\n' "$case" "$b" "$h" "$(echo "$h / $b" | bc -l)" "$d" "$(echo "$d / $b" | bc -l)"
done
