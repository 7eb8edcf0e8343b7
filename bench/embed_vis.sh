# lx-embed-vis: join throughput (images/s and MB/s of TSV) and peak memory against a
# generated LXMERT-layout TSV of N images x 36 regions x 2048 features (default 2000
# images, ~790 MB), one question per image in shuffled order; plus the index build,
# --dump, a join through a --regions file, and a TSV four times smaller (memory should
# not depend on the file size).  The TSV was just written, so it is read from the page
# cache: these are decode figures, not disk figures.  Both wall-clock and CPU (user +
# sys) rates are printed because the wall clock depends on what else the machine runs.
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
size_mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1e6 }'; }
mb=$(size_mb "$D/big.tsv")
echo "input: $n images x 36 regions x 2048 floats, $mb MB of TSV (mktsv), $n questions in shuffled order"
printf '%-40s %11s %11s %13s %9s\n' "" "MB/s wall" "MB/s CPU" "images/s wall" "peak RSS"
# run LABEL MB IMAGES CMD...: time CMD (stdout to /dev/null unless redirected inside)
run() {
    local label=$1 m=$2 k=$3; shift 3
    local TIMEFORMAT='%R %U %S'
    { time peakrss -o "$D/rss" "$@" > /dev/null; } 2> "$D/time"
    awk -v l="$label" -v mb="$m" -v n="$k" -v r="$(cat "$D/rss")" -v t="$(tail -n 1 "$D/time")" 'BEGIN {
        split(r, a, /[= ]/); split(t, b, " "); cpu = b[2] + b[3];
        printf "%-40s %11.1f %11.1f %13.1f %6.1f MB  (%.2f s wall, %.2f s CPU)\n", l, mb / b[1],
               mb / (cpu > 0 ? cpu : 1e-9), n / b[1], a[2], b[1], cpu }'
}
rm -f "$D/big.tsv.lxi" "$D/small.tsv.lxi"
run "index build (first use)" "$mb" "$n" lx-embed-vis --features "$D/big.tsv" < /dev/null
run "join -> /dev/null" "$mb" "$n" lx-embed-vis --features "$D/big.tsv" < "$D/q.jsonl"
run "join -> pipe (| wc -c)" "$mb" "$n" sh -c "lx-embed-vis --features '$D/big.tsv' < '$D/q.jsonl' | wc -c"
run "join --objects --max-boxes 10" "$mb" "$n" lx-embed-vis --objects --max-boxes 10 --features "$D/big.tsv" < "$D/q.jsonl"
run "--dump -> /dev/null" "$mb" "$n" lx-embed-vis --dump --features "$D/big.tsv"
lx-embed-vis --dump --features "$D/big.tsv" > "$D/big.regions"
run "join via --regions FILE (frames)" "$(size_mb "$D/big.regions")" "$n" lx-embed-vis --regions "$D/big.regions" "$D/q.jsonl"
rm -f "$D/big.regions"
# The baseline, when python3 has numpy: the steps of LXMERT's load_obj_tsv (csv rows,
# base64 -> np.frombuffer for the six arrays) and of its dataset's box normalisation,
# over every image.  Like the original it keeps every image in memory.
baseline='
import base64, csv, sys
import numpy as np
names = ["img_id", "img_h", "img_w", "objects_id", "objects_conf", "attrs_id",
         "attrs_conf", "num_boxes", "boxes", "features"]
csv.field_size_limit(sys.maxsize)
data = []
with open(sys.argv[1]) as f:
    for item in csv.DictReader(f, names, delimiter="\t"):
        for k in ("img_h", "img_w", "num_boxes"):
            item[k] = int(item[k])
        n = item["num_boxes"]
        for k, shape, dt in (("objects_id", (n,), np.int64), ("objects_conf", (n,), np.float32),
                             ("attrs_id", (n,), np.int64), ("attrs_conf", (n,), np.float32),
                             ("boxes", (n, 4), np.float32), ("features", (n, -1), np.float32)):
            item[k] = np.frombuffer(base64.b64decode(item[k]), dtype=dt).reshape(shape)
        boxes = item["boxes"].copy()
        boxes[:, (0, 2)] /= item["img_w"]
        boxes[:, (1, 3)] /= item["img_h"]
        data.append(item)
'
py=
for p in python3 /usr/bin/python3; do
    if "$p" -c 'import numpy' 2> /dev/null; then py=$p; break; fi
done
if [ -n "$py" ]; then
    run "python: LXMERT loader steps (baseline)" "$mb" "$n" "$py" -c "$baseline" "$D/big.tsv"
else
    echo "(python3 with numpy not found: no measured baseline)"
fi
lx-embed-vis --features "$D/small.tsv" < /dev/null
run "join, TSV 4x smaller ($small images)" "$(size_mb "$D/small.tsv")" "$small" lx-embed-vis --features "$D/small.tsv" < "$D/q-small.jsonl"
echo "commands: lx-embed-vis --features big.tsv < q.jsonl > /dev/null (and as labelled);"
echo "MB/s counts the TSV's bytes (the regions file's for --regions); binary frames out;"
echo "goal: >= 380 MB/s, 2 x the ~190 MB/s of LXMERT's Python loader"
rm -f "$D"/*.tsv "$D"/*.lxi "$D"/*.jsonl "$D/rss" "$D/time"
