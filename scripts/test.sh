#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/install-test-peers.sh
./scripts/build.sh
BUILD_DIR="${NEON_BUILD_DIR:-build}"
echo "test: running ctest in $BUILD_DIR"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "${NEON_JOBS:-$(nproc)}" --timeout 1200
