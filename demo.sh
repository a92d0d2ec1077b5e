#!/bin/bash
# demo.sh — what `make demo` runs: the main jobs on the bundled sample data.
set -euo pipefail
cd "$(dirname "$0")"
export IMEI_BUILD=${BUILD:-build}
imei() { bin/imei "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "Identifiers" "imei inspect 35-209900-176148-1 imei-490154203237518 358240051111110"
imei inspect 35-209900-176148-1 imei-490154203237518 358240051111110

tacdb=(--tacdb data/osmocom-tacdb.csv)
if [ -f lua/imei/cli/tac.lua ]; then
	step "TAC database: compile the Osmocom database" "imei tac compile data/osmocom-tacdb.csv build/demo-tac.img"
	imei tac compile data/osmocom-tacdb.csv "$IMEI_BUILD/demo-tac.img" | tail -n 2
	tacdb=(--tacdb "$IMEI_BUILD/demo-tac.img")
fi

step "Policies: run every policy's self-tests" "imei policy test policies/*.lua"
imei policy test policies/*.lua | tail -n 3

# The main job: what a national CEIR runs before a policy goes live, and every day after.
demo="$IMEI_BUILD/demo"
step "45 days of national operator dumps (synthetic, seed 7) and the regulator's lists" \
     "imei gen --seed 7 --subscribers 20000 --days 45 --gzip --lists $demo/lists --out $demo/dumps"
rm -rf "$demo"
imei gen --seed 7 --subscribers 20000 --days 45 --gzip --lists "$demo/lists" --out "$demo/dumps"

step "Replay them through the example country policy: lists and impact report in ./out" \
     "imei classify --policy policies/example-country.lua ${tacdb[*]} --lists $demo/lists --out out $demo/dumps/*.csv.gz"
imei classify --policy policies/example-country.lua "${tacdb[@]}" --lists "$demo/lists" --out out \
	"$demo"/dumps/*.csv.gz

step "The lists operators load" "ls out; head out/blocklist.csv out/notifications_Jazz.csv out/exceptions_Jazz.csv"
ls out
echo "(out/report.html: the report with charts and sortable tables; open it in a browser)"
head -n 4 out/blocklist.csv out/notifications_Jazz.csv out/exceptions_Jazz.csv
