#!/usr/bin/env bash
# Benchmark: `replagent init` of a replica (DNS, ping, slot, pg_basebackup, pg_verifybackup,
# fsync, rename) against a plain `pg_basebackup -X stream -c fast` of the same primary, in
# the same run, alternating, N rounds. Reports medians and the ratio.
# Usage: bench/clone_vs_pg_basebackup.sh [pgbench scale, default 30 (~450 MB)] [rounds, default 3]
# Run on demand (not part of the tests). Loopback only: 127.0.0.40 (primary), dnsmasq 127.0.0.41.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scale=${1:-30}
rounds=${2:-3}
port=25440
pgbin=/usr/lib/postgresql/15/bin
work=$(mktemp -d /var/tmp/replagent-bench.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

"$root/scripts/setup" >/dev/null
bin=$("$root/scripts/build")/replagent
[ "$(id -u)" = 0 ] && chown postgres: "$work"
mkdir -p "$work/hosts" "$work/sock"; echo "127.0.0.40 todo-db-0.todo-db.default.svc.cluster.local" >"$work/hosts/h"
head -c 12 /dev/urandom | base64 >"$work/pw"; chmod 600 "$work/pw"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"
cleanup() {
  as_pg "$pgbin/pg_ctl" -D "$work/vol0/pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  [ -f "$work/dnsmasq.pid" ] && kill "$(cat "$work/dnsmasq.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
/usr/sbin/dnsmasq --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.41 --port=5353 \
  --hostsdir="$work/hosts" --local=/cluster.local/ --conf-file=/dev/null --pid-file="$work/dnsmasq.pid" $( [ "$(id -u)" = 0 ] && echo --user=root )
env_common=(PGDATA= POD_NAMESPACE=default REPLAGENT_DNS_SERVERS=127.0.0.41:5353 REPLAGENT_POSTGRES_PORT=$port
  REPLAGENT_POSTGRES_BIN_DIR=$pgbin REPLAGENT_POSTGRES_REPLICATION_PASSWORD_FILE=$work/pw
  REPLAGENT_POSTGRES_SUPERUSER_PASSWORD_FILE=$work/pw REPLAGENT_INIT_TERMINATION_LOG=
  REPLAGENT_POSTGRES_MONITOR_PASSWORD_FILE=$work/pw REPLAGENT_POSTGRES_BACKUP_PASSWORD_FILE=$work/pw)
as_pg env "${env_common[@]}" POD_NAME=todo-db-0 PGDATA="$work/vol0/pgdata" "$bin" init --log-level warn
as_pg "$pgbin/pg_ctl" -D "$work/vol0/pgdata" -l "$work/pg0.log" -w -o "-c listen_addresses=127.0.0.40 -k $work/sock" start >/dev/null
echo "primary: pgbench -i -s $scale" >&2
as_pg "$pgbin/pgbench" -q -i -s "$scale" -h "$work/sock" -p $port -U postgres postgres >/dev/null 2>&1
size=$(as_pg psql -XAt -h "$work/sock" -p $port -U postgres -c "select pg_database_size('postgres')")
echo "database size: $((size / 1024 / 1024)) MiB" >&2

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
agent=() plain=()
for i in $(seq 1 "$rounds"); do
  rm -rf "$work/vol1"; sync
  t=$(date +%s%N)
  as_pg env "${env_common[@]}" POD_NAME=todo-db-1 PGDATA="$work/vol1/pgdata" "$bin" init --log-level warn
  agent+=("$(ms "$t")")
  rm -rf "$work/vol1" "$work/plain"; sync
  t=$(date +%s%N)
  as_pg env PGPASSWORD="$(cat "$work/pw")" "$pgbin/pg_basebackup" -D "$work/plain" -X stream -c fast \
    -d "host=127.0.0.40 port=$port user=replicator"
  plain+=("$(ms "$t")")
  rm -rf "$work/plain"
  echo "round $i: replagent init ${agent[-1]} ms, pg_basebackup ${plain[-1]} ms" >&2
done
as_pg psql -XAt -h "$work/sock" -p $port -U postgres -c "select pg_drop_replication_slot('todo_db_1')" >/dev/null
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ma=$(median "${agent[@]}"); mp=$(median "${plain[@]}")
echo "median: replagent init $ma ms, pg_basebackup $mp ms, ratio $(awk "BEGIN {printf \"%.2f\", $ma/$mp}") (replagent includes pg_verifybackup and a full fsync)"
