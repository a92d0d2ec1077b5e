#!/bin/bash
# bench/dump_parse_bench.sh [FILE...] — dump reading and row parsing alone (core/dump_reader.c,
# bench/dump_parse_bench.c), this tree against a peer build of PEER_REF (default main) in the
# same run: each round runs both, interleaved, reading lines only and reading + parsing, and
# prints each figure in rows per CPU-second, the parse cost per line (parse minus lines) and
# the ratios. The digests of what both parsed must be equal (same rows, same refusals, same
# messages): a difference is printed as such. ROUNDS (default 3) rounds; the median is kept.
# Files: those given, else the 10 M-row national dump of bench/classify_bench.sh.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CC=${CC:-cc}
PEER_REF=${PEER_REF:-main}
ROUNDS=${ROUNDS:-3}
out=$BUILD/bench/dump_parse
mkdir -p "$out"
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
	files=("$BUILD"/bench/classify/data-10000000/*.csv)
fi
[ -e "${files[0]}" ] || { echo "dump_parse_bench: no dump (give files, or make the classify bench's)"; exit 1; }

# the peer: PEER_REF's core, built apart from this tree
peer=$out/peer-src
rev=$(git rev-parse "$PEER_REF")
if [ "$(cat "$peer/REV" 2>/dev/null)" != "$rev" ]; then
	rm -rf "$peer"
	mkdir -p "$peer/src"
	git archive "$rev" | tar -x -C "$peer/src"
	make -s -C "$peer/src" BUILD=build build/libimei_core.a >/dev/null
	echo "$rev" >"$peer/REV"
fi
LIBS=(-lnettle -llmdb -lhiredis -lz -lpthread -lm)
$CC -std=c11 -D_DEFAULT_SOURCE -O2 -Iinclude -Icore bench/dump_parse_bench.c "$BUILD/libimei_core.a" \
	-o "$out/this.bin" "${LIBS[@]}"
peer_def=
grep -q imei_dump_parse_row "$peer/src/core/imei_dump_reader.h" || peer_def=-DPEER_BEFORE_PARSE_ROW
$CC -std=c11 -D_DEFAULT_SOURCE -O2 $peer_def -I"$peer/src/include" -I"$peer/src/core" bench/dump_parse_bench.c \
	"$peer/src/build/libimei_core.a" -o "$out/peer.bin" "${LIBS[@]}"

echo "files: ${files[*]}"
echo "peer: $PEER_REF ($rev)"
echo "load: $(uptime)"
for r in $(seq "$ROUNDS"); do
	for who in peer this; do
		for mode in lines parse; do
			"$out/$who.bin" "$mode" "${files[@]}" | sed "s/^/$who round=$r /"
		done
	done
done | tee "$out/runs.txt"
echo "load: $(uptime)"
awk '
	{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	  k = $1 " " v["mode"]; n[k]++; ns[k, n[k]] = v["ns_per_line"]; lines = v["lines"]
	  if (v["mode"] == "parse") dig[$1] = v["digest"] }
	function median(k,   i, j, t, m) {
		m = n[k]
		for (i = 1; i <= m; i++) a[i] = ns[k, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	END {
		for (w = 0; w < 2; w++) {
			who = w ? "this" : "peer"
			l[who] = median(who " lines"); p[who] = median(who " parse")
			printf "%-4s read %6.1f ns/line, read+parse %6.1f ns/line (%.2f M rows/CPU-s), parse alone %6.1f ns/row\n",
				who, l[who], p[who], 1000 / p[who], p[who] - l[who]
		}
		printf "ratio peer/this: read+parse %.2fx, parse alone %.2fx\n", p["peer"] / p["this"],
			(p["peer"] - l["peer"]) / (p["this"] - l["this"])
		if (dig["peer"] == dig["this"]) print "digests equal: " dig["this"]
		else print "DIGESTS DIFFER: peer " dig["peer"] ", this " dig["this"]
	}' "$out/runs.txt"
