#!/bin/sh
# check_exports.sh <libnearkit.so> <core/nearkit.map> <include/nearkit.h>
# Fails unless the library, the version script and the header agree on every exported function
# and its version node:
#   - the header's stable functions are in the node NEARKIT_<NEARKIT_ABI_VERSION>, those declared
#     under NEARKIT_EXPERIMENTAL in NEARKIT_EXPERIMENTAL_<MAJOR>.<MINOR>, and the script has no
#     other node and no other function;
#   - the library exports exactly the script's functions, each with the script's node.
# So an accidental export, a removed function or an experimental function in the stable node
# fails the build's tests.
set -eu
lib=$1 map=$2 header=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

define() { sed -n "s/^#define $1 \([0-9][0-9]*\)\$/\1/p" "$header"; }
stable_node=NEARKIT_$(define NEARKIT_ABI_VERSION)
experimental_node=NEARKIT_EXPERIMENTAL_$(define NEARKIT_VERSION_MAJOR).$(define NEARKIT_VERSION_MINOR)

# "<function> <node>" lines, sorted, from each of the three.
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRW]$/ {print $3}' | grep -v '^NEARKIT_' |
    sed 's/@@*/ /' | sort -u > "$tmp/exported"
# The version script, comments removed; a node starts with "NAME {".
sed 's|/\*.*\*/||; /\/\*/,/\*\//d' "$map" | awk '
    /^[A-Za-z0-9_.]+[ \t]*\{/ { node = $1; sub(/\{.*/, "", node); print "node " node; next }
    { while (match($0, /nearkit_[a-z0-9_]*;/)) {
          print substr($0, RSTART, RLENGTH - 1), node; $0 = substr($0, RSTART + RLENGTH) } }' |
    sort -u > "$tmp/map_all"
grep -v '^node ' "$tmp/map_all" > "$tmp/map" || true
grep '^node ' "$tmp/map_all" | cut -d' ' -f2 > "$tmp/map_nodes" || true
# The header: functions after "#ifdef NEARKIT_EXPERIMENTAL" (up to its #endif) are experimental.
awk -v stable="$stable_node" -v experimental="$experimental_node" '
    /^#ifdef NEARKIT_EXPERIMENTAL/ { node = experimental; next }
    /^#endif \/\* NEARKIT_EXPERIMENTAL \*\// { node = stable; next }
    BEGIN { node = stable }
    /NEARKIT_API [^(]*nearkit_[a-z0-9_]*\(/ { match($0, /nearkit_[a-z0-9_]*\(/); print substr($0, RSTART, RLENGTH - 1), node }' \
    "$header" | sort -u > "$tmp/header"

status=0
printf '%s\n%s\n' "$stable_node" "$experimental_node" | sort > "$tmp/nodes"
if ! diff -u "$tmp/nodes" "$tmp/map_nodes"; then
    echo "$map must have exactly the nodes $stable_node and $experimental_node (from $header's versions)" >&2
    status=1
fi
if ! diff -u "$tmp/header" "$tmp/map"; then
    echo "functions or their nodes differ between $header and $map" >&2
    status=1
fi
if ! diff -u "$tmp/map" "$tmp/exported"; then
    echo "the symbols $lib exports (or their versions) differ from $map" >&2
    status=1
fi
if [ $status -eq 0 ]; then
    echo "exports: $(grep -c " $stable_node\$" "$tmp/map") stable symbols in $stable_node," \
         "$(grep -c " $experimental_node\$" "$tmp/map") experimental in $experimental_node; all match"
fi
exit $status
