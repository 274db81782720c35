# shellcheck shell=bash
# Shared by the bench scripts (sourced, from the repository's root).

# build_before DIR: with BEFORE=REV set, builds REV's cowbell as DIR/cowbell-before,
# so a script measures a change against its baseline in the same run.
build_before() {
	[ -n "${BEFORE:-}" ] || return 0
	local src="$1/src-before"
	rm -rf "$src" && mkdir -p "$src"
	git archive "$BEFORE" | tar -x -C "$src"
	(cd "$src" && ./scripts/build.sh "$1/cowbell-before" 2>/dev/null)
}

# need CMD PKG: installs the Debian package PKG unless CMD is there.
need() {
	command -v "$1" >/dev/null ||
		apt-get install -y -qq "$2" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }
}
