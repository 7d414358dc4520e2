// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "base/check.h"

#include <cstdio>
#include <cstdlib>

namespace neon::internal {

void CheckFailed(const char* cond, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "neonstore: check failed at %s:%d: %s%s%s\n", file, line, cond,
               msg ? ": " : "", msg ? msg : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace neon::internal
