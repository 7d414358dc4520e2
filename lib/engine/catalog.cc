// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/catalog.h"

#include "absl/base/config.h"
#include "absl/synchronization/mutex.h"
#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/rocksdb_env.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

namespace neon {
namespace {

constexpr uint8_t kTimelineMetaVersion = 1;

std::string TenantKey(const TenantShardId& t) { return StrCat("T", t.ToString()); }
std::string GenerationKey(const TenantShardId& t) { return StrCat("G", t.ToString()); }
std::string SecondaryKey(const TenantShardId& t) { return StrCat("S", t.ToString()); }
constexpr std::string_view kWarmLine = "warm=1\n";
constexpr std::string_view kColdLine = "warm=0\n";
std::string TimelinePrefix(const TenantShardId& t) { return StrCat("L", t.ToString(), "/"); }
std::string TimelineKey(const TenantShardId& t, const TimelineId& tl) {
  return StrCat(TimelinePrefix(t), tl.ToString());
}
std::string LayerPrefix(const TenantShardId& t) { return StrCat("Y", t.ToString(), "/"); }
std::string LayerPrefix(const TenantShardId& t, const TimelineId& tl) {
  return StrCat(LayerPrefix(t), tl.ToString(), "/");
}
// The smallest key greater than every key with this prefix.
std::string PrefixEnd(std::string prefix) {
  prefix.back() = char(prefix.back() + 1);
  return prefix;
}

rocksdb::Slice ToSlice(const std::string& s) { return rocksdb::Slice(s.data(), s.size()); }

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = StrCat("catalog ", what, ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

}  // namespace

std::string TimelineMeta::Encode() const {
  std::string out;
  PutU8(&out, kTimelineMetaVersion);
  out.append(reinterpret_cast<const char*>(id.bytes().data()), TimelineId::kSize);
  PutU8(&out, ancestor.has_value() ? 1 : 0);
  if (ancestor) out.append(reinterpret_cast<const char*>(ancestor->bytes().data()), TimelineId::kSize);
  for (Lsn l : {ancestor_lsn, disk_consistent_lsn, prev_record_lsn, gc_cutoff, initdb_lsn}) {
    PutFixed64BE(&out, l.value());
  }
  PutFixed32BE(&out, pg_version);
  return out;
}

absl::StatusOr<TimelineMeta> TimelineMeta::Decode(std::string_view in) {
  auto bad = [&] { return absl::DataLossError(StrCat("malformed timeline metadata (", in.size(), " bytes)")); };
  TimelineMeta m;
  uint8_t version, has_ancestor;
  std::string_view raw;
  if (!GetU8(&in, &version)) return bad();
  if (version != kTimelineMetaVersion) {
    return absl::DataLossError(StrCat("unsupported timeline metadata version ", version));
  }
  if (!GetBytes(&in, TimelineId::kSize, &raw)) return bad();
  m.id = *TimelineId::FromBytes(raw);
  if (!GetU8(&in, &has_ancestor) || has_ancestor > 1) return bad();
  if (has_ancestor) {
    if (!GetBytes(&in, TimelineId::kSize, &raw)) return bad();
    m.ancestor = *TimelineId::FromBytes(raw);
  }
  for (Lsn* l : {&m.ancestor_lsn, &m.disk_consistent_lsn, &m.prev_record_lsn, &m.gc_cutoff, &m.initdb_lsn}) {
    uint64_t v;
    if (!GetFixed64BE(&in, &v)) return bad();
    *l = Lsn(v);
  }
  if (!GetFixed32BE(&in, &m.pg_version) || !in.empty()) return bad();
  return m;
}

CatalogBatch::CatalogBatch() : rep_(std::make_unique<rocksdb::WriteBatch>()) {}
CatalogBatch::~CatalogBatch() = default;

void CatalogBatch::PutTenant(const TenantShardId& t, const TenantConfig& config) {
  (void)rep_->Put(TenantKey(t), config.Serialize());
}

void CatalogBatch::PutTenantGeneration(const TenantShardId& t, Generation g) {
  if (g.is_none()) {
    (void)rep_->Delete(GenerationKey(t));
  } else {
    (void)rep_->Put(GenerationKey(t), g.Suffix().substr(1));
  }
}

void CatalogBatch::PutSecondary(const SecondaryRecord& r) {
  (void)rep_->Put(SecondaryKey(r.id), StrCat(r.warm ? kWarmLine : kColdLine, r.config.Serialize()));
}

void CatalogBatch::DeleteSecondary(const TenantShardId& t) { (void)rep_->Delete(SecondaryKey(t)); }

void CatalogBatch::DeleteTenant(const TenantShardId& t) {
  (void)rep_->Delete(TenantKey(t));
  (void)rep_->Delete(GenerationKey(t));
  for (const std::string& p : {TimelinePrefix(t), LayerPrefix(t)}) {
    (void)rep_->DeleteRange(ToSlice(p), ToSlice(PrefixEnd(p)));
  }
}

void CatalogBatch::PutTimeline(const TenantShardId& t, const TimelineMeta& meta) {
  (void)rep_->Put(TimelineKey(t, meta.id), meta.Encode());
}

void CatalogBatch::DeleteTimeline(const TenantShardId& t, const TimelineId& tl) {
  (void)rep_->Delete(TimelineKey(t, tl));
  std::string p = LayerPrefix(t, tl);
  (void)rep_->DeleteRange(ToSlice(p), ToSlice(PrefixEnd(p)));
}

void CatalogBatch::AddLayer(const TenantShardId& t, const TimelineId& tl, const LayerRecord& layer) {
  std::string v;
  PutFixed64BE(&v, layer.file_size);
  (void)rep_->Put(StrCat(LayerPrefix(t, tl), layer.file_name), v);
}

void CatalogBatch::RemoveLayer(const TenantShardId& t, const TimelineId& tl,
                               const std::string& file_name) {
  (void)rep_->Delete(StrCat(LayerPrefix(t, tl), file_name));
}

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::Open(std::shared_ptr<FileSystem> fs,
                                                       const std::string& dir) {
  std::unique_ptr<Catalog> c(new Catalog());
  c->fs_ = fs;
  c->env_ = NewRocksEnv(fs);
  rocksdb::Options options;
  options.create_if_missing = true;
  options.env = c->env_.get();
  ConfigureRocksOptionsForNeonFs(&options);
  rocksdb::DB* db = nullptr;
  NEON_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(options, dir, &db), StrCat("open ", dir)));
  c->db_.reset(db);
  return c;
}

Catalog::~Catalog() {
  if (db_) {
    (void)db_->Close();
    db_.reset();
  }
}

#if defined(ABSL_HAVE_THREAD_SANITIZER)
// TSan builds only. Debian's RocksDB is not built with TSan: when writes
// overlap, DB::Write forms a write group whose leader copies the other
// writers' batches, handed over through atomics TSan cannot see, so TSan
// reports the copy as a race (in CommitMeta / ReplaceLayers, with no RocksDB
// frame to suppress by). Serializing commits makes every group a group of
// one, a schedule RocksDB may always choose; nothing in neonstore is hidden.
namespace {
ABSL_CONST_INIT absl::Mutex tsan_commit_mu(absl::kConstInit);
}  // namespace
#endif

absl::Status Catalog::Commit(CatalogBatch& batch) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
#if defined(ABSL_HAVE_THREAD_SANITIZER)
  absl::MutexLock l(&tsan_commit_mu);
#endif
  return FromRocks(db_->Write(wo, batch.rep()), "commit");
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Catalog::Scan(
    const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(ToSlice(prefix)); it->Valid() && it->key().starts_with(ToSlice(prefix)); it->Next()) {
    out.emplace_back(it->key().ToString().substr(prefix.size()), it->value().ToString());
  }
  NEON_RETURN_IF_ERROR(FromRocks(it->status(), "scan"));
  return out;
}

absl::StatusOr<std::vector<std::pair<TenantShardId, TenantConfig>>> Catalog::ListTenants() {
  NEON_ASSIGN_OR_RETURN(auto rows, Scan("T"));
  std::vector<std::pair<TenantShardId, TenantConfig>> out;
  for (const auto& [k, v] : rows) {
    NEON_ASSIGN_OR_RETURN(TenantShardId id, TenantShardId::Parse(k));
    NEON_ASSIGN_OR_RETURN(TenantConfig config, TenantConfig::Parse(v));
    out.emplace_back(id, config);
  }
  return out;
}

absl::StatusOr<std::vector<TimelineMeta>> Catalog::ListTimelines(const TenantShardId& t) {
  NEON_ASSIGN_OR_RETURN(auto rows, Scan(TimelinePrefix(t)));
  std::vector<TimelineMeta> out;
  for (const auto& [k, v] : rows) {
    NEON_ASSIGN_OR_RETURN(TimelineMeta m, TimelineMeta::Decode(v));
    out.push_back(std::move(m));
  }
  return out;
}

absl::StatusOr<Generation> Catalog::GetTenantGeneration(const TenantShardId& t) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), GenerationKey(t), &value);
  if (s.IsNotFound()) return Generation::None();
  NEON_RETURN_IF_ERROR(FromRocks(s, "get generation"));
  auto g = Generation::Parse(value);
  if (!g.ok()) return absl::DataLossError(StrCat("catalog: bad generation of tenant ", t.ToString()));
  return *g;
}

absl::StatusOr<std::vector<LayerRecord>> Catalog::ListLayers(const TenantShardId& t,
                                                             const TimelineId& tl) {
  NEON_ASSIGN_OR_RETURN(auto rows, Scan(LayerPrefix(t, tl)));
  std::vector<LayerRecord> out;
  for (const auto& [k, v] : rows) {
    if (v.size() != 8) return absl::DataLossError(StrCat("catalog: bad layer record ", k));
    out.push_back(LayerRecord{k, DecodeFixed64BE(reinterpret_cast<const uint8_t*>(v.data()))});
  }
  return out;
}

absl::StatusOr<std::vector<SecondaryRecord>> Catalog::ListSecondaries() {
  NEON_ASSIGN_OR_RETURN(auto rows, Scan("S"));
  std::vector<SecondaryRecord> out;
  for (const auto& [k, v] : rows) {
    SecondaryRecord r;
    NEON_ASSIGN_OR_RETURN(r.id, TenantShardId::Parse(k));
    std::string_view text(v);
    if (text.starts_with(kWarmLine) || text.starts_with(kColdLine)) {
      r.warm = text.starts_with(kWarmLine);
    } else {
      return absl::DataLossError(StrCat("catalog: bad secondary record ", k));
    }
    NEON_ASSIGN_OR_RETURN(r.config, TenantConfig::Parse(text.substr(kWarmLine.size())));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace neon
