// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "ingest/datadir_util.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <vector>

#include "base/str_cat.h"

namespace neon::testing {
namespace {

std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  return out;
}

const char* kForkSuffix[] = {"", "_fsm", "_vm", "_init"};

std::string RelPath(const std::string& dir, const RelTag& rel, uint32_t seg) {
  std::string p = rel.spc_oid == kGlobalTablespaceOid ? StrCat(dir, "/global/")
                                                      : StrCat(dir, "/base/", rel.db_oid, "/");
  p += StrCat(rel.rel_number, kForkSuffix[rel.fork]);
  if (seg > 0) p += StrCat(".", seg);
  return p;
}

void ScanDb(const std::string& path, uint32_t spc, uint32_t db, DatadirRels* out) {
  out->dbs.insert({spc, db});
  for (const std::string& name : List(path)) {
    char* end = nullptr;
    unsigned long rel = std::strtoul(name.c_str(), &end, 10);
    if (end == name.c_str() || rel == 0) continue;
    std::string rest = end;
    uint8_t fork = 0;
    for (uint8_t f = 1; f <= 3; f++) {
      if (rest.rfind(kForkSuffix[f], 0) == 0) {
        fork = f;
        rest = rest.substr(std::string(kForkSuffix[f]).size());
      }
    }
    uint32_t seg = 0;
    if (!rest.empty()) {
      if (rest[0] != '.') continue;
      seg = static_cast<uint32_t>(std::strtoul(rest.c_str() + 1, nullptr, 10));
    }
    struct stat st;
    if (stat((path + "/" + name).c_str(), &st) != 0) continue;
    RelTag tag{spc, db, static_cast<uint32_t>(rel), fork};
    uint32_t n = seg * 131072 + static_cast<uint32_t>(st.st_size / 8192);
    if (n > out->nblocks[tag]) out->nblocks[tag] = n;
    if (fork == 3) out->unlogged.insert({db, static_cast<uint32_t>(rel)});
  }
}

}  // namespace

DatadirRels ScanDatadir(const std::string& dir) {
  DatadirRels out;
  ScanDb(dir + "/global", kGlobalTablespaceOid, 0, &out);
  for (const std::string& db : List(dir + "/base")) {
    if (db.find_first_not_of("0123456789") != std::string::npos) continue;  // pgsql_tmp
    ScanDb(dir + "/base/" + db, kDefaultTablespaceOid,
           static_cast<uint32_t>(std::strtoul(db.c_str(), nullptr, 10)), &out);
  }
  return out;
}

std::string ReadDatadirBlock(const std::string& dir, const RelTag& rel, uint32_t blk) {
  std::ifstream f(RelPath(dir, rel, blk / 131072), std::ios::binary);
  std::string page(8192, '\0');
  f.seekg(static_cast<std::streamoff>(blk % 131072) * 8192);
  f.read(page.data(), 8192);
  if (f.gcount() != 8192) return "";
  return page;
}

std::string HexBytes(const std::string& s, size_t from, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = from; i < s.size() && i < from + n; i++) {
    out += kHex[static_cast<uint8_t>(s[i]) >> 4];
    out += kHex[static_cast<uint8_t>(s[i]) & 15];
  }
  return out;
}

}  // namespace neon::testing
