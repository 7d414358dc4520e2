// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/postgres_redo_manager.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <variant>

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon {
namespace {

// Attempts per request: the first, and one more on a new process when the
// first failed for reasons that may not be its own (another request's crash
// on the same process, a process that had exited before the request was
// written).
constexpr int kMaxAttempts = 2;
// The child ends itself this long after the pool would have (a backstop when
// nothing calls into the pool).
constexpr int64_t kChildIdleGraceUs = 1 * kMicrosPerSecond;
static_assert(WalRedoProcess::kPageSize == kPageSize);
constexpr size_t kTagSize = 17;           // fork u8, spc, db, rel, blk u32 (BE)
constexpr size_t kXLogRecordHeader = 24;  // SizeOfXLogRecord
constexpr size_t kMaxRecordSize = (1u << 30) - 16;

void PutBe32(std::string* out, uint32_t v) {
  char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  out->append(b, 4);
}

void PutBe64(std::string* out, uint64_t v) {
  PutBe32(out, uint32_t(v >> 32));
  PutBe32(out, uint32_t(v));
}

// A message header plus the buffer tag: `len` counts itself, the tag and
// `extra` payload bytes.
void PutTagMessage(std::string* out, char type, const Key& key, size_t extra) {
  out->push_back(type);
  PutBe32(out, uint32_t(4 + kTagSize + extra));
  RelTag rel = key.rel();
  out->push_back(char(rel.fork));
  PutBe32(out, rel.spc_oid);
  PutBe32(out, rel.db_oid);
  PutBe32(out, rel.rel_number);
  PutBe32(out, key.block());
}

}  // namespace

absl::StatusOr<std::string> EncodeWalRedoRequest(const Key& key,
                                                 const std::optional<std::string>& base,
                                                 std::span<const RedoRecord> records) {
  if (!key.IsRelBlock()) {
    return absl::InvalidArgumentError(
        StrCat("walredo applies records to relation blocks only, not to key ", key.ToString()));
  }
  if (base && base->size() != kPageSize) {
    return absl::InvalidArgumentError(StrCat("walredo: base image of ", base->size(), " bytes"));
  }
  size_t size = 2 * (5 + kTagSize) + (base ? 5 + kTagSize + kPageSize : 0);
  for (const RedoRecord& r : records) {
    const auto* pg = std::get_if<PostgresRecord>(r.record);
    if (pg == nullptr) {
      return absl::InvalidArgumentError(StrCat("walredo cannot apply engine record kind ",
                                               static_cast<uint32_t>(KindOf(*r.record)), " at ",
                                               r.lsn.ToString()));
    }
    uint32_t tot_len = 0;
    if (pg->rec.size() >= kXLogRecordHeader) std::memcpy(&tot_len, pg->rec.data(), 4);
    if (pg->rec.size() < kXLogRecordHeader || pg->rec.size() > kMaxRecordSize ||
        tot_len != pg->rec.size()) {
      return absl::InvalidArgumentError(StrCat("walredo: malformed record at ", r.lsn.ToString(),
                                               ": ", pg->rec.size(), " bytes, xl_tot_len ",
                                               tot_len));
    }
    size += 13 + pg->rec.size();
  }
  std::string out;
  out.reserve(size);
  PutTagMessage(&out, 'B', key, 0);
  if (base) {
    PutTagMessage(&out, 'P', key, kPageSize);
    out.append(*base);
  }
  for (const RedoRecord& r : records) {
    const std::string& rec = std::get<PostgresRecord>(*r.record).rec;
    out.push_back('A');
    PutBe32(&out, uint32_t(4 + 8 + rec.size()));
    PutBe64(&out, r.lsn.value());
    out.append(rec);
  }
  PutTagMessage(&out, 'G', key, 0);
  return out;
}

std::string EncodeWalRedoPing() {
  std::string out(1, 'H');
  PutBe32(&out, 4);
  return out;
}

// ---- PostgresRedoManager ------------------------------------------------------

PostgresRedoManager::PostgresRedoManager(std::shared_ptr<PostgresRedoPoolImpl> pool,
                                         TenantShardId tenant)
    : pool_(std::move(pool)), tenant_(tenant) {}

PostgresRedoManager::~PostgresRedoManager() { pool_->EndTenant(tenant_); }

absl::StatusOr<std::string> PostgresRedoManager::Apply(const Key& key, Lsn lsn,
                                                       const std::optional<std::string>& base,
                                                       std::span<const RedoRecord> records) {
  NEON_ASSIGN_OR_RETURN(std::string request, EncodeWalRedoRequest(key, base, records));
  absl::StatusOr<std::string> page = Run(request);
  if (!page.ok()) {
    return Annotate(page.status(),
                    StrCat("tenant ", tenant_.ToString(), ": redo of ", records.size(),
                           " records for ", key.ToString(), " at ", lsn.ToString()));
  }
  return page;
}

absl::Status PostgresRedoManager::Ping() {
  NEON_ASSIGN_OR_RETURN(std::string page, Run(EncodeWalRedoPing()));
  if (page != std::string(kPageSize, '\0')) {
    return absl::InternalError("walredo: the answer to a ping is not a zero page");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> PostgresRedoManager::Run(const std::string& request) {
  Clock* clock = pool_->clock();
  for (int attempt = 1;; ++attempt) {
    int64_t deadline_us = clock->MonotonicMicros() + pool_->options().request_timeout_us;
    NEON_ASSIGN_OR_RETURN(PostgresRedoPoolImpl::Lease lease, pool_->Acquire(tenant_, deadline_us));
    bool retryable = false;
    absl::StatusOr<std::string> page = lease.process->Request(request, deadline_us, &retryable);
    pool_->Release(tenant_, lease);
    if (page.ok() || !retryable || attempt >= kMaxAttempts) return page;
  }
}

std::optional<pid_t> PostgresRedoManager::ProcessId() const { return pool_->ProcessId(tenant_); }

// ---- PostgresRedoPool -----------------------------------------------------------

absl::StatusOr<std::shared_ptr<PostgresRedoPool>> PostgresRedoPool::Create(
    PostgresRedoOptions options) {
  if (options.walredo_path.empty() || access(options.walredo_path.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        StrCat("walredo: '", options.walredo_path, "' is not an executable file"));
  }
  if (options.max_processes < 1 || options.request_timeout_us <= 0 ||
      options.idle_timeout_us <= 0) {
    return absl::InvalidArgumentError(
        "walredo: max_processes, request_timeout_us and idle_timeout_us must be positive");
  }
  if (!options.clock) options.clock = NewRealClock();
  return std::shared_ptr<PostgresRedoPool>(
      std::make_shared<PostgresRedoPoolImpl>(std::move(options)));
}

PostgresRedoFactory PostgresRedoPool::Factory() {
  std::shared_ptr<PostgresRedoPool> self = shared_from_this();
  return [self](const TenantShardId& tenant) { return self->ForTenant(tenant); };
}

PostgresRedoPoolImpl::PostgresRedoPoolImpl(PostgresRedoOptions options)
    : options_(std::move(options)) {}

PostgresRedoPoolImpl::~PostgresRedoPoolImpl() {
  absl::MutexLock l(&mu_);
  procs_.clear();  // ~WalRedoProcess kills
}

std::shared_ptr<RedoManager> PostgresRedoPoolImpl::ForTenant(const TenantShardId& tenant) {
  absl::MutexLock l(&mu_);
  std::weak_ptr<PostgresRedoManager>& weak = managers_[tenant];
  if (std::shared_ptr<PostgresRedoManager> m = weak.lock()) return m;
  auto self = std::static_pointer_cast<PostgresRedoPoolImpl>(shared_from_this());
  auto m = std::make_shared<PostgresRedoManager>(std::move(self), tenant);
  weak = m;
  return m;
}

absl::StatusOr<PostgresRedoPoolImpl::Lease> PostgresRedoPoolImpl::Acquire(
    const TenantShardId& tenant, int64_t deadline_us) {
  absl::MutexLock l(&mu_);
  while (true) {
    int64_t now_us = clock()->MonotonicMicros();
    EndIdleLocked(now_us);
    auto it = procs_.find(tenant);
    if (it != procs_.end() && !it->second.process->dead()) {
      it->second.in_flight++;
      return Lease{it->second.process};
    }
    if (it != procs_.end()) {
      procs_.erase(it);  // dead; requests still on it hold their own reference
      ++releases_;
    }
    if (procs_.size() < options_.max_processes || EvictOneLocked()) {
      NEON_ASSIGN_OR_RETURN(std::shared_ptr<WalRedoProcess> p, StartLocked(tenant));
      procs_[tenant] = Slot{p, 1, now_us};
      return Lease{p};
    }
    int64_t left_us = deadline_us - now_us;
    if (left_us <= 0) {
      return absl::UnavailableError(StrCat("walredo: all ", options_.max_processes,
                                           " processes stayed busy until the request timed out"));
    }
    const uint64_t seen = releases_;
    auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return releases_ != seen; };
    mu_.AwaitWithTimeout(absl::Condition(&changed), absl::Microseconds(left_us));
  }
}

void PostgresRedoPoolImpl::Release(const TenantShardId& tenant, const Lease& lease) {
  absl::MutexLock l(&mu_);
  ++releases_;
  auto it = procs_.find(tenant);
  if (it == procs_.end() || it->second.process != lease.process) return;
  Slot& slot = it->second;
  slot.in_flight--;
  slot.last_used_us = clock()->MonotonicMicros();
  if (slot.in_flight == 0 && slot.process->dead()) procs_.erase(it);
}

void PostgresRedoPoolImpl::EndTenant(const TenantShardId& tenant) {
  absl::MutexLock l(&mu_);
  auto m = managers_.find(tenant);
  if (m != managers_.end() && !m->second.expired()) return;  // a new manager took over
  if (m != managers_.end()) managers_.erase(m);
  auto it = procs_.find(tenant);
  if (it == procs_.end()) return;
  it->second.process->Kill("its tenant's redo manager was destroyed");
  procs_.erase(it);
  ++releases_;
}

size_t PostgresRedoPoolImpl::EndIdleProcesses() {
  absl::MutexLock l(&mu_);
  return EndIdleLocked(clock()->MonotonicMicros());
}

size_t PostgresRedoPoolImpl::EndIdleLocked(int64_t now_us) {
  size_t ended = 0;
  for (auto it = procs_.begin(); it != procs_.end();) {
    Slot& slot = it->second;
    bool end = false;
    if (slot.in_flight == 0) {
      if (slot.process->dead() || slot.process->PollExited()) {
        end = true;
      } else if (now_us - slot.last_used_us >= options_.idle_timeout_us) {
        slot.process->Kill(StrCat("idle for ", (now_us - slot.last_used_us) / 1000, " ms"));
        end = true;
      }
    }
    if (end) {
      it = procs_.erase(it);
      ++ended;
      ++releases_;
    } else {
      ++it;
    }
  }
  return ended;
}

bool PostgresRedoPoolImpl::EvictOneLocked() {
  auto victim = procs_.end();
  for (auto it = procs_.begin(); it != procs_.end(); ++it) {
    if (it->second.in_flight != 0) continue;
    if (victim == procs_.end() || it->second.last_used_us < victim->second.last_used_us) {
      victim = it;
    }
  }
  if (victim == procs_.end()) return false;
  victim->second.process->Kill("ended to make room for another tenant's process");
  procs_.erase(victim);
  ++releases_;
  return true;
}

absl::StatusOr<std::shared_ptr<WalRedoProcess>> PostgresRedoPoolImpl::StartLocked(
    const TenantShardId& tenant) {
  std::vector<std::string> argv{options_.walredo_path};
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  int64_t child_idle_ms =
      std::min<int64_t>((options_.idle_timeout_us + kChildIdleGraceUs) / 1000, int64_t{1} << 30);
  argv.insert(argv.end(),
              {"--tenant-shard-id", tenant.ToString(), "--idle-timeout-ms", StrCat(child_idle_ms)});
  if (!options_.seccomp) argv.push_back("--disable-seccomp");
  NEON_ASSIGN_OR_RETURN(std::unique_ptr<WalRedoProcess> p, WalRedoProcess::Spawn(argv, clock()));
  return std::shared_ptr<WalRedoProcess>(std::move(p));
}

size_t PostgresRedoPoolImpl::LiveProcesses() const {
  absl::MutexLock l(&mu_);
  size_t n = 0;
  for (const auto& [tenant, slot] : procs_) n += slot.process->dead() ? 0 : 1;
  return n;
}

std::optional<pid_t> PostgresRedoPoolImpl::ProcessId(const TenantShardId& tenant) const {
  absl::MutexLock l(&mu_);
  auto it = procs_.find(tenant);
  if (it == procs_.end() || it->second.process->dead()) return std::nullopt;
  return it->second.process->pid();
}

}  // namespace neon
