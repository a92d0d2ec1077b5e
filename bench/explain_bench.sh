#!/bin/bash
# bench/explain_bench.sh BASE [ROUNDS] [CHECKS] — does explain cost the plain check anything?
# BASE: a built checkout without explain (e.g. `git archive <commit> | tar -x -C BASE &&
# make -C BASE build`). Alternately with BASE and with this checkout, ROUNDS times each,
# interleaved (which goes first alternates):
#   1. bench/engine_bench.lua: the engine's checks/s from Lua (sandboxed, example country
#      policy, real TAC database, lists, a month of sightings), wall clock;
#   2. bench/engine_bench.c through the C API, each tree's libimei.a: checks per CPU second
#      of the checking thread and the on-CPU p50/p99 per check (steadier than the wall
#      clock on a shared machine).
# Prints each round, the medians, the ratios after/before and the load average; then
# explain's own rate beside the check's in one run (bench/explain_rate.lua).
set -eu
cd "$(dirname "$0")/.."
BASE=${1:?usage: bench/explain_bench.sh BASE [ROUNDS] [CHECKS]}
ROUNDS=${2:-5}
CHECKS=${3:-100000}
LUA=${LUA:-lua5.4}
CC=${CC:-cc}
out=build/bench/explain
mkdir -p "$out"
IMEI_BUILD=build "$LUA" bench/serve_fixtures.lua "$out" >/dev/null
"$LUA" bin/imei tac compile data/osmocom-tacdb.csv "$out/tacs.img" >/dev/null
for tree in "$BASE" "$PWD"; do
	name=$([ "$tree" = "$PWD" ] && echo after || echo before)
	$CC -std=c11 -D_DEFAULT_SOURCE -O2 -I"$tree/include" -I"$tree/core" -I"$tree/binding" -I"$tree/host" -I/usr/include/lua5.4 \
		bench/engine_bench.c -o "$out/engine_bench_$name" "$tree/build/libimei.a" \
		-llua5.4 -lnettle -llmdb -lhiredis -lz -lpthread -lm
done
lua_rate() { # lua_rate TREE: checks/s with TREE's Lua and build
	(cd "$1" && LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/?.so;;" \
		"$LUA" "$OLDPWD/bench/engine_bench.lua" "$CHECKS") | awk '/^engine \(sandboxed/ { print $5 }'
}
c_rate() { # c_rate TREE NAME: "checks-per-CPU-second p50 p99" (on-CPU), TREE's lua/ and library
	(cd "$1" && "$OLDPWD/$out/engine_bench_$2" policies/example-country.lua "$OLDPWD/$out/tacs.img" \
		"$OLDPWD/$out/lists" "$OLDPWD/$out/peis.txt" "$CHECKS" 1) |
		awk '/^engine, 1 thread/ { gsub(/\(/, ""); cps = $(NF - 3) } /on-CPU time per check/ { p50 = $6; p99 = $12 }
		     END { print cps, p50, p99 }'
}
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
lb=() la=() cb=() ca=() pb=() pa=()
echo "load before: $(uptime)"
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then
		b=$(lua_rate "$BASE"); a=$(lua_rate "$PWD"); cbr=$(c_rate "$BASE" before); car=$(c_rate "$PWD" after)
	else
		a=$(lua_rate "$PWD"); b=$(lua_rate "$BASE"); car=$(c_rate "$PWD" after); cbr=$(c_rate "$BASE" before)
	fi
	lb+=("$b"); la+=("$a")
	set -- $cbr; cb+=("$1"); pb+=("$3"); cbl="$1/s p50 $2 us p99 $3 us"
	set -- $car; ca+=("$1"); pa+=("$3"); cal="$1/s p50 $2 us p99 $3 us"
	echo "round $r: Lua before $b, after $a checks/s; C before $cbl, after $cal (on-CPU)"
done
mlb=$(median "${lb[@]}"); mla=$(median "${la[@]}"); mcb=$(median "${cb[@]}"); mca=$(median "${ca[@]}")
mpb=$(median "${pb[@]}"); mpa=$(median "${pa[@]}")
echo "median, Lua (wall): before $mlb, after $mla checks/s: after/before $(ratio "$mla" "$mlb")"
echo "median, C (per CPU second): before $mcb, after $mca checks/s: after/before $(ratio "$mca" "$mcb"); on-CPU p99 before $mpb us, after $mpa us"
echo "load after: $(uptime)"
LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/?.so;;" "$LUA" bench/explain_rate.lua
