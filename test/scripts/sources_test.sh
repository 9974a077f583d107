#!/usr/bin/env bash
# cmake/check_sources.cmake refuses a .cpp that no CMakeLists.txt lists, names it and the list
# it belongs in, and passes the project's own tree.
set -euo pipefail
root=$1
check=$root/cmake/check_sources.cmake
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$tmp/roles" "$tmp/test/unit"
printf 'add_library(r STATIC\n  backup.cpp\n  clone.cpp)\n' >"$tmp/roles/CMakeLists.txt"
printf 'set(UNIT_SOURCES\n  unit/a_test.cpp)\n' >"$tmp/test/CMakeLists.txt"
touch "$tmp/roles/backup.cpp" "$tmp/roles/clone.cpp" "$tmp/test/unit/a_test.cpp"
cmake -DROOT="$tmp" -P "$check" || fail "a tree whose sources are all listed was refused"

# A forgotten file, and one whose name only contains a listed one.
touch "$tmp/roles/forgotten.cpp" "$tmp/roles/xbackup.cpp" "$tmp/test/unit/b_test.cpp"
if out=$(cmake -DROOT="$tmp" -P "$check" 2>&1); then fail "unlisted sources were not refused"; fi
for expected in "roles/forgotten.cpp: add it to roles/CMakeLists.txt" \
                "roles/xbackup.cpp: add it to roles/CMakeLists.txt" \
                "test/unit/b_test.cpp: add it to test/CMakeLists.txt"; do
  grep -qF "$expected" <<<"$out" || fail "the message lacks '$expected': $out"
done
if grep -qF "a_test.cpp" <<<"$out"; then fail "a listed source was reported: $out"; fi

cmake -DROOT="$root" -P "$check" || fail "the project's own tree has unlisted sources"
echo "sources: ok"
