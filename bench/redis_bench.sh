#!/bin/bash
# bench/redis_bench.sh — the Redis sightings store: bench/redis_bench.c (record rate,
# imsis() latency, memory per device; memory, LMDB and raw hiredis in the same run) and
# engine checks/s with a Redis store beside a memory store (bench/redis_engine_bench.lua).
# REDIS_N sightings (default 1,000,000), REDIS_CHECKS engine checks (default 20,000).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CC=${CC:-cc}
mkdir -p "$BUILD/bench"
$CC -std=c11 -D_DEFAULT_SOURCE -O2 -Icore -Itests/redis bench/redis_bench.c "$BUILD/libimei.a" \
	-o "$BUILD/bench/redis_bench" -llua5.4 -lnettle -llmdb -lhiredis -lz -lpthread -lm
"$BUILD/bench/redis_bench" "$BUILD/bench" "${REDIS_N:-1000000}"
dir=$(mktemp -d)
trap 'kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no --logfile "$dir/log" &
pid=$!
for _ in $(seq 100); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;" LUA_CPATH="$PWD/$BUILD/?.so;;" \
	lua5.4 bench/redis_engine_bench.lua "redis://127.0.0.1:$port?timeout_ms=1000" "${REDIS_CHECKS:-20000}"
