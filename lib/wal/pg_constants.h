// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Postgres 15 WAL constants (access/xlog_internal.h, xlogrecord.h, rmgrlist.h
// and each resource manager's *_xlog.h). Values are those of PostgreSQL 15;
// the static_asserts pin the sizes the decoder depends on.

#ifndef NEON_LIB_WAL_PG_CONSTANTS_H_
#define NEON_LIB_WAL_PG_CONSTANTS_H_

#include <cstdint>

namespace neon::pg {

// ---- Pages ----------------------------------------------------------------
inline constexpr uint16_t kXlogPageMagic = 0xD110;  // XLOG_PAGE_MAGIC for 15
inline constexpr uint16_t kXlpFirstIsContrecord = 0x0001;
inline constexpr uint16_t kXlpLongHeader = 0x0002;
inline constexpr uint16_t kXlpBkpRemovable = 0x0004;
inline constexpr uint16_t kXlpFirstIsOverwriteContrecord = 0x0008;
inline constexpr uint16_t kXlpAllFlags = 0x000F;
inline constexpr uint32_t kShortPageHeaderSize = 24;  // MAXALIGN(sizeof(XLogPageHeaderData))
inline constexpr uint32_t kLongPageHeaderSize = 40;   // MAXALIGN(sizeof(XLogLongPageHeaderData))

// ---- Records ----------------------------------------------------------------
inline constexpr uint32_t kXlRecordCrcOffset = 20;  // offsetof(XLogRecord, xl_crc)
inline constexpr uint8_t kXlrInfoMask = 0x0F;
inline constexpr uint8_t kXlrRmgrInfoMask = 0xF0;
inline constexpr uint8_t kXlrSpecialRelUpdate = 0x01;
inline constexpr uint8_t kXlrCheckConsistency = 0x02;

inline constexpr uint8_t kXlrMaxBlockId = 32;
inline constexpr uint8_t kXlrBlockIdDataShort = 255;
inline constexpr uint8_t kXlrBlockIdDataLong = 254;
inline constexpr uint8_t kXlrBlockIdOrigin = 253;
inline constexpr uint8_t kXlrBlockIdToplevelXid = 252;

inline constexpr uint8_t kBkpBlockForkMask = 0x0F;
inline constexpr uint8_t kBkpBlockHasImage = 0x10;
inline constexpr uint8_t kBkpBlockHasData = 0x20;
inline constexpr uint8_t kBkpBlockWillInit = 0x40;
inline constexpr uint8_t kBkpBlockSameRel = 0x80;

inline constexpr uint8_t kBkpImageHasHole = 0x01;
inline constexpr uint8_t kBkpImageApply = 0x02;
inline constexpr uint8_t kBkpImageCompressPglz = 0x04;
inline constexpr uint8_t kBkpImageCompressLz4 = 0x08;
inline constexpr uint8_t kBkpImageCompressZstd = 0x10;
inline constexpr uint8_t kBkpImageCompressMask = 0x1C;

// ---- Resource managers (rmgrlist.h) ----------------------------------------
enum RmgrId : uint8_t {
  kRmXlog = 0,
  kRmXact = 1,
  kRmSmgr = 2,
  kRmClog = 3,
  kRmDbase = 4,
  kRmTblspc = 5,
  kRmMultiXact = 6,
  kRmRelMap = 7,
  kRmStandby = 8,
  kRmHeap2 = 9,
  kRmHeap = 10,
  kRmBtree = 11,
  kRmHash = 12,
  kRmGin = 13,
  kRmGist = 14,
  kRmSeq = 15,
  kRmSpgist = 16,
  kRmBrin = 17,
  kRmCommitTs = 18,
  kRmReplOrigin = 19,
  kRmGeneric = 20,
  kRmLogicalMsg = 21,
};
inline constexpr uint8_t kRmMaxBuiltinId = 21;
inline constexpr uint8_t kRmMinCustomId = 128;

// XLOG (catalog/pg_control.h)
inline constexpr uint8_t kXlogCheckpointShutdown = 0x00;
inline constexpr uint8_t kXlogCheckpointOnline = 0x10;
inline constexpr uint8_t kXlogNoop = 0x20;
inline constexpr uint8_t kXlogNextOid = 0x30;
inline constexpr uint8_t kXlogSwitch = 0x40;
inline constexpr uint8_t kXlogBackupEnd = 0x50;
inline constexpr uint8_t kXlogParameterChange = 0x60;
inline constexpr uint8_t kXlogRestorePoint = 0x70;
inline constexpr uint8_t kXlogFpwChange = 0x80;
inline constexpr uint8_t kXlogEndOfRecovery = 0x90;
inline constexpr uint8_t kXlogFpiForHint = 0xA0;
inline constexpr uint8_t kXlogFpi = 0xB0;
inline constexpr uint8_t kXlogOverwriteContrecord = 0xD0;

// Transaction (access/xact.h)
inline constexpr uint8_t kXactOpMask = 0x70;
inline constexpr uint8_t kXactHasInfo = 0x80;
inline constexpr uint8_t kXactCommit = 0x00;
inline constexpr uint8_t kXactPrepare = 0x10;
inline constexpr uint8_t kXactAbort = 0x20;
inline constexpr uint8_t kXactCommitPrepared = 0x30;
inline constexpr uint8_t kXactAbortPrepared = 0x40;
inline constexpr uint8_t kXactAssignment = 0x50;
inline constexpr uint8_t kXactInvalidations = 0x60;
inline constexpr uint32_t kXinfoHasDbinfo = 1u << 0;
inline constexpr uint32_t kXinfoHasSubxacts = 1u << 1;
inline constexpr uint32_t kXinfoHasRelfilenodes = 1u << 2;
inline constexpr uint32_t kXinfoHasInvals = 1u << 3;
inline constexpr uint32_t kXinfoHasTwophase = 1u << 4;
inline constexpr uint32_t kXinfoHasOrigin = 1u << 5;
inline constexpr uint32_t kXinfoHasAeLocks = 1u << 6;
inline constexpr uint32_t kXinfoHasGid = 1u << 7;
inline constexpr uint32_t kXinfoHasDroppedStats = 1u << 8;

// Storage (catalog/storage_xlog.h)
inline constexpr uint8_t kSmgrCreate = 0x10;
inline constexpr uint8_t kSmgrTruncate = 0x20;
inline constexpr uint32_t kSmgrTruncateHeap = 0x0001;
inline constexpr uint32_t kSmgrTruncateVm = 0x0002;
inline constexpr uint32_t kSmgrTruncateFsm = 0x0004;

// CLOG (access/clog.h), CommitTs
inline constexpr uint8_t kClogZeroPage = 0x00;
inline constexpr uint8_t kClogTruncate = 0x10;

// Database (commands/dbcommands_xlog.h, 15)
inline constexpr uint8_t kDbaseCreateFileCopy = 0x00;
inline constexpr uint8_t kDbaseCreateWalLog = 0x10;
inline constexpr uint8_t kDbaseDrop = 0x20;

// Tablespace
inline constexpr uint8_t kTblspcCreate = 0x00;
inline constexpr uint8_t kTblspcDrop = 0x10;

// MultiXact (access/multixact.h)
inline constexpr uint8_t kMultiXactZeroOffPage = 0x00;
inline constexpr uint8_t kMultiXactZeroMemPage = 0x10;
inline constexpr uint8_t kMultiXactCreateId = 0x20;
inline constexpr uint8_t kMultiXactTruncateId = 0x30;

// RelMap
inline constexpr uint8_t kRelMapUpdate = 0x00;

// Standby
inline constexpr uint8_t kStandbyLock = 0x00;
inline constexpr uint8_t kStandbyRunningXacts = 0x10;
inline constexpr uint8_t kStandbyInvalidations = 0x20;

// Heap and Heap2 (access/heapam_xlog.h)
inline constexpr uint8_t kHeapOpMask = 0x70;
inline constexpr uint8_t kHeapInitPage = 0x80;
inline constexpr uint8_t kHeapInsert = 0x00;
inline constexpr uint8_t kHeapDelete = 0x10;
inline constexpr uint8_t kHeapUpdate = 0x20;
inline constexpr uint8_t kHeapTruncate = 0x30;
inline constexpr uint8_t kHeapHotUpdate = 0x40;
inline constexpr uint8_t kHeapConfirm = 0x50;
inline constexpr uint8_t kHeapLock = 0x60;
inline constexpr uint8_t kHeapInplace = 0x70;
inline constexpr uint8_t kHeap2Rewrite = 0x00;
inline constexpr uint8_t kHeap2Prune = 0x10;
inline constexpr uint8_t kHeap2Vacuum = 0x20;
inline constexpr uint8_t kHeap2FreezePage = 0x30;
inline constexpr uint8_t kHeap2Visible = 0x40;
inline constexpr uint8_t kHeap2MultiInsert = 0x50;
inline constexpr uint8_t kHeap2LockUpdated = 0x60;
inline constexpr uint8_t kHeap2NewCid = 0x70;
// xl_heap_insert/delete/update/lock flags that clear visibility-map bits.
inline constexpr uint8_t kXlhInsertAllVisibleCleared = 1 << 0;
inline constexpr uint8_t kXlhUpdateOldAllVisibleCleared = 1 << 0;
inline constexpr uint8_t kXlhUpdateNewAllVisibleCleared = 1 << 1;
inline constexpr uint8_t kXlhDeleteAllVisibleCleared = 1 << 0;
inline constexpr uint8_t kXlhLockAllFrozenCleared = 1 << 0;
// Visibility map bits (access/visibilitymapdefs.h)
inline constexpr uint8_t kVmAllVisible = 0x01;
inline constexpr uint8_t kVmAllFrozen = 0x02;
inline constexpr uint8_t kVmValidBits = 0x03;

// BRIN
inline constexpr uint8_t kBrinOpMask = 0x70;
inline constexpr uint8_t kBrinInitPage = 0x80;

// Forks
inline constexpr uint8_t kMainFork = 0;
inline constexpr uint8_t kFsmFork = 1;
inline constexpr uint8_t kVmFork = 2;
inline constexpr uint8_t kInitFork = 3;
inline constexpr uint8_t kMaxFork = 3;

// Well-known tablespaces
inline constexpr uint32_t kDefaultTablespaceOid = 1663;
inline constexpr uint32_t kGlobalTablespaceOid = 1664;

// SLRUs
inline constexpr uint32_t kSlruPagesPerSegment = 32;
inline constexpr uint32_t kClogXactsPerPage = 8192 * 4;  // 2 bits per xact
inline constexpr uint32_t kMultiXactOffsetsPerPage = 8192 / 4;

}  // namespace neon::pg

#endif  // NEON_LIB_WAL_PG_CONSTANTS_H_
