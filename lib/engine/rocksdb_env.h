// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// A rocksdb::Env whose file operations go to a neon::FileSystem, so RocksDB
// (the engine's catalog) lives behind the same I/O seam as everything else:
// it runs on MemFileSystem in tests, and FaultInjectionFileSystem crash tests
// cover its WAL, MANIFEST, CURRENT and table files.
//
// What maps to what:
//   Writable/Sequential/RandomAccess files  -> FileSystem files
//   WritableFile::Sync/Fsync                -> WritableFile::Sync
//   Directory::Fsync                        -> FileSystem::SyncDir
//   ReuseWritableFile                       -> RenameFile + NewWritableFile
//   LockFile/UnlockFile                     -> a process-wide table keyed by
//                                              (FileSystem, path); the LOCK
//                                              file is created but not locked
//   NewLogger                               -> a logger that discards
//   GetFileModificationTime                 -> 0 (the seam has no mtimes)
//   LinkFile, NumFileLinks, AreFilesSame,
//   NewRandomRWFile, mmap buffers, free space -> NotSupported
// Time, threads and background scheduling come from rocksdb::Env::Default().
// Paths are used as given (GetAbsolutePath returns its input): give RocksDB
// absolute paths.
//
// Status mapping: NotFound -> IOError(PathNotFound) (NotFound from FileExists
// and GetChildren, as RocksDB's POSIX Env does), ResourceExhausted -> NoSpace,
// everything else -> IOError; the message carries the neon status text.
//
// Usage:
//   auto env = NewRocksEnv(fs);
//   rocksdb::Options options;
//   options.create_if_missing = true;
//   options.env = env.get();
//   ConfigureRocksOptionsForNeonFs(&options);
//   rocksdb::DB::Open(options, "/abs/dir", &db);   // env must outlive db
//
// Thread safety: the Env is safe for concurrent use (RocksDB calls it from
// its background threads); its files follow rocksdb's rules (a WritableFile
// is used by one thread at a time).

#ifndef NEON_LIB_ENGINE_ROCKSDB_ENV_H_
#define NEON_LIB_ENGINE_ROCKSDB_ENV_H_

#include <memory>

#include "neon/file_system.h"
#include "rocksdb/env.h"

namespace rocksdb {
struct Options;
}  // namespace rocksdb

namespace neon {

// Returns a rocksdb::Env whose file operations go to `fs` (time, threads and
// scheduling come from rocksdb::Env::Default()). `fs` must outlive the Env,
// and the Env every DB opened with it.
std::unique_ptr<rocksdb::Env> NewRocksEnv(std::shared_ptr<FileSystem> fs);

// Sets the options RocksDB needs to run entirely inside a neon FileSystem.
// Leaves env, create_if_missing and tuning options to the caller. Sets:
//   info_log                    a discarding logger (unless one is set), so
//                               no LOG / LOG.old files are written;
//   wal_recovery_mode           kPointInTimeRecovery: a WAL tail torn by a
//                               crash (only unsynced, unacknowledged writes)
//                               is dropped instead of failing the open;
//   avoid_flush_during_shutdown true: every write that must survive is synced
//                               to the WAL, so Close does no flush (and no
//                               I/O that could fail after an injected crash);
//   allow_mmap_reads/writes, use_direct_reads,
//   use_direct_io_for_flush_and_compaction   false (plain reads and appends);
//   allow_fallocate             false;
//   stats_dump_period_sec, stats_persist_period_sec   0 (no stats timers);
//   persist_stats_to_disk, dump_malloc_stats, enable_thread_tracking  false.
void ConfigureRocksOptionsForNeonFs(rocksdb::Options* options);

}  // namespace neon

#endif  // NEON_LIB_ENGINE_ROCKSDB_ENV_H_
