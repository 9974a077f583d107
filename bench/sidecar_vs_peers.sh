#!/usr/bin/env bash
# Benchmark: the sidecar and the probe against the peers they replace, in one run, against the
# same servers (a primary and one streaming replica, set up by `replagent init`):
#   1. `replagent probe ready` vs `pg_isready`: exec wall time, N runs each, interleaved
#      (hyperfine when installed, else a loop timed with bash's $EPOCHREALTIME: no fork).
#   2. RSS after 1,000 scrapes of /metrics: the sidecar vs prometheus-postgres-exporter
#      (Debian's package; installed here with apt-get when missing).
#   3. Latency of N sequential requests over one keep-alive connection (as Prometheus scrapes):
#      sidecar /metrics and /replica vs the exporter's /metrics.
# Prints medians, p99s and ratios; issue 3's targets: probe <= 0.5x pg_isready, RSS <= 0.5x
# the exporter's, scrape <= 0.1x the exporter's median.
# Usage: bench/sidecar_vs_peers.sh [runs, default 200]
# Run on demand (not part of the tests). Loopback only: 127.0.0.50 (primary), 127.0.0.51
# (replica), dnsmasq 127.0.0.52:5353; sidecars on :19187, the exporter on 127.0.0.50:19188
# (not 9187: a packaged exporter service, where one runs, listens on *:9187).
set -euo pipefail
export LC_ALL=C  # $EPOCHREALTIME with a '.' decimal separator
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-200}
scrapes=1000
port=25450
primary_ip=127.0.0.50 replica_ip=127.0.0.51 dns_ip=127.0.0.52
sidecar_port=19187 exporter_port=19188
pgbin=/usr/lib/postgresql/15/bin
exporter=/usr/bin/prometheus-postgres-exporter
work=$(mktemp -d /var/tmp/replagent-bench.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
log() { echo "$*" >&2; }

"$root/scripts/setup" >/dev/null
if [ ! -x "$exporter" ]; then
  log "installing prometheus-postgres-exporter (Debian)"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    prometheus-postgres-exporter >/dev/null
fi
bin=$("$root/scripts/build")/replagent

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for n in 1 0; do
    as_pg "$pgbin/pg_ctl" -D "$work/vol$n/pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  done
  if [ -f "$work/dnsmasq.pid" ]; then kill "$(cat "$work/dnsmasq.pid")" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- the servers: a primary and a replica, as the init containers make them ---
mkdir -p "$work/hosts" "$work/sock0" "$work/sock1"
echo "$primary_ip todo-db-0.todo-db.default.svc.cluster.local" >"$work/hosts/h"
head -c 12 /dev/urandom | base64 | tr -d '/+=' >"$work/pw"
chmod 600 "$work/pw"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"
/usr/sbin/dnsmasq --no-resolv --no-hosts --bind-interfaces --listen-address=$dns_ip --port=5353 \
  --hostsdir="$work/hosts" --local=/cluster.local/ --conf-file=/dev/null --pid-file="$work/dnsmasq.pid" \
  $( [ "$(id -u)" = 0 ] && echo --user=root )
pod_env() { # ordinal
  local n=$1 ip
  ip=$([ "$n" = 0 ] && echo $primary_ip || echo $replica_ip)
  echo POD_NAME=todo-db-$n POD_NAMESPACE=default PGDATA="$work/vol$n/pgdata" \
    REPLAGENT_DNS_SERVERS=$dns_ip:5353 REPLAGENT_POSTGRES_PORT=$port REPLAGENT_POSTGRES_HOST=$ip \
    REPLAGENT_POSTGRES_LISTEN_ADDRESSES=$ip REPLAGENT_POSTGRES_BIN_DIR=$pgbin \
    REPLAGENT_INIT_PIN_PRIMARY_ADDRESS=true REPLAGENT_INIT_TERMINATION_LOG= \
    REPLAGENT_POSTGRES_SUPERUSER_PASSWORD_FILE="$work/pw" \
    REPLAGENT_POSTGRES_REPLICATION_PASSWORD_FILE="$work/pw" \
    REPLAGENT_POSTGRES_MONITOR_PASSWORD_FILE="$work/pw" REPLAGENT_POSTGRES_BACKUP_PASSWORD_FILE="$work/pw" \
    REPLAGENT_SIDECAR_LISTEN=$ip:$sidecar_port
}
for n in 0 1; do
  # shellcheck disable=SC2046
  as_pg env $(pod_env $n) "$bin" init --log-level warn
  as_pg "$pgbin/pg_ctl" -D "$work/vol$n/pgdata" -l "$work/pg$n.log" -w \
    -o "-k $work/sock$n -c shared_buffers=32MB" start >/dev/null
done
as_pg "$pgbin/pgbench" -q -i -s 1 -h "$work/sock0" -p $port -U postgres postgres >/dev/null 2>&1

# The sidecars (default poll interval) and the exporter, as this user: they only use TCP.
for n in 0 1; do
  # shellcheck disable=SC2046
  env $(pod_env $n) "$bin" sidecar --log-level warn 2>>"$work/sidecar$n.log" &
  pids+=($!)
  eval "sidecar${n}_pid=$!"
done
DATA_SOURCE_NAME="postgresql://postgres:$(cat "$work/pw")@$primary_ip:$port/postgres?sslmode=disable" \
  "$exporter" --web.listen-address=$primary_ip:$exporter_port 2>>"$work/exporter.log" &
exporter_pid=$!
pids+=("$exporter_pid")
wait_200() { # url
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0
    sleep 0.1
  done
  log "no 200 from $1"; return 1
}
wait_200 "http://$primary_ip:$sidecar_port/readyz"
wait_200 "http://$replica_ip:$sidecar_port/replica"
wait_200 "http://$primary_ip:$exporter_port/metrics"
curl -s "http://$primary_ip:$exporter_port/metrics" | grep -q '^pg_up 1' \
  || { log "the exporter cannot reach the primary:"; tail -5 "$work/exporter.log" >&2; exit 1; }

# stats: numbers (ms) on stdin -> "median p99"
stats() { sort -g | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<NR*0.99) i++; printf "%.3f %.3f\n", a[int((NR+1)/2)], a[i]}'; }
ratio() { awk "BEGIN {printf \"%.3f\", $1/$2}"; }

# --- 1. probe ready vs pg_isready ---
log "1. exec wall time, $runs runs each: replagent probe ready vs pg_isready ($primary_ip)"
# Both commands exec'd directly (no `env` wrapper in the timing): the probe's settings are
# exported in this subshell, as the kubelet runs it with the container's environment.
(
# shellcheck disable=SC2046
export $(pod_env 0)
probe_cmd=("$bin" probe ready)
isready_cmd=("$pgbin/pg_isready" -q -h "$primary_ip" -p "$port" -U postgres -d postgres)
"${probe_cmd[@]}" >/dev/null || { log "probe ready failed"; "${probe_cmd[@]}"; exit 1; }
"${isready_cmd[@]}" || { log "pg_isready failed"; exit 1; }
if command -v hyperfine >/dev/null; then
  echo hyperfine >"$work/timer"
  hyperfine -N --warmup 10 --runs "$runs" --export-json "$work/hf.json" \
    "${probe_cmd[*]}" "${isready_cmd[*]}" >/dev/null
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; [open(sys.argv[2+i],"w").write("".join("%.4f\n"%(t*1000) for t in x["times"])) for i,x in enumerate(r)]' \
    "$work/hf.json" "$work/probe.ms" "$work/isready.ms"
else
  echo "bash loop, \$EPOCHREALTIME" >"$work/timer"
  : >"$work/probe.ms"; : >"$work/isready.ms"
  for _ in $(seq 1 10); do "${probe_cmd[@]}" >/dev/null; "${isready_cmd[@]}"; done  # warm-up
  for _ in $(seq 1 "$runs"); do
    t0=$EPOCHREALTIME; "${probe_cmd[@]}" >/dev/null; t1=$EPOCHREALTIME
    "${isready_cmd[@]}"; t2=$EPOCHREALTIME
    echo "$t0 $t1" | awk '{printf "%.4f\n", ($2-$1)*1000}' >>"$work/probe.ms"
    echo "$t1 $t2" | awk '{printf "%.4f\n", ($2-$1)*1000}' >>"$work/isready.ms"
  done
fi
)
timer=$(cat "$work/timer")
read -r probe_med probe_p99 < <(stats <"$work/probe.ms")
read -r isr_med isr_p99 < <(stats <"$work/isready.ms")

# --- 2. RSS after 1,000 scrapes ---
log "2. RSS after $scrapes scrapes of /metrics: sidecar (primary) vs prometheus-postgres-exporter"
scrape_n() { # url n -> per-request seconds, one keep-alive connection (as Prometheus scrapes)
  local url=$1 n=$2 args=() i
  for ((i = 0; i < n; i++)); do args+=(-o /dev/null "$url"); done
  curl -s -w '%{http_code} %{time_total}\n' "${args[@]}"
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
scrape_n "http://$primary_ip:$sidecar_port/metrics" $scrapes >"$work/sc_scrapes"
scrape_n "http://$primary_ip:$exporter_port/metrics" $scrapes >"$work/ex_scrapes"
for f in sc_scrapes ex_scrapes; do
  bad=$(awk '$1 != 200' "$work/$f" | wc -l)
  [ "$bad" = 0 ] || { log "$f: $bad non-200 answers"; exit 1; }
done
# shellcheck disable=SC2154
sc_rss=$(rss_kb "$sidecar0_pid") sc_hwm=$(hwm_kb "$sidecar0_pid")
ex_rss=$(rss_kb $exporter_pid) ex_hwm=$(hwm_kb $exporter_pid)
sc_bytes=$(curl -s "http://$primary_ip:$sidecar_port/metrics" | wc -c)
ex_bytes=$(curl -s "http://$primary_ip:$exporter_port/metrics" | wc -c)

# --- 3. latency ---
log "3. latency of $runs sequential requests: sidecar /metrics, /replica vs exporter /metrics"
lat() { scrape_n "$1" "$runs" | awk '{printf "%.4f\n", $2*1000}' | stats; }
read -r scm_med scm_p99 < <(lat "http://$primary_ip:$sidecar_port/metrics")
read -r scr_med scr_p99 < <(lat "http://$replica_ip:$sidecar_port/replica")
read -r exm_med exm_p99 < <(lat "http://$primary_ip:$exporter_port/metrics")

exporter_version=$("$exporter" --version 2>&1 | head -1)
cat <<EOF

replagent sidecar/probe vs peers ($(nproc) cores; $runs runs; timer: $timer)
$exporter_version
1. exec wall time (ms)            median     p99
   replagent probe ready       $(printf '%9s %9s' "$probe_med" "$probe_p99")
   pg_isready                  $(printf '%9s %9s' "$isr_med" "$isr_p99")
   ratio probe/pg_isready      $(printf '%9s %9s' "$(ratio "$probe_med" "$isr_med")" "$(ratio "$probe_p99" "$isr_p99")")   (target <= 0.5)
2. memory after $scrapes scrapes     RSS (MB)  peak (MB)  exposition (KB)
   replagent sidecar           $(printf '%9.1f %10.1f %12.1f' "$(ratio "$sc_rss" 1024)" "$(ratio "$sc_hwm" 1024)" "$(ratio "$sc_bytes" 1024)")
   postgres_exporter           $(printf '%9.1f %10.1f %12.1f' "$(ratio "$ex_rss" 1024)" "$(ratio "$ex_hwm" 1024)" "$(ratio "$ex_bytes" 1024)")
   ratio sidecar/exporter      $(printf '%9s %10s' "$(ratio "$sc_rss" "$ex_rss")" "$(ratio "$sc_hwm" "$ex_hwm")")   (target <= 0.5)
3. request latency (ms)           median     p99
   sidecar /metrics            $(printf '%9s %9s' "$scm_med" "$scm_p99")
   sidecar /replica            $(printf '%9s %9s' "$scr_med" "$scr_p99")
   exporter /metrics           $(printf '%9s %9s' "$exm_med" "$exm_p99")
   ratio /metrics/exporter     $(printf '%9s %9s' "$(ratio "$scm_med" "$exm_med")" "$(ratio "$scm_p99" "$exm_p99")")   (target <= 0.1)
   ratio /replica/exporter     $(printf '%9s %9s' "$(ratio "$scr_med" "$exm_med")" "$(ratio "$scr_p99" "$exm_p99")")
EOF
