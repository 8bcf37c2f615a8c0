#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the module, one after the other, for
# FUZZTIME each, and prints a summary. It exits non-zero when a target
# finds a crasher (go test writes the input to the package's
# testdata/fuzz/<Target>/, where it becomes a regression seed once
# committed), when a target fails otherwise, or when a package's tests do
# not build.
#
# For developers and nightly jobs, not for CI: with the default it runs
# for about a minute per target. CI runs the seed corpora already, as part
# of go test.
#
# Usage:
#   scripts/fuzz.sh                     # every target in ./..., 60s each
#   FUZZTIME=5m scripts/fuzz.sh ./codec # one package, 5 minutes each
#   FUZZTIME=1000x scripts/fuzz.sh      # 1000 inputs each
#
# FUZZTIME is a Go duration or an iteration count (Nx), as go test's
# -fuzztime takes; a bare number means seconds. The targets are found
# with go test -list '^Fuzz', so a new fuzz target is picked up without
# editing this script.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2

fuzztime="${FUZZTIME:-60s}"
case "$fuzztime" in
'' | *[!0-9]*) ;;
*) fuzztime="${fuzztime}s" ;;
esac
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
	pkgs=(./...)
fi

logdir="$(mktemp -d "${TMPDIR:-/tmp}/colcrypt-fuzz.XXXXXX")" || exit 2

echo "fuzz.sh: listing fuzz targets in ${pkgs[*]}"
listing="$logdir/list.txt"
go test -list '^Fuzz' "${pkgs[@]}" >"$listing" 2>&1
list_status=$?

# go test -list prints each package's matching names, then "ok <pkg> <time>".
targets=() # "pkg target"
pending=()
broken=() # packages whose tests did not build or list
while IFS= read -r line; do
	case "$line" in
	Fuzz*)
		pending+=("$line")
		;;
	ok$'\t'* | "ok "*)
		pkg="$(awk '{print $2}' <<<"$line")"
		for name in "${pending[@]+"${pending[@]}"}"; do
			targets+=("$pkg $name")
		done
		pending=()
		;;
	FAIL$'\t'* | "FAIL "*)
		pkg="$(awk '{print $2}' <<<"$line")"
		broken+=("$pkg")
		pending=()
		;;
	esac
done <"$listing"

if [ "$list_status" -ne 0 ] && [ ${#broken[@]} -eq 0 ]; then
	echo "fuzz.sh: go test -list failed:" >&2
	cat "$listing" >&2
	exit 2
fi
if [ ${#broken[@]} -gt 0 ]; then
	echo "fuzz.sh: these packages' tests do not build, so their targets cannot be listed:" >&2
	printf '  %s\n' "${broken[@]}" >&2
	grep -v -e '^ok' -e '^Fuzz' -e '^?' "$listing" >&2
fi
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found in ${pkgs[*]}" >&2
	exit 2
fi

echo "fuzz.sh: ${#targets[@]} targets, $fuzztime each; logs in $logdir"

results=() # "status pkg target seconds detail"
failed=0
summary() {
	echo
	echo "fuzz.sh summary (FUZZTIME=$fuzztime):"
	printf '  %-8s %-6s %-24s %s\n' STATUS TIME TARGET PACKAGE
	for r in "${results[@]+"${results[@]}"}"; do
		IFS='|' read -r status pkg name secs detail <<<"$r"
		printf '  %-8s %-6s %-24s %s%s\n' "$status" "${secs}s" "$name" "$pkg" "${detail:+  $detail}"
	done
	for pkg in "${broken[@]+"${broken[@]}"}"; do
		printf '  %-8s %-6s %-24s %s\n' BROKEN - "(tests do not build)" "$pkg"
	done
}
trap 'echo; echo "fuzz.sh: interrupted"; summary; exit 130' INT TERM

for t in "${targets[@]}"; do
	pkg="${t% *}"
	name="${t#* }"
	log="$logdir/$(tr '/' '_' <<<"$pkg").$name.log"
	echo "fuzz.sh: $name ($pkg)"
	start=$SECONDS
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1
	status=$?
	secs=$((SECONDS - start))
	if [ "$status" -eq 0 ]; then
		results+=("ok|$pkg|$name|$secs|")
		continue
	fi
	failed=1
	# "Failing input written to testdata/fuzz/FuzzX/<hash>"
	crasher="$(grep -o 'testdata/fuzz/[^ ]*' "$log" | head -n 1)"
	if [ -n "$crasher" ]; then
		dir="$(go list -f '{{.Dir}}' "$pkg" 2>/dev/null)"
		results+=("CRASH|$pkg|$name|$secs|input: ${dir:-<package dir>}/$crasher; log: $log")
	else
		results+=("FAIL|$pkg|$name|$secs|log: $log")
	fi
	tail -n 20 "$log" | sed 's/^/    /'
done

summary
if [ "$failed" -ne 0 ] || [ ${#broken[@]} -gt 0 ]; then
	exit 1
fi
