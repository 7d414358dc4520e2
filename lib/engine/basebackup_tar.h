// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The output layers of a basebackup: a ustar writer, gzip (zlib deflate with
// gzip framing) and a buffer that hands the stream out in bounded pieces.
// Each layer writes into a ByteSink, the next one down:
//
//   TarWriter -> [GzipSink] -> PieceSink -> caller's callback
//
// Tar format (POSIX ustar, doc/format/basebackup.md): one 512-byte header per
// entry (name up to 100 bytes, octal mode/uid/gid/size/mtime, checksum,
// typeflag '0' file / '5' directory, magic "ustar\0" version "00"), the data
// padded to 512 bytes, and two zero blocks at the end.
//
// Thread safety: each object is used by one thread.

#ifndef NEON_LIB_ENGINE_BASEBACKUP_TAR_H_
#define NEON_LIB_ENGINE_BASEBACKUP_TAR_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace neon {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual absl::Status Write(std::string_view data) = 0;
};

// Buffers writes and calls `out` with pieces of at most `piece_bytes`
// (exactly `piece_bytes` except the last). Flush hands out the rest.
class PieceSink final : public ByteSink {
 public:
  PieceSink(std::function<absl::Status(std::string_view)> out, size_t piece_bytes);
  absl::Status Write(std::string_view data) override;
  absl::Status Flush();
  uint64_t bytes_out() const { return bytes_out_; }

 private:
  std::function<absl::Status(std::string_view)> out_;
  size_t piece_bytes_;
  std::string buf_;
  uint64_t bytes_out_ = 0;
};

// Deflate with gzip framing into `out`. Finish writes the trailer; nothing
// may be written after it.
class GzipSink final : public ByteSink {
 public:
  // InvalidArgument for a level outside 1..9.
  static absl::StatusOr<std::unique_ptr<GzipSink>> Open(ByteSink* out, int level);
  ~GzipSink() override;
  absl::Status Write(std::string_view data) override;
  absl::Status Finish();

 private:
  struct State;
  GzipSink(ByteSink* out, std::unique_ptr<State> state);
  absl::Status Deflate(std::string_view data, int flush);

  ByteSink* out_;
  std::unique_ptr<State> state_;
  bool finished_ = false;
};

inline constexpr size_t kTarBlockSize = 512;
inline constexpr size_t kTarMaxNameBytes = 100;                // the ustar name field
inline constexpr uint64_t kTarMaxFileBytes = 077777777777ull;  // 11 octal digits
inline constexpr uint32_t kTarFileMode = 0600;
inline constexpr uint32_t kTarDirMode = 0755;

enum class TarEntryType : char { kFile = '0', kDirectory = '5' };

// One ustar header. InvalidArgument for an empty name, a name longer than
// 100 bytes or holding a NUL, or a size above kTarMaxFileBytes.
absl::StatusOr<std::array<char, kTarBlockSize>> TarHeader(std::string_view name, TarEntryType type,
                                                          uint32_t mode, uint64_t size,
                                                          int64_t mtime);

class TarWriter {
 public:
  TarWriter(ByteSink* out, int64_t mtime) : out_(out), mtime_(mtime) {}

  // A directory entry; the name gets a trailing '/'.
  absl::Status AddDirectory(std::string_view path);
  // A whole file.
  absl::Status AddFile(std::string_view path, std::string_view data);
  // A file streamed in pieces: exactly `size` bytes through Append, then
  // EndFile. FailedPrecondition when the bytes do not add up to `size` or a
  // file is already open.
  absl::Status BeginFile(std::string_view path, uint64_t size);
  absl::Status Append(std::string_view data);
  absl::Status EndFile();
  // The end-of-archive marker. FailedPrecondition with a file still open.
  absl::Status Finish();

  uint64_t bytes_written() const { return bytes_written_; }
  uint64_t files() const { return files_; }

 private:
  absl::Status Emit(std::string_view data);

  ByteSink* out_;
  int64_t mtime_;
  bool in_file_ = false;
  uint64_t remaining_ = 0;  // bytes still due for the open file
  uint64_t file_size_ = 0;
  std::string path_;  // the open file, for errors
  uint64_t bytes_written_ = 0;
  uint64_t files_ = 0;
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_BASEBACKUP_TAR_H_
