#!/usr/bin/env bash
# Builds PostgreSQL 15 from Debian's postgresql-15 source package and caches it
# outside the clone, keyed by the upstream version and our patch set:
#
#   ${NEON_PG_CACHE:-$HOME/.cache/neonstore/postgres}/<pgversion>-<hash>/
#     src/postgresql-<v>/   the unpacked orig tarball, bindings/postgres/patches applied
#     build/                the VPATH build tree (kept: the walredo link uses its objects)
#     install/              make install (--prefix)
#     .done                 written last; its presence means the directory is complete
#
# <hash> = first 16 hex of sha256(configure flags + recipe version + every file
# in bindings/postgres/patches/, applied in name order with patch -p1).
#
# A second run finds .done and prints "build-postgres: reusing <dir>" at once
# (no network). Concurrent runs serialize on a flock in the cache root.
# Output: progress lines; the last line is NEON_PG_DIR=<dir>. The script also
# points the symlink .neon/postgres (in the clone, git-ignored) at <dir>.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
START=$SECONDS
log() { echo "build-postgres: [$((SECONDS - START))s] $*"; }

RECIPE=1  # bump to force a rebuild when this script's build steps change
CONFIGURE_FLAGS=(--with-lz4 --with-zstd --enable-debug)
DEPS=(build-essential pkg-config dpkg-dev bzip2 libreadline-dev zlib1g-dev liblz4-dev
      libzstd-dev libseccomp-dev)
CACHE_ROOT="${NEON_PG_CACHE:-$HOME/.cache/neonstore/postgres}"
PATCH_DIR="$REPO/bindings/postgres/patches"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

patches() {
  if [ -d "$PATCH_DIR" ]; then
    find "$PATCH_DIR" -maxdepth 1 -type f -name '*.patch' | LC_ALL=C sort
  fi
}

recipe_hash() {
  {
    echo "recipe=$RECIPE flags=${CONFIGURE_FLAGS[*]}"
    while IFS= read -r p; do
      [ -n "$p" ] || continue
      echo "patch $(basename "$p")"
      cat "$p"
    done < <(patches)
  } | sha256sum | cut -c1-16
}

finish() {
  local dir="$1"
  mkdir -p "$REPO/.neon"
  ln -sfn "$dir" "$REPO/.neon/postgres"
  echo "NEON_PG_DIR=$dir"
  exit 0
}

# The newest complete build with this hash, if any (used when apt cannot say
# which version it serves, e.g. offline before deb-src was ever fetched).
newest_done() {
  local d
  for d in "$CACHE_ROOT"/15.*-"$HASH"; do if [ -f "$d/.done" ]; then echo "$d"; fi; done | sort -V | tail -1
}

# postgresql-15 source versions apt knows (e.g. 15.20-0+deb12u1), newest first.
served_versions() {
  apt-cache showsrc postgresql-15 2>/dev/null | awk '/^Version:/ {print $2}' | sort -rVu
}

have_deb_src() {
  grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}

enable_deb_src() {
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    local file=/etc/apt/sources.list.d/neon-deb-src.sources
    log "no deb-src entry: writing $file from debian.sources"
    # Mirror every stanza of debian.sources with Types: deb-src.
    sed -e 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
      $SUDO tee "$file" >/dev/null
  else
    local file=/etc/apt/sources.list.d/neon-deb-src.list
    log "no deb-src entry: writing $file from sources.list"
    sed -n -e 's/^deb /deb-src /p' /etc/apt/sources.list | $SUDO tee "$file" >/dev/null
  fi
  log "apt-get update"
  $SUDO apt-get update -qq
}

install_deps() {
  local missing=() p
  for p in "${DEPS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing build dependencies: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
  local dir="$1" debver="$2" ver="$3"
  rm -rf "$dir"
  mkdir -p "$dir/dl" "$dir/src" "$dir/build"
  log "downloading source package postgresql-15=$debver"
  local sandbox=()  # as root, apt would warn that _apt cannot write here
  if [ "$(id -u)" -eq 0 ]; then sandbox=(-o APT::Sandbox::User=root); fi
  (cd "$dir/dl" && apt-get source "${sandbox[@]}" --download-only -qq "postgresql-15=$debver") ||
    return 1
  local orig
  orig=$(ls "$dir"/dl/postgresql-15_"$ver".orig.tar.* | head -1) || exit 1
  log "unpacking $(basename "$orig")"
  tar -C "$dir/src" -xf "$orig" || exit 1
  local src="$dir/src/postgresql-$ver"
  [ -d "$src" ] || { echo "build-postgres: $src missing after unpack" >&2; exit 1; }
  while IFS= read -r p; do
    [ -n "$p" ] || continue
    log "applying $(basename "$p")"
    patch -d "$src" -p1 --forward --quiet < "$p" || { echo "build-postgres: $p failed" >&2; exit 1; }
  done < <(patches)
  log "configure ${CONFIGURE_FLAGS[*]}"
  (cd "$dir/build" && "$src/configure" "${CONFIGURE_FLAGS[@]}" --prefix="$dir/install" \
      > "$dir/configure.log" 2>&1) || { tail -30 "$dir/configure.log" >&2; exit 1; }
  log "make -j$(nproc) (about 2-4 minutes; log in $dir/make.log)"
  make -C "$dir/build" -j"$(nproc)" > "$dir/make.log" 2>&1 || { tail -40 "$dir/make.log" >&2; exit 1; }
  log "make install"
  make -C "$dir/build" install > "$dir/install.log" 2>&1 || { tail -40 "$dir/install.log" >&2; exit 1; }
  printf 'version=%s\ndebian=%s\nflags=%s\n' "$ver" "$debver" "${CONFIGURE_FLAGS[*]}" > "$dir/.done"
  log "built $dir"
}

HASH=$(recipe_hash)
mkdir -p "$CACHE_ROOT"

# Fast path: the newest complete build of a version apt lists (or, when apt
# lists no source at all, of any version) with this hash.
VERSIONS=()
if have_deb_src; then mapfile -t VERSIONS < <(served_versions || true); fi
for DEBVER in "${VERSIONS[@]}"; do
  DIR="$CACHE_ROOT/${DEBVER%%-*}-$HASH"
  if [ -f "$DIR/.done" ]; then log "reusing $DIR"; finish "$DIR"; fi
done
if [ ${#VERSIONS[@]} -eq 0 ]; then
  DIR=$(newest_done)
  if [ -n "$DIR" ]; then log "reusing $DIR"; finish "$DIR"; fi
fi

exec 9>"$CACHE_ROOT/.lock"
log "taking the cache lock $CACHE_ROOT/.lock"
flock 9
install_deps
if ! have_deb_src; then enable_deb_src; fi
mapfile -t VERSIONS < <(served_versions || true)
if [ ${#VERSIONS[@]} -eq 0 ]; then
  log "apt-get update (no postgresql-15 source known)"
  $SUDO apt-get update -qq
  mapfile -t VERSIONS < <(served_versions || true)
fi
[ ${#VERSIONS[@]} -gt 0 ] || { echo "build-postgres: apt serves no postgresql-15 source" >&2; exit 1; }
# Newest first; a version the index lists but the mirror does not serve (404)
# falls through to the next one.
for DEBVER in "${VERSIONS[@]}"; do
  VER="${DEBVER%%-*}"
  DIR="$CACHE_ROOT/$VER-$HASH"
  if [ -f "$DIR/.done" ]; then log "reusing $DIR (built by a concurrent run)"; finish "$DIR"; fi
  if build "$DIR" "$DEBVER" "$VER"; then finish "$DIR"; fi
  log "postgresql-15=$DEBVER could not be fetched; trying an older version"
  rm -rf "$DIR"
done
echo "build-postgres: no postgresql-15 source version could be fetched" >&2
exit 1
