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
# Run on demand (not part of the tests). Loopback only: a local StatefulSet (replagent-sts) of
# two pods, the primary on 127.0.60.10 and its replica on 127.0.60.11, DNS on 127.0.60.2:5353;
# sidecars on :19187 (--sidecar-port), the exporter on 127.0.60.10:19188 (not 9187: a packaged
# exporter service, where one runs, listens on *:9187).
set -euo pipefail
export LC_ALL=C  # $EPOCHREALTIME with a '.' decimal separator
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-200}
scrapes=1000
port=25460
primary_ip=127.0.60.10 replica_ip=127.0.60.11
sidecar_port=19187 exporter_port=19188
pgbin=/usr/lib/postgresql/15/bin
exporter=/usr/bin/prometheus-postgres-exporter
work=$(mktemp -d /var/tmp/replagent-bench.XXXXXX)
log() { echo "$*" >&2; }

"$root/scripts/setup" >/dev/null
if [ ! -x "$exporter" ]; then
  log "installing prometheus-postgres-exporter (Debian)"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    prometheus-postgres-exporter >/dev/null
fi
build=$("$root/scripts/build" replagent replagent-sts)
bin=$build/replagent
[ "$(id -u)" = 0 ] && chmod o+rx "$build" "$bin" "$build/replagent-sts"  # the pods run as postgres
d=$work/sts
S=("$build/replagent-sts" --dir "$d" --net 127.0.60 --port "$port" --dns-port 5353
  --sidecar-port "$sidecar_port" --bin "$bin")
chmod 0755 "$work"
[ "$(id -u)" = 0 ] && chown postgres: "$work"

exporter_pid=
cleanup() {
  if [ -n "$exporter_pid" ]; then
    kill "$exporter_pid" 2>/dev/null || true
    wait "$exporter_pid" 2>/dev/null || true
  fi
  "${S[@]}" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- the servers: a primary and a replica, as the init containers make them ---
# The sidecars poll at the default interval (the set's pods poll every 500ms, for a demo).
for n in 0 1; do "${S[@]}" set-env "$n" REPLAGENT_SIDECAR_POLL_INTERVAL=2s; done
# The exporter logs in as the superuser over TCP, which the pods' pg_hba refuses by default.
"${S[@]}" set-env 0 REPLAGENT_POSTGRES_SUPERUSER_NETWORK_LOGIN=true
"${S[@]}" scale 2 2>>"$work/sts.log" || { tail -5 "$work/sts.log" >&2; exit 1; }
"${S[@]}" pgbench 0 -q -i -s 1 >/dev/null 2>&1
sidecar0_pid=$(cat "$d/pod-0.sidecar.pid")
mapfile -t primary_env < <("${S[@]}" env 0 | grep -v '^REPLAGENT_BIN=')

# The exporter, as this user: it only uses TCP.
DATA_SOURCE_NAME="postgresql://postgres:$(cat "$d/secrets/superuser-password")@$primary_ip:$port/postgres?sslmode=disable" \
  "$exporter" --web.listen-address=$primary_ip:$exporter_port 2>>"$work/exporter.log" &
exporter_pid=$!
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
# Into a file, not a pipe: grep -q stops at the match and curl, cut off, fails the pipeline.
curl -s "http://$primary_ip:$exporter_port/metrics" >"$work/exporter.metrics"
grep -q '^pg_up 1' "$work/exporter.metrics" || { log "the exporter cannot reach the primary:"; tail -5 "$work/exporter.log" >&2; exit 1; }

# stats: numbers (ms) on stdin -> "median p99"
stats() { sort -g | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<NR*0.99) i++; printf "%.3f %.3f\n", a[int((NR+1)/2)], a[i]}'; }
ratio() { awk "BEGIN {printf \"%.3f\", $1/$2}"; }

# --- 1. probe ready vs pg_isready ---
log "1. exec wall time, $runs runs each: replagent probe ready vs pg_isready ($primary_ip)"
# Both commands exec'd directly (no `env` wrapper in the timing): the probe's settings are
# exported in this subshell, as the kubelet runs it with the container's environment.
(
export "${primary_env[@]}"
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
