#!/usr/bin/env bash
# bench/embed.sh: embeddings of MEM0_MODELS=local (mapped word vectors,
# in-process) against the mock OpenAI-compatible server over loopback HTTP,
# through models.c: texts/s and p50/p99/max latency per request, and the
# resident memory the mapped model costs; then the CPU to parse one
# embeddings reply (llm_parse_embeddings, what llm.c runs on every reply).
#   bash bench/embed.sh [--texts 20000] [--batch 1,16,256] [--inflight 4]
#                       [--parse-inputs 32] [--parse-dims 1536] [--parse-rounds 1000]
# The parse figures alone, no model or server: build/bench/mwbench embed --only parse
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build/bench
ARGS=("$@")

bash "$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target memctl mwbench mockllm >/dev/null
# shellcheck source=scripts/local_model.sh
. "$ROOT/scripts/local_model.sh"
MODEL=${MEM0_LOCAL_MODEL_PATH:-$LOCAL_MODEL_DEFAULT}
local_model_ensure "$BUILD/memctl" "$MODEL"

TMP=$(mktemp -d /tmp/memworker-bench.XXXXXX)
MOCK=""
cleanup() {
	[ -n "$MOCK" ] && kill "$MOCK" 2>/dev/null && wait "$MOCK" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
"$BUILD/tests/mockllm" --port 0 --dims 100 >"$TMP/mock.out" 2>"$TMP/mock.err" &
MOCK=$!
for _ in $(seq 1 100); do grep -q listening "$TMP/mock.out" && break; sleep 0.05; done
MOCK_PORT=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/mock.out")

env -i PATH="$PATH" "$BUILD/mwbench" embed --model "$MODEL" --mock-url "http://127.0.0.1:$MOCK_PORT/v1" "${ARGS[@]}"
