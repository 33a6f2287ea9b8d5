#!/usr/bin/env bash
# The layering rule of docs/architecture.md ("Folders, and what each may
# include"), checked against the code: every #include "folder/..." in
# src/FOLDER/ names FOLDER itself or a folder its row allows. The table is
# read from the doc, so the doc and the check cannot drift apart.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
source "$here/../lib/tap.sh"

doc=$top/docs/architecture.md
table=$(sed -n '/<!-- layers:/,/<!-- \/layers -->/p' "$doc" | grep -E '^[a-z]+ ')
check "docs/architecture.md has the layer table" test -n "$table"

declare -A allowed
while read -r folder deps; do
	allowed[$folder]=" $folder ${deps//-/} "
done <<<"$table"

# violations DIR FOLDER: the includes in DIR that FOLDER's row does not allow.
violations() {
	local dir=$1 folder=$2
	grep -HnoE '#include "[a-z_]+/' "$dir"/*.[ch] 2>/dev/null | while IFS=: read -r file line inc; do
		dep=${inc#\#include \"}
		dep=${dep%/}
		case ${allowed[$folder]} in *" $dep "*) ;; *) echo "$(basename "$file"):$line includes $dep/" ;; esac
	done
}

for dir in "$top"/src/*/; do
	folder=$(basename "$dir")
	if [ -z "${allowed[$folder]+x}" ]; then
		not_ok "src/$folder/ is in the layer table"
		continue
	fi
	bad=$(violations "${dir%/}" "$folder")
	if [ -z "$bad" ]; then
		ok "src/$folder/ includes only what its layer may"
	else
		not_ok "src/$folder/ includes only what its layer may"
		diag "$bad"
	fi
done

# The check must be able to fail: lib/ including daemon/ is reported.
probe=$(mktemp -d /tmp/netserv-layers.XXXXXX)
trap 'rm -rf "$probe"' EXIT
printf '#include "lib/util.h"\n#include "daemon/config.h"\n' >"$probe/x.c"
bad=$(violations "$probe" lib)
check "the check reports lib/ including daemon/ (and not lib/ itself)" \
	test "$bad" = "x.c:2 includes daemon/"
tap_done
