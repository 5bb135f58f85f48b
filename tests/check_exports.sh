#!/bin/sh
# Fails when the shared library exports a symbol the version script does not list, or when the
# script and the header disagree: an accidental export or a removed function breaks the build.
set -eu
lib=$1 map=$2 header=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRW]$/ {print $3}' | sed 's/@.*//' | grep -v '^NEARKIT_' | sort -u > "$tmp/exported"
grep -o 'nearkit_[a-z0-9_]*;' "$map" | tr -d ';' | sort -u > "$tmp/map"
grep -o 'NEARKIT_API [^(]*(' "$header" | grep -o 'nearkit_[a-z0-9_]*($' | tr -d '(' | sort -u > "$tmp/header"
status=0
if ! diff -u "$tmp/map" "$tmp/exported"; then echo "exported symbols differ from $map" >&2; status=1; fi
if ! diff -u "$tmp/map" "$tmp/header"; then echo "functions in $header differ from $map" >&2; status=1; fi
[ $status -eq 0 ] && echo "exports: $(wc -l < "$tmp/map") symbols match"
exit $status
