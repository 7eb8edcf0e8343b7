# Record stream throughput: lx-convert JSON lines -> binary frames -> JSON lines on
# cases.jsonl-like records (2048-d features), and peak memory on a ~1 GB stream
# (flat: one record at a time).
set -u
D=$LX_BENCH_DIR/stream; mkdir -p "$D"
PATH=$LX_BIN:$LX_BUILD/tools:$PATH
reps=${LX_BENCH_STREAM_REPS:-480}     # 480 x cases.jsonl (2.1 MB) ~ 1 GB
src=$LX_FIXTURES/cases.jsonl
for ((i = 0; i < reps; i++)); do cat "$src"; done > "$D/big.jsonl"
mb=$(( $(stat -c %s "$D/big.jsonl") / 1000000 ))
n=$((reps * 5))
echo "input: $n records, $mb MB of JSON lines ($reps copies of cases.jsonl)"
rate() { awk -v mb="$1" -v n="$2" -v f="$3" 'BEGIN { split(f, a, /[= ]/); w = a[4];
    printf "%8.1f MB/s %9.1f records/s  peak RSS %6.1f MB  (%.2f s)\n", mb / w, n / w, a[2], w }'; }
peakrss -o "$D/t1" lx-convert -f bin < "$D/big.jsonl" > "$D/big.bin"
printf 'lx-convert -f bin  < big.jsonl: '; rate "$mb" "$n" "$(cat "$D/t1")"
binmb=$(( $(stat -c %s "$D/big.bin") / 1000000 ))
peakrss -o "$D/t2" lx-convert -f json < "$D/big.bin" > /dev/null
printf 'lx-convert -f json < big.bin:   '; rate "$binmb" "$n" "$(cat "$D/t2")"
echo "(MB/s counts the input; binary stream is $binmb MB)"
rm -f "$D/big.jsonl" "$D/big.bin"
