#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, and runs a whole neonstore cluster
# on this machine with neon_local (a storage broker, a pageserver, three safekeepers):
#
#   1. a throwaway stock Postgres 15 (the "primary") gets pgbench tables;
#   2. neon_walpump imports it as branch "main" and streams its WAL to the safekeepers,
#      as the primary's synchronous standby, while pgbench runs;
#   3. mid-run a marker row is inserted and its LSN taken; branch "demo_branch" is made there;
#   4. after more pgbench the branch is exported (a full base backup from the pageserver) and a
#      second stock Postgres starts on it: it sees the data as of the LSN, not what came later.
#
# Everything lives in $NEON_REPO_DIR (default .neon/demo): the cluster, both Postgres data
# directories and every log. Environment: NEON_BUILD_DIR (build), NEON_PG_BINDIR (Debian's
# /usr/lib/postgresql/15/bin, as the tests use), NEON_DEMO_BASE_PORT (the cluster's ports:
# servers' defaults when unset), NEON_DEMO_AUTH=1 (JWT auth on), NEON_DEMO_PGBENCH_SECONDS
# (10), NEON_DEMO_SKIP_BUILD=1 (use the binaries already built).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

step() { printf '\n=== demo: %s\n' "$*"; }

if [ "${NEON_DEMO_SKIP_BUILD:-0}" != 1 ]; then
  step "installing dependencies and building (scripts/install-deps.sh, scripts/build.sh)"
  ./scripts/install-deps.sh
  ./scripts/build.sh
fi
BUILD_DIR="$(readlink -f "${NEON_BUILD_DIR:-build}")"
NL="$BUILD_DIR/servers/neon_local/neon_local"
PG_BIN="${NEON_PG_BINDIR:-/usr/lib/postgresql/15/bin}"
export NEON_REPO_DIR="${NEON_REPO_DIR:-$ROOT/.neon/demo}"
case "$NEON_REPO_DIR" in /*) ;; *) NEON_REPO_DIR="$ROOT/$NEON_REPO_DIR" ;; esac
SECONDS_PER_RUN="${NEON_DEMO_PGBENCH_SECONDS:-10}"
PGDIR="$NEON_REPO_DIR/demo_postgres"
PRIMARY="$PGDIR/primary"
EXPORT="$PGDIR/branch_export"

for tool in "$NL" "$PG_BIN/initdb" "$PG_BIN/pg_ctl" "$PG_BIN/pgbench" "$PG_BIN/psql"; do
  if [ ! -x "$tool" ]; then
    echo "demo: $tool is missing (build with scripts/build.sh; Postgres 15 from scripts/install-deps.sh)" >&2
    exit 1
  fi
done

# Postgres refuses to run as root: run its tools as the postgres account then.
AS_PG=()
if [ "$(id -u)" -eq 0 ]; then AS_PG=(runuser -u postgres --); fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_start() {  # data_dir port
  cat >>"$1/postgresql.conf" <<EOF
port = $2
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PGDIR'
EOF
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$1" -l "$1.log" -w -t 120 start >/dev/null
  echo "demo: Postgres on 127.0.0.1:$2, data $1, log $1.log"
}

pg_stop() {  # data_dir
  if [ -f "$1/postmaster.pid" ]; then
    "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$1" -m fast -w -t 60 stop >/dev/null 2>&1 ||
      "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$1" -m immediate -w stop >/dev/null 2>&1 || true
  fi
}

sql() {  # port sql...
  local port="$1"
  shift
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "$*"
}

cleanup() {
  local rc=$?
  step "stopping everything"
  pg_stop "$EXPORT"
  pg_stop "$PRIMARY"
  if [ -f "$NEON_REPO_DIR/config.json" ]; then "$NL" stop || true; fi
  if [ $rc -ne 0 ]; then
    echo "demo: FAILED (exit $rc); logs are in $NEON_REPO_DIR (neon_local status lists them)" >&2
  fi
}

step "fresh cluster repository in $NEON_REPO_DIR"
if [ -f "$NEON_REPO_DIR/config.json" ]; then
  pg_stop "$PGDIR/branch_export"
  pg_stop "$PGDIR/primary"
  "$NL" stop --immediate >/dev/null || true
fi
rm -rf "$NEON_REPO_DIR"
trap cleanup EXIT
INIT_ARGS=()
if [ -n "${NEON_DEMO_BASE_PORT:-}" ]; then INIT_ARGS+=(--base-port "$NEON_DEMO_BASE_PORT"); fi
if [ "${NEON_DEMO_AUTH:-0}" = 1 ]; then INIT_ARGS+=(--auth); fi
"$NL" init "${INIT_ARGS[@]}"

step "starting the cluster (neon_local start)"
"$NL" start

step "a stock Postgres 15 as the source (initdb in $PRIMARY)"
mkdir -p "$PGDIR"
if [ ${#AS_PG[@]} -gt 0 ]; then
  chown postgres: "$PGDIR"
  if ! "${AS_PG[@]}" test -w "$PGDIR"; then
    echo "demo: the postgres account cannot reach $PGDIR; point NEON_REPO_DIR somewhere it can" >&2
    exit 1
  fi
fi
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$PRIMARY" -A trust -U postgres -E UTF8 --no-sync \
  --locale=C.UTF-8 >"$PGDIR/initdb.log"
cat >>"$PRIMARY/postgresql.conf" <<EOF
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
EOF
PRIMARY_PORT="$(free_port)"
pg_start "$PRIMARY" "$PRIMARY_PORT"

step "pgbench -i -s 2 on the primary"
"$PG_BIN/pgbench" -i -s 2 -q -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres postgres
sql "$PRIMARY_PORT" "CREATE TABLE demo_marker (id serial PRIMARY KEY, note text NOT NULL,
                     at timestamptz NOT NULL DEFAULT now())"

step "neon_walpump imports the primary as branch 'main' and streams its WAL (neon_local walpump start)"
"$NL" walpump start --connstr "host=127.0.0.1 port=$PRIMARY_PORT user=postgres dbname=postgres" \
  --branch-name main

step "the walpump becomes the primary's synchronous standby"
sql "$PRIMARY_PORT" "ALTER SYSTEM SET synchronous_standby_names = 'neon_walpump'"
sql "$PRIMARY_PORT" "SELECT pg_reload_conf()" >/dev/null
sleep 1
sql "$PRIMARY_PORT" "SELECT 'demo: replication: ' || application_name || ' ' || state || ' ' ||
                            sync_state FROM pg_stat_replication"

step "pgbench for $((2 * SECONDS_PER_RUN)) s; a marker row and its LSN after $SECONDS_PER_RUN s"
"$PG_BIN/pgbench" -n -c 4 -T "$((2 * SECONDS_PER_RUN))" -h 127.0.0.1 -p "$PRIMARY_PORT" \
  -U postgres postgres >"$PGDIR/pgbench-1.log" 2>&1 &
PGBENCH=$!
sleep "$SECONDS_PER_RUN"
HISTORY_BEFORE="$(sql "$PRIMARY_PORT" "SELECT count(*) FROM pgbench_history")"
sql "$PRIMARY_PORT" "INSERT INTO demo_marker (note) VALUES ('before the branch')"
BRANCH_LSN="$(sql "$PRIMARY_PORT" "SELECT pg_current_wal_flush_lsn()")"
echo "demo: marker inserted; flush LSN $BRANCH_LSN (pgbench_history had $HISTORY_BEFORE rows just before)"
wait "$PGBENCH"
grep -E "^(tps|number of transactions actually processed)" "$PGDIR/pgbench-1.log" | sed 's/^/demo: pgbench: /'

step "branch 'demo_branch' of 'main' at $BRANCH_LSN (neon_local timeline branch)"
"$NL" timeline branch --branch-name demo_branch --ancestor-branch-name main \
  --ancestor-start-lsn "$BRANCH_LSN"

step "more pgbench ($SECONDS_PER_RUN s) and a second marker on the primary"
"$PG_BIN/pgbench" -n -c 4 -T "$SECONDS_PER_RUN" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres \
  postgres >"$PGDIR/pgbench-2.log" 2>&1
sql "$PRIMARY_PORT" "INSERT INTO demo_marker (note) VALUES ('after the branch')"
"$NL" timeline list

step "export the branch (neon_local timeline export) and start a second stock Postgres on it"
"$NL" timeline export --branch-name demo_branch --dest "$EXPORT"
if [ ${#AS_PG[@]} -gt 0 ]; then chown -R postgres: "$EXPORT"; fi
EXPORT_PORT="$(free_port)"
pg_start "$EXPORT" "$EXPORT_PORT"

step "the same queries on both"
query="SELECT (SELECT count(*) FROM pgbench_history) AS history_rows,
              (SELECT string_agg(note, ', ' ORDER BY id) FROM demo_marker) AS markers"
P="$(sql "$PRIMARY_PORT" "$query")"
B="$(sql "$EXPORT_PORT" "$query")"
printf 'demo: primary (now):            history_rows|markers = %s\n' "$P"
printf 'demo: branch at %-14s  history_rows|markers = %s\n' "$BRANCH_LSN:" "$B"
P_ROWS="${P%%|*}"
B_ROWS="${B%%|*}"
if [ "${B#*|}" != "before the branch" ] || [ "${P#*|}" != "before the branch, after the branch" ] ||
  [ "$B_ROWS" -ge "$P_ROWS" ] || [ "$B_ROWS" -lt "$HISTORY_BEFORE" ]; then
  echo "demo: unexpected results: the branch should hold the first marker only and fewer rows" >&2
  exit 1
fi
echo "demo: OK: the branch holds the data as of $BRANCH_LSN ($B_ROWS rows, first marker only);"
echo "      the primary went on ($P_ROWS rows, both markers)"
"$NL" status
