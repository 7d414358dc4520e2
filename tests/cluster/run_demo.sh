#!/usr/bin/env bash
# The README's main job as a test: scripts/demo.sh on the binaries already built, with a
# scratch repository and a free block of ports (the defaults may be busy on a test machine).
#   tests/cluster/run_demo.sh BUILD_DIR
set -euo pipefail
BUILD_DIR=$(cd "$1" && pwd)
cd "$(dirname "$0")/../.."
free_block() {
  for _ in $(seq 1 50); do
    local cand
    # Below the kernel's ephemeral range (32768 and up), where other tests' client sockets
    # could take a port between this check and the servers' bind.
    cand=$(( 20000 + (RANDOM % 120) * 100 ))
    local busy=0
    for o in $(seq 0 12); do
      (exec 3<>/dev/tcp/127.0.0.1/$((cand + o))) 2>/dev/null && { busy=1; break; }
    done
    [ $busy = 0 ] && { echo "$cand"; return; }
  done
  echo "run_demo: no free port block" >&2
  exit 1
}
REPO=$(mktemp -d /tmp/neon-demo-test.XXXXXX)
trap 'rm -rf "$REPO"' EXIT
chmod 755 "$REPO"
out=$(NEON_DEMO_SKIP_BUILD=1 NEON_BUILD_DIR="$BUILD_DIR" NEON_REPO_DIR="$REPO/repo" \
      NEON_DEMO_BASE_PORT=$(free_block) NEON_DEMO_PGBENCH_SECONDS=4 scripts/demo.sh 2>&1) || {
  echo "$out"
  exit 1
}
echo "$out" | tail -25
echo "$out" | grep -q "demo: OK: the branch holds the data" || { echo "run_demo: no OK line"; exit 1; }
