// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Record names follow each resource manager's *_identify() in Postgres 15
// (src/backend/access/rmgrdesc/); line layout follows pg_waldump.c.

#include "neon/wal.h"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "base/coding.h"
#include "base/str_cat.h"
#include "wal/pg_constants.h"

namespace neon {
namespace pg {
namespace {

constexpr const char* kRmgrNames[] = {
    "XLOG",     "Transaction", "Storage",  "CLOG",     "Database",   "Tablespace",
    "MultiXact", "RelMap",     "Standby",  "Heap2",    "Heap",       "Btree",
    "Hash",     "Gin",         "Gist",     "Sequence", "SPGist",     "BRIN",
    "CommitTs", "ReplicationOrigin", "Generic", "LogicalMessage"};
static_assert(sizeof(kRmgrNames) / sizeof(kRmgrNames[0]) == kRmMaxBuiltinId + 1);

// Names indexed by (info >> 4) for resource managers whose type is info & 0xF0.
struct NameTable {
  const char* names[16];
};

// clang-format off
constexpr NameTable kXlogNames = {{"CHECKPOINT_SHUTDOWN", "CHECKPOINT_ONLINE", "NOOP", "NEXTOID",
    "SWITCH", "BACKUP_END", "PARAMETER_CHANGE", "RESTORE_POINT", "FPW_CHANGE", "END_OF_RECOVERY",
    "FPI_FOR_HINT", "FPI", nullptr, "OVERWRITE_CONTRECORD", nullptr, nullptr}};
constexpr NameTable kXactNames = {{"COMMIT", "PREPARE", "ABORT", "COMMIT_PREPARED",
    "ABORT_PREPARED", "ASSIGNMENT", "INVALIDATION", nullptr}};
constexpr NameTable kSmgrNames = {{nullptr, "CREATE", "TRUNCATE"}};
constexpr NameTable kClogNames = {{"ZEROPAGE", "TRUNCATE"}};
constexpr NameTable kDbaseNames = {{"CREATE_FILE_COPY", "CREATE_WAL_LOG", "DROP"}};
constexpr NameTable kTblspcNames = {{"CREATE", "DROP"}};
constexpr NameTable kMultiXactNames = {{"ZERO_OFF_PAGE", "ZERO_MEM_PAGE", "CREATE_ID",
    "TRUNCATE_ID"}};
constexpr NameTable kRelMapNames = {{"UPDATE"}};
constexpr NameTable kStandbyNames = {{"LOCK", "RUNNING_XACTS", "INVALIDATIONS"}};
constexpr NameTable kHeap2Names = {{"REWRITE", "PRUNE", "VACUUM", "FREEZE_PAGE", "VISIBLE",
    "MULTI_INSERT", "LOCK_UPDATED", "NEW_CID", nullptr, nullptr, nullptr, nullptr, nullptr,
    "MULTI_INSERT+INIT", nullptr, nullptr}};
constexpr NameTable kHeapNames = {{"INSERT", "DELETE", "UPDATE", "TRUNCATE", "HOT_UPDATE",
    "CONFIRM", "LOCK", "INPLACE", "INSERT+INIT", nullptr, "UPDATE+INIT", nullptr,
    "HOT_UPDATE+INIT", nullptr, nullptr, nullptr}};
constexpr NameTable kBtreeNames = {{"INSERT_LEAF", "INSERT_UPPER", "INSERT_META", "SPLIT_L",
    "SPLIT_R", "INSERT_POST", "DEDUP", "DELETE", "UNLINK_PAGE", "UNLINK_PAGE_META", "NEWROOT",
    "MARK_PAGE_HALFDEAD", "VACUUM", "REUSE_PAGE", "META_CLEANUP", nullptr}};
constexpr NameTable kHashNames = {{"INIT_META_PAGE", "INIT_BITMAP_PAGE", "INSERT",
    "ADD_OVFL_PAGE", "SPLIT_ALLOCATE_PAGE", "SPLIT_PAGE", "SPLIT_COMPLETE", "MOVE_PAGE_CONTENTS",
    "SQUEEZE_PAGE", "DELETE", "SPLIT_CLEANUP", "UPDATE_META_PAGE", "VACUUM", nullptr}};
constexpr NameTable kGinNames = {{nullptr, "CREATE_PTREE", "INSERT", "SPLIT", "VACUUM_PAGE",
    "DELETE_PAGE", "UPDATE_META_PAGE", "INSERT_LISTPAGE", "DELETE_LISTPAGE",
    "VACUUM_DATA_LEAF_PAGE", nullptr}};
constexpr NameTable kGistNames = {{"PAGE_UPDATE", "DELETE", "PAGE_REUSE", "PAGE_SPLIT", nullptr,
    nullptr, "PAGE_DELETE", "ASSIGN_LSN"}};
constexpr NameTable kSeqNames = {{"LOG"}};
constexpr NameTable kSpgistNames = {{nullptr, "ADD_LEAF", "MOVE_LEAFS", "ADD_NODE", "SPLIT_TUPLE",
    "PICKSPLIT", "VACUUM_LEAF", "VACUUM_ROOT", "VACUUM_REDIRECT"}};
constexpr NameTable kBrinNames = {{"CREATE_INDEX", "INSERT", "UPDATE", "SAMEPAGE_UPDATE",
    "REVMAP_EXTEND", "DESUMMARIZE", nullptr, nullptr, nullptr, "INSERT+INIT", "UPDATE+INIT",
    nullptr}};
constexpr NameTable kCommitTsNames = {{"ZEROPAGE", "TRUNCATE"}};
constexpr NameTable kReplOriginNames = {{"SET", "DROP"}};
constexpr NameTable kLogicalMsgNames = {{"MESSAGE"}};
// clang-format on

const NameTable* TableFor(uint8_t rmid) {
  switch (rmid) {
    case kRmXlog: return &kXlogNames;
    case kRmXact: return &kXactNames;
    case kRmSmgr: return &kSmgrNames;
    case kRmClog: return &kClogNames;
    case kRmDbase: return &kDbaseNames;
    case kRmTblspc: return &kTblspcNames;
    case kRmMultiXact: return &kMultiXactNames;
    case kRmRelMap: return &kRelMapNames;
    case kRmStandby: return &kStandbyNames;
    case kRmHeap2: return &kHeap2Names;
    case kRmHeap: return &kHeapNames;
    case kRmBtree: return &kBtreeNames;
    case kRmHash: return &kHashNames;
    case kRmGin: return &kGinNames;
    case kRmGist: return &kGistNames;
    case kRmSeq: return &kSeqNames;
    case kRmSpgist: return &kSpgistNames;
    case kRmBrin: return &kBrinNames;
    case kRmCommitTs: return &kCommitTsNames;
    case kRmReplOrigin: return &kReplOriginNames;
    case kRmLogicalMsg: return &kLogicalMsgNames;
    default: return nullptr;
  }
}

std::string Fmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Fmt(const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

std::string LsnText(Lsn lsn) {
  return Fmt("%X/%08X", static_cast<uint32_t>(lsn.value() >> 32),
             static_cast<uint32_t>(lsn.value()));
}

std::string HeapDescription(uint8_t op, std::string_view d) {
  switch (op) {
    case kHeapInsert:
      return Fmt("off %u flags 0x%02X", LoadHost<uint16_t>(d, 0), LoadHost<uint8_t>(d, 2));
    case kHeapDelete:
      return Fmt("off %u flags 0x%02X", LoadHost<uint16_t>(d, 4), LoadHost<uint8_t>(d, 7));
    case kHeapUpdate:
    case kHeapHotUpdate:
      return Fmt("off %u xmax %u flags 0x%02X ; new off %u xmax %u", LoadHost<uint16_t>(d, 4),
                 LoadHost<uint32_t>(d, 0), LoadHost<uint8_t>(d, 7), LoadHost<uint16_t>(d, 12),
                 LoadHost<uint32_t>(d, 8));
    default:
      return "";
  }
}

}  // namespace

}  // namespace pg

std::string WalRmgrName(uint8_t rmid) {
  using namespace pg;
  if (rmid <= kRmMaxBuiltinId) return kRmgrNames[rmid];
  return Fmt("custom%03u", rmid);
}

std::string WalRecordType(uint8_t rmid, uint8_t info) {
  using namespace pg;
  if (rmid == kRmGeneric) return "Generic";
  const NameTable* t = TableFor(rmid);
  uint8_t type = info & kXlrRmgrInfoMask;
  if (rmid == kRmXact) type = info & kXactOpMask;
  const char* name = t != nullptr ? t->names[type >> 4] : nullptr;
  if (name == nullptr) return Fmt("UNKNOWN (%x)", type);
  return name;
}

std::string WalRecordDescription(const WalRecord& r) {
  using namespace pg;
  std::string_view d = r.main_data();
  const uint8_t type = r.info & kXlrRmgrInfoMask;
  switch (r.rmid) {
    case kRmXlog:
      if (type == kXlogNextOid) return Fmt("%u", LoadHost<uint32_t>(d, 0));
      if (type == kXlogCheckpointShutdown || type == kXlogCheckpointOnline) {
        return Fmt("redo %s; tli %u; xid %u:%u; oid %u",
                   LsnText(Lsn(LoadHost<uint64_t>(d, 0))).c_str() , LoadHost<uint32_t>(d, 8),
                   static_cast<uint32_t>(LoadHost<uint64_t>(d, 24) >> 32),
                   static_cast<uint32_t>(LoadHost<uint64_t>(d, 24)), LoadHost<uint32_t>(d, 32));
      }
      return "";
    case kRmHeap:
      return HeapDescription(r.info & kHeapOpMask, d);
    case kRmBtree:
      if (type <= 0x20 || type == 0x50) return Fmt("off %u", LoadHost<uint16_t>(d, 0));
      return "";
    case kRmStandby:
      if (type == kStandbyRunningXacts) {
        return Fmt("nextXid %u latestCompletedXid %u oldestRunningXid %u", LoadHost<uint32_t>(d, 12),
                   LoadHost<uint32_t>(d, 20), LoadHost<uint32_t>(d, 16));
      }
      return "";
    case kRmSmgr:
      if (type == kSmgrCreate) {
        return Fmt("base/%u/%u", LoadHost<uint32_t>(d, 4), LoadHost<uint32_t>(d, 8));
      }
      return "";
    default:
      return "";
  }
}

std::string WalRecordLine(const WalRecord& r) {
  using namespace pg;
  static const char* kForks[] = {"main", "fsm", "vm", "init"};
  const uint32_t fpi = r.fpi_len();
  std::string line = Fmt("rmgr: %-11s len (rec/tot): %6u/%6u, tx: %10u, lsn: %s, prev %s, ",
                         WalRmgrName(r.rmid).c_str(), r.tot_len - fpi, r.tot_len, r.xid,
                         LsnText(r.lsn).c_str(), LsnText(r.prev).c_str());
  line += StrCat("desc: ", WalRecordType(r.rmid, r.info), " ", WalRecordDescription(r));
  for (const WalBlockRef& b : r.blocks) {
    line += Fmt(", blkref #%d: rel %u/%u/%u", b.id, b.rel.spc_oid, b.rel.db_oid,
                b.rel.rel_number);
    if (b.rel.fork != kMainFork) line += StrCat(" fork ", kForks[b.rel.fork & 3]);
    line += Fmt(" blk %u", b.blkno);
    if (b.has_image) line += b.apply_image ? " FPW" : " FPW for WAL verification";
  }
  return line;
}

}  // namespace neon
