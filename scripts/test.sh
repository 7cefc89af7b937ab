#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it (.ci/run calls only this).
#
# Installs what is missing (scripts/setup.sh), builds with ASan+UBSan and
# -Werror, converts the local models' word vectors if they are not there
# yet, starts a throwaway PostgreSQL and redis-server on free loopback
# ports, runs ctest (every Criterion binary) and the Node client's tests
# against them, stops both servers on exit, failure or Ctrl-C, and ends
# with the README's demo (scripts/run.sh --demo, servers of its own).
# Exit status: the tests' status.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${MW_TEST_BUILD:-$ROOT/build/test}
SANITIZE=${MW_TEST_SANITIZE:-ON}
PG_BIN=/usr/lib/postgresql/15/bin

log() { printf 'test.sh: %s\n' "$*" >&2; }

bash "$ROOT/scripts/setup.sh"

log "building in $BUILD (sanitizers $SANITIZE)"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DMW_SANITIZE="$SANITIZE" -DMW_WERROR=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" 2>&1 | grep -v '^\[' || true
# grep ate the build's status: ask again so a failed build stops here.
cmake --build "$BUILD" -j"$(nproc)" >/dev/null

# The local models' file: the tests that need real word vectors fail (never
# skip) without it.
# shellcheck source=scripts/local_model.sh
. "$ROOT/scripts/local_model.sh"
MW_TEST_LOCAL_MODEL=${MW_TEST_LOCAL_MODEL:-$LOCAL_MODEL_DEFAULT}
local_model_ensure "$BUILD/memctl" "$MW_TEST_LOCAL_MODEL"
export MW_TEST_LOCAL_MODEL

# shellcheck source=scripts/servers.sh
. "$ROOT/scripts/servers.sh"
TMP=$(mktemp -d /tmp/memworker-test.XXXXXX)
cleanup() {
	local rc=$?
	set +e	# every step runs, whatever one of them returns
	servers_stop "$TMP"
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

servers_start "$TMP"
export MW_TEST_PG_HOST=127.0.0.1 MW_TEST_PG_PORT="$PG_PORT" MW_TEST_PG_USER=postgres
export MW_TEST_REDIS_PORT="$REDIS_PORT" MW_TEST_TMP="$TMP" MW_TEST_PG_BIN="$PG_BIN"
export MW_TEST_PG_DATA="$TMP/pg" MW_TEST_PG_SOCKDIR="$TMP/sock"
# Sanitizer reports fail the test that triggered them.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

log "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT"
status=0
(cd "$BUILD" && ctest --output-on-failure -j2 "$@") 2>&1 | tee "$TMP/ctest.log" || status=$?

if [ -f "$ROOT/clients/node/package.json" ] && [ "$status" -eq 0 ]; then
	log "Node client tests"
	(cd "$ROOT/clients/node" && npm ci --no-audit --no-fund --silent && MW_TEST_BIN="$BUILD" npm test) 2>&1 |
		tee "$TMP/node.log" || status=$?
	if [ "$status" -eq 0 ]; then
		log "Node client end to end (real memworker, memsearch, mock LLM)"
		(cd "$ROOT/clients/node" && MW_TEST_BIN="$BUILD" npm run --silent test:e2e) 2>&1 |
			tee "$TMP/node-e2e.log" || status=$?
	fi
fi

# The demo runs after a full run (no ctest arguments), or with MW_TEST_DEMO=1; MW_TEST_DEMO=0 skips it.
demo=${MW_TEST_DEMO:-}
[ -n "$demo" ] || { [ "$#" -eq 0 ] && demo=1 || demo=0; }
if [ "$status" -eq 0 ] && [ "$demo" = 1 ]; then
	log "the README's demo: scripts/run.sh --demo"
	demo_status=0
	MEM0_LOCAL_MODEL_PATH="$MW_TEST_LOCAL_MODEL" bash "$ROOT/scripts/run.sh" --demo </dev/null || demo_status=$?
	# The demo's output ends the log: repeat the count, the demo as one more test.
	read -r failed total < <(sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\1 \2/p' "$TMP/ctest.log") || true
	if [ "$demo_status" -ne 0 ]; then
		status=$demo_status
		failed=$((${failed:-0} + 1))
	fi
	# and the Node client's (node --test prints "# pass N" and "# fail N" per run)
	npass=$(cat "$TMP"/node*.log 2>/dev/null | sed -n 's/^# pass \([0-9]*\)$/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	nfail=$(cat "$TMP"/node*.log 2>/dev/null | sed -n 's/^# fail \([0-9]*\)$/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	failed=$((${failed:-0} + nfail))
	echo "test.sh: $((${total:-0} + 1 + npass + nfail - failed)) passed, $failed failed"
fi
exit "$status"
