#!/bin/bash
# demo.sh — what `make demo` runs: the main jobs on the bundled sample data.
set -euo pipefail
cd "$(dirname "$0")"
export IMEI_BUILD=${BUILD:-build}
imei() { bin/imei "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "Identifiers: valid, spare check digit, IMEISV, 5G PEI, MEID, junk, malformed" \
     "imei inspect 35-209900-176148-1 490154203237510 3520990017614823 imei-490154203237518 A0000000002329 358240051111110 4901542032375x8"
imei inspect 35-209900-176148-1 490154203237510 3520990017614823 imei-490154203237518 \
    A0000000002329 358240051111110 4901542032375x8 || echo "(exit status $?: some inputs are invalid, as intended)"

if [ -f lua/imei/cli/tac.lua ]; then
	step "TAC database: compile the Osmocom database, look devices up" \
	     "imei tac compile data/osmocom-tacdb.csv build/demo-tac.img && imei tac lookup build/demo-tac.img ..."
	imei tac compile data/osmocom-tacdb.csv "$IMEI_BUILD/demo-tac.img" | tail -n 5
	imei tac lookup "$IMEI_BUILD/demo-tac.img" 352099001761481 35332507 86432203 999999991234567 || true
fi

step "Policies: run every policy's self-tests" "imei policy test policies/*.lua"
imei policy test policies/*.lua

step "One check per device with the example country policy" "imei check --policy policies/example-country.lua ..."
tacdb=()
[ -f "$IMEI_BUILD/demo-tac.img" ] && tacdb=(--tacdb "$IMEI_BUILD/demo-tac.img")
for pei in imei-352099001761481 000000000000000 35209900176148x A0000000002329; do
	imei check --policy policies/example-country.lua "${tacdb[@]}" --operator 410-01 "$pei" 410010000000001
done
