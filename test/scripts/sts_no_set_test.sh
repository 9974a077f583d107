#!/usr/bin/env bash
# replagent-sts (scripts/sts) in a directory that holds no set (the user's shell after
# `scripts/demo --keep`, whose set is in /var/tmp/replagent-demo, not sts's default directory):
# every command but `scale` exits 1 saying there is no set there, and leaves the directory as it
# was (absent or empty). Told the set's settings (--net ...), a command creates it, as the e2e
# fixture does.
# Starts nothing: no pod, no DNS server. Usage: sts_no_set_test.sh REPLAGENT_STS_BINARY
set -euo pipefail
sts=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d)
chmod 0755 "$work"  # as root, sts runs as postgres
trap 'rm -rf "$work"' EXIT

# expect_no_set WHAT DIR [sts args...]: exit 1, the message, and DIR untouched.
expect_no_set() {
  local what=$1 d=$2 before after rc=0
  shift 2
  before=$(ls -A "$d" 2>/dev/null || echo absent)
  "$@" >"$work/out" 2>"$work/err" || rc=$?
  [ $rc = 1 ] || fail "$what: exit $rc, expected 1 (stdout: $(cat "$work/out"); stderr: $(cat "$work/err"))"
  grep -q "no StatefulSet in $d" "$work/err" || fail "$what: stderr does not name the directory: $(cat "$work/err")"
  grep -q "replagent-demo" "$work/err" || fail "$what: stderr does not name the demo's directory: $(cat "$work/err")"
  [ ! -s "$work/out" ] || fail "$what: printed a table: $(cat "$work/out")"
  after=$(ls -A "$d" 2>/dev/null || echo absent)
  [ "$before" = "$after" ] || fail "$what: $d changed from '$before' to '$after'"
  echo "ok: $what"
}

missing=$work/missing
expect_no_set "status, --dir absent" "$missing" "$sts" --dir "$missing" status
[ ! -e "$missing" ] || fail "status created $missing"
expect_no_set "status, STS_DIR absent" "$missing" env STS_DIR="$missing" "$sts" status
expect_no_set "status --json, STS_DIR absent" "$missing" env STS_DIR="$missing" "$sts" status --json
empty=$work/empty
mkdir "$empty"
for args in "status" "down" "psql 0" "logs 0" "env 0" "delete-pod 0" "empty-volume 0" "set-env 0 A=b"; do
  # shellcheck disable=SC2086
  expect_no_set "$args, empty --dir" "$empty" "$sts" --dir "$empty" $args
done
[ -z "$(ls -A "$empty")" ] || fail "$empty is no longer empty: $(ls -A "$empty")"

# A bad command is still a usage error (2), not "no set".
rc=0; "$sts" --dir "$empty" nonsense 2>"$work/err" || rc=$?
[ $rc = 2 ] && grep -q "unknown command nonsense" "$work/err" || fail "unknown command: exit $rc, $(cat "$work/err")"

# Given the set's settings, the first command creates it; later ones find it without them.
set_dir=$work/set
"$sts" --dir "$set_dir" --net 127.0.0 --port 5432 --dns-port 5353 --bin /bin/false status >"$work/out" \
  || fail "status with the set's settings failed"
[ -f "$set_dir/sts.conf" ] || fail "status with the set's settings created no sts.conf"
"$sts" --dir "$set_dir" status >"$work/out" || fail "status of an existing (empty) set failed"
grep -q "^POD " "$work/out" || fail "status printed no table header: $(cat "$work/out")"
echo "ok: a set created by a command given its settings is found later"

# --sidecar-port: a bad value is a usage error naming the option; a set remembers the port it
# was created with (default 9187).
for bad in 0 65536 abc; do
  rc=0; "$sts" --dir "$empty" --sidecar-port "$bad" status 2>"$work/err" || rc=$?
  if [ $rc != 2 ] || ! grep -q -- "--sidecar-port needs a port (1-65535), not $bad" "$work/err"; then
    fail "--sidecar-port $bad: exit $rc, $(cat "$work/err")"
  fi
done
[ -z "$(ls -A "$empty")" ] || fail "a bad --sidecar-port left $(ls -A "$empty") in $empty"
grep -qx "sidecar_port=9187" "$set_dir/sts.conf" || fail "sts.conf: no sidecar_port=9187: $(cat "$set_dir/sts.conf")"
port_dir=$work/port
"$sts" --dir "$port_dir" --sidecar-port 19187 --bin /bin/false status >/dev/null \
  || fail "status with --sidecar-port failed"
grep -qx "sidecar_port=19187" "$port_dir/sts.conf" || fail "sts.conf: no sidecar_port=19187: $(cat "$port_dir/sts.conf")"
echo "ok: --sidecar-port checked and remembered"

# A hand-edited sts.conf with a port that is not one fails naming the file and the key.
echo "sidecar_port=19x87" >>"$port_dir/sts.conf"
rc=0; "$sts" --dir "$port_dir" status 2>"$work/err" || rc=$?
if [ $rc != 1 ] || ! grep -qF "$port_dir/sts.conf: sidecar_port=19x87 is not a port (1-65535)" "$work/err"; then
  fail "a bad sidecar_port in sts.conf: exit $rc, $(cat "$work/err")"
fi
echo "ok: a bad port in sts.conf is named"
