#!/bin/sh
# Make an example OCI image of Debian's busybox-static: /bin/busybox, a
# symlink per applet, /etc/passwd and /etc/group, as a one-layer OCI layout
# (or, with --docker-archive, a docker save tar).
#
#   bundles/make-busybox-image.sh OUT_DIR                   # OCI layout in OUT_DIR
#   bundles/make-busybox-image.sh --docker-archive OUT.tar  # docker save archive
#
# Then: berth-img import OUT_DIR busybox:latest && berth-img bundle busybox DIR && berth run -b DIR ID
set -eu

format=oci
if [ "${1:-}" = "--docker-archive" ]; then
    format=docker
    shift
fi
out=${1:?usage: make-busybox-image.sh [--docker-archive] OUT}

if [ ! -x /bin/busybox ] || ! /bin/busybox --list >/dev/null 2>&1; then
    apt-get install -y busybox-static >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The root filesystem.
root=$work/rootfs
mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
nogroup:x:65534:
GROUP

# One gzip layer, reproducible: sorted names, fixed owner and times.
layer=$work/layer.tar
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$root" -cf "$layer" .
diff_id=$(sha256sum "$layer" | cut -d' ' -f1)
gzip -n -9 "$layer"
layer_digest=$(sha256sum "$layer.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$layer.gz")

case $(uname -m) in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
config=$work/config.json
printf '%s' "{\"architecture\":\"$arch\",\"os\":\"linux\",\"created\":\"1970-01-01T00:00:00Z\",\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],\"Cmd\":[\"sh\"],\"WorkingDir\":\"/\",\"Labels\":{\"org.opencontainers.image.title\":\"busybox\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$diff_id\"]},\"history\":[{\"created\":\"1970-01-01T00:00:00Z\",\"created_by\":\"bundles/make-busybox-image.sh\"}]}" > "$config"
config_digest=$(sha256sum "$config" | cut -d' ' -f1)
config_size=$(stat -c %s "$config")

manifest=$work/manifest.json
printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$config_digest\",\"size\":$config_size},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$layer_digest\",\"size\":$layer_size}]}" > "$manifest"
manifest_digest=$(sha256sum "$manifest" | cut -d' ' -f1)
manifest_size=$(stat -c %s "$manifest")

# The OCI layout.
layout=$work/layout
mkdir -p "$layout/blobs/sha256"
cp "$layer.gz" "$layout/blobs/sha256/$layer_digest"
cp "$config" "$layout/blobs/sha256/$config_digest"
cp "$manifest" "$layout/blobs/sha256/$manifest_digest"
printf '%s' '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$manifest_digest\",\"size\":$manifest_size,\"annotations\":{\"org.opencontainers.image.ref.name\":\"busybox:latest\"}}]}" > "$layout/index.json"

if [ "$format" = docker ]; then
    # docker save (Docker >= 25 form): the layout plus manifest.json.
    printf '%s' "[{\"Config\":\"blobs/sha256/$config_digest\",\"RepoTags\":[\"busybox:latest\"],\"Layers\":[\"blobs/sha256/$layer_digest\"]}]" > "$layout/manifest.json"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$layout" -cf "$out" .
else
    # Replace an earlier layout, but never a directory that is something else.
    if [ -e "$out" ] && [ ! -f "$out/oci-layout" ]; then
        echo "make-busybox-image.sh: $out exists and is not an OCI layout; not replacing it" >&2
        exit 1
    fi
    rm -rf "$out"
    mkdir -p "$(dirname "$out")"
    cp -r "$layout" "$out"
fi
echo "$out: busybox:latest sha256:$manifest_digest"
