#!/usr/bin/env bash
# The replagent-postgres image (PostgreSQL 15 from Debian's packages plus the binary, built
# offline by scripts/image-postgres): its OCI config (user 999:999, PATH with PostgreSQL's bin
# first, PGDATA, STOPSIGNAL SIGINT, CMD postgres, no entrypoint, labels), the layer's layout
# (/usr/local/bin/replagent, /replagent link, the postgres user and directories, no baked-in key
# or cluster); docker/Dockerfile.postgres says the same; and, as root, with podman (flags from
# shared/PLATFORM.md, never podman's default network, a private storage root): the user is 999,
# the server is the pinned version, both replagent paths run, initdb + pg_ctl + psql work, and
# `podman stop` (STOPSIGNAL SIGINT) is PostgreSQL's fast shutdown.
# Usage: image_postgres_test.sh SOURCE_DIR BINARY OUT_DIR
#   REPLAGENT_POSTGRES_IMAGE=ARCHIVE checks a prebuilt archive instead of building one.
#   exit 77 (skip): not root and no prebuilt archive (mmdebstrap --mode=root needs root), or
#   not root after the static checks (the run checks need root).
set -euo pipefail
src=$1 binary=$2 out=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
is_root=0; [ "$(id -u)" = 0 ] && is_root=1
prebuilt=${REPLAGENT_POSTGRES_IMAGE:-}
if [ "$is_root" = 0 ] && [ -z "$prebuilt" ]; then
  echo "SKIP: building replagent-postgres needs root (mmdebstrap --mode=root); run as root or set REPLAGENT_POSTGRES_IMAGE=ARCHIVE"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/replagent-image-postgres-test.XXXXXX")
# podman refuses a runroot longer than 50 characters: its run state gets a short directory.
short=""
podman_used=0
driver=overlay   # vfs copies the whole 370 MB layer for every container
podman_() {
  podman --root "$work/podman/$driver" --runroot "$short/run-$driver" --tmpdir "$short/tmp" \
    --volumepath "$work/podman/volumes" --storage-driver "$driver" --events-backend none \
    --runtime runc --cgroup-manager cgroupfs "$@"
}
# shellcheck disable=SC2317 # invoked by the trap.
cleanup() {
  if [ "$podman_used" = 1 ]; then
    podman_ rm --all --force --time 0 >/dev/null 2>&1 || true
    podman_ rmi --all --force >/dev/null 2>&1 || true
    # overlay mounts under the private root (there should be none left): unmount before rm.
    grep -E " ($work|$short)/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  fi
  rm -rf "$work" 2>/dev/null || true
  if [ -n "$short" ]; then rm -rf "$short" 2>/dev/null || true; fi
}
trap cleanup EXIT

want_version=$("$binary" version | awk '{print $NF}')
host_pg=$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null || true)

# 1. Build (or take the prebuilt archive).
if [ -n "$prebuilt" ]; then
  archive=$prebuilt
  [ -s "$archive" ] || fail "REPLAGENT_POSTGRES_IMAGE=$archive is not a file"
  pass "prebuilt archive $archive"
else
  mkdir -p "$out"
  archive=$("$src/scripts/image-postgres" "$binary" "$out/replagent-postgres-image.oci.tar" \
              2> >(grep -v 'level=warning' >&2) | tail -1) || fail "scripts/image-postgres failed"
  [ -s "$archive" ] || fail "scripts/image-postgres wrote no archive ('$archive')"
  pass "built $archive"
fi

# 2. The OCI layout: index -> manifest -> config and layers.
mkdir "$work/oci"
tar -xf "$archive" -C "$work/oci"
blob() { echo "$work/oci/blobs/${1/://}"; }
jq -e '.manifests | length == 1' "$work/oci/index.json" >/dev/null || fail "index.json holds other than one image"
ref=$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"] // ""' "$work/oci/index.json")
[ "$ref" = "replagent-postgres:$want_version" ] || fail "archive ref name is '$ref', want replagent-postgres:$want_version"
pass "archive ref name $ref"
manifest=$(blob "$(jq -r '.manifests[0].digest' "$work/oci/index.json")")
config=$(blob "$(jq -r '.config.digest' "$manifest")")
cfg() { jq -r "$1" "$config"; }

[ "$(cfg .config.User)" = "999:999" ] || fail "user is '$(cfg .config.User)', want 999:999"
pass "user 999:999"
env_of() { jq -r --arg k "$1" '.config.Env[] | select(startswith($k + "=")) | sub("^[^=]*="; "")' "$config"; }
path=$(env_of PATH)
[ "${path%%:*}" = /usr/lib/postgresql/15/bin ] || fail "PATH is '$path', want /usr/lib/postgresql/15/bin first"
pass "PATH=$path"
[ "$(env_of PGDATA)" = /var/lib/postgresql/data ] || fail "PGDATA is '$(env_of PGDATA)'"
pass "PGDATA=/var/lib/postgresql/data"
[ "$(env_of LANG)" = C.UTF-8 ] || fail "LANG is '$(env_of LANG)', want C.UTF-8"
pass "LANG=C.UTF-8"
[ "$(cfg .config.StopSignal)" = SIGINT ] || fail "StopSignal is '$(cfg .config.StopSignal)', want SIGINT"
pass "StopSignal SIGINT (fast shutdown)"
[ "$(cfg '.config.Entrypoint // [] | length')" = 0 ] || fail "entrypoint is $(jq -c .config.Entrypoint "$config"), want none"
[ "$(jq -c .config.Cmd "$config")" = '["postgres"]' ] || fail "Cmd is $(jq -c .config.Cmd "$config")"
[ "$(cfg .config.WorkingDir)" = /var/lib/postgresql ] || fail "WorkingDir is '$(cfg .config.WorkingDir)'"
pass "no entrypoint, Cmd [\"postgres\"], WorkingDir /var/lib/postgresql"
for label in title description version revision created; do
  jq -e --arg l "org.opencontainers.image.$label" '.config.Labels[$l] // empty | length > 0' "$config" >/dev/null \
    || fail "OCI label org.opencontainers.image.$label missing"
done
[ "$(cfg '.config.Labels["org.opencontainers.image.title"]')" = replagent-postgres ] || fail "title label is not replagent-postgres"
[ "$(cfg '.config.Labels["org.opencontainers.image.version"]')" = "$want_version" ] \
  || fail "org.opencontainers.image.version is not $want_version"
pg_version=$(cfg '.config.Labels["io.replagent.postgresql.version"] // ""')
[ -n "$pg_version" ] || fail "label io.replagent.postgresql.version missing"
if [ -z "$prebuilt" ] && [ "$pg_version" != "$host_pg" ]; then
  fail "io.replagent.postgresql.version is $pg_version, but the host runs postgresql-15 $host_pg"
fi
pass "OCI labels (version $want_version, PostgreSQL $pg_version)"

# The layers: the binary, the link, the postgres user and directories; no key, no cluster.
: >"$work/listing"
for digest in $(jq -r '.layers[].digest' "$manifest"); do
  tar -tvzf "$(blob "$digest")" | sed -E 's# \./# #' >>"$work/listing"
done
has() { grep -Eq "$1" "$work/listing" || fail "no layer holds $2"; }
has '^-rwxr-xr-x 0/0 .* usr/local/bin/replagent$' "usr/local/bin/replagent (0755, root)"
has '^lrwxrwxrwx 0/0 .* replagent -> (/?usr/local/bin/replagent)$' "/replagent -> /usr/local/bin/replagent"
has '^drwx------ 999/999 .* var/lib/postgresql/data/?$' "/var/lib/postgresql/data (0700, 999:999)"
has '^drwxrwsr-x 999/999 .* run/postgresql/?$' "/run/postgresql (2775, 999:999)"
has ' usr/lib/postgresql/15/bin/postgres$' "usr/lib/postgresql/15/bin/postgres"
pass "layout: /usr/local/bin/replagent, /replagent link, data 0700 and /run/postgresql 2775 owned 999:999"
if grep -Eq 'ssl-cert-snakeoil\.key| etc/postgresql/15/| var/lib/apt/lists/[^/]+_' "$work/listing"; then
  fail "the image holds a snakeoil key, a main cluster or apt lists: $(grep -E 'snakeoil\.key| etc/postgresql/15/| var/lib/apt/lists/[^/]+_' "$work/listing" | head -3)"
fi
pass "no snakeoil key, no main cluster, no apt lists"
last_layer=$(blob "$(jq -r '.layers[-1].digest' "$manifest")")
passwd=$(tar -xzOf "$last_layer" etc/passwd 2>/dev/null || tar -xzOf "$last_layer" ./etc/passwd 2>/dev/null || true)
grep -q '^postgres:x:999:999:[^:]*:/var/lib/postgresql:/bin/bash$' <<<"$passwd" \
  || fail "/etc/passwd has no postgres:x:999:999 with home /var/lib/postgresql: $(grep postgres <<<"$passwd")"
pass "/etc/passwd: $(grep '^postgres:' <<<"$passwd")"
compressed=$(jq '[.layers[].size] | add' "$manifest")
echo "sizes: layers ${compressed} B compressed, archive $(stat -c %s "$archive") B"
[ "$compressed" -le $((200 * 1000 * 1000)) ] || fail "layers are $compressed B compressed, over 200 MB"
pass "size within 200 MB compressed"

# 3. docker/Dockerfile.postgres says the same (it cannot be built here: no Docker engine).
df=$src/docker/Dockerfile.postgres
joined() { grep -v '^\s*#' "$1" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | tr -s ' \t' ' '; }
final=$(joined "$df" | awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}')
instr() { grep -E "^$1( |$)" <<<"$final" | sed -E "s/^$1 ?//" || true; }
[ "$(instr FROM)" = "debian:bookworm-slim" ] || fail "Dockerfile.postgres: final stage is FROM $(instr FROM), want debian:bookworm-slim"
df_pg=$(instr ARG | sed -n 's/^POSTGRESQL_VERSION=//p')
[ "$df_pg" = "$pg_version" ] || fail "Dockerfile.postgres pins POSTGRESQL_VERSION=$df_pg, the image $pg_version (bump it)"
[ "$(instr USER)" = "$(cfg .config.User)" ] || fail "Dockerfile.postgres: USER $(instr USER)"
[ "$(instr STOPSIGNAL)" = "$(cfg .config.StopSignal)" ] || fail "Dockerfile.postgres: STOPSIGNAL $(instr STOPSIGNAL)"
[ "$(instr WORKDIR)" = "$(cfg .config.WorkingDir)" ] || fail "Dockerfile.postgres: WORKDIR $(instr WORKDIR)"
[ "$(instr CMD | jq -c .)" = "$(jq -c .config.Cmd "$config")" ] || fail "Dockerfile.postgres: CMD $(instr CMD)"
[ -z "$(instr ENTRYPOINT)" ] || fail "Dockerfile.postgres has an ENTRYPOINT"
df_env=$(instr ENV | tr ' ' '\n' | grep . | sort)
[ "$df_env" = "$(jq -r '.config.Env[]' "$config" | sort)" ] \
  || fail "Dockerfile.postgres ENV differs from the image's: $(diff <(echo "$df_env") <(jq -r '.config.Env[]' "$config" | sort) | grep '^[<>]' | tr '\n' ' ')"
df_labels=$(instr LABEL | grep -oE '[a-z][a-z0-9.]*="' | sed 's/="$//' | sort)
[ "$df_labels" = "$(jq -r '.config.Labels | keys[] | select(startswith("io.buildah.") | not)' "$config" | sort)" ] \
  || fail "Dockerfile.postgres labels differ: $(echo "$df_labels" | tr '\n' ' ')"
for l in org.opencontainers.image.title org.opencontainers.image.description; do
  v=$(instr LABEL | grep -oE "$l=\"[^\"]*\"" | sed -E 's/^[^=]*="(.*)"$/\1/')
  [ "$v" = "$(cfg ".config.Labels[\"$l\"]")" ] || fail "Dockerfile.postgres: $l is '$v', the image's '$(cfg ".config.Labels[\"$l\"]")'"
done
# The user exists with 999:999 before the packages install (postgresql-common would pick an id).
user_line=$(grep -nE 'useradd -r -u 999 -g 999 .*-d /var/lib/postgresql -s /bin/bash postgres' <<<"$final" | cut -d: -f1 | head -1)
group_line=$(grep -nE 'groupadd -r -g 999 postgres' <<<"$final" | cut -d: -f1 | head -1)
install_line=$(grep -nE 'apt-get install .*"?postgresql-15=\$\{POSTGRESQL_VERSION\}' <<<"$final" | cut -d: -f1 | head -1)
if [ -z "$user_line" ] || [ -z "$group_line" ] || [ -z "$install_line" ]; then
  fail "Dockerfile.postgres: no groupadd/useradd 999 or no pinned postgresql-15 install"
fi
if [ "$group_line" -gt "$user_line" ] || [ "$user_line" -ge "$install_line" ]; then
  fail "Dockerfile.postgres: the postgres user must be created before postgresql-15 installs"
fi
for p in postgresql-client-15 libpq5; do
  grep -q "\"$p=\${POSTGRESQL_VERSION}\"" <<<"$final" || fail "Dockerfile.postgres does not pin $p"
  grep -q "$p=\$pg_version" "$src/scripts/image-postgres" || fail "scripts/image-postgres does not pin $p"
done
grep -qx 'COPY --from=build --chmod=0755 /build/replagent /usr/local/bin/replagent' <<<"$final" \
  || fail "Dockerfile.postgres does not copy the built binary to /usr/local/bin/replagent"
grep -q 'ln -sfn usr/local/bin/replagent /replagent' <<<"$final" || fail "Dockerfile.postgres: no /replagent link"
builder() { joined "$1" | awk '/^FROM debian:12 AS build$/{on=1} on && /^FROM / && !/AS build$/{on=0} on'; }
[ -n "$(builder "$src/docker/Dockerfile")" ] || fail "docker/Dockerfile has no debian:12 builder stage"
diff <(builder "$src/docker/Dockerfile") <(builder "$df") >/dev/null \
  || fail "docker/Dockerfile.postgres's builder stage differs from docker/Dockerfile's"
pass "Dockerfile.postgres matches (PostgreSQL $df_pg, USER, ENV, STOPSIGNAL, WORKDIR, CMD, labels, user before install, builder stage)"

# 4. Run it, as root (mmdebstrap and the rootful podman flags of shared/PLATFORM.md).
if [ "$is_root" = 0 ]; then echo "SKIP: running the image needs root here"; exit 77; fi
command -v podman >/dev/null || { echo "SKIP: podman not installed"; exit 77; }
mkdir -p "$work/podman"
short=$(mktemp -d /tmp/rpgi.XXXXXX)
podman_used=1
if ! podman_ load -q -i "$archive" >"$work/load.log" 2>&1; then
  echo "podman load with overlay storage failed ($(tail -1 "$work/load.log")): trying vfs"
  podman_ rmi --all --force >/dev/null 2>&1 || true
  driver=vfs
  podman_ load -q -i "$archive" >"$work/load.log" 2>&1 || { cat "$work/load.log" >&2; fail "podman load $archive"; }
fi
tag=localhost/replagent-postgres:$want_version
podman_ image exists "$tag" || fail "podman load did not tag $tag: $(podman_ images --format '{{.Repository}}:{{.Tag}}' | tr '\n' ' ')"
pass "podman load: $tag"
run_image() { # podman run flags from shared/PLATFORM.md; --network none, always
  podman_ run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$tag" "$@" \
    2> >(grep -v 'level=warning' >&2)
}
uid=$(run_image id -u) || fail "podman run id -u"
[ "$uid" = 999 ] || fail "the image runs as uid '$uid', want 999"
pass "id -u: 999"
pg=$(run_image postgres --version) || fail "podman run postgres --version"
want_pg=${pg_version%%-*}   # 15.20-0+deb12u1 -> 15.20
[[ "$pg" == "postgres (PostgreSQL) $want_pg "* ]] || fail "postgres --version: '$pg', want $want_pg"
pass "postgres --version: $pg"
for cmd in replagent /replagent; do
  v=$(run_image "$cmd" version) || fail "podman run $cmd version"
  [ "$v" = "replagent $want_version" ] || fail "$cmd version printed '$v'"
  pass "$cmd version: $v"
done
# shellcheck disable=SC2016 # expanded by the container's bash.
script='set -e
initdb -D /tmp/d >/tmp/initdb.log 2>&1 || { cat /tmp/initdb.log >&2; exit 1; }
pg_ctl -D /tmp/d -w -l /tmp/pg.log start -o "-k /tmp -c listen_addresses='"''"'" >/dev/null || { cat /tmp/pg.log >&2; exit 1; }
psql -h /tmp -d postgres -Atc "select 1"
psql -h /tmp -d postgres -Atc "show server_encoding"
pg_ctl -D /tmp/d -w -m fast stop >/dev/null
initdb --no-sync >/tmp/initdb2.log 2>&1 || { cat /tmp/initdb2.log >&2; exit 1; }
test -s "$PGDATA/PG_VERSION" && echo "pgdata ok"'
result=$(run_image bash -c "$script") || fail "initdb/pg_ctl/psql in the image: $result"
[ "$(sed -n 1p <<<"$result")" = 1 ] || fail "psql select 1 printed '$result'"
pass "initdb -D /tmp/d, pg_ctl start -w, psql select 1: 1"
[ "$(sed -n 2p <<<"$result")" = UTF8 ] || fail "server_encoding is '$(sed -n 2p <<<"$result")', want UTF8 (LANG=C.UTF-8)"
pass "server_encoding UTF8"
[ "$(sed -n 3p <<<"$result")" = "pgdata ok" ] || fail "initdb into \$PGDATA as 999: $result"
pass "initdb into the default \$PGDATA as uid 999"

# STOPSIGNAL reaches the server as PID 1: `podman stop` is PostgreSQL's fast shutdown.
name=rpgi-stop-$$
podman_ run -d --name "$name" --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$tag" \
  bash -c 'initdb --no-sync >/dev/null 2>&1 && exec postgres -k /tmp -c listen_addresses=' >/dev/null \
  2> >(grep -v 'level=warning' >&2) || fail "podman run -d"
ready=0
for _ in $(seq 1 100); do
  if podman_ exec "$name" pg_isready -q -h /tmp 2>/dev/null; then ready=1; break; fi
  sleep 0.2
done
[ "$ready" = 1 ] || fail "postgres in the image did not become ready: $(podman_ logs "$name" 2>&1 | tail -5)"
podman_ stop --time 30 "$name" >/dev/null 2>&1 || fail "podman stop"
logs=$(podman_ logs "$name" 2>&1)
podman_ rm --force "$name" >/dev/null 2>&1 || true
grep -q 'received fast shutdown request' <<<"$logs" || fail "podman stop did not fast-shutdown postgres: $(tail -5 <<<"$logs")"
grep -q 'database system is shut down' <<<"$logs" || fail "postgres did not shut down cleanly: $(tail -5 <<<"$logs")"
pass "podman stop -> SIGINT -> fast shutdown, database system is shut down"
exit 0
