#!/usr/bin/env bash
# Configures and builds neonstore into ./build (or $NEON_BUILD_DIR).
# Extra arguments are passed to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${NEON_BUILD_DIR:-build}"
JOBS="${NEON_JOBS:-$(nproc)}"
GEN=()
if command -v ninja >/dev/null 2>&1; then GEN=(-G Ninja); fi
EXTRA=()
if [ "${CI:-}" = "true" ]; then EXTRA+=(-DNEON_WERROR=ON); fi
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  echo "build: configuring $BUILD_DIR"
  cmake -S . -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${EXTRA[@]}" "$@"
elif [ $# -gt 0 ] || [ ${#EXTRA[@]} -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" "${EXTRA[@]}" "$@" >/dev/null
fi
echo "build: compiling with $JOBS jobs into $BUILD_DIR"
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "build: done"
