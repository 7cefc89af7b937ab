#!/usr/bin/env bash
# runtime-deps.sh: the Debian packages a slim image needs to run the given
# binaries, derived from what they link (readelf NEEDED, located with ldd,
# owner from dpkg -S). Libraries under /usr/local (hiredis 1.2, built by
# setup.sh) are not packages: they are listed as "local <path>" for the
# image to copy. The Dockerfile installs exactly this list, so the runtime
# image cannot drift from the build; `--check LIST...` compares instead.
#
#   bash scripts/runtime-deps.sh build/release/memworker build/release/memctl ...
set -euo pipefail

check=()
if [ "${1:-}" = "--check" ]; then
	shift
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do check+=("$1"); shift; done
	[ "${1:-}" = "--" ] && shift
fi
[ $# -gt 0 ] || { echo "usage: runtime-deps.sh [--check PKG... --] BINARY..." >&2; exit 2; }

owner() {
	local path=$1 c real
	real=$(readlink -f "$path")
	# merged /usr: dpkg may know the file under /lib or /usr/lib, by link or by target
	for c in "$path" "/usr$path" "${path#/usr}" "$real" "/usr$real" "${real#/usr}"; do
		out=$(dpkg -S "$c" 2>/dev/null | head -n1 || true)
		if [ -n "$out" ]; then
			printf '%s\n' "${out%%:*}"
			return 0
		fi
	done
	echo "runtime-deps: no package owns $path" >&2
	return 1
}

pkgs=() locals=()
for bin in "$@"; do
	while read -r lib; do
		path=$(ldd "$bin" | awk -v l="$lib" '$1 == l { print $3; exit }')
		[ -n "$path" ] || { echo "runtime-deps: $bin: $lib not found" >&2; exit 1; }
		case "$path" in
		/usr/local/*) locals+=("$path") ;;
		*) pkgs+=("$(owner "$path")") ;;
		esac
	done < <(readelf -d "$bin" | awk '/\(NEEDED\)/ { gsub(/[][]/, "", $5); print $5 }')
done
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
[ ${#locals[@]} -eq 0 ] || mapfile -t locals < <(printf '%s\n' "${locals[@]}" | sort -u)

if [ ${#check[@]} -gt 0 ]; then
	want=$(printf '%s\n' "${pkgs[@]}" | grep -vx libc6 | sort -u)
	have=$(printf '%s\n' "${check[@]}" | sort -u)
	if [ "$want" != "$have" ]; then
		echo "runtime-deps: the image's packages differ from what the binaries link:" >&2
		diff <(echo "$have") <(echo "$want") >&2 || true
		exit 1
	fi
	echo "runtime-deps: ok (${#pkgs[@]} packages, ${#locals[@]} local libraries)"
	exit 0
fi
printf '%s\n' "${pkgs[@]}"
[ ${#locals[@]} -eq 0 ] || printf 'local %s\n' "${locals[@]}"
