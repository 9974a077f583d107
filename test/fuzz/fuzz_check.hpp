// test/fuzz/: libFuzzer targets for the parsers that read untrusted or hand-written text
// (config, sizes and durations, pod names, pg_basebackup progress, HTTP request targets).
// Built with clang only (REPLAGENT_FUZZ=ON); scripts/test-fuzz builds and runs them.
#pragma once

#include <cstdio>
#include <cstdlib>

// A broken property is a crash: libFuzzer then saves the input as crash-<sha1>.
#define FUZZ_CHECK(cond)                                                               \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)
