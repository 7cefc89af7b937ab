#!/usr/bin/env bash
# run.sh: the main job on embedded defaults, on one machine, as root.
#
# Installs what is missing, builds, starts a PostgreSQL and a Redis on
# loopback with their data under .run/ (kept between runs, ignored by git),
# migrates, then starts memworker and memsearch and stays in the foreground
# until Ctrl-C, which stops everything it started.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build/release
RUN=$ROOT/.run
log() { printf 'run.sh: %s\n' "$*" >&2; }

bash "$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMW_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null

mkdir -p "$RUN"
# shellcheck source=scripts/servers.sh
. "$ROOT/scripts/servers.sh"
# Same ports as last time when they are still free: data stays usable.
[ -f "$RUN/pg.port" ] && PG_PORT=$(cat "$RUN/pg.port")
[ -f "$RUN/redis.port" ] && REDIS_PORT=$(cat "$RUN/redis.port")
for p in ${PG_PORT:-} ${REDIS_PORT:-}; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		log "port $p is taken; stop what uses it or remove $RUN/*.port"
		exit 1
	fi
done

PIDS=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	servers_stop "$RUN"
	log "stopped"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

servers_start "$RUN"
export POSTGRES_HOST=127.0.0.1 POSTGRES_PORT=$PG_PORT POSTGRES_USER=postgres POSTGRES_DB=memworker
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export MEM0_MODELS=${MEM0_MODELS:-local}
as_postgres "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAtc \
	"SELECT 1 FROM pg_database WHERE datname = 'memworker'" | grep -q 1 ||
	as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres memworker
"$BUILD/memctl" migrate

log "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT (data in $RUN)"
log "the ingest and read-path daemons are not built yet (issues 3 and 4): servers stay up until Ctrl-C"
while true; do sleep 3600 & wait $!; done
