// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/basebackup_tar.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon {
namespace {

// ustar header field offsets and widths.
constexpr size_t kNameOff = 0, kModeOff = 100, kUidOff = 108, kGidOff = 116, kSizeOff = 124,
                 kMtimeOff = 136, kChksumOff = 148, kTypeOff = 156, kMagicOff = 257,
                 kVersionOff = 263, kDevMajorOff = 329, kDevMinorOff = 337;
constexpr size_t kGzipOutBytes = 256 << 10;

// `digits` octal digits and a NUL at `off`.
void PutOctal(char* h, size_t off, size_t digits, uint64_t v) {
  for (size_t i = 0; i < digits; i++) {
    h[off + digits - 1 - i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
  h[off + digits] = '\0';
}

const char kZeros[kTarBlockSize] = {};

}  // namespace

// ---- PieceSink ----------------------------------------------------------------

PieceSink::PieceSink(std::function<absl::Status(std::string_view)> out, size_t piece_bytes)
    : out_(std::move(out)), piece_bytes_(piece_bytes) {
  buf_.reserve(piece_bytes_);
}

absl::Status PieceSink::Write(std::string_view data) {
  while (!data.empty()) {
    const size_t n = std::min(data.size(), piece_bytes_ - buf_.size());
    buf_.append(data.data(), n);
    data.remove_prefix(n);
    if (buf_.size() == piece_bytes_) NEON_RETURN_IF_ERROR(Flush());
  }
  return absl::OkStatus();
}

absl::Status PieceSink::Flush() {
  if (buf_.empty()) return absl::OkStatus();
  bytes_out_ += buf_.size();
  absl::Status s = out_(buf_);
  buf_.clear();
  return s;
}

// ---- GzipSink -------------------------------------------------------------------

struct GzipSink::State {
  z_stream z{};
  std::string out = std::string(kGzipOutBytes, '\0');
};

absl::StatusOr<std::unique_ptr<GzipSink>> GzipSink::Open(ByteSink* out, int level) {
  if (level < 1 || level > 9) {
    return absl::InvalidArgumentError(StrCat("gzip level ", level, " is not in 1..9"));
  }
  auto state = std::make_unique<State>();
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&state->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::ResourceExhaustedError("zlib deflateInit2 failed");
  }
  return std::unique_ptr<GzipSink>(new GzipSink(out, std::move(state)));
}

GzipSink::GzipSink(ByteSink* out, std::unique_ptr<State> state)
    : out_(out), state_(std::move(state)) {}

GzipSink::~GzipSink() { deflateEnd(&state_->z); }

absl::Status GzipSink::Deflate(std::string_view data, int flush) {
  z_stream& z = state_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(state_->out.data());
    z.avail_out = static_cast<uInt>(state_->out.size());
    const int rc = deflate(&z, flush);
    if (rc == Z_STREAM_ERROR) return absl::InternalError("zlib deflate failed");
    const size_t produced = state_->out.size() - z.avail_out;
    if (produced > 0)
      NEON_RETURN_IF_ERROR(out_->Write(std::string_view(state_->out.data(), produced)));
    if (flush == Z_FINISH ? rc == Z_STREAM_END : (z.avail_in == 0 && z.avail_out != 0)) break;
  }
  return absl::OkStatus();
}

absl::Status GzipSink::Write(std::string_view data) {
  if (finished_) return absl::FailedPreconditionError("gzip stream already finished");
  // uInt is 32 bits: feed large inputs in slices.
  constexpr size_t kSlice = 1u << 30;
  while (!data.empty()) {
    const size_t n = std::min(data.size(), kSlice);
    NEON_RETURN_IF_ERROR(Deflate(data.substr(0, n), Z_NO_FLUSH));
    data.remove_prefix(n);
  }
  return absl::OkStatus();
}

absl::Status GzipSink::Finish() {
  if (finished_) return absl::FailedPreconditionError("gzip stream already finished");
  finished_ = true;
  return Deflate(std::string_view(), Z_FINISH);
}

// ---- Tar ------------------------------------------------------------------------

absl::StatusOr<std::array<char, kTarBlockSize>> TarHeader(std::string_view name, TarEntryType type,
                                                          uint32_t mode, uint64_t size,
                                                          int64_t mtime) {
  if (name.empty()) return absl::InvalidArgumentError("tar entry with an empty name");
  if (name.size() > kTarMaxNameBytes) {
    return absl::InvalidArgumentError(StrCat("tar entry name '", name, "' is ", name.size(),
                                             " bytes; ustar names hold at most ",
                                             kTarMaxNameBytes));
  }
  if (name.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("tar entry name contains a NUL byte");
  }
  if (size > kTarMaxFileBytes) {
    return absl::InvalidArgumentError(
        StrCat("tar entry '", name, "' is ", size, " bytes, more than ustar's ", kTarMaxFileBytes));
  }
  std::array<char, kTarBlockSize> h{};
  std::memcpy(h.data() + kNameOff, name.data(), name.size());
  PutOctal(h.data(), kModeOff, 7, mode & 07777);
  PutOctal(h.data(), kUidOff, 7, 0);
  PutOctal(h.data(), kGidOff, 7, 0);
  PutOctal(h.data(), kSizeOff, 11, size);
  PutOctal(h.data(), kMtimeOff, 11,
           static_cast<uint64_t>(std::clamp<int64_t>(mtime, 0, int64_t(kTarMaxFileBytes))));
  h[kTypeOff] = static_cast<char>(type);
  std::memcpy(h.data() + kMagicOff, "ustar", 6);  // with its NUL
  std::memcpy(h.data() + kVersionOff, "00", 2);
  PutOctal(h.data(), kDevMajorOff, 7, 0);
  PutOctal(h.data(), kDevMinorOff, 7, 0);
  // The checksum: every byte summed as unsigned, the field itself as spaces.
  std::memset(h.data() + kChksumOff, ' ', 8);
  uint32_t sum = 0;
  for (char c : h) sum += static_cast<uint8_t>(c);
  PutOctal(h.data(), kChksumOff, 6, sum);
  h[kChksumOff + 7] = ' ';
  return h;
}

absl::Status TarWriter::Emit(std::string_view data) {
  bytes_written_ += data.size();
  return out_->Write(data);
}

absl::Status TarWriter::AddDirectory(std::string_view path) {
  if (in_file_) return absl::FailedPreconditionError(StrCat("tar file ", path_, " is still open"));
  NEON_ASSIGN_OR_RETURN(
      auto h, TarHeader(StrCat(path, "/"), TarEntryType::kDirectory, kTarDirMode, 0, mtime_));
  return Emit(std::string_view(h.data(), h.size()));
}

absl::Status TarWriter::AddFile(std::string_view path, std::string_view data) {
  NEON_RETURN_IF_ERROR(BeginFile(path, data.size()));
  NEON_RETURN_IF_ERROR(Append(data));
  return EndFile();
}

absl::Status TarWriter::BeginFile(std::string_view path, uint64_t size) {
  if (in_file_) return absl::FailedPreconditionError(StrCat("tar file ", path_, " is still open"));
  NEON_ASSIGN_OR_RETURN(auto h, TarHeader(path, TarEntryType::kFile, kTarFileMode, size, mtime_));
  NEON_RETURN_IF_ERROR(Emit(std::string_view(h.data(), h.size())));
  in_file_ = true;
  remaining_ = file_size_ = size;
  path_ = std::string(path);
  return absl::OkStatus();
}

absl::Status TarWriter::Append(std::string_view data) {
  if (!in_file_) return absl::FailedPreconditionError("tar Append without an open file");
  if (data.size() > remaining_) {
    return absl::FailedPreconditionError(
        StrCat("tar file ", path_, ": more data than its declared ", file_size_, " bytes"));
  }
  remaining_ -= data.size();
  return Emit(data);
}

absl::Status TarWriter::EndFile() {
  if (!in_file_) return absl::FailedPreconditionError("tar EndFile without an open file");
  if (remaining_ != 0) {
    return absl::FailedPreconditionError(
        StrCat("tar file ", path_, ": ", remaining_, " of its ", file_size_, " bytes are missing"));
  }
  in_file_ = false;
  files_++;
  const size_t pad = (kTarBlockSize - file_size_ % kTarBlockSize) % kTarBlockSize;
  return pad == 0 ? absl::OkStatus() : Emit(std::string_view(kZeros, pad));
}

absl::Status TarWriter::Finish() {
  if (in_file_) return absl::FailedPreconditionError(StrCat("tar file ", path_, " is still open"));
  NEON_RETURN_IF_ERROR(Emit(std::string_view(kZeros, kTarBlockSize)));
  return Emit(std::string_view(kZeros, kTarBlockSize));
}

}  // namespace neon
