#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, and runs the
# branching demo (examples/branching_demo) on a fresh work directory.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
BUILD_DIR="${NEON_BUILD_DIR:-build}"
WORKDIR="${1:-.neon/demo}"
rm -rf "$WORKDIR"
mkdir -p "$WORKDIR"
"$BUILD_DIR/examples/branching_demo" "$WORKDIR"
