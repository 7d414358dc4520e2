#!/usr/bin/env bash
# The price of quorum durability: pgbench TPS and commit latency of a stock Postgres 15 with
# neon_walpump as its synchronous standby (3 safekeepers, real fsync), against the same
# server with synchronous_commit = local, in the same run. Rounds alternate (local, quorum,
# local, quorum, ...) so that machine noise hits both sides.
#
#   bench/walpump/walpump_bench.sh [--build-dir build] [--seconds 15] [--rounds 2]
#                                  [--clients 4] [--scale 4] [--base-port 0]
#
# Prints a table with TPS, p50/p99 latency per mode and client count, and the ratios.
set -euo pipefail

BUILD_DIR=build
SECONDS_PER_RUN=15
ROUNDS=2
CLIENTS=4
SCALE=4
BASE_PORT=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --scale) SCALE=$2; shift 2 ;;
    --base-port) BASE_PORT=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "walpump_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done

BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
NEON_LOCAL="$BUILD_DIR/servers/neon_local/neon_local"
PG_BIN=/usr/lib/postgresql/15/bin
for f in "$NEON_LOCAL" "$PG_BIN/pgbench" "$PG_BIN/initdb"; do
  [ -x "$f" ] || { echo "walpump_bench: $f is missing (build first: scripts/build.sh)" >&2; exit 1; }
done

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# A block of free ports for the cluster: base, base+1, ... (neon_local --base-port).
if [ "$BASE_PORT" = 0 ]; then
  for _ in $(seq 1 50); do
    # Below the kernel's ephemeral range (32768 and up), where other tests' client sockets
    # could take a port between this check and the servers' bind.
    cand=$(( 20000 + (RANDOM % 120) * 100 ))
    ok=1
    for o in $(seq 0 20); do
      (exec 3<>/dev/tcp/127.0.0.1/$((cand + o))) 2>/dev/null && { ok=0; break; }
    done
    [ $ok = 1 ] && { BASE_PORT=$cand; break; }
  done
fi

WORK=$(mktemp -d /tmp/neon-walpump-bench.XXXXXX)
chmod 755 "$WORK"
REPO="$WORK/repo"
PGDATA_DIR="$WORK/pg"
PG_PORT=$(free_port)
AS_PG=()
if [ "$(id -u)" = 0 ]; then AS_PG=(runuser -u postgres --); fi

cleanup() {
  "$NEON_LOCAL" --repo-dir "$REPO" stop --immediate >/dev/null 2>&1 || true
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== cluster: neon_local in $REPO (base port $BASE_PORT)"
"$NEON_LOCAL" --repo-dir "$REPO" init --base-port "$BASE_PORT" >/dev/null
"$NEON_LOCAL" --repo-dir "$REPO" start >/dev/null

echo "== source: stock Postgres 15 on 127.0.0.1:$PG_PORT (fsync on), pgbench -i -s $SCALE"
mkdir -p "$PGDATA_DIR"
[ "$(id -u)" = 0 ] && chown postgres "$PGDATA_DIR"
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$PGDATA_DIR/data" -A trust -U postgres >/dev/null
cat >> "$PGDATA_DIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PGDATA_DIR'
wal_level = replica
max_wal_senders = 8
max_replication_slots = 8
shared_buffers = 128MB
EOF
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA_DIR/data" -l "$PGDATA_DIR/server.log" -w start >/dev/null
PSQL=("$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres)
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1

echo "== walpump: import and stream to 3 safekeepers"
"$NEON_LOCAL" --repo-dir "$REPO" walpump start \
  --connstr "host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres" >/dev/null
"${PSQL[@]}" -c "ALTER SYSTEM SET synchronous_standby_names = 'neon_walpump'"
"${PSQL[@]}" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 100); do
  st=$("${PSQL[@]}" -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'neon_walpump'")
  [ "$st" = sync ] && break
  sleep 0.2
done
[ "$st" = sync ] || { echo "walpump_bench: the walpump did not become the synchronous standby" >&2; exit 1; }

# run MODE CLIENTS -> "tps p50_ms p99_ms"
run() {
  local mode=$1 clients=$2 opts=""
  [ "$mode" = local ] && opts="-c synchronous_commit=local"
  local logdir="$WORK/log.$mode.$clients.$RANDOM"
  mkdir -p "$logdir"
  local out
  out=$(cd "$logdir" && PGOPTIONS="$opts" "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" \
        -U postgres -c "$clients" -j "$(( clients < 2 ? 1 : 2 ))" -T "$SECONDS_PER_RUN" -l \
        --log-prefix="$logdir/tx" postgres 2>&1)
  local tps
  tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -1)
  # Per-transaction log: client tx_no latency_us script epoch_s epoch_us.
  cat "$logdir"/tx.* | awk '{print $3}' | sort -n > "$logdir/lat"
  local n p50 p99
  n=$(wc -l < "$logdir/lat")
  p50=$(awk -v n="$n" 'NR==int(n*0.50)+1 {printf "%.2f", $1/1000; exit}' "$logdir/lat")
  p99=$(awk -v n="$n" 'NR==int(n*0.99)+1 {printf "%.2f", $1/1000; exit}' "$logdir/lat")
  rm -rf "$logdir"
  echo "$tps $p50 $p99"
}

declare -A TPS P50 P99
for clients in 1 "$CLIENTS"; do
  for mode in local quorum; do TPS[$mode.$clients]=""; P50[$mode.$clients]=""; P99[$mode.$clients]=""; done
  for r in $(seq 1 "$ROUNDS"); do
    for mode in local quorum; do
      read -r tps p50 p99 < <(run "$mode" "$clients")
      echo "   round $r, $clients client(s), $mode: $tps TPS, p50 $p50 ms, p99 $p99 ms"
      TPS[$mode.$clients]+="$tps "; P50[$mode.$clients]+="$p50 "; P99[$mode.$clients]+="$p99 "
    done
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo
echo "pgbench TPC-B-like, scale $SCALE, ${SECONDS_PER_RUN} s per run, median of $ROUNDS rounds"
printf "%-8s %-28s %10s %10s %10s\n" clients mode TPS "p50 ms" "p99 ms"
for clients in 1 "$CLIENTS"; do
  for mode in local quorum; do
    label="synchronous_commit=local"
    [ "$mode" = quorum ] && label="walpump sync (3 sk quorum)"
    printf "%-8s %-28s %10s %10s %10s\n" "$clients" "$label" \
      "$(echo "${TPS[$mode.$clients]}" | median)" "$(echo "${P50[$mode.$clients]}" | median)" \
      "$(echo "${P99[$mode.$clients]}" | median)"
  done
  l=$(echo "${TPS[local.$clients]}" | median)
  q=$(echo "${TPS[quorum.$clients]}" | median)
  awk -v l="$l" -v q="$q" -v c="$clients" 'BEGIN {printf "%-8s quorum/local TPS ratio: %.2f\n", c, (l > 0 ? q / l : 0)}'
done
