#!/bin/bash
# bench/explain_bench.sh BASE [ROUNDS] [CHECKS] — does explain cost the plain check anything?
# Runs bench/engine_bench.lua (the engine's checks/s, sandboxed, example country policy)
# alternately with BASE (a built checkout without explain, e.g. `git archive <commit> |
# tar -x -C BASE && make -C BASE build`) and with this checkout, ROUNDS times each,
# interleaved (which goes first alternates), and prints each round, the medians, their ratio and the load average.
# Then explain's own rate beside the check's in one run (bench/explain_rate.lua).
set -eu
cd "$(dirname "$0")/.."
BASE=${1:?usage: bench/explain_bench.sh BASE [ROUNDS] [CHECKS]}
ROUNDS=${2:-5}
CHECKS=${3:-100000}
LUA=${LUA:-lua5.4}
rate() { # rate TREE: the engine's checks/s with TREE's Lua and build, this bench script
	(cd "$1" && LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/?.so;;" \
		"$LUA" "$OLDPWD/bench/engine_bench.lua" "$CHECKS") | awk '/^engine \(sandboxed/ { print $5 }'
}
before=() after=()
echo "load before: $(uptime)"
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then b=$(rate "$BASE"); a=$(rate "$PWD"); else a=$(rate "$PWD"); b=$(rate "$BASE"); fi
	before+=("$b"); after+=("$a")
	echo "round $r: before $b checks/s, after $a checks/s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mb=$(median "${before[@]}"); ma=$(median "${after[@]}")
echo "median: before $mb checks/s, after $ma checks/s, after/before $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.3f", a / b }')"
echo "load after: $(uptime)"
LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/?.so;;" "$LUA" bench/explain_rate.lua
