#!/usr/bin/env bash
# valgrind.sh: the test suite under valgrind memcheck (not part of CI: slow).
#
# Builds without sanitizers into build/valgrind, starts the throwaway
# servers as test.sh does, and runs every Criterion binary under valgrind,
# following the programs the tests start (memworker, memsearch, memctl,
# mockllm) but not the servers or shell helpers. Any error report fails;
# leaks count when definite ("possibly lost" blocks are Criterion's own
# nanomsg threads at exit).
#   bash scripts/valgrind.sh [PART]   (only the test binaries whose name contains PART)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build/valgrind
bash "$ROOT/scripts/setup.sh"
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DMW_SANITIZE=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null

. "$ROOT/scripts/servers.sh"
TMP=$(mktemp -d /tmp/memworker-vg.XXXXXX)
trap 'servers_stop "$TMP"; rm -rf "$TMP"' EXIT
servers_start "$TMP"
export MW_TEST_PG_HOST=127.0.0.1 MW_TEST_PG_PORT="$PG_PORT" MW_TEST_PG_USER=postgres
export MW_TEST_REDIS_PORT="$REDIS_PORT" MW_TEST_TMP="$TMP" MW_TEST_PG_BIN="$PG_BIN"
# valgrind is slow: give daemons' timeouts room
export MW_TEST_SLOW=1
VG="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
  --trace-children=yes --trace-children-skip=*/sh,*/bash,*redis*,*pg_ctl,*runuser,*initdb,*postgres*,*psql,*createdb
  --child-silent-after-fork=no --log-file=$TMP/vg.%p.log"
status=0
for t in "$BUILD"/tests/unit_test_* "$BUILD"/tests/integration_test_*; do
	case "$(basename "$t")" in *${1:-}*) ;; *) continue ;; esac
	printf 'valgrind: %s ... ' "$(basename "$t")"
	# -j1: Criterion's workers under valgrind are heavy on 2 cores
	if $VG "$t" -j1 >"$TMP/out.log" 2>&1; then echo ok; else echo "FAILED"; grep -E -A4 "\[FAIL\]|Assertion" "$TMP/out.log" | head -40; status=1; fi
done
# every process's report: non-empty logs hold errors
for f in "$TMP"/vg.*.log; do
	[ -s "$f" ] || continue
	echo "== $f"; head -40 "$f"; status=1
done
echo "valgrind: $([ $status -eq 0 ] && echo clean || echo 'errors found')"
exit $status
