#!/usr/bin/env bash
# Configures and builds neonstore into ./build (or $NEON_BUILD_DIR), after
# building PostgreSQL 15 once (scripts/build-postgres.sh).
# Extra arguments are passed to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${NEON_BUILD_DIR:-build}"
JOBS="${NEON_JOBS:-$(nproc)}"
GEN=()
if command -v ninja >/dev/null 2>&1; then GEN=(-G Ninja); fi
EXTRA=()
if [ "${CI:-}" = "true" ]; then EXTRA+=(-DNEON_WERROR=ON); fi
# PostgreSQL 15 for neon_walredo and the Postgres tests: built once, cached
# outside the clone (scripts/build-postgres.sh; .neon/postgres points at it).
# NEON_SKIP_POSTGRES=1 builds without them.
if [ "${NEON_SKIP_POSTGRES:-0}" != 1 ]; then
  ./scripts/build-postgres.sh
  PG_DIR="$(readlink -f .neon/postgres)"
  if ! grep -qxF "NEON_PG_DIR:PATH=$PG_DIR" "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
    EXTRA+=(-DNEON_PG_DIR="$PG_DIR")
  fi
fi
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  echo "build: configuring $BUILD_DIR"
  cmake -S . -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${EXTRA[@]}" "$@"
elif [ $# -gt 0 ] || [ ${#EXTRA[@]} -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" "${EXTRA[@]}" "$@" >/dev/null
fi
echo "build: compiling with $JOBS jobs into $BUILD_DIR"
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "build: done"
