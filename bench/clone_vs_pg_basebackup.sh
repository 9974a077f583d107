#!/usr/bin/env bash
# Benchmark: `replagent init` of a replica (DNS, ping, slot, pg_basebackup, pg_verifybackup,
# fsync, rename) against a plain `pg_basebackup -X stream -c fast` of the same primary, in
# the same run, alternating, N rounds. Reports medians and the ratio.
# Usage: bench/clone_vs_pg_basebackup.sh [pgbench scale, default 30 (~450 MB)] [rounds, default 3]
# Run on demand (not part of the tests). Loopback only: the primary is pod 0 of a local
# StatefulSet (replagent-sts) on 127.0.40.10, its DNS on 127.0.40.2:5353; the replica's init
# runs by hand with pod 1's environment (`replagent-sts env 1`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scale=${1:-30}
rounds=${2:-3}
port=25440
pgbin=/usr/lib/postgresql/15/bin
work=$(mktemp -d /var/tmp/replagent-bench.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

"$root/scripts/setup" >/dev/null
build=$("$root/scripts/build" replagent replagent-sts)
bin=$build/replagent
[ "$(id -u)" = 0 ] && chmod o+rx "$build" "$bin" "$build/replagent-sts"  # the pods run as postgres
d=$work/sts
S=("$build/replagent-sts" --dir "$d" --net 127.0.40 --port "$port" --dns-port 5353 --bin "$bin")
chmod 0755 "$work"
[ "$(id -u)" = 0 ] && chown postgres: "$work"
cleanup() {
  "${S[@]}" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"${S[@]}" scale 1 2>>"$work/sts.log" || { tail -5 "$work/sts.log" >&2; exit 1; }
echo "primary: pgbench -i -s $scale" >&2
"${S[@]}" pgbench 0 -q -i -s "$scale" >/dev/null 2>&1
size=$("${S[@]}" psql 0 -At -c "select pg_database_size('postgres')")
echo "database size: $((size / 1024 / 1024)) MiB" >&2
mapfile -t replica_env < <("${S[@]}" env 1 | grep -v '^REPLAGENT_BIN=')

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
agent=() plain=()
for i in $(seq 1 "$rounds"); do
  rm -rf "$d/vol-1"; sync
  t=$(date +%s%N)
  as_pg env "${replica_env[@]}" "$bin" init --log-level warn
  agent+=("$(ms "$t")")
  rm -rf "$d/vol-1" "$work/plain"; sync
  t=$(date +%s%N)
  as_pg env PGPASSWORD="$(cat "$d/secrets/replication-password")" "$pgbin/pg_basebackup" \
    -D "$work/plain" -X stream -c fast -d "host=127.0.40.10 port=$port user=replicator"
  plain+=("$(ms "$t")")
  rm -rf "$work/plain"
  echo "round $i: replagent init ${agent[-1]} ms, pg_basebackup ${plain[-1]} ms" >&2
done
"${S[@]}" psql 0 -At -c "select pg_drop_replication_slot('todo_db_1')" >/dev/null
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ma=$(median "${agent[@]}"); mp=$(median "${plain[@]}")
echo "median: replagent init $ma ms, pg_basebackup $mp ms, ratio $(awk "BEGIN {printf \"%.2f\", $ma/$mp}") (replagent includes pg_verifybackup and a full fsync)"
