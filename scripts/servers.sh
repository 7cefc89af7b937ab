# servers.sh: start and stop a throwaway PostgreSQL and redis-server on free
# loopback ports, under a folder of the caller's. Sourced by test.sh and run.sh.
# servers_start DIR sets PG_PORT and REDIS_PORT; servers_stop DIR stops both.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# A port nothing listens on now (bash's /dev/tcp connects or fails at once).
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	echo "no free port found" >&2
	return 1
}

# PostgreSQL refuses to run as root: its data and socket folders belong to
# the postgres user, and initdb/pg_ctl run as that user.
as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then
		# from /: the caller's folder may be one postgres cannot enter (paths are absolute)
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# Where PostgreSQL keeps its files for the folder DIR: DIR itself when the
# postgres user can reach it; otherwise (a checkout under /root, or under a
# mode-700 temporary folder, as root) a folder of its own under
# /var/lib/memworker named after DIR, so the data still belongs to DIR.
pg_home() {
	local dir=$1 home
	if [ "$(id -u)" -ne 0 ] || runuser -u postgres -- test -x "$dir" 2>/dev/null; then
		printf '%s\n' "$dir"
		# 0, not a bare return: inside an EXIT trap (servers_stop from a cleanup) a bare return gives
		# back the status the script was exiting with, and set -e then ended the cleanup early
		return 0
	fi
	home=/var/lib/memworker/pg-$(printf '%s' "$dir" | md5sum | cut -c1-12)
	mkdir -p "$home"
	chown postgres:postgres "$home"
	chmod 700 "$home"
	printf '%s\n' "$home"
}

pg_start() {
	local dir port=$2
	mkdir -p "$1"
	[ "$(id -u)" -eq 0 ] && chmod 755 "$1"
	dir=$(pg_home "$1")
	[ "$dir" = "$1" ] || echo "servers.sh: PostgreSQL files for $1 are kept in $dir (the postgres user cannot reach $1)" >&2
	mkdir -p "$dir/sock"
	[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir" "$dir/sock"
	if [ ! -f "$dir/pg/PG_VERSION" ]; then
		as_postgres "$PG_BIN/initdb" -D "$dir/pg" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log" >&2; return 1; }
	fi
	as_postgres "$PG_BIN/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 \
		-o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
		start >/dev/null || { tail -n 5 "$dir/pg.log" >&2; return 1; }
}

redis_start() {
	local dir=$1 port=$2 sock=()
	# a unix socket too (bench/search.sh --unix), where its path fits the kernel's 107 bytes
	[ "${#dir}" -gt 90 ] || sock=(--unixsocket "$dir/redis.sock" --unixsocketperm 700)
	redis-server --port "$port" --bind 127.0.0.1 "${sock[@]}" --save '' --appendonly no --daemonize yes \
		--dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
	for _ in $(seq 1 100); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	tail -n 5 "$dir/redis.log" >&2
	redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
	return 1
}

# Each port is chosen just before its server starts, and again if another
# process took it meanwhile (parallel runs share the machine).
servers_start() {
	local dir=$1 try
	[ "$(id -u)" -eq 0 ] && chmod 755 "$dir"
	for try in 1 2 3 4 5; do
		PG_PORT=${PG_PORT:-$(free_port)}
		pg_start "$dir" "$PG_PORT" && break
		[ "$try" -eq 5 ] && return 1
		PG_PORT=""
	done
	for try in 1 2 3 4 5; do
		REDIS_PORT=${REDIS_PORT:-$(free_port)}
		redis_start "$dir" "$REDIS_PORT" && break
		[ "$try" -eq 5 ] && return 1
		REDIS_PORT=""
	done
	echo "$PG_PORT" >"$dir/pg.port"
	echo "$REDIS_PORT" >"$dir/redis.port"
}

servers_stop() {
	local dir=$1
	if [ -f "$dir/redis.port" ]; then
		redis-cli -p "$(cat "$dir/redis.port")" shutdown nosave >/dev/null 2>&1 || true
	fi
	local home
	home=$(pg_home "$dir")
	if [ -f "$home/pg/postmaster.pid" ]; then
		as_postgres "$PG_BIN/pg_ctl" -D "$home/pg" -m fast -w stop >/dev/null 2>&1 || true
	fi
}
