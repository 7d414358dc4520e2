// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Structured logs for the servers: one line per event on stderr,
//
//   ts=2024-05-01T12:00:00.123456Z level=info event=listening addr=127.0.0.1:50051
//
// Values with spaces, quotes or '=' are double-quoted with \" and \\ escapes. Thread-safe: a
// line is written with one fwrite, so lines from different threads do not interleave.

#ifndef NEON_SERVERS_COMMON_LOG_H_
#define NEON_SERVERS_COMMON_LOG_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace neon::server {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// A key and its value, already formatted as text.
struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
  LogField(std::string_view k, T v) : key(k), value(Number(v)) {}

  std::string_view key;
  std::string value;

 private:
  template <typename T>
  static std::string Number(T v) {
    if constexpr (std::is_same_v<T, bool>) {
      return v ? "true" : "false";
    } else {
      return std::to_string(v);
    }
  }
};

// Lines below this level are dropped. Default kInfo.
void SetMinLogLevel(LogLevel level);
// Parses "debug", "info", "warn", "error".
bool ParseLogLevel(std::string_view text, LogLevel* level);

// Formats one line (without the trailing newline); exposed for tests.
std::string FormatLogLine(LogLevel level, std::string_view event,
                          std::initializer_list<LogField> fields);

void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

inline void LogInfo(std::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, event, fields);
}
inline void LogWarn(std::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarn, event, fields);
}
inline void LogError(std::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, event, fields);
}

}  // namespace neon::server

#endif  // NEON_SERVERS_COMMON_LOG_H_
