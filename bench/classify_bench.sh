#!/bin/bash
# bench/classify_bench.sh — batch replay end to end (target, docs/architecture.md "Targets": ≥ 1 M rows/s per core):
# a generated national dump of CLASSIFY_ROWS rows (default 10,000,000; 4 operators, 30
# days, seed 11, with matching lists) through `imei classify` with the example country
# policy, with 1 and 2 jobs; and the same with a policy without conditions, which
# measures the replay's own machinery (read, check, record, one engine call per pair,
# lists) apart from what the policy's rules cost. Prints wall time, rows/s, CPU time,
# rows per CPU-second (the per-core figure) and peak memory (/usr/bin/time -v).
# The cost of the national register (docs/register.md): the example country policy
# with the state kept (the default: the register in LMDB inside --out, the sightings a
# memory store restored from and saved to a snapshot in it) against
# the same run with --store memory (a what-if run, nothing kept), interleaved in this
# script; "state-again" runs once more into the same state (a re-run: undo, re-decide);
# then the state's size per device.
# Then the peer (when `npm install --prefix bench` has put @duckdb/node-api there): DuckDB
# running the core DIRBS rules in SQL (bench/classify_duckdb.js) against `imei classify`
# with the same rules (bench/dirbs_core_policy.lua), both on CLASSIFY_PEER_JOBS threads
# (2), interleaved CLASSIFY_PEER_REPEAT times (3) with the load average beside each run:
# ours with --store memory and with the default store, and ours on one job; min and
# median of each, the ratios, and a sanity line comparing DuckDB's counts with our
# report's (rows, pairs, devices, blocked, devices per rule). CLASSIFY_BEFORE=DIR (another
# checkout, built) adds its `imei classify` to each round: a before/after in the same run.
# It measures; it asserts nothing. Environment: BUILD, CLASSIFY_ROWS, CLASSIFY_JOBS
# ("1 2"), CLASSIFY_REPEAT (runs of each, the fastest shown: default 1; on a shared
# machine other processes' load shows in wall and even CPU time). The dump is generated
# once into $BUILD/bench/classify and kept.
set -eu
cd "$(dirname "$0")/.."
. bench/national_dump.sh
BUILD=${BUILD:-build}
ROWS=${CLASSIFY_ROWS:-10000000}
JOBS=${CLASSIFY_JOBS:-"1 2"}
REPEAT=${CLASSIFY_REPEAT:-1}
dir=$BUILD/bench/classify
export IMEI_BUILD=$BUILD
mkdir -p "$dir"

national_dump "$ROWS"


cat >"$dir/empty-policy.lua" <<'EOF'
-- no conditions: every device WHITELISTED; measures the replay without the rules' cost
return policy.new { name = "empty", version = "1" }
EOF

run() { # run LABEL POLICY JOBS MODE: the fastest of REPEAT runs; MODE memory | state | again
	local label=$1 policy=$2 jobs=$3 mode=${4:-memory} out=$dir/out-$1-$3 best="" i store=()
	[ "$mode" = memory ] && store=(--store memory)
	[ "$mode" = again ] && out=$dir/out-state-$3
	for i in $(seq "$REPEAT"); do
		[ "$mode" = again ] || rm -rf "$out"
		/usr/bin/time -v -o "$dir/time.txt" bin/imei classify -q --force "${store[@]}" --policy "$policy" \
			--tacdb "$tacdb_img" --lists "$data/lists" --out "$out" --jobs "$jobs" "$data"/*.csv
		local wall user sys rss
		wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$dir/time.txt" |
			awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
		user=$(sed -n 's/.*User time (seconds): //p' "$dir/time.txt")
		sys=$(sed -n 's/.*System time (seconds): //p' "$dir/time.txt")
		rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$dir/time.txt")
		if [ -z "$best" ] || awk -v a="$wall" -v b="${best%% *}" 'BEGIN { exit !(a < b) }'; then
			best="$wall $user $sys $rss"
			cp "$out/report.json" "$dir/best.json"
		fi
	done
	# shellcheck disable=SC2086
	lua5.4 - "$dir/best.json" "$label" "$jobs" $best <<'LUA'
local path, label, jobs, wall, user, sys, rss = table.unpack(arg)
local r = require("cjson").decode(assert(io.open(path)):read("a"))
local rows, pairs = r.input.rows, r.devices.pairs
wall, user, sys, rss, jobs = tonumber(wall), tonumber(user), tonumber(sys), tonumber(rss), tonumber(jobs)
local cpu = user + sys
local p = r.performance
print(("%-15s jobs %d: wall %6.2f s = %5.2f M rows/s (%4.2f M/s per job); CPU %6.2f s = %4.2f M rows per CPU-second;" ..
       " setup %4.2f s, read %5.2f s, decide %6.2f s (%d pairs, %.1f k pairs/s), lists %4.2f s; peak RSS %d MiB")
  :format(label, jobs, wall, rows / wall / 1e6, rows / wall / 1e6 / jobs, cpu, rows / cpu / 1e6,
    p.setup_seconds, p.ingest_seconds, p.eval_seconds, pairs, pairs / p.eval_seconds / 1e3, p.lists_seconds,
    rss // 1024))
LUA
}

for jobs in $JOBS; do
	run memory policies/example-country.lua "$jobs" memory
	run state policies/example-country.lua "$jobs" state
	run state-again policies/example-country.lua "$jobs" again
	run empty-policy "$dir/empty-policy.lua" "$jobs" memory
done
for jobs in $JOBS; do
	st=$dir/out-state-$jobs/state
	[ -d "$st" ] || continue
	IMEI_BUILD=$BUILD lua5.4 - "$dir/out-state-$jobs/report.json" "$st" "$(du -sb "$st/register" | cut -f1)" <<'LUA'
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("IMEI_BUILD") or "build") .. "/?.so;" .. package.cpath
local path, state, bytes = arg[1], arg[2], tonumber(arg[3])
local r = require("cjson").decode(assert(io.open(path)):read("a"))
local reg = assert(require("imei.classify.register").open(state, true))
local snap = #(reg.kv:get("s:snapshot") or "")
local entries, used = reg:stat()
reg:close()
local devices, inreg = r.devices.total, r.register.counts.devices
print(("state: %.1f MiB on disk (LMDB, %.1f MiB in use, %d entries): sightings snapshot %.1f MiB (%d devices seen: " ..
  "%.0f bytes each), decisions of %d devices (%.0f bytes each in use); %.0f bytes on disk per device seen")
  :format(bytes / 1048576, used / 1048576, entries, snap / 1048576, devices, snap / devices, inreg,
    (used - snap) / math.max(inreg, 1), bytes / devices))
LUA
done

# ---- the peer: DuckDB, the core DIRBS rules -------------------------------------------
if [ ! -d bench/node_modules/@duckdb/node-api ]; then
	echo "peer: DuckDB not installed (npm install --prefix bench): skipped"
	exit 0
fi
PJOBS=${CLASSIFY_PEER_JOBS:-2}
PREPEAT=${CLASSIFY_PEER_REPEAT:-3}
peer=$dir/peer
mkdir -p "$peer"
measure() { # measure NAME CMD...: appends "wall cpu rss_kb" to $peer/NAME.txt
	local name=$1
	shift
	/usr/bin/time -v -o "$peer/time.txt" "$@" >"$peer/$name.out" 2>"$peer/$name.err" ||
		{ echo "$name failed:"; cat "$peer/$name.err"; exit 1; }
	awk -F': ' '/Elapsed/ { n = split($2, t, ":"); w = n == 3 ? t[1] * 3600 + t[2] * 60 + t[3] : t[1] * 60 + t[2] }
		/User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident/ { m = $2 }
		END { printf "%.2f %.2f %d\n", w, u + s, m }' "$peer/time.txt" >>"$peer/$name.txt"
	printf "  %-15s %s  (load %s)\n" "$name" "$(tail -1 "$peer/$name.txt")" "$(cut -d' ' -f1-3 /proc/loadavg)"
}
ours() { # ours NAME JOBS [--store memory]; IMEI: the imei command (bin/imei)
	local name=$1 jobs=$2
	shift 2
	rm -rf "$peer/out-$name"
	measure "$name" "${IMEI:-bin/imei}" classify -q --force "$@" --policy bench/dirbs_core_policy.lua --tacdb "$tacdb_img" \
		--lists "$data/lists" --out "$peer/out-$name" --jobs "$jobs" "$data"/*.csv
}
rm -f "$peer"/*.txt
echo "peer: DuckDB vs imei classify, core DIRBS rules, $PJOBS threads each, $PREPEAT rounds (wall s, CPU s, peak RSS KiB)"
for i in $(seq "$PREPEAT"); do
	measure duckdb node bench/classify_duckdb.js "$PJOBS" "$peer/duckdb-blocklist.csv" data/osmocom-tacdb.csv \
		"$data/lists" "$data"/*.csv
	ours ours-memory "$PJOBS" --store memory
	ours ours-default "$PJOBS"
	ours ours-1job 1 --store memory
	[ -z "${CLASSIFY_BEFORE:-}" ] || IMEI=$CLASSIFY_BEFORE/bin/imei ours ours-before "$PJOBS" --store memory
done
lua5.4 - "$peer" "$ROWS" <<'LUA'
local dir, rows = arg[1], tonumber(arg[2])
local cjson = require("cjson")
local function runs(name)
  local t = {}
  for line in io.lines(dir .. "/" .. name .. ".txt") do
    local w, c, m = line:match("(%S+) (%S+) (%S+)")
    t[#t + 1] = { wall = tonumber(w), cpu = tonumber(c), rss = tonumber(m) }
  end
  return t
end
local function stat(t, field)
  local v = {}
  for i, r in ipairs(t) do v[i] = r[field] end
  table.sort(v)
  local n = #v
  return v[1], n % 2 == 1 and v[(n + 1) // 2] or (v[n // 2] + v[n // 2 + 1]) / 2
end
local duck = runs("duckdb")
local dmin, dmed = stat(duck, "wall")
local _, drss = stat(duck, "rss")
print(("duckdb        wall min %6.2f s, median %6.2f s; CPU median %6.2f s; peak RSS median %5d MiB")
  :format(dmin, dmed, select(2, stat(duck, "cpu")), drss // 1024))
for _, name in ipairs { "ours-memory", "ours-default", "ours-1job", "ours-before" } do
  local f = io.open(dir .. "/" .. name .. ".txt")
  if not f then break end
  f:close()
  local t = runs(name)
  local wmin, wmed = stat(t, "wall")
  local _, cmed = stat(t, "cpu")
  local _, rss = stat(t, "rss")
  local r = cjson.decode(assert(io.open(dir .. "/out-" .. name .. "/report.json")):read("a"))
  local p = r.performance
  print(("%-13s wall min %6.2f s, median %6.2f s; CPU median %6.2f s (%4.2f M rows per CPU-s); peak RSS median %5d MiB;" ..
         " DuckDB/ours wall %4.2fx (min) %4.2fx (median), memory 1/%.1f; last run: setup %4.2f read %4.2f decide %4.2f" ..
         " lists %4.2f s")
    :format(name, wmin, wmed, cmed, rows / cmed / 1e6, rss // 1024, dmin / wmin, dmed / wmed, drss / rss,
      p.setup_seconds, p.ingest_seconds, p.eval_seconds, p.lists_seconds))
end
-- sanity: the same decisions
local d = cjson.decode(assert(io.open(dir .. "/duckdb.out")):read("a"))
local r = cjson.decode(assert(io.open(dir .. "/out-ours-memory/report.json")):read("a"))
local ours = { rows = r.input.accepted, pairs = r.devices.pairs, devices = r.devices.total,
               blocked = r.devices.by_status.BLACKLISTED }
for _, c in ipairs(r.conditions) do ours[c.name] = c.devices end
local keys = { "rows", "pairs", "devices", "blocked", "malformed_identifier", "wrong_check_digit", "gsma_not_found",
               "stolen", "not_registered", "duplicate_imsis" }
local parts, differ = {}, {}
for _, k in ipairs(keys) do
  parts[#parts + 1] = ("%s %s/%s"):format(k, tostring(math.tointeger(ours[k]) or ours[k]),
    tostring(math.tointeger(d[k]) or d[k]))
  if ours[k] ~= d[k] then differ[#differ + 1] = k end
end
print("sanity (ours/DuckDB): " .. table.concat(parts, ", ") ..
  (#differ == 0 and "; all agree" or ("; differ: " .. table.concat(differ, ", "))))
LUA
