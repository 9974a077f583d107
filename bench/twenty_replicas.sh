#!/usr/bin/env bash
# Benchmark: a primary with 20 streaming replicas (issue 13 item 2), the current working tree's
# binary against an older revision's (default 3a74b75: every replica's sidecar opens a
# replication connection to the primary, IDENTIFY_SYSTEM, every poll), in one run, on the same
# machine, one after the other. Per binary, a set of its own driven by replagent-sts:
#   1. `sts scale 1`, pgbench -i -s 1 on the primary, log_connections=on (ALTER SYSTEM).
#   2. `sts scale PODS` (default 21: the primary and 20 replicas), timed until every replica
#      streams; one psql session on the primary samples pg_stat_activity (backend_type
#      walsender) and pg_stat_replication every 0.5 s: peak concurrent WAL senders, peak base
#      backups, time to all streaming. Bounded: after --deadline seconds (default 480) the
#      bench stops waiting, counts the replicas that stream, and goes on with those.
#   3. Steady state: pgbench on the primary (2 clients, rate-limited to --tps, so that both
#      binaries get the same load), every sidecar polling at 2 s and every sidecar's /metrics
#      scraped every second. Over a window of --seconds (default 60):
#      - connections from sidecars: the primary's log_connections lines "connection authorized"
#        with application_name replagent-* (the replica sidecars' replagent-sidecar-todo-db-N,
#        the primary sidecar's replagent-sidecar and replagent-sidecar-slots), per second;
#      - the primary's CPU seconds on sidecar traffic, per minute: the postmaster's own
#        utime+stime (it accepts and forks), plus cutime+cstime (the CPU of the children it
#        reaped in the window: the short-lived backends, i.e. the sidecars' connections; also
#        any autovacuum worker that ended, equal for both binaries), plus the utime+stime of the
#        primary sidecar's long-lived session backend(s). Long-lived backends (pgbench's, the
#        WAL senders streaming to replicas) are not in it: pgbench runs across the whole window.
#   4. Latency (median, p99) of N sequential requests over one keep-alive connection to the
#      primary sidecar's /metrics and /status, and their sizes, with every replica in them.
# Prints: metric | old | new | ratio (new/old). Run on demand (not part of the tests).
# Usage: bench/twenty_replicas.sh [--pods N] [--seconds S] [--requests N] [--deadline S]
#          [--tps N] [--old-rev REV] [--old-bin PATH] [--new-bin PATH] [--only old|new] [--keep]
#   --old-bin: a replagent built from the old revision; without it the revision is taken with
#   `git archive` into /var/tmp/replagent-bench-old-REV (the repository is left as it is) and
#   its replagent target built in /var/tmp/replagent-build/bench-old-REV.
# Loopback only: pods on 127.42.20.(10+N), DNS 127.42.20.2:25353, PostgreSQL port 25620,
# sidecars on :9187 of each pod's address. State in /var/tmp/replagent-bench-20.XXXXXX (removed
# at the end unless --keep). Ends only what it started: its two sets (sts down), and its own
# background jobs by pid.
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
pods=21 secs=60 requests=500 deadline=480 tps=50 old_rev=3a74b75 old_bin="" new_bin="" only="" keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --pods) pods=${2:?--pods needs a number}; shift 2 ;;
    --seconds) secs=${2:?--seconds needs seconds}; shift 2 ;;
    --requests) requests=${2:?--requests needs a number}; shift 2 ;;
    --deadline) deadline=${2:?--deadline needs seconds}; shift 2 ;;
    --tps) tps=${2:?--tps needs a rate}; shift 2 ;;
    --old-rev) old_rev=${2:?--old-rev needs a revision}; shift 2 ;;
    --old-bin) old_bin=${2:?--old-bin needs a binary}; shift 2 ;;
    --new-bin) new_bin=${2:?--new-bin needs a binary}; shift 2 ;;
    --only) only=${2:?--only needs old or new}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "twenty_replicas: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
done
if ! [[ "$pods" =~ ^[0-9]+$ ]] || [ "$pods" -lt 2 ] || [ "$pods" -gt 90 ]; then
  echo "twenty_replicas: --pods must be 2-90" >&2; exit 2
fi
net=127.42.20 port=25620 dns_port=25353
hz=$(getconf CLK_TCK)
log() { printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || a + 0 == 0) print "-"; else printf "%.3f", b / a}'; }
# stats: numbers (ms) on stdin -> "median p99"
stats() { sort -g | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<NR*0.99) i++; printf "%.3f %.3f\n", a[int((NR+1)/2)], a[i]}'; }

# Nothing of ours may already listen there (a previous run's set, or someone else's).
for p in $port 9187; do
  if ss -Hltn "src $net.10:$p" 2>/dev/null | grep -q .; then
    echo "twenty_replicas: $net.10:$p is in use (a set left running? sts --dir ... down)" >&2; exit 1
  fi
done

"$root/scripts/setup" >/dev/null
# The local StatefulSet of the working tree drives both binaries (--bin).
tools=$("$root/scripts/build" replagent replagent-sts)
sts=$tools/replagent-sts
[ -n "$new_bin" ] || new_bin=$tools/replagent
[ "$(id -u)" = 0 ] && chmod o+rx "$tools" "$sts" "$tools/replagent"  # the sets run as postgres
if [ -z "$old_bin" ] && [ "$only" != new ]; then
  src=/var/tmp/replagent-bench-old-$old_rev build=/var/tmp/replagent-build/bench-old-$old_rev
  if [ ! -x "$build/replagent" ]; then
    log "building replagent of $old_rev in $build (git archive into $src)"
    rm -rf "$src"; mkdir -p "$src" "$build"
    git -C "$root" archive "$old_rev" | tar -x -C "$src"
    cmake --preset release-static -S "$src" -B "$build" >"$build/configure.log" 2>&1 \
      || { cat "$build/configure.log" >&2; exit 1; }
    cmake --build "$build" -j"$(nproc)" --target replagent >"$build/build.log" 2>&1 \
      || { tail -20 "$build/build.log" >&2; exit 1; }
  fi
  old_bin=$build/replagent
fi

work=$(mktemp -d /var/tmp/replagent-bench-20.XXXXXX)
chmod 0755 "$work"
jobs_started=()   # our background jobs' pids
sets=()           # our sets' directories
cleanup() {
  local p d
  for p in "${jobs_started[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${jobs_started[@]}"; do wait "$p" 2>/dev/null || true; done
  for d in "${sets[@]}"; do "$sts" --dir "$d" down >/dev/null 2>&1 || true; done
  if [ $keep = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

pod_ip() { echo "$net.$((10 + $1))"; }
stat_ticks() { # pid -> "utime+stime cutime+cstime" (clock ticks)
  awk '{sub(/^.*\) /, ""); print $12 + $13, $14 + $15}' "/proc/$1/stat"
}
kv() { echo "$1=$2" >>"$out/results"; }

# One set, one binary: fills $work/LABEL/results (key=value).
run_one() { # label binary
  local label=$1 bin=$2 d=$work/$1 n
  out=$d/bench; mkdir -p "$out"; : >"$out/results"
  [ "$(id -u)" = 0 ] && chown postgres: "$d"
  sets+=("$d")
  local S=("$sts" --dir "$d" --net "$net" --port "$port" --dns-port "$dns_port" --bin "$bin"
    --ready-timeout "$deadline")
  log "[$label] $bin ($("$bin" version 2>/dev/null | head -1))"
  for ((n = 0; n < pods; n++)); do
    "${S[@]}" set-env "$n" REPLAGENT_SIDECAR_POLL_INTERVAL=2s
    # The chart's derivation for maxReplicas = PODS (2n+4 WAL senders, n+2 slots). Only the new
    # binary has the keys: the old one writes max_wal_senders = 10 whatever it is told.
    if [ "$label" = new ]; then
      "${S[@]}" set-env "$n" REPLAGENT_POSTGRES_MAX_WAL_SENDERS=$((2 * pods + 4))
      "${S[@]}" set-env "$n" REPLAGENT_POSTGRES_MAX_REPLICATION_SLOTS=$((pods + 2))
    fi
  done

  # --- 1. the primary, its data, log_connections ---
  "${S[@]}" scale 1 2>>"$out/sts.log"
  "${S[@]}" psql 0 -q -c "ALTER SYSTEM SET log_connections = on" -c "SELECT pg_reload_conf()" >/dev/null
  "${S[@]}" pgbench 0 -q -i -s 1 >/dev/null 2>&1
  local pm plog
  pm=$(head -1 "$d/pod-0.postgres.pid")
  plog=$d/logs/todo-db-0.postgres.log
  kv max_wal_senders "$("${S[@]}" psql 0 -At -c 'SHOW max_wal_senders')"

  # --- 2. scale 1 -> PODS, sampled by one session on the primary ---
  log "[$label] scale 1 -> $pods"
  local q="SELECT extract(epoch FROM clock_timestamp())::numeric(16,3),
    (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'),
    (SELECT count(DISTINCT application_name) FROM pg_stat_replication
      WHERE state = 'streaming' AND application_name LIKE 'todo-db-%'),
    (SELECT count(*) FROM pg_stat_replication WHERE state = 'backup'),
    (SELECT count(*) FROM pg_stat_activity
      WHERE backend_type = 'walsender' AND application_name LIKE 'replagent-%');"
  # One session (not a connection per sample): the loop ends it with EOF.
  (while [ ! -f "$out/stop-sampler" ]; do echo "$q"; sleep 0.5; done) |
    "${S[@]}" psql 0 -At -F ' ' >"$out/walsenders" 2>&1 &
  local sampler=$!; jobs_started+=("$sampler")
  local t0 t_all="" scale_rc=running
  t0=$(now)
  setsid "${S[@]}" scale "$pods" 2>>"$out/sts.log" &
  local scaler=$!; jobs_started+=("$scaler")
  while :; do
    sleep 0.5
    if [ "$scale_rc" = running ] && ! kill -0 "$scaler" 2>/dev/null; then
      set +e; wait "$scaler"; scale_rc=$?; set -e
    fi
    if [ -z "$t_all" ] && tail -1 "$out/walsenders" 2>/dev/null |
       awk -v want=$((pods - 1)) '$3 >= want && $4 == 0 {ok=1} END {exit !ok}'; then
      t_all=$(tail -1 "$out/walsenders" | awk -v t0="$t0" '{printf "%.1f", $1 - t0}')
    fi
    [ -n "$t_all" ] && [ "$scale_rc" != running ] && break
    if [ "$scale_rc" != running ] && [ "$scale_rc" != 0 ]; then break; fi  # a pod failed
    if awk -v t0="$t0" -v now="$(now)" -v d="$deadline" 'BEGIN {exit !(now - t0 > d)}'; then
      log "[$label] not every replica streams after ${deadline}s: stopped waiting"
      # The scaler's own process group (setsid): sts and the init it runs, not the pods.
      [ "$scale_rc" = running ] && { kill -- -"$scaler" 2>/dev/null || true; wait "$scaler" 2>/dev/null || true; scale_rc=killed; }
      break
    fi
  done
  local t_scale
  t_scale=$(awk -v t0="$t0" -v now="$(now)" 'BEGIN {printf "%.1f", now - t0}')
  sleep 1
  touch "$out/stop-sampler"; wait "$sampler" 2>/dev/null || true
  awk '$2 ~ /^[0-9]+$/' "$out/walsenders" >"$out/walsenders.ok"
  kv scale_rc "$scale_rc"
  kv t0 "$t0"
  # From each replica's init exiting 0 to its /readyz 200 (sts's log), median over the pods.
  kv init_to_ready_median "$(awk '/init exited 0/ {split($1, a, ":"); t[$3] = a[1] * 3600 + a[2] * 60 + a[3]}
      / is Ready/ && ($3 in t) && $3 != "todo-db-0" {split($1, a, ":"); print a[1] * 3600 + a[2] * 60 + a[3] - t[$3]}' \
      "$out/sts.log" | sort -g | awk '{v[NR] = $1} END {if (NR) printf "%.1f", v[int((NR + 1) / 2)]; else print "-"}')"
  kv t_all_streaming "${t_all:--}"
  kv t_scale "$t_scale"
  kv peak_walsenders "$(awk 'BEGIN {m=0} $2 > m {m=$2} END {print m}' "$out/walsenders.ok")"
  kv peak_backups "$(awk 'BEGIN {m=0} $4 > m {m=$4} END {print m}' "$out/walsenders.ok")"
  kv peak_sidecar_walsenders "$(awk 'BEGIN {m=0} $5 > m {m=$5} END {print m}' "$out/walsenders.ok")"
  kv max_wal_senders_errors "$(grep -c 'exceeds max_wal_senders\|too many clients\|replication slots are in use' "$plog" || true)"
  local running=0
  for ((n = 0; n < pods; n++)); do
    [ "$(cat "$d/pod-$n.phase" 2>/dev/null)" = Running ] && running=$((running + 1))
  done
  local streaming
  streaming=$("${S[@]}" psql 0 -At -c "SELECT count(DISTINCT application_name) FROM pg_stat_replication WHERE state = 'streaming' AND application_name LIKE 'todo-db-%'")
  kv pods_running "$running"
  kv replicas_streaming "$streaming"
  log "[$label] $streaming replicas stream, $running pods run (scale: $scale_rc, ${t_scale}s)"

  # --- 3. steady state: pgbench, every sidecar scraped every second ---
  local urls=()
  for ((n = 0; n < running; n++)); do urls+=(-o /dev/null "http://$(pod_ip "$n"):9187/metrics"); done
  (while :; do
     curl -s -m 1 --parallel --parallel-max 32 -w '%{http_code}\n' "${urls[@]}" || true
     sleep 1
   done) >"$out/scrapes" 2>/dev/null &
  local scraper=$!; jobs_started+=("$scraper")
  local pgb_secs=$((secs + 20))
  "${S[@]}" pgbench 0 -n -c 2 -j 1 -R "$tps" -T "$pgb_secs" >"$out/pgbench" 2>&1 &
  local pgb=$!; jobs_started+=("$pgb")
  sleep 5
  # The primary sidecar's long-lived session(s), found before the window (this psql is a
  # connection too, but outside it).
  local sc_pids
  sc_pids=$("${S[@]}" psql 0 -At -c "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'replagent-%' AND backend_type = 'client backend'" | tr '\n' ' ')
  local log0 pm0 c0=0 w0 p
  log0=$(stat -c %s "$plog")
  read -r pm0 w0 < <(stat_ticks "$pm")
  for p in $sc_pids; do c0=$((c0 + $(stat_ticks "$p" | cut -d' ' -f1))); done
  log "[$label] steady state: ${secs}s window (pgbench -R $tps, scrapes of $running sidecars every 1 s)"
  sleep "$secs"
  local log1 pm1 c1=0 w1
  read -r pm1 w1 < <(stat_ticks "$pm")
  for p in $sc_pids; do
    if [ -r "/proc/$p/stat" ]; then c1=$((c1 + $(stat_ticks "$p" | cut -d' ' -f1))); fi
  done
  log1=$(stat -c %s "$plog")
  tail -c +"$((log0 + 1))" "$plog" | head -c "$((log1 - log0))" >"$out/window.log"
  local conns_sidecar conns_all conns_replica_sidecars
  conns_all=$(grep -c 'connection received:' "$out/window.log" || true)
  conns_sidecar=$(grep -c 'connection authorized:.*application_name=replagent-' "$out/window.log" || true)
  conns_replica_sidecars=$(grep -c 'connection authorized:.*application_name=replagent-sidecar-todo-db-' "$out/window.log" || true)
  kv refusals_window "$(grep -c 'exceeds max_wal_senders\|too many clients\|replication slots are in use' "$out/window.log" || true)"
  kv conns_per_s_sidecars "$(awk -v c="$conns_sidecar" -v s="$secs" 'BEGIN {printf "%.2f", c / s}')"
  kv conns_per_s_replica_sidecars "$(awk -v c="$conns_replica_sidecars" -v s="$secs" 'BEGIN {printf "%.2f", c / s}')"
  kv conns_per_s_all "$(awk -v c="$conns_all" -v s="$secs" 'BEGIN {printf "%.2f", c / s}')"
  kv conns_per_replica_sidecar_per_min "$(awk -v c="$conns_replica_sidecars" -v s="$secs" -v r="$((running - 1))" 'BEGIN {if (r > 0) printf "%.1f", c / r * 60 / s; else print "-"}')"
  kv cpu_postmaster "$(awk -v a="$pm0" -v b="$pm1" -v s="$secs" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz * 60 / s}')"
  kv cpu_reaped "$(awk -v a="$w0" -v b="$w1" -v s="$secs" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz * 60 / s}')"
  kv cpu_sidecar_session "$(awk -v a="$c0" -v b="$c1" -v s="$secs" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz * 60 / s}')"
  kv cpu_total "$(awk -v a="$((pm0 + w0 + c0))" -v b="$((pm1 + w1 + c1))" -v s="$secs" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz * 60 / s}')"

  # --- 4. the primary sidecar's /metrics and /status ---
  log "[$label] $requests requests each: /metrics, /status of the primary's sidecar"
  local ep url args i
  for ep in metrics status; do
    url="http://$(pod_ip 0):9187/$ep"
    args=()
    for ((i = 0; i < requests; i++)); do args+=(-o /dev/null "$url"); done
    curl -s -w '%{http_code} %{time_total}\n' "${args[@]}" >"$out/lat-$ep"
    kv "${ep}_non200" "$(awk '$1 != 200' "$out/lat-$ep" | wc -l)"
    read -r med p99 < <(awk '{printf "%.4f\n", $2 * 1000}' "$out/lat-$ep" | stats)
    kv "${ep}_median_ms" "$med"; kv "${ep}_p99_ms" "$p99"
    kv "${ep}_kb" "$(curl -s "$url" | wc -c | awk '{printf "%.1f", $1 / 1024}')"
  done
  kv status_replica_rows "$(curl -s "http://$(pod_ip 0):9187/status" | jq '.replicas | length')"
  kv metrics_replica_series "$(curl -s "http://$(pod_ip 0):9187/metrics" | grep -v '^#' | grep -c 'replica="todo-db-' || true)"

  set +e; wait "$pgb"; set -e
  kv pgbench_tps "$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/pgbench" | head -1 | awk '{printf "%.1f", $1}')"
  kill "$scraper" 2>/dev/null || true; wait "$scraper" 2>/dev/null || true
  kv scrapes "$(wc -l <"$out/scrapes")"
  kv scrapes_non200 "$(grep -vc '^200$' "$out/scrapes" || true)"
  log "[$label] sts down"
  "$sts" --dir "$d" down 2>>"$out/sts.log" || true
}

[ "$only" = new ] || run_one old "$old_bin"
[ "$only" = old ] || run_one new "$new_bin"

get() { # label key
  [ -f "$work/$1/bench/results" ] || { echo -; return; }
  sed -n "s/^$2=//p" "$work/$1/bench/results" | tail -1 | grep . || echo -
}
row() { # title key [no-ratio]
  local o n r=""
  o=$(get old "$2") n=$(get new "$2")
  [ -n "${3:-}" ] || r=$(ratio "$o" "$n")
  printf '| %-58s | %13s | %13s | %7s |\n' "$1" "$o" "$n" "$r"
}
# The scale-up compared where both got to: the time until k replicas stream, k = the fewer.
k=$(printf '%s\n' "$(get old replicas_streaming)" "$(get new replicas_streaming)" | grep -E '^[0-9]+$' | sort -n | head -1)
for label in old new; do
  f=$work/$label/bench/walsenders.ok
  [ -f "$f" ] || continue
  echo "t_k=$(awk -v k="${k:-0}" -v t0="$(get "$label" t0)" '$3 >= k && $4 == 0 {printf "%.1f", $1 - t0; exit}' "$f" | grep . || echo -)" \
    >>"$work/$label/bench/results"
done
read -r l1 l5 l15 _ </proc/loadavg
cat <<EOF

twenty replicas: $pods pods (a primary, $((pods - 1)) replicas), poll 2 s, scrapes every 1 s, pgbench -c 2 -R $tps -s 1,
window ${secs}s, $requests requests per endpoint; $(nproc) cores; load average at the end $l1 $l5 $l15
old: $old_rev ($old_bin)   new: working tree ($new_bin)
| metric                                                     | old ($old_rev) |    new (HEAD) | new/old |
|------------------------------------------------------------|---------------:|--------------:|--------:|
EOF
row "max_wal_senders" max_wal_senders x
row "scale 1 -> $pods: sts exit (0 = all Ready)" scale_rc x
row "scale 1 -> $pods: seconds until all $((pods - 1)) replicas stream" t_all_streaming
row "scale 1 -> $pods: seconds until sts returned / gave up" t_scale
row "replicas streaming after scale" replicas_streaming
row "scale: seconds until $k replicas stream (both reach $k)" t_k
row "scale: median seconds from a replica's init to Ready" init_to_ready_median
row "peak concurrent WAL senders (0.5 s samples)" peak_walsenders
row "  of them sidecars' (application_name replagent-*)" peak_sidecar_walsenders
row "peak concurrent base backups" peak_backups
row "refusals on the primary (max_wal_senders...), scale-up" max_wal_senders_errors
row "connections/s accepted from sidecars (steady state)" conns_per_s_sidecars
row "  of them replica sidecars' (replagent-sidecar-todo-db-N)" conns_per_s_replica_sidecars
row "  per replica sidecar per minute" conns_per_replica_sidecar_per_min
row "connections/s accepted, all (connection received)" conns_per_s_all
row "refusals on the primary in the steady-state window" refusals_window
row "primary CPU s/min on sidecar traffic (sum of 3 below)" cpu_total
row "  postmaster itself (accept, fork)" cpu_postmaster
row "  backends that ended in the window (cutime+cstime)" cpu_reaped
row "  primary sidecar's session backend" cpu_sidecar_session
row "/metrics median ms" metrics_median_ms
row "/metrics p99 ms" metrics_p99_ms
row "/metrics KB" metrics_kb
row "/metrics series with a replica label" metrics_replica_series
row "/status median ms" status_median_ms
row "/status p99 ms" status_p99_ms
row "/status KB" status_kb
row "/status replica rows" status_replica_rows
row "non-200 answers (/metrics + /status)" metrics_non200
row "sidecar scrapes in steady state (non-200)" scrapes_non200
row "pgbench tps (rate-limited; equal load)" pgbench_tps
