#!/usr/bin/env bash
# Benchmark: `replagent backup` (source selection, exported snapshot + exact row counts,
# pg_dump -Fc, fsync, pg_restore --list, SHA-256, rename, retention) against a plain
# `pg_dump -Fc` of the same database, in the same run, alternating, N rounds. Reports medians,
# MB/s of the archive written, and the ratio.
# Usage: bench/backup_vs_pg_dump.sh [pgbench scale, default 30] [rounds, default 3]
# Run on demand (not part of the tests). Loopback only: the primary is pod 0 of a local
# StatefulSet (replagent-sts) on 127.0.50.10, its DNS on 127.0.50.2:5353; the backup Job runs
# by hand with what a Job shares of the pods' environment (`replagent-sts env 0`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scale=${1:-30}
rounds=${2:-3}
port=25450
pgbin=/usr/lib/postgresql/15/bin
work=$(mktemp -d /var/tmp/replagent-bench.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

"$root/scripts/setup" >/dev/null
build=$("$root/scripts/build" replagent replagent-sts)
bin=${REPLAGENT_BIN:-$build/replagent}
[ "$(id -u)" = 0 ] && chmod o+rx "$build" "$bin" "$build/replagent-sts"  # the pods run as postgres
d=$work/sts
S=("$build/replagent-sts" --dir "$d" --net 127.0.50 --port "$port" --dns-port 5353 --bin "$bin")
mkdir -p "$work/backups"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"
cleanup() {
  "${S[@]}" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# The plain pg_dump logs in as the superuser over TCP, from 127.0.0.1.
"${S[@]}" set-env 0 REPLAGENT_POSTGRES_SUPERUSER_NETWORK_LOGIN=true
"${S[@]}" scale 1 2>>"$work/sts.log" || { tail -5 "$work/sts.log" >&2; exit 1; }
echo "primary: pgbench -i -s $scale" >&2
"${S[@]}" pgbench 0 -q -i -s "$scale" >/dev/null 2>&1
size=$("${S[@]}" psql 0 -At -c "select pg_database_size('postgres')")
echo "database size: $((size / 1024 / 1024)) MiB" >&2
# What a Job shares with the pods (namespace, DNS, port, binaries, the Secret), not pod 0's own.
mapfile -t job_env < <("${S[@]}" env 0 |
  grep -E '^(POD_NAMESPACE|REPLAGENT_DNS_SERVERS|REPLAGENT_POSTGRES_(PORT|BIN_DIR|[A-Z]+_PASSWORD_FILE))=')

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
agent=() plain=() agent_bytes=0 plain_bytes=0
for i in $(seq 1 "$rounds"); do
  sync
  t=$(date +%s%N)
  # A Job of the set, backing up the primary (no replica in this bench), keeping one backup.
  as_pg env "${job_env[@]}" POD_NAME=todo-db-backup REPLAGENT_POD_SERVICE=todo-db \
    REPLAGENT_BACKUP_DIR="$work/backups" REPLAGENT_BACKUP_KEEP=1 REPLAGENT_BACKUP_SOURCE=primary \
    "$bin" backup --log-level warn
  agent+=("$(ms "$t")")
  agent_bytes=$(stat -c %s "$work"/backups/*.dump)
  rm -f "$work/plain.dump"; sync
  t=$(date +%s%N)
  as_pg env PGPASSWORD="$(cat "$d/secrets/superuser-password")" "$pgbin/pg_dump" -Fc \
    -f "$work/plain.dump" -d "host=127.0.50.10 port=$port user=postgres dbname=postgres"
  plain+=("$(ms "$t")")
  plain_bytes=$(stat -c %s "$work/plain.dump")
  echo "round $i: replagent backup ${agent[-1]} ms, pg_dump -Fc ${plain[-1]} ms" >&2
  sleep 1  # backup names have one-second resolution
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ma=$(median "${agent[@]}"); mp=$(median "${plain[@]}")
mbs() { awk "BEGIN {printf \"%.1f\", $1 / 1e6 / ($2 / 1000)}"; }
dbs() { awk "BEGIN {printf \"%.0f\", $size / 1048576 / ($1 / 1000)}"; }
echo "archive: replagent $agent_bytes bytes, pg_dump $plain_bytes bytes (pgbench rows compress well)"
echo "median: replagent backup $ma ms ($(dbs "$ma") MiB/s of database, $(mbs "$agent_bytes" "$ma") MB/s written), pg_dump -Fc $mp ms ($(dbs "$mp") MiB/s, $(mbs "$plain_bytes" "$mp") MB/s), ratio $(awk "BEGIN {printf \"%.2f\", $ma/$mp}") (replagent also counts every table's rows at the snapshot, fsyncs, runs pg_restore --list and hashes the archive)"
