#!/usr/bin/env bash
# cmake/check_layers.cmake refuses each include against the layers, names the file and the
# header, and passes a tree without any (the project's own tree included).
set -euo pipefail
root=$1
check=$root/cmake/check_layers.cmake
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$tmp/agent/cmd" "$tmp/roles" "$tmp/probes"
printf '#include "agent/fs.hpp"\n#include <vector>\n#include "fakes.hpp"\n' >"$tmp/agent/ok.cpp"
printf '#include "roles/backup.hpp"\n#include "probes/routes.hpp"\n#include "agent/pg.hpp"\n' >"$tmp/agent/cmd/main.cpp"
printf '#include "agent/pg.hpp"\n#include "roles/clone.hpp"\n' >"$tmp/roles/ok.cpp"
printf '#include "agent/pg.hpp"\n#include "probes/snapshot.hpp"\n#include "prometheus/counter.h"\n' >"$tmp/probes/ok.cpp"
cmake -DROOT="$tmp" -P "$check" || fail "a tree without leaks was refused"

# Each direction the layers forbid.
printf '#include "roles/init.hpp"\n' >"$tmp/agent/up.hpp"
printf '  #  include "agent/cmd/commands.hpp"\n' >"$tmp/roles/root.cpp"
printf '#include "roles/init_record.hpp"\n' >"$tmp/probes/across.hpp"
printf '#include "probes/metrics.hpp"\n' >"$tmp/roles/across.cpp"
if out=$(cmake -DROOT="$tmp" -P "$check" 2>&1); then fail "leaks were not refused"; fi
for expected in "agent/up.hpp includes roles/init.hpp: agent/ may include agent/ only" \
                "roles/root.cpp includes agent/cmd/commands.hpp" \
                "probes/across.hpp includes roles/init_record.hpp: probes/ may include probes/ and agent/ only" \
                "roles/across.cpp includes probes/metrics.hpp"; do
  grep -qF "$expected" <<<"$out" || fail "the message lacks '$expected': $out"
done
if grep -qF "ok.cpp" <<<"$out"; then fail "a permitted include was reported: $out"; fi

cmake -DROOT="$root" -P "$check" || fail "the project's own tree breaks the layers"
echo "layers: ok"
