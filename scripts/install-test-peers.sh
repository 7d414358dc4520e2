#!/usr/bin/env bash
# Installs the real peers the tests start or call:
#  * s3rver (npm), pinned by tests/peers/package-lock.json, into
#    tests/peers/node_modules (the remote tests fail without it);
#  * the AWS CLI, and Node.js/npm to install s3rver, from Debian when missing.
# Idempotent: needs no network when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v aws >/dev/null 2>&1 || missing+=(awscli)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-test-peers: installing ${missing[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PEERS=tests/peers
STAMP="$PEERS/node_modules/.neon-installed-package-lock.json"
if [ -x "$PEERS/node_modules/.bin/s3rver" ] && cmp -s "$PEERS/package-lock.json" "$STAMP"; then
  echo "install-test-peers: s3rver up to date"
else
  echo "install-test-peers: npm ci in $PEERS"
  (cd "$PEERS" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$PEERS/package-lock.json" "$STAMP"
fi
echo "install-test-peers: s3rver $("$PEERS/node_modules/.bin/s3rver" --version), $(aws --version 2>&1 | head -1)"
