// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The C API over the C++ engine (see neon_c.h).

#include "neon_c.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "neon/engine.h"

struct neon_engine_t {
  std::unique_ptr<neon::Engine> rep;
};
struct neon_timeline_t {
  std::shared_ptr<neon::Timeline> rep;
};

namespace {

char* CopyString(std::string_view s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

int SaveError(const absl::Status& s, char** errptr) {
  if (s.ok()) return NEON_OK;
  if (errptr != nullptr) {
    std::free(*errptr);
    std::string msg = s.ToString();
    *errptr = CopyString(msg);
  }
  return static_cast<int>(s.code());
}

neon::Key ToKey(const neon_key_t& k) {
  return neon::Key(k.field1, k.field2, k.field3, k.field4, k.field5, k.field6);
}

absl::StatusOr<std::shared_ptr<neon::Tenant>> GetTenant(neon_engine_t* e, const char* tenant_id) {
  if (e == nullptr || tenant_id == nullptr) return absl::InvalidArgumentError("null argument");
  auto id = neon::TenantShardId::Parse(tenant_id);
  if (!id.ok()) return id.status();
  return e->rep->GetTenant(*id);
}

neon_timeline_t* WrapTimeline(absl::StatusOr<std::shared_ptr<neon::Timeline>> tl, char** errptr) {
  if (!tl.ok()) {
    SaveError(tl.status(), errptr);
    return nullptr;
  }
  return new neon_timeline_t{std::move(*tl)};
}

}  // namespace

extern "C" {

neon_key_t neon_key_rel_block(uint32_t spc, uint32_t db, uint32_t rel, uint8_t fork, uint32_t blkno) {
  return neon_key_t{0, spc, db, rel, fork, blkno};
}

neon_engine_t* neon_engine_open(const char* path, char** errptr) {
  if (path == nullptr) {
    SaveError(absl::InvalidArgumentError("null path"), errptr);
    return nullptr;
  }
  auto e = neon::Engine::Open(neon::EngineOptions{}, path);
  if (!e.ok()) {
    SaveError(e.status(), errptr);
    return nullptr;
  }
  return new neon_engine_t{std::move(*e)};
}

void neon_engine_close(neon_engine_t* engine) { delete engine; }

int neon_tenant_create(neon_engine_t* engine, const char* tenant_id, char** errptr) {
  if (engine == nullptr || tenant_id == nullptr) {
    return SaveError(absl::InvalidArgumentError("null argument"), errptr);
  }
  auto id = neon::TenantShardId::Parse(tenant_id);
  if (!id.ok()) return SaveError(id.status(), errptr);
  return SaveError(engine->rep->CreateTenant(*id, neon::TenantConfig{}).status(), errptr);
}

neon_timeline_t* neon_timeline_create(neon_engine_t* engine, const char* tenant_id,
                                      const char* timeline_id, uint32_t pg_version, char** errptr) {
  auto t = GetTenant(engine, tenant_id);
  if (!t.ok()) return WrapTimeline(t.status(), errptr);
  auto id = neon::TimelineId::Parse(timeline_id ? timeline_id : "");
  if (!id.ok()) return WrapTimeline(id.status(), errptr);
  return WrapTimeline((*t)->CreateTimeline(*id, pg_version), errptr);
}

neon_timeline_t* neon_timeline_branch(neon_engine_t* engine, const char* tenant_id,
                                      const char* timeline_id, const char* ancestor_id,
                                      uint64_t lsn, char** errptr) {
  auto t = GetTenant(engine, tenant_id);
  if (!t.ok()) return WrapTimeline(t.status(), errptr);
  auto id = neon::TimelineId::Parse(timeline_id ? timeline_id : "");
  if (!id.ok()) return WrapTimeline(id.status(), errptr);
  auto anc = neon::TimelineId::Parse(ancestor_id ? ancestor_id : "");
  if (!anc.ok()) return WrapTimeline(anc.status(), errptr);
  return WrapTimeline((*t)->CreateBranch(*id, *anc, neon::Lsn(lsn)), errptr);
}

neon_timeline_t* neon_timeline_get(neon_engine_t* engine, const char* tenant_id,
                                   const char* timeline_id, char** errptr) {
  auto t = GetTenant(engine, tenant_id);
  if (!t.ok()) return WrapTimeline(t.status(), errptr);
  auto id = neon::TimelineId::Parse(timeline_id ? timeline_id : "");
  if (!id.ok()) return WrapTimeline(id.status(), errptr);
  return WrapTimeline((*t)->GetTimeline(*id), errptr);
}

void neon_timeline_release(neon_timeline_t* timeline) { delete timeline; }

int neon_put_image(neon_timeline_t* tl, neon_key_t key, uint64_t lsn, const char* data, size_t len,
                   char** errptr) {
  if (tl == nullptr || (data == nullptr && len > 0)) {
    return SaveError(absl::InvalidArgumentError("null argument"), errptr);
  }
  return SaveError(tl->rep->Put(ToKey(key), neon::Lsn(lsn), neon::Value::Image(std::string(data, len))),
                   errptr);
}

int neon_put_value(neon_timeline_t* tl, neon_key_t key, uint64_t lsn, const char* value, size_t len,
                   char** errptr) {
  if (tl == nullptr || value == nullptr) return SaveError(absl::InvalidArgumentError("null argument"), errptr);
  auto v = neon::Value::Deserialize(std::string_view(value, len));
  if (!v.ok()) return SaveError(absl::InvalidArgumentError(std::string(v.status().message())), errptr);
  return SaveError(tl->rep->Put(ToKey(key), neon::Lsn(lsn), *v), errptr);
}

int neon_finish_write(neon_timeline_t* tl, uint64_t lsn, char** errptr) {
  if (tl == nullptr) return SaveError(absl::InvalidArgumentError("null timeline"), errptr);
  return SaveError(tl->rep->FinishWrite(neon::Lsn(lsn)), errptr);
}

char* neon_get_page(neon_timeline_t* tl, neon_key_t key, uint64_t lsn, size_t* len, char** errptr) {
  if (tl == nullptr || len == nullptr) {
    SaveError(absl::InvalidArgumentError("null argument"), errptr);
    return nullptr;
  }
  auto page = tl->rep->GetPage(ToKey(key), neon::Lsn(lsn));
  if (!page.ok()) {
    SaveError(page.status(), errptr);
    return nullptr;
  }
  *len = page->size();
  char* out = static_cast<char*>(std::malloc(page->size() + 1));
  std::memcpy(out, page->data(), page->size());
  out[page->size()] = '\0';
  return out;
}

uint64_t neon_timeline_last_record_lsn(neon_timeline_t* tl) {
  return tl == nullptr ? 0 : tl->rep->Info().last_record_lsn.value();
}

int neon_timeline_flush(neon_timeline_t* tl, char** errptr) {
  if (tl == nullptr) return SaveError(absl::InvalidArgumentError("null timeline"), errptr);
  return SaveError(tl->rep->Flush().status(), errptr);
}

void neon_lsn_format(uint64_t lsn, char* buf, size_t buflen) {
  std::string s = neon::Lsn(lsn).ToString();
  if (buf == nullptr || buflen == 0) return;
  size_t n = std::min(buflen - 1, s.size());
  std::memcpy(buf, s.data(), n);
  buf[n] = '\0';
}

int neon_lsn_parse(const char* text, uint64_t* lsn, char** errptr) {
  if (text == nullptr || lsn == nullptr) return SaveError(absl::InvalidArgumentError("null argument"), errptr);
  auto l = neon::Lsn::Parse(text);
  if (!l.ok()) return SaveError(l.status(), errptr);
  *lsn = l->value();
  return NEON_OK;
}

void neon_free(void* p) { std::free(p); }

}  // extern "C"
