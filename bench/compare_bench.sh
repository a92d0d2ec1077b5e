#!/bin/bash
# bench/compare_bench.sh — what-if cost (docs/classify.md, "What-if"): the same generated
# national dump (CLASSIFY_ROWS rows, default 1,000,000; seed 11, 30 days, matching lists)
# through
#   plain     imei classify --policy NEW                      (the peer: no comparison)
#   compare   imei classify --policy NEW --compare OLD        (one read, both policies)
#   separate  imei classify --policy NEW, then --policy OLD    (two replays: what --compare replaces)
# interleaved, COMPARE_ROUNDS rounds (default 3), each round's three runs back to back, so
# that the machine's load falls on all three alike. NEW is policies/example-country.lua;
# OLD extends it with a 60-day notice for cloned IMEIs and without duplicate_daily_avg. Prints each
# run's wall and CPU seconds, the median ratios compare/plain and compare/separate, and the
# load average before and after. It measures; it asserts nothing. Environment: BUILD,
# CLASSIFY_ROWS, COMPARE_ROUNDS, COMPARE_JOBS (default 2).
set -eu
cd "$(dirname "$0")/.."
. bench/national_dump.sh
BUILD=${BUILD:-build}
ROWS=${CLASSIFY_ROWS:-1000000}
ROUNDS=${COMPARE_ROUNDS:-3}
JOBS=${COMPARE_JOBS:-2}
dir=$BUILD/bench/compare
export IMEI_BUILD=$BUILD
mkdir -p "$dir/policies"

national_dump "$ROWS"
cp policies/*.lua "$dir/policies/"
cat >"$dir/policies/old-country.lua" <<'LUA'
-- the country policy as it was: 60 days' notice for a cloned IMEI, no daily-average rule
-- (its locked conditions, stolen and not_on_registration_list, cannot change)
local P = policy.extend("example-country.lua", { name = "example-country", version = "2026-10" })
P:override { name = "duplicate_imsis", grace_days = 60 }
P:disable("duplicate_daily_avg", "not yet in force")
return P
LUA
NEW=$dir/policies/example-country.lua OLD=$dir/policies/old-country.lua

classify() { # classify OUT ARGS...: prints "wall cpu"
	local out=$1
	shift
	rm -rf "$out"
	/usr/bin/time -f "%e %U %S" -o "$dir/time.txt" bin/imei classify -q --force --tacdb "$tacdb_img" \
		--lists "$data/lists" --out "$out" --jobs "$JOBS" "$@" "$data"/*.csv || [ $? -eq 1 ]
	awk '{ printf "%.2f %.2f\n", $1, $2 + $3 }' "$dir/time.txt"
}

echo "--jobs $JOBS; $ROUNDS rounds"
echo "load before: $(uptime)"
: >"$dir/results.txt"
for round in $(seq "$ROUNDS"); do
	read -r pw pc < <(classify "$dir/out-plain" --policy "$NEW")
	read -r cw cc < <(classify "$dir/out-compare" --policy "$NEW" --compare "$OLD")
	read -r sw1 sc1 < <(classify "$dir/out-new" --policy "$NEW")
	read -r sw2 sc2 < <(classify "$dir/out-old" --policy "$OLD")
	sw=$(awk -v a="$sw1" -v b="$sw2" 'BEGIN { printf "%.2f", a + b }')
	sc=$(awk -v a="$sc1" -v b="$sc2" 'BEGIN { printf "%.2f", a + b }')
	printf "round %d: plain %6.2f s (CPU %6.2f)  compare %6.2f s (CPU %6.2f)  separate %6.2f s (CPU %6.2f)  load %s\n" \
		"$round" "$pw" "$pc" "$cw" "$cc" "$sw" "$sc" "$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "$pw $pc $cw $cc $sw $sc" >>"$dir/results.txt"
	# the lists of --compare are those of the plain run
	cmp -s "$dir/out-plain/blocklist.csv" "$dir/out-compare/blocklist.csv" ||
		echo "  NOTE: the blocklists of plain and compare differ"
done
lua5.4 - "$dir/results.txt" "$dir/out-compare/report.json" <<'LUA'
local rows = {}
for l in io.lines(arg[1]) do
  local t = {}
  for v in l:gmatch("%S+") do t[#t + 1] = tonumber(v) end
  rows[#rows + 1] = t
end
local function median(f)
  local v = {}
  for i, r in ipairs(rows) do v[i] = f(r) end
  table.sort(v)
  return v[(#v + 1) // 2]
end
print(("median ratios: compare/plain wall %.2f, CPU %.2f; compare/separate wall %.2f, CPU %.2f"):format(
  median(function(r) return r[3] / r[1] end), median(function(r) return r[4] / r[2] end),
  median(function(r) return r[3] / r[5] end), median(function(r) return r[4] / r[6] end)))
local c = require("cjson").decode(assert(io.open(arg[2])):read("a")).compare
print(("what-if: %d of %d devices change (verdict %d, block date %d, notification %d)"):format(c.devices.changed,
  c.devices.total, c.devices.verdict, c.devices.block_date, c.devices.notification))
LUA
echo "load after: $(uptime)"
