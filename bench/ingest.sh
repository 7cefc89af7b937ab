#!/usr/bin/env bash
# bench/ingest.sh: the ingest benchmark of issue 3 on this machine.
#
# Builds release binaries, starts PostgreSQL + Redis (scripts/servers.sh) and
# the mock LLM at the given latency, runs one memworker, feeds the corpus
# with mwbench ingest and prints the figures, plus the mock's call counts.
#   bash bench/ingest.sh [--latency-ms 0] [--users 200] [--exchanges 20] [--dims 1536] [--models mock|local]
# --models local: the embedded models instead of the mock (100-d, no HTTP).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build/bench
LATENCY=0 USERS=200 EXCHANGES=20 DIMS=1536 PIPELINE=single MODELS=mock
while [ $# -gt 0 ]; do
	case $1 in
	--latency-ms) LATENCY=$2; shift 2 ;;
	--users) USERS=$2; shift 2 ;;
	--exchanges) EXCHANGES=$2; shift 2 ;;
	--dims) DIMS=$2; shift 2 ;;
	--pipeline) PIPELINE=$2; shift 2 ;;
	--models) MODELS=$2; shift 2 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done

bash "$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target memworker memctl mwbench mockllm >/dev/null

. "$ROOT/scripts/servers.sh"
TMP=$(mktemp -d /tmp/memworker-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	servers_stop "$TMP"
	rm -rf "$TMP"
}
trap cleanup EXIT
servers_start "$TMP"
as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres bench

"$BUILD/tests/mockllm" --port 0 --dims "$DIMS" --latency-ms "$LATENCY" >"$TMP/mock.out" 2>"$TMP/mock.err" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q listening "$TMP/mock.out" && break; sleep 0.05; done
MOCK_PORT=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/mock.out")

export POSTGRES_HOST=127.0.0.1 POSTGRES_PORT=$PG_PORT POSTGRES_USER=postgres POSTGRES_DB=bench
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT MEM0_MODELS=openai OPENAI_BASE_URL=http://127.0.0.1:$MOCK_PORT/v1
export MEM0_EMBEDDING_DIMS=$DIMS MEM0_STREAM=bench:ingest MEM0_PIPELINE=$PIPELINE MEM0_LOG_LEVEL=warn
if [ "$MODELS" = local ]; then
	. "$ROOT/scripts/local_model.sh"
	export MEM0_LOCAL_MODEL_PATH=${MEM0_LOCAL_MODEL_PATH:-$LOCAL_MODEL_DEFAULT}
	local_model_ensure "$BUILD/memctl" "$MEM0_LOCAL_MODEL_PATH"
	export MEM0_MODELS=local MEM0_EMBEDDING_DIMS=100
	DIMS=100
fi
"$BUILD/memctl" migrate >/dev/null
"$BUILD/memworker" 2>"$TMP/worker.log" &
WPID=$!
PIDS+=($WPID)
sleep 0.3

echo "== ingest: $USERS users x $EXCHANGES exchanges, models $MODELS (mock latency ${LATENCY} ms), ${DIMS}-d, pipeline $PIPELINE"
"$BUILD/mwbench" ingest --redis-port "$REDIS_PORT" --stream bench:ingest --users "$USERS" --exchanges "$EXCHANGES" \
	--worker-pid "$WPID" --pg "host=127.0.0.1 port=$PG_PORT user=postgres dbname=bench"
STATS=$(curl -s "http://127.0.0.1:$MOCK_PORT/_mock/stats")
CHAT=$(echo "$STATS" | sed -n 's/.*"chat": *\([0-9]*\).*/\1/p')
EMB=$(echo "$STATS" | sed -n 's/.*"embeddings": *\([0-9]*\).*/\1/p')
MSGS=$((USERS * EXCHANGES * 2))
awk -v c="$CHAT" -v e="$EMB" -v m="$MSGS" -v x="$((USERS * EXCHANGES))" 'BEGIN {
	printf "LLM calls           %d (%.3f per message, %.3f per exchange)\n", c, c / m, c / x
	printf "embedding requests  %d (%.3f per message)\n", e, e / m }'
ps -o comm,cputime -p "$WPID","${PIDS[0]}" | tail -n +2 | sed "s/^/cpu  /"; ps -eo comm,cputime | grep -E "^(postgres|redis-server)" | awk "{print \"cpu  \" \$0}" | sort | uniq -c | sort -rn | head -3
grep -c "error" "$TMP/worker.log" | xargs -I{} echo "worker error lines  {}"
