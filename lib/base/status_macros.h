// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Status propagation macros. Internal to lib/ (never in include/neon/).
//
//   NEON_RETURN_IF_ERROR(expr);                 // returns the status if !ok()
//   NEON_ASSIGN_OR_RETURN(auto x, StatusOrExpr); // declares x or returns
//
// NEON_ASSIGN_OR_RETURN expands to several statements: never use it as the
// unbraced body of an if/else.

#ifndef NEON_LIB_BASE_STATUS_MACROS_H_
#define NEON_LIB_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/str_cat.h"

#define NEON_STATUS_CONCAT_INNER_(a, b) a##b
#define NEON_STATUS_CONCAT_(a, b) NEON_STATUS_CONCAT_INNER_(a, b)

#define NEON_RETURN_IF_ERROR(expr)                                   \
  do {                                                               \
    ::absl::Status neon_status_ = (expr);                            \
    if (ABSL_PREDICT_FALSE(!neon_status_.ok())) return neon_status_; \
  } while (0)

#define NEON_ASSIGN_OR_RETURN(lhs, rexpr) \
  NEON_ASSIGN_OR_RETURN_IMPL_(NEON_STATUS_CONCAT_(neon_statusor_, __LINE__), lhs, rexpr)

#define NEON_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                \
  if (ABSL_PREDICT_FALSE(!statusor.ok())) {               \
    return std::move(statusor).status();                  \
  }                                                       \
  lhs = std::move(statusor).value()

namespace neon {

// Returns `s` with `context` prepended to its message ("context: message").
inline absl::Status Annotate(const absl::Status& s, std::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), StrCat(context, ": ", s.message()));
}

}  // namespace neon

#define NEON_RETURN_IF_ERROR_CTX(expr, ctx)                                       \
  do {                                                                            \
    ::absl::Status neon_status_ = (expr);                                         \
    if (ABSL_PREDICT_FALSE(!neon_status_.ok())) return ::neon::Annotate(neon_status_, ctx); \
  } while (0)

#endif  // NEON_LIB_BASE_STATUS_MACROS_H_
