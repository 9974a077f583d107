#!/usr/bin/env bash
# Benchmark: `replagent backup` (source selection, exported snapshot + exact row counts,
# pg_dump -Fc, fsync, pg_restore --list, SHA-256, rename, retention) against a plain
# `pg_dump -Fc` of the same database, in the same run, alternating, N rounds. Reports medians,
# MB/s of the archive written, and the ratio.
# Usage: bench/backup_vs_pg_dump.sh [pgbench scale, default 30] [rounds, default 3]
# Run on demand (not part of the tests). Loopback only: 127.0.0.50 (primary), dnsmasq 127.0.0.51.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scale=${1:-30}
rounds=${2:-3}
port=25450
pgbin=/usr/lib/postgresql/15/bin
work=$(mktemp -d /var/tmp/replagent-bench.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

"$root/scripts/setup" >/dev/null
bin=${REPLAGENT_BIN:-$("$root/scripts/build")/replagent}
mkdir -p "$work/hosts" "$work/sock" "$work/backups"
echo "127.0.0.50 todo-db-0.todo-db.default.svc.cluster.local" >"$work/hosts/h"
head -c 12 /dev/urandom | base64 >"$work/pw"; chmod 600 "$work/pw"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"
cleanup() {
  as_pg "$pgbin/pg_ctl" -D "$work/vol0/pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  [ -f "$work/dnsmasq.pid" ] && kill "$(cat "$work/dnsmasq.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
/usr/sbin/dnsmasq --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.51 --port=5353 \
  --hostsdir="$work/hosts" --local=/cluster.local/ --conf-file=/dev/null --pid-file="$work/dnsmasq.pid" $( [ "$(id -u)" = 0 ] && echo --user=root )
env_common=(POD_NAMESPACE=default REPLAGENT_DNS_SERVERS=127.0.0.51:5353 REPLAGENT_POSTGRES_PORT=$port
  REPLAGENT_POSTGRES_BIN_DIR=$pgbin REPLAGENT_POSTGRES_REPLICATION_PASSWORD_FILE=$work/pw
  REPLAGENT_POSTGRES_SUPERUSER_PASSWORD_FILE=$work/pw REPLAGENT_INIT_TERMINATION_LOG=
  REPLAGENT_POSTGRES_MONITOR_PASSWORD_FILE=$work/pw REPLAGENT_POSTGRES_BACKUP_PASSWORD_FILE=$work/pw)
as_pg env "${env_common[@]}" POD_NAME=todo-db-0 PGDATA="$work/vol0/pgdata" "$bin" init --log-level warn
as_pg "$pgbin/pg_ctl" -D "$work/vol0/pgdata" -l "$work/pg0.log" -w -o "-c listen_addresses=127.0.0.50 -k $work/sock" start >/dev/null
echo "primary: pgbench -i -s $scale" >&2
as_pg "$pgbin/pgbench" -q -i -s "$scale" -h "$work/sock" -p $port -U postgres postgres >/dev/null 2>&1
size=$(as_pg psql -XAt -h "$work/sock" -p $port -U postgres -c "select pg_database_size('postgres')")
echo "database size: $((size / 1024 / 1024)) MiB" >&2

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
agent=() plain=() agent_bytes=0 plain_bytes=0
for i in $(seq 1 "$rounds"); do
  sync
  t=$(date +%s%N)
  # A Job of the set, backing up the primary (no replica in this bench), keeping one backup.
  as_pg env "${env_common[@]}" POD_NAME=todo-db-backup REPLAGENT_POD_SERVICE=todo-db \
    REPLAGENT_BACKUP_DIR="$work/backups" REPLAGENT_BACKUP_KEEP=1 REPLAGENT_BACKUP_SOURCE=primary \
    "$bin" backup --log-level warn
  agent+=("$(ms "$t")")
  agent_bytes=$(stat -c %s "$work"/backups/*.dump)
  rm -f "$work/plain.dump"; sync
  t=$(date +%s%N)
  as_pg env PGPASSWORD="$(cat "$work/pw")" "$pgbin/pg_dump" -Fc -f "$work/plain.dump" \
    -d "host=127.0.0.50 port=$port user=postgres dbname=postgres"
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
