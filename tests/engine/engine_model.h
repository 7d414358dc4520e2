// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// A deliberately simple in-memory model of the page store: per timeline a map
// key -> (lsn -> value), a parent and a branch point. Reads follow the
// definition (newest version <= lsn, descend into the parent at
// min(lsn, branch point)) with no layers, caches or files.

#ifndef NEON_TESTS_ENGINE_ENGINE_MODEL_H_
#define NEON_TESTS_ENGINE_ENGINE_MODEL_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "neon/key.h"
#include "neon/value.h"

namespace neon::testing {

class EngineModel {
 public:
  struct Timeline {
    int parent = -1;
    Lsn branch_lsn;
    Lsn last_lsn;
    std::map<Key, std::map<Lsn, Value>> data;
  };

  int AddRoot() {
    timelines_.push_back(Timeline{});
    return int(timelines_.size()) - 1;
  }
  int AddBranch(int parent, Lsn at) {
    Timeline t;
    t.parent = parent;
    t.branch_lsn = at;
    t.last_lsn = at;
    timelines_.push_back(t);
    return int(timelines_.size()) - 1;
  }
  void Put(int tl, const Key& k, Lsn lsn, const Value& v) { timelines_[tl].data[k].insert_or_assign(lsn, v); }
  void Finish(int tl, Lsn lsn) { timelines_[tl].last_lsn = lsn; }
  // Forgets everything above `lsn` (what a crash loses).
  void TruncateAbove(int tl, Lsn lsn) {
    auto& t = timelines_[tl];
    for (auto& [k, versions] : t.data) versions.erase(versions.upper_bound(lsn), versions.end());
    t.last_lsn = std::max(std::min(t.last_lsn, lsn), t.branch_lsn);
  }
  Timeline& at(int tl) { return timelines_[tl]; }
  size_t size() const { return timelines_.size(); }

  // The page at (tl, key, lsn), or nullopt if the key has no version.
  std::optional<std::string> Read(int tl, const Key& k, Lsn lsn) const {
    std::vector<const Value*> stack;  // newest first
    int cur = tl;
    Lsn read = lsn;
    while (cur >= 0) {
      const Timeline& t = timelines_[cur];
      auto it = t.data.find(k);
      if (it != t.data.end()) {
        for (auto v = it->second.upper_bound(read); v != it->second.begin();) {
          --v;
          stack.push_back(&v->second);
          if (v->second.will_init()) return Apply(stack);
        }
      }
      if (t.parent < 0) break;
      read = std::min(read, t.branch_lsn);
      cur = t.parent;
    }
    if (stack.empty()) return std::nullopt;
    return std::string("<no base>");
  }

  // True if some version of `k` is visible at (tl, lsn).
  bool Exists(int tl, const Key& k, Lsn lsn) const { return Read(tl, k, lsn).has_value(); }

 private:
  static std::string Apply(const std::vector<const Value*>& newest_first) {
    std::string page;
    for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it) {
      const Value& v = **it;
      if (v.is_image()) {
        page = v.image();
        continue;
      }
      const auto& t = std::get<TestRecord>(v.record());
      if (t.clear) page.clear();
      page += t.append;
    }
    return page;
  }

  std::vector<Timeline> timelines_;
};

}  // namespace neon::testing

#endif  // NEON_TESTS_ENGINE_ENGINE_MODEL_H_
