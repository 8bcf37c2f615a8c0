#!/bin/sh
# ab-vsraw.sh compares the seal and open figures (field's Benchmark*VsRaw:
# colcrypt's time over raw AES-256-GCM for a 64-byte value) of two
# commits in the same run: it builds field's test binary at each, then
# runs them alternately, the first to run swapping each round, and prints
# per benchmark and -cpu the median ratio to raw of each commit. The
# machine is shared and noisy, so compare the two columns, not runs.
#
#   scripts/ab-vsraw.sh OLD NEW [rounds]
#
# OLD and NEW are commits (or "." for the work tree as it is). See
# docs/ARCHITECTURE.md, "Concurrency in the cache".
set -eu
old=$1
new=$2
rounds=${3:-5}
top=$(git rev-parse --show-toplevel)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
build() { # build NAME COMMIT
	if [ "$2" = . ]; then
		src=$top
	else
		src=$dir/src-$1
		mkdir -p "$src"
		git -C "$top" archive "$2" | tar -x -C "$src"
	fi
	(cd "$src" && go test -c -o "$dir/$1.test" ./field/)
}
build a "$old"
build b "$new"
grep -m1 "model name" /proc/cpuinfo || true
uptime
cd "$top/field"
r=1
while [ "$r" -le "$rounds" ]; do
	if [ $((r % 2)) -eq 1 ]; then order="a b"; else order="b a"; fi
	for v in $order; do
		"$dir/$v.test" -test.run='^$' -test.bench=VsRaw -test.benchtime=200x -test.cpu=1,2 |
			awk -v v="$v" '/^Benchmark/ { for (i = 4; i <= NF; i++) if ($i ~ /\/raw$/) print $1, v, $(i - 1) }' >>"$dir/raw"
	done
	r=$((r + 1))
done
uptime
printf "%-32s %10s %10s %8s\n" "benchmark (ratio to raw)" "$old" "$new" "new/old"
awk '
{ k = $1 SUBSEP $2; vals[k] = vals[k] " " $3; names[$1] = 1 }
function median(s,   x, m, i, j, t) {
	m = split(s, x, " ")
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
	return (m % 2) ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2
}
END {
	for (n in names) {
		a = median(vals[n SUBSEP "a"]); b = median(vals[n SUBSEP "b"])
		if (a > 0 && b > 0) printf "%-32s %10.3f %10.3f %8.3f\n", n, a, b, b / a
	}
}' "$dir/raw" | sort
