# bench/national_dump.sh — sourced by the replay benches (classify_bench.sh, audit_bench.sh,
# compare_bench.sh): the generated national dump they all read, made once and kept.
#   national_dump ROWS   sets $data to $BUILD/bench/classify/data-ROWS: `imei gen` seed 11,
#                        30 days, 4 operators, with its lists in $data/lists (made if missing,
#                        so every bench reads the same rows), and compiles the Osmocom TAC
#                        database into $BUILD/bench/classify/tacdb.img ($tacdb_img); prints the input's size.
national_dump() {
	local rows=$1
	data=$BUILD/bench/classify/data-$rows
	tacdb_img=$BUILD/bench/classify/tacdb.img
	mkdir -p "$BUILD/bench/classify"
	if [ ! -s "$data/done" ]; then
		rm -rf "$data"
		echo "generating $rows rows (seed 11, 30 days) into $data ..."
		/usr/bin/time -f "  generated in %e s (%U s CPU)" \
			bin/imei gen --seed 11 --rows "$rows" --days 30 --lists "$data/lists" --out "$data" -q
		echo ok >"$data/done"
	fi
	bin/imei tac compile data/osmocom-tacdb.csv "$tacdb_img" >/dev/null
	local bytes
	bytes=$(stat -c %s "$data"/*.csv | awk '{ s += $1 } END { print s }')
	echo "input: $rows rows, $((bytes / 1048576)) MiB in $(ls "$data"/*.csv | wc -l) files; $(nproc) processors"
}
