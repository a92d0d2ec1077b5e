#!/bin/bash
# bench/s13_bench.sh — S13 (ME-Identity-Check over Diameter) of imei-eird under the test
# MME (tests/s13/mme.c, a freeDiameter client: ECRs with many in flight), beside N5g-eir
# over h2c (h2load) on the same server in the same run: the example country policy, a
# compiled image of data/osmocom-tacdb.csv, registration and stolen lists, a memory store,
# 10,000 distinct IMEIs (bench/serve_fixtures.lua). Client and server share the machine's
# cores. Prints answers/s and latency percentiles of both, the server's own check-time
# histogram, and the load average (other processes' load shows in every figure).
# It measures and asserts nothing. Target (issue 14): >= 50k answers/s and p99 < 2 ms on a
# 2-core machine; docs/s13.md explains what bounds it.
# Environment: BUILD (build folder), REQUESTS (default 200000), INFLIGHT (default "64 512").
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
REQUESTS=${REQUESTS:-200000}
INFLIGHT=${INFLIGHT:-"64 256"}
out=$BUILD/bench/s13
mkdir -p "$out"
export IMEI_BUILD=$BUILD
[ -x "$BUILD/tests/s13_mme" ] || make -s BUILD="$BUILD" "$BUILD/tests/s13_mme"

lua5.4 bench/serve_fixtures.lua "$out" >/dev/null
lua5.4 bin/imei tac compile data/osmocom-tacdb.csv "$out/tacs.img" >/dev/null
sed -n 's/^imei-\([0-9]\{15\}\)$/\1/p' "$out/peis.txt" >"$out/imeis.txt"
dport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

echo "machine: $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$out/port"
"$BUILD/imei-eird" --policy policies/example-country.lua --tacdb "$out/tacs.img" --lists "$out/lists" \
	--store memory --workers 2 --listen 127.0.0.1:0 --port-file "$out/port" --quiet \
	--lua-path "$PWD/lua/?.lua;$PWD/lua/?/init.lua" \
	--s13-identity eir.localdomain --s13-listen "127.0.0.1:$dport" --s13-accept '*.localdomain' &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 300); do [ -s "$out/port" ] && break; sleep 0.1; done
port=$(cat "$out/port")

# CPU seconds (user + system) the server has used so far
server_cpu() { awk '{ printf "%.3f", ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$pid/stat"; }
TIMEFORMAT='%U %S'

# s13_load N INFLIGHT: one MME run (connect, N ECRs with INFLIGHT outstanding, DPR);
# prints the rate, latency and the CPU time per answer of the server and of the MME
s13_load() {
	local c0 c1 t line
	c0=$(server_cpu)
	{ t=$( { time printf 'wait-open 20\nload %s %s %s 300\nquit\n' "$1" "$2" "$out/imeis.txt" |
		timeout 600 "$BUILD/tests/s13_mme" --eir "eir.localdomain@127.0.0.1:$dport" >"$out/mme.out" 2>"$out/mme.err"; } 2>&1 ); } || true
	c1=$(server_cpu)
	line=$(grep '^load' "$out/mme.out" || echo "load failed: $(tail -2 "$out/mme.err")")
	echo "$2 $line $t $c0 $c1" | awk '{
		for (k = 2; k <= NF; k++) { split($k, kv, "="); f[kv[1]] = kv[2] }
		n = f["answered"] + 0; if (n == 0) { print "  " $0; exit }
		printf "  %s in flight: %s ECRs, %s answered, %s lost; %.0f answers/s; latency p50 %s us, p90 %s us, p99 %s us, max %s us\n",
			$1, f["sent"], f["answered"], f["lost"], f["rate"], f["p50"], f["p90"], f["p99"], f["max"]
		printf "      CPU per answer: server %.1f us, test MME %.1f us\n", ($(NF) - $(NF-1)) * 1e6 / n, ($(NF-3) + $(NF-2)) * 1e6 / n }'
}

echo "-- S13: imei-eird (2 workers; freeDiameter, 2 dispatch threads) on 127.0.0.1:$dport; the test MME on the same machine"
s13_load 20000 64 >/dev/null # warm-up
s13_load 5000 1
for n in $INFLIGHT; do s13_load "$REQUESTS" "$n"; done

# ---- N5g-eir over h2c on the same server ------------------------------------------------------
base="http://127.0.0.1:$port/n5g-eir-eic/v1/equipment-status?pei="
sed "s|^|$base|; s|\$|\&supi=imsi-410010000000001|" "$out/peis.txt" >"$out/uris.txt"
percentiles() {
	cut -f3 "$1" | sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "  (no log)"; exit }
		printf "  latency: p50 %d us, p90 %d us, p99 %d us, max %d us (%d requests)\n",
			v[int(NR * 0.5) + 1], v[int(NR * 0.9) + 1], v[int(NR * 0.99) + 1], v[NR], NR }'
}
echo "-- N5g-eir, HTTP/2 (h2c): h2load, 16 connections x 32 streams, 1 thread, same server"
timeout 60 h2load -n 20000 -c 8 -m 8 -t 1 -i "$out/uris.txt" >/dev/null 2>&1 || true # warm-up
rm -f "$out/h2load.log"
c0=$(server_cpu)
t=$( { time timeout 300 h2load -n "$REQUESTS" -c 16 -m 32 -t 1 --log-file="$out/h2load.log" -i "$out/uris.txt" \
	>"$out/h2load.out" 2>&1; } 2>&1 ) || true
c1=$(server_cpu)
grep -E "^finished in|^requests:" "$out/h2load.out" | sed 's/^/  /'
percentiles "$out/h2load.log"
echo "$t $c0 $c1 $REQUESTS" | awk '{ printf "      CPU per answer: server %.1f us, h2load %.1f us\n", ($4 - $3) * 1e6 / $5, ($1 + $2) * 1e6 / $5 }'

echo "-- the server's check time (both protocols; eird_check on the workers' engines)"
curl -s "http://127.0.0.1:$port/metrics" | awk '
	/^imei_eir_request_duration_seconds_count/ { total = $2 } /^imei_eir_request_duration_seconds_sum/ { sum = $2 }
	/^imei_eir_s13_answers_total/ { s13 += $2 }
	END { if (total) printf "  %d checks, mean %.1f us; S13 answers counted: %d\n", total, sum / total * 1e6, s13 }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
