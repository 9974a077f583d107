#!/usr/bin/env bash
# The replagent image, built offline by scripts/image from the tested binary: its OCI config
# (non-root user, entrypoint, labels), exactly one layer holding only /replagent, size within
# 10 MB; docker/Dockerfile's final stage says the same as docker/Containerfile.local; and, where
# podman runs (flags from shared/PLATFORM.md, never podman's default network), `replagent
# version` runs from the image.
# Usage: image_test.sh SOURCE_DIR BINARY OUT_DIR      (exit 77: podman cannot run here: skip)
set -euo pipefail
src=$1 binary=$2 out=$3
archive=$out/replagent-image.oci.tar
limit=$((10 * 1000 * 1000))
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/replagent-image-test.XXXXXX")
pause_pid=""
cleanup() {
  # Rootless podman leaves a per-user "pause" process keeping its user namespace: it lives in
  # our private XDG_RUNTIME_DIR, so end exactly that one.
  if [ -f "$work/xdg/libpod/tmp/pause.pid" ]; then pause_pid=$(cat "$work/xdg/libpod/tmp/pause.pid"); fi
  if [ -d "$work/podman" ] && [ "$(id -u)" != 0 ]; then
    podman_ unshare rm -rf "$work/podman" >/dev/null 2>&1 || true
    if [ -f "$work/xdg/libpod/tmp/pause.pid" ]; then pause_pid=$(cat "$work/xdg/libpod/tmp/pause.pid"); fi
  fi
  if [ -n "$pause_pid" ]; then kill "$pause_pid" 2>/dev/null || true; fi
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
mkdir -m 0700 "$work/xdg"
export XDG_RUNTIME_DIR=$work/xdg TMPDIR=$work

# 1. Build.
"$src/scripts/image" "$binary" "$archive" 2> >(grep -v 'level=warning' >&2)
[ -s "$archive" ] || fail "scripts/image wrote no $archive"

# 2. The OCI layout: index -> manifest -> config and layers.
mkdir "$work/oci"
tar -xf "$archive" -C "$work/oci"
blob() { echo "$work/oci/blobs/${1/://}"; }
manifest=$(blob "$(jq -r '.manifests[0].digest' "$work/oci/index.json")")
config=$(blob "$(jq -r '.config.digest' "$manifest")")
jq -e '.manifests | length == 1' "$work/oci/index.json" >/dev/null || fail "index.json holds more than one image"

user=$(jq -r '.config.User' "$config")
[ "$user" = "65532:65532" ] || fail "user is '$user', want 65532:65532 (non-root)"
pass "user $user"
entrypoint=$(jq -c '.config.Entrypoint' "$config")
[ "$entrypoint" = '["/replagent"]' ] || fail "entrypoint is $entrypoint"
pass "entrypoint $entrypoint"
layers=$(jq '.layers | length' "$manifest")
[ "$layers" = 1 ] || fail "$layers layers, want exactly 1"
[ "$(jq '.rootfs.diff_ids | length' "$config")" = 1 ] || fail "config lists other than 1 diff_id"
pass "one layer"
want_version=$("$binary" version | awk '{print $NF}')
for label in title description version revision created; do
  jq -e --arg l "org.opencontainers.image.$label" '.config.Labels[$l] // empty | length > 0' "$config" >/dev/null \
    || fail "OCI label org.opencontainers.image.$label missing"
done
[ "$(jq -r '.config.Labels["org.opencontainers.image.version"]' "$config")" = "$want_version" ] \
  || fail "org.opencontainers.image.version is not $want_version"
pass "OCI labels (version $want_version)"

# Only the binary, executable, owned by root (the non-root user may run, not rewrite it).
layer=$(blob "$(jq -r '.layers[0].digest' "$manifest")")
listing=$(tar -tvzf "$layer")
entries=$(tar -tzf "$layer" | sed 's|^\./||' | grep -v '^$' || true)
[ "$entries" = "replagent" ] || fail "layer holds: $entries (want only replagent)"
echo "$listing" | grep -Eq '^-rwxr-xr-x 0/0 ' || fail "replagent in the layer: $listing"
pass "layer: $listing"

compressed=$(jq '[.layers[].size] | add' "$manifest")
uncompressed=$(tar -xzOf "$layer" | wc -c)
archive_size=$(stat -c %s "$archive")
echo "sizes: layer ${compressed} B compressed, ${uncompressed} B uncompressed, archive ${archive_size} B"
for s in "$compressed" "$uncompressed" "$archive_size"; do
  [ "$s" -le "$limit" ] || fail "image size $s B exceeds $limit B"
done
pass "size within 10 MB"

# 3. docker/Dockerfile's final stage is Containerfile.local (but for where the binary comes from).
final_stage() { # the instructions after the last FROM, comments and the COPY dropped
  awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$1" \
    | grep -v '^#' | grep -v '^COPY ' | grep -v '^\s*$'
}
diff <(final_stage "$src/docker/Dockerfile") <(final_stage "$src/docker/Containerfile.local") \
  || fail "docker/Dockerfile's final stage and docker/Containerfile.local differ"
grep -q '^FROM scratch$' "$src/docker/Dockerfile" || fail "docker/Dockerfile has no FROM scratch stage"
grep -q '^FROM debian:12 AS build$' "$src/docker/Dockerfile" || fail "docker/Dockerfile: no debian:12 builder stage"
grep -q '^COPY --from=build --chmod=0755 /build/replagent /replagent$' "$src/docker/Dockerfile" \
  || fail "docker/Dockerfile does not copy the built binary to /replagent"
pass "Dockerfile final stage matches Containerfile.local"

# 4. Run it, where podman can.
if ! command -v podman >/dev/null; then echo "SKIP: podman not installed"; exit 77; fi
podman_() {
  podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver vfs \
    --runtime runc --cgroup-manager cgroupfs "$@"
}
run_image() { # podman run flags from shared/PLATFORM.md; --network none, always
  podman_ run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$@"
}
mkdir -p "$work/podman"
podman_ load -q -i "$archive" >"$work/load.log" 2>&1 || { cat "$work/load.log"; echo "SKIP: podman cannot load images here"; exit 77; }
image=$(podman_ images -q | head -1)
if output=$(run_image "$image" version 2>"$work/run.err"); then
  [ "$output" = "replagent $want_version" ] || fail "replagent version in the image printed '$output'"
  pass "podman run IMAGE version: $output (as the image's user $user)"
  whoami_out=$(run_image --entrypoint /replagent "$image" config 2>&1 | grep -c "^\[pod\]" || true)
  [ "$whoami_out" = 1 ] || fail "replagent config in the image did not print a config"
  pass "podman run IMAGE config (no /etc, no NSS) works"
  exit 0
fi
grep -v 'level=warning' "$work/run.err" >&2 || true
# Could podman run anything at all here? As the namespace's root (this user on the host)
# no subordinate uid range is needed.
if run_image --user 0:0 "$image" version >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] && ! grep -q "^$(id -un):" /etc/subuid 2>/dev/null; then
    echo "SKIP: podman runs, but $(id -un) has no /etc/subuid range to map uid 65532 (scripts/setup-chart-tools adds one)"
    exit 77
  fi
  fail "podman runs images here, but not this one as its own user $user"
fi
echo "SKIP: podman cannot run containers on this machine"
exit 77
