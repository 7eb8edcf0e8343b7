# lx-embed-vis: join throughput (images/s and MB/s of TSV) and peak memory against a
# generated LXMERT-layout TSV of N images x 36 regions x 2048 features (default 2000
# images, ~790 MB), one question per image in shuffled order; plus the time to build
# the index, --dump throughput, and peak memory for a TSV four times smaller (memory
# should not depend on the file size).  The TSV was just written, so it is read from the
# page cache: these are decode figures, not disk figures.
# Reference: LXMERT's own Python loader (load_obj_tsv: csv + base64 + numpy) reads about
# 190 MB/s of TSV on this kind of machine; the goal is at least twice that.
set -u
D=$LX_BENCH_DIR/embed_vis; mkdir -p "$D"
PATH=$LX_BIN:$LX_BUILD/tools:$PATH
n=${LX_BENCH_EMBED_IMAGES:-2000}
small=$((n / 4))
mktsv -n "$n" -b 36 -d 2048 > "$D/big.tsv"
mktsv -n "$small" -b 36 -d 2048 > "$D/small.tsv"
questions() {
    awk -v n="$1" 'BEGIN { srand(7); for (i = 0; i < n; i++) p[i] = i;
        for (i = n - 1; i > 0; i--) { j = int(rand() * (i + 1)); t = p[i]; p[i] = p[j]; p[j] = t }
        for (i = 0; i < n; i++)
            printf "{\"question_id\": %d, \"img_id\": \"COCO_val2014_%012d\", \"sent\": \"what is it?\"}\n", i, p[i] }'
}
questions "$n" > "$D/q.jsonl"
questions "$small" > "$D/q-small.jsonl"
bytes=$(stat -c %s "$D/big.tsv")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
echo "input: $n images x 36 regions x 2048 floats, $mb MB of TSV (mktsv), $n questions in shuffled order"
report() {   # label MB images peakrss-file
    awk -v mb="$2" -v n="$3" -v f="$(cat "$4")" -v l="$1" 'BEGIN { split(f, a, /[= ]/); w = a[4];
        printf "%-44s %8.1f MB/s %8.1f images/s  peak RSS %6.1f MB  (%.2f s)\n", l, mb / w, n / w, a[2], w }'
}
rm -f "$D/big.tsv.lxi" "$D/small.tsv.lxi"
peakrss -o "$D/t0" lx-embed-vis --features "$D/big.tsv" < /dev/null
report "index build (first use, reads the TSV once)" "$mb" "$n" "$D/t0"
peakrss -o "$D/t1" lx-embed-vis --features "$D/big.tsv" < "$D/q.jsonl" > /dev/null
report "join, binary frames to /dev/null" "$mb" "$n" "$D/t1"
peakrss -o "$D/t2" sh -c "lx-embed-vis --features '$D/big.tsv' < '$D/q.jsonl' | wc -c > /dev/null"
report "join, binary frames through a pipe" "$mb" "$n" "$D/t2"
peakrss -o "$D/t3" lx-embed-vis --objects --max-boxes 10 --features "$D/big.tsv" < "$D/q.jsonl" > /dev/null
report "join --objects --max-boxes 10" "$mb" "$n" "$D/t3"
peakrss -o "$D/t4" lx-embed-vis --dump --features "$D/big.tsv" > /dev/null
report "--dump, binary frames to /dev/null" "$mb" "$n" "$D/t4"
smb=$(awk -v b="$(stat -c %s "$D/small.tsv")" 'BEGIN { printf "%.1f", b / 1e6 }')
lx-embed-vis --features "$D/small.tsv" < /dev/null
peakrss -o "$D/t5" lx-embed-vis --features "$D/small.tsv" < "$D/q-small.jsonl" > /dev/null
report "join, a TSV 4x smaller ($small images)" "$smb" "$small" "$D/t5"
echo "commands: lx-embed-vis --features big.tsv < q.jsonl > /dev/null (and as labelled);"
echo "          MB/s counts the TSV's bytes; goal >= 380 MB/s (2 x 190 MB/s)"
rm -f "$D"/*.tsv "$D"/*.lxi "$D"/*.jsonl
