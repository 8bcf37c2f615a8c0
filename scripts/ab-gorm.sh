#!/bin/sh
# ab-gorm.sh compares the GORM figures (gormplugin's BenchmarkGORMVsPlaintext
# or BenchmarkGORMFindClient: each contender over the hand-written AES-GCM
# serializer) of two commits in the same session: it builds gormplugin's
# test binary at each, with NEW's benchmark files in both so that both
# run the same benchmarks, then runs them alternately, the first to run
# swapping each round, each run with a CPU profile. It prints every run's
# colcrypt-over-hand-written ratios, and leaves the outputs and profiles
# in OUT. The machine is shared and noisy: compare the two binaries, and
# split the profiles by contender:
#
#   go tool pprof -tags -focus='gorm.\(\*DB\).Find$' OUT/new.test OUT/new-*.prof
#
#   scripts/ab-gorm.sh OLD NEW OUT [rounds] [bench] [benchtime]
#
# OLD and NEW are commits (or "." for the work tree as it is); bench
# defaults to GORMVsPlaintext, benchtime to 7x. Needs the test databases
# (COLCRYPT_TEST_DATABASE_URL and the others the gormplugin tests use).
set -eu
old=$1
new=$2
out=$3
rounds=${4:-6}
bench=${5:-GORMVsPlaintext}
benchtime=${6:-7x}
top=$(git rev-parse --show-toplevel)
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tree() { # tree NAME COMMIT: prints the source tree of COMMIT
	if [ "$2" = . ]; then
		echo "$top"
		return
	fi
	mkdir -p "$tmp/src-$1"
	git -C "$top" archive "$2" | tar -x -C "$tmp/src-$1"
	echo "$tmp/src-$1"
}
oldsrc=$(tree old "$old")
newsrc=$(tree new "$new")
cp "$newsrc"/gormplugin/bench_*test.go "$newsrc"/gormplugin/handscoped_test.go "$oldsrc/gormplugin/"
(cd "$oldsrc" && go test -c -o "$out/old.test" ./gormplugin/)
(cd "$newsrc" && go test -c -o "$out/new.test" ./gormplugin/)
grep -m1 "model name" /proc/cpuinfo || true
cd "$top/gormplugin"
r=1
while [ "$r" -le "$rounds" ]; do
	if [ $((r % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
	for v in $order; do
		echo "round $r $v $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
		"$out/$v.test" -test.run='^$' -test.bench="$bench" -test.benchtime="$benchtime" \
			-test.cpuprofile="$out/$v-$r.prof" >"$out/$v-$r.txt"
		awk '/^Benchmark/ { printf "  %s", $1; for (i = 4; i <= NF; i++) if ($i ~ /^bytea-(cpu-)?x-hand$/) printf " %s %s", $i, $(i - 1); print "" }' "$out/$v-$r.txt"
	done
	r=$((r + 1))
done
