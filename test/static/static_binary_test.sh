#!/usr/bin/env bash
# The shipped binary must be fully static (it runs in a FROM-scratch image and is copied into
# the stock postgres image) and small. Checks: `file`, `ldd`, stripped size, and that it runs
# in an empty directory used as a chroot (a user namespace makes chroot possible without root).
# Usage: static_binary_test.sh BINARY
set -euo pipefail
bin=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

desc=$(file -b "$bin")
echo "file: $desc"
case "$desc" in *"statically linked"*) ;; *) fail "file does not say statically linked" ;; esac

if out=$(ldd "$bin" 2>&1); then fail "ldd lists libraries: $out"; fi
case "$out" in *"not a dynamic executable"*) echo "ldd: $out" ;; *) fail "ldd said: $out" ;; esac

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
strip -o "$root/replagent" "$bin"
size=$(stat -c %s "$root/replagent")
echo "stripped size: $size bytes"
[ "$size" -le $((10 * 1024 * 1024)) ] || fail "stripped binary is $size bytes, over 10 MiB"

chmod 0755 "$root"
version=$(unshare -r chroot "$root" /replagent version) || fail "replagent version failed in an empty chroot"
echo "in an empty chroot: $version"
case "$version" in "replagent "*) ;; *) fail "unexpected version output: $version" ;; esac

# Config parsing and the c-ares resolver in the chroot: no /etc/resolv.conf, no /etc/passwd.
# A DNS server that never answers must end in exit 3 (timed out), not a crash.
set +e
err=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin POD_NAME=todo-db-1 PGDATA=/data/pgdata REPLAGENT_DNS_SERVERS=127.0.0.1:9 \
        REPLAGENT_DNS_TIMEOUT=200ms REPLAGENT_INIT_WAIT_TIMEOUT=1s REPLAGENT_INIT_TERMINATION_LOG= \
        unshare -r chroot "$root" /replagent init --log-format json 2>&1)
rc=$?
set -e
echo "init in an empty chroot: exit $rc"
[ $rc -eq 3 ] || fail "expected exit 3 (timed out waiting for DNS), got $rc: $err"
echo "$err" | grep -q 'did not resolve' || fail "no 'did not resolve' in: $err"
echo "PASS"
