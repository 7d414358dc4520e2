// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// NoSyncFileSystem: a FileSystem that forwards everything to another one except syncs,
// which it skips (WritableFile::Sync and SyncDir return OK at once). For `--no-sync`, which
// tests use to run faster: acknowledged WAL is NOT durable across a power loss (it survives
// a process crash, since the data is in the kernel's page cache).
//
// Thread safety: as the wrapped file system.

#ifndef NEON_SERVERS_SAFEKEEPER_NO_SYNC_FS_H_
#define NEON_SERVERS_SAFEKEEPER_NO_SYNC_FS_H_

#include <memory>

#include "neon/file_system.h"

namespace neon::safekeeper {

std::shared_ptr<FileSystem> NewNoSyncFileSystem(std::shared_ptr<FileSystem> base);

}  // namespace neon::safekeeper

#endif  // NEON_SERVERS_SAFEKEEPER_NO_SYNC_FS_H_
