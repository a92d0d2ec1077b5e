#!/bin/bash
# bench/audit_bench.sh — what the audit trail's SHA-256 of the dumps costs a replay
# (docs/classify.md, "Audit trail"): imei classify on the classify bench's generated
# dump (CLASSIFY_ROWS rows, default 10,000,000; made by bench/classify_bench.sh's recipe
# if missing) with the example country policy, with the dumps hashed (the default) and
# without (classify.run's digest_dumps = false), interleaved in pairs, for 1 and 2 jobs.
# Prints wall time, rows/s, CPU and peak RSS of each, the ratio without/with, and the load
# average. It measures; it asserts nothing. Environment: BUILD, CLASSIFY_ROWS,
# CLASSIFY_JOBS ("1 2"), AUDIT_REPEAT (pairs per job count, default 3: the fastest of each shown).
set -eu
cd "$(dirname "$0")/.."
. bench/national_dump.sh
BUILD=${BUILD:-build}
ROWS=${CLASSIFY_ROWS:-10000000}
JOBS=${CLASSIFY_JOBS:-"1 2"}
REPEAT=${AUDIT_REPEAT:-3}
dir=$BUILD/bench/classify
export IMEI_BUILD=$BUILD
mkdir -p "$dir"
national_dump "$ROWS"
echo "load before: $(uptime)"

cat >"$dir/audit_driver.lua" <<'LUA'
-- audit_driver.lua OUT JOBS DIGEST(yes|no) TACDB LISTS DUMP...
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("IMEI_BUILD") or "build") .. "/?.so;" .. package.cpath
local out, jobs, digest, tacdb, lists = arg[1], tonumber(arg[2]), arg[3] == "yes", arg[4], arg[5]
local dumps = table.move(arg, 6, #arg, 1, {})
local r = assert(require("imei.classify").run { policy = "policies/example-country.lua", tacdb = tacdb,
  lists = lists, out = out, dumps = dumps, jobs = jobs, force = true, digest_dumps = digest })
io.write(r.report.input.rows, " ", r.report.performance.digest_wait_seconds or 0, "\n")
LUA

declare -A best
run() { # run DIGEST JOBS: one run; keeps the fastest per (digest, jobs)
	local digest=$1 jobs=$2 out=$dir/out-audit-$1-$2
	rm -rf "$out"
	/usr/bin/time -f "%e %U %S %M" -o "$dir/audit_time.txt" \
		lua5.4 "$dir/audit_driver.lua" "$out" "$jobs" "$digest" "$tacdb_img" "$data/lists" "$data"/*.csv \
		>"$dir/audit_out.txt"
	local wall user sys rss rows waited
	read -r wall user sys rss <"$dir/audit_time.txt"
	read -r rows waited <"$dir/audit_out.txt"
	local key=$digest-$jobs prev=${best[$digest-$jobs]:-}
	if [ -z "$prev" ] || awk -v a="$wall" -v b="${prev%% *}" 'BEGIN { exit !(a < b) }'; then
		best[$key]="$wall $user $sys $rss $rows $waited"
	fi
}
for jobs in $JOBS; do
	for _ in $(seq "$REPEAT"); do
		run yes "$jobs"
		run no "$jobs"
	done
done
for jobs in $JOBS; do
	for digest in no yes; do
		read -r wall user sys rss rows waited <<<"${best[$digest-$jobs]}"
		awk -v d="$digest" -v j="$jobs" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" -v r="$rows" -v x="$waited" \
			'BEGIN { printf "dumps hashed %-3s jobs %d: wall %6.2f s = %5.2f M rows/s; CPU %6.2f s; peak RSS %d MiB; waited for the digests %.2f s\n", d, j, w, r / w / 1e6, u + s, m / 1024, x }'
	done
	read -r w_no u_no s_no _ <<<"${best[no-$jobs]}"
	read -r w_yes u_yes s_yes _ <<<"${best[yes-$jobs]}"
	awk -v a="$w_yes" -v b="$w_no" -v c="$(awk -v u="$u_yes" -v s="$s_yes" 'BEGIN { print u + s }')" \
		-v d="$(awk -v u="$u_no" -v s="$s_no" 'BEGIN { print u + s }')" -v j="$jobs" \
		'BEGIN { printf "jobs %d: with / without = %.3f wall (%+.1f%%), %.3f CPU (%+.1f%%)\n", j, a / b, (a / b - 1) * 100, c / d, (c / d - 1) * 100 }'
done
echo "load after: $(uptime)"
