#!/usr/bin/env bash
# bench/search.sh: the read-path benchmark of issue 4 on this machine.
#
# Builds release binaries, starts PostgreSQL + Redis (scripts/servers.sh),
# bulk-loads the corpus with COPY (mwbench search load), optionally builds
# the global HNSW index (--hnsw: MEM0_HNSW=true) or the heavy user's own
# (--user-hnsw: memctl hnsw), starts the mock LLM (0 ms) and one
# memsearch, and prints end-to-end / server-side / raw-SQL figures and
# recall for typical users and the heavy user (mwbench search run).
#   bash bench/search.sh [--users 10000] [--per-user 100] [--heavy 50000] [--dims 1536] [--hnsw] [--user-hnsw]
#        [--embedding dense|sparse] [--requests 2000] [--heavy-requests 500] [--concurrency 1,32]
#        [--recall 200] [--no-floor] [--plans] [--data DIR] [--shared-buffers 4GB] [--prewarm]
#        [--ef-search 100]   (MEM0_HNSW_EF_SEARCH: the HNSW searches' candidate list)
#        [--replicas 1] (memsearch processes sharing the stream)
#        [--memsearch PATH] (another build's memsearch, to compare two builds on one corpus in one session;
#                           keep the file name memsearch, or its CPU is counted as "other")
#        [--unix] (memsearch and the clients reach Redis and PostgreSQL through unix sockets, not loopback TCP)
#        [--huge-pages on|off] (default on: PostgreSQL's shared_buffers on huge pages, as a production server
#                              with GBs of them should be: the kernel's pages are reserved for the run, when it
#                              lets root do so, and given back at the end)
# --embedding: the mock's word-hash vectors (common/hashembed.h), the same
# kind for the loaded corpus, the mock and mwbench's recall. dense (the
# default) spreads every word over every component, as real embeddings do:
# ~6 KB a 1536-d row that pglz cannot shrink. sparse (the tests' kind, two
# components a word) compresses ~14x and lets HNSW look better than it is.
# A small run takes seconds: --users 200 --heavy 2000 --dims 256. The full
# corpus (1,000,000 + 50,000 rows of 1536-d) needs ~10 GB of disk (~20 GB
# with --hnsw) and minutes to load; --data DIR keeps the loaded cluster for
# later runs (same sizes and embedding kind: the load is skipped).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build/bench
USERS=10000 PER_USER=100 HEAVY=50000 DIMS=1536 HNSW=false USER_HNSW=false EMBEDDING=dense
REQUESTS=2000 HEAVY_REQUESTS=500 CONC=1,32 RECALL=200 FLOOR="" PLANS=false DATA="" SHARED_BUFFERS=4GB PREWARM=false
EF_SEARCH=100 HUGE_PAGES=on REPLICAS=1 MEMSEARCH="" UNIX=false
while [ $# -gt 0 ]; do
	case $1 in
	--users) USERS=$2; shift 2 ;;
	--per-user) PER_USER=$2; shift 2 ;;
	--heavy) HEAVY=$2; shift 2 ;;
	--dims) DIMS=$2; shift 2 ;;
	--embedding) EMBEDDING=$2; shift 2 ;;
	--hnsw) HNSW=true; shift ;;
	--user-hnsw) USER_HNSW=true; shift ;;
	--requests) REQUESTS=$2; shift 2 ;;
	--heavy-requests) HEAVY_REQUESTS=$2; shift 2 ;;
	--concurrency) CONC=$2; shift 2 ;;
	--recall) RECALL=$2; shift 2 ;;
	--no-floor) FLOOR=--no-floor; shift ;;
	--plans) PLANS=true; shift ;;
	--data) DATA=$2; shift 2 ;;
	--shared-buffers) SHARED_BUFFERS=$2; shift 2 ;;
	--prewarm) PREWARM=true; shift ;;
	--ef-search) EF_SEARCH=$2; shift 2 ;;
	--huge-pages) HUGE_PAGES=$2; shift 2 ;;
	--replicas) REPLICAS=$2; shift 2 ;;
	--memsearch) MEMSEARCH=$2; shift 2 ;;
	--unix) UNIX=true; shift ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
case $EMBEDDING in
sparse | dense) ;;
*) echo "--embedding wants sparse or dense" >&2; exit 2 ;;
esac
case $HUGE_PAGES in
on | off) ;;
*) echo "--huge-pages wants on or off" >&2; exit 2 ;;
esac

bash "$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMW_TESTS=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target memsearch memctl mwbench mockllm >/dev/null

. "$ROOT/scripts/servers.sh"
if [ -n "$DATA" ]; then
	mkdir -p "$DATA"
	TMP=$(cd "$DATA" && pwd)
	KEEP=1
else
	TMP=$(mktemp -d /tmp/memworker-bench.XXXXXX)
	KEEP=0
fi
PIDS=()
HP_BEFORE=""
cleanup() {
	set +e	# every step runs, whatever one of them returns
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	servers_stop "$TMP"
	# the huge pages reserved for this run go back to the kernel
	[ -z "$HP_BEFORE" ] || echo "$HP_BEFORE" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
	[ "$KEEP" -eq 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT
# PostgreSQL's files: in $TMP, or where servers.sh keeps them when the postgres user cannot reach
# $TMP. A kept cluster (reachable since its first start) starts with what its last run set; huge
# pages are settled below, after the start.
PGDATA_DIR=$(pg_home "$TMP")/pg
[ ! -f "$PGDATA_DIR/postgresql.auto.conf" ] || sed -i '/^huge_pages/d' "$PGDATA_DIR/postgresql.auto.conf"
servers_start "$TMP"
PGDATA_DIR=$(pg_home "$TMP")/pg	# servers_start opens a new folder to the postgres user
PSQL=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt)
# Memory for a box with ~16 GB free; the HNSW build wants its graph in maintenance_work_mem.
"${PSQL[@]}" -c "ALTER SYSTEM SET shared_buffers = '$SHARED_BUFFERS'" -c "ALTER SYSTEM SET effective_cache_size = '12GB'" \
	-c "ALTER SYSTEM SET maintenance_work_mem = '8GB'" -c "ALTER SYSTEM SET max_parallel_maintenance_workers = 2" \
	-c "ALTER SYSTEM SET checkpoint_timeout = '30min'" -c "ALTER SYSTEM SET max_wal_size = '8GB'" >/dev/null
# Huge pages: with 4 KB pages every backend walks its page tables for each buffer it touches (a TLB miss
# per 8 KB page of a search, ~40% of PostgreSQL's CPU per typical search here). 'try' starts without them
# when they cannot be had; the postmaster's mappings then say whether the server got them (below).
HP_KB=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo)
if [ "$HUGE_PAGES" = on ] && [ -n "$HP_KB" ]; then
	SB_MB=$(echo "$SHARED_BUFFERS" | awk '{ n = $0 + 0; u = toupper($0); gsub(/[0-9. ]/, "", u);
		print int(u == "GB" ? n * 1024 : u == "TB" ? n * 1048576 : u == "KB" ? n / 1024 : n) }')
	# shared_buffers and the rest of PostgreSQL's shared memory (~2% of it, plus a margin)
	NEED=$(( (SB_MB * 1024 * 103 / 100 + 256 * 1024) / HP_KB ))
	HAVE=$(cat /proc/sys/vm/nr_hugepages)
	if [ "$HAVE" -lt "$NEED" ] && echo "$NEED" >/proc/sys/vm/nr_hugepages 2>/dev/null; then
		HP_BEFORE=$HAVE
	fi
	"${PSQL[@]}" -c "ALTER SYSTEM SET huge_pages = 'try'" >/dev/null
else
	"${PSQL[@]}" -c "ALTER SYSTEM SET huge_pages = 'off'" >/dev/null
fi
as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -w -t 120 restart >/dev/null
# what the server really got: its shared memory mapped from huge pages, or not ('try' falls back silently)
if grep -q anon_hugepage "/proc/$(head -1 "$PGDATA_DIR/postmaster.pid")/maps" 2>/dev/null; then
	echo "huge pages: PostgreSQL's shared memory is on huge pages"
elif [ "$HUGE_PAGES" = on ]; then
	echo "huge pages: PostgreSQL runs WITHOUT them (the kernel did not give enough for $SHARED_BUFFERS; slower figures)"
else
	echo "huge pages: off"
fi

# a kept --data corpus of another shape or embedding kind is loaded again
SHAPE="$USERS $PER_USER $HEAVY $DIMS $EMBEDDING"
export POSTGRES_HOST=127.0.0.1 POSTGRES_PORT=$PG_PORT POSTGRES_USER=postgres POSTGRES_DB=bench
# the mock serves the embeddings at any dimension (local allows 100 only)
export MEM0_MODELS=openai
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT MEM0_EMBEDDING_DIMS=$DIMS MEM0_LOG_LEVEL=warn
CONNINFO="host=127.0.0.1 port=$PG_PORT user=postgres dbname=bench"
if [ "$(cat "$TMP/loaded" 2>/dev/null || true)" != "$SHAPE" ]; then
	"${PSQL[@]}" -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
	MEM0_HNSW=false "$BUILD/memctl" migrate >/dev/null
	echo "== load: $USERS users x $PER_USER + 1 heavy user x $HEAVY, ${DIMS}-d $EMBEDDING"
	"$BUILD/mwbench" search load --pg "$CONNINFO" --users "$USERS" --per-user "$PER_USER" --heavy "$HEAVY" \
		--dims "$DIMS" --embedding "$EMBEDDING"
	echo "$SHAPE" >"$TMP/loaded"
fi
if [ "$HNSW" = true ]; then
	t0=$(date +%s)
	MEM0_HNSW=true "$BUILD/memctl" migrate >/dev/null
	echo "HNSW index ready after $(( $(date +%s) - t0 )) s"
else
	MEM0_HNSW=false "$BUILD/memctl" migrate >/dev/null
fi
# the heavy user's own index (the only user over --min-rows), or none
if [ "$USER_HNSW" = true ]; then
	"$BUILD/memctl" hnsw --min-rows "$HEAVY"
else
	"$BUILD/memctl" hnsw --min-rows 1000000000 | grep -v "nothing to do" || true
fi
"${PSQL[@]}" -d bench -c "VACUUM ANALYZE mem0_memories"
if [ "$PREWARM" = true ]; then
	# steady state of a server whose shared_buffers hold the working set: the table, its TOAST
	# (long values), the B-trees and the users' own HNSW indexes read once (a global HNSW graph, if
	# any, stays in the OS cache)
	PAGES=$("${PSQL[@]}" -d bench -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" -c "
		WITH t AS (SELECT oid, reltoastrelid FROM pg_class WHERE relname = 'mem0_memories')
		SELECT sum(pg_prewarm(c.oid::regclass)) FROM pg_class c, t
		 WHERE c.oid IN (t.oid, t.reltoastrelid)
		    OR c.oid IN (SELECT i.indexrelid FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
				  JOIN pg_am a ON a.oid = x.relam
				  WHERE i.indrelid IN (t.oid, t.reltoastrelid)
				    AND (a.amname = 'btree' OR x.relname LIKE 'mem0\_memories\_hnsw\_u%'))")
	echo "prewarmed $((PAGES * 8 / 1024)) MB into shared_buffers ($SHARED_BUFFERS)"
fi
echo "database: $("${PSQL[@]}" -d bench -c "SELECT pg_size_pretty(pg_database_size('bench'))"), global HNSW index: $HNSW, heavy user's own: $USER_HNSW"

"$BUILD/tests/mockllm" --port 0 --dims "$DIMS" --embedding "$EMBEDDING" --latency-ms 0 >"$TMP/mock.out" \
	2>"$TMP/mock.err" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -qs listening "$TMP/mock.out" && break; sleep 0.05; done
MOCK_PORT=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/mock.out")

STREAM=bench:search:$$
SPIDS=()
RSOCK=()
if [ "$UNIX" = true ]; then
	[ -S "$TMP/redis.sock" ] || { echo "--unix: Redis has no socket (folder path over 90 characters?)" >&2; exit 2; }
	# a co-located deployment's choice: no TCP/IP stack between memsearch and its servers
	export REDIS_URL=unix://$TMP/redis.sock POSTGRES_HOST=$(pg_home "$TMP")/sock
	RSOCK=(--redis-socket "$TMP/redis.sock")
fi
for r in $(seq 1 "$REPLICAS"); do
	MEM0_MODELS=openai OPENAI_BASE_URL=http://127.0.0.1:$MOCK_PORT/v1 MEM0_SEARCH_STREAM=$STREAM MEM0_LOG_LEVEL=info \
		MEM0_HNSW_EF_SEARCH=$EF_SEARCH \
		"${MEMSEARCH:-$BUILD/memsearch}" 2>"$TMP/memsearch-$r.log" &
	SPIDS+=($!)
	PIDS+=($!)
done
for _ in $(seq 1 100); do
	redis-cli -p "$REDIS_PORT" XINFO GROUPS "$STREAM" 2>/dev/null | grep -q memsearch && break
	sleep 0.05
done

echo "== search: limit 10, mock $EMBEDDING embeddings at 0 ms, $(nproc) cores shared by every process"
if [ "$PLANS" = true ]; then
	"$BUILD/mwbench" search explain --pg "$CONNINFO" --users "$USERS" --per-user "$PER_USER" --heavy "$HEAVY" \
		--dims "$DIMS" --embedding "$EMBEDDING" --ef-search "$EF_SEARCH"
fi
"$BUILD/mwbench" search run --pg "$CONNINFO" --redis-port "$REDIS_PORT" "${RSOCK[@]}" --stream "$STREAM" --users "$USERS" \
	--per-user "$PER_USER" --heavy "$HEAVY" --dims "$DIMS" --embedding "$EMBEDDING" --concurrency "$CONC" \
	--requests "$REQUESTS" --heavy-requests "$HEAVY_REQUESTS" --recall "$RECALL" \
	--ef-search "$EF_SEARCH" $FLOOR
# CPU seconds over the whole run, per program (the cores are shared by all of them)
cpu_s() { awk '{ printf "%.1f", ($14 + $15) / 100 }' "/proc/$1/stat" 2>/dev/null || echo "?"; }
cpu_sum() {
	local sum=0 p
	for p in "$@"; do sum=$(awk -v a="$sum" -v b="$(cpu_s "$p")" 'BEGIN { print a + b }'); done
	printf '%s' "$sum"
}
PGMAIN=$(head -1 "$PGDATA_DIR/postmaster.pid")
# shellcheck disable=SC2046 # one pid per word
PGCPU=$(cpu_sum $(ps -o pid= --ppid "$PGMAIN"))
echo "cpu seconds: memsearch $(cpu_sum "${SPIDS[@]}"), mockllm $(cpu_s "${PIDS[0]}"), redis-server $(cpu_s "$(cat "$TMP/redis.pid")"), postgres backends $PGCPU (live ones)"
kill -TERM "${SPIDS[@]}"
for p in "${SPIDS[@]}"; do wait "$p" || true; done
for r in $(seq 1 "$REPLICAS"); do
	grep -E "stopped|error" "$TMP/memsearch-$r.log" | sed "s/^/memsearch $r: /" | tail -n 3
done
