// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Always-on invariant checks. A failed check is a bug: it prints the
// condition and location and aborts. Operating errors (bad input, I/O) are
// returned as absl::Status instead. NEON_DCHECK compiles away in NDEBUG builds
// and is for expensive checks only.

#ifndef NEON_LIB_BASE_CHECK_H_
#define NEON_LIB_BASE_CHECK_H_

#include "absl/base/optimization.h"

namespace neon::internal {
[[noreturn]] void CheckFailed(const char* cond, const char* file, int line, const char* msg);
}  // namespace neon::internal

#define NEON_CHECK(cond)                                                    \
  do {                                                                      \
    if (ABSL_PREDICT_FALSE(!(cond)))                                        \
      ::neon::internal::CheckFailed(#cond, __FILE__, __LINE__, nullptr);    \
  } while (0)

#define NEON_CHECK_MSG(cond, msg)                                           \
  do {                                                                      \
    if (ABSL_PREDICT_FALSE(!(cond)))                                        \
      ::neon::internal::CheckFailed(#cond, __FILE__, __LINE__, (msg));      \
  } while (0)

#define NEON_CHECK_OK(expr)                                                 \
  do {                                                                      \
    auto neon_check_status_ = (expr);                                       \
    if (ABSL_PREDICT_FALSE(!neon_check_status_.ok()))                       \
      ::neon::internal::CheckFailed(#expr, __FILE__, __LINE__,              \
                                    std::string(neon_check_status_.ToString()).c_str()); \
  } while (0)

#ifdef NDEBUG
#define NEON_DCHECK(cond) \
  do {                    \
  } while (0)
#else
#define NEON_DCHECK(cond) NEON_CHECK(cond)
#endif

#endif  // NEON_LIB_BASE_CHECK_H_
