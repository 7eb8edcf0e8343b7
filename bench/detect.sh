# lx-detect speed and memory on a full-size bottom-up-attention Faster R-CNN with random
# weights (ResNet-101 C4: stem 64, res2..res5 256..2048, RPN 512 hidden, 12 anchors,
# 1600 classes, 400 attributes: the shape of HF's unc-nlp/frcnn-vg-finetuned), on one
# 480x640 picture resized as LXMERT's features were made (short side 600, long side at
# most 1000: 600x800) and as the HF config says (800/1333: 800x1067), 300 proposals,
# 36 boxes; beside the same network in PyTorch (bench/torch_frcnn.py, HF's demo
# computation in torch ops, checked against the reference fixtures first) in the same
# rounds.  Seconds per image in the steady state, per stage where the tool reports them,
# each stage's GFLOP/s and its share of the machine's sgemm rate measured in the same
# round, peak RSS, and lx's speed-up over PyTorch (median of per-round ratios).
#
# The random detector and the test picture are written by bench/torch_frcnn.py, so this
# bench needs Debian's python3-torch, python3-torchvision and python3-yaml for now.
# lx-detect runs when $LX_BIN/lx-detect exists and lx-convert reads the detector folder.
#
# Steady state: lx-detect is given the same picture N times and is expected to flush one
# output per picture, so (its last output - its first) / (N - 1) leaves out loading and
# the first picture (peakrss -t); PyTorch times its pictures itself after a warm-up.
# Stages: when `lx-detect --help` lists --timings, the runs add it and read `stage NAME
# SECONDS` lines from stderr (one per picture and stage; the mean over the pictures after
# the first is printed); the names backbone (stem..res4), rpn (head, decode, top-k, NMS),
# roi (RoIPool + res5 + mean, all proposals) and head (box head, decode, selection) get
# the GFLOP of PyTorch's stages of the same name, any other name its seconds only.
# One picture is ~2 TFLOP (res5 over 300 RoIs is 1.76 of them): 13-14 s for PyTorch on
# the quiet 2-core Zen 4 VM, 25-30 s while other work loads it, so PyTorch alone takes
# 0.6-1.2 min per round (two sizes, a light warm-up each), plus lx-detect's 4 x N pictures.
# Knobs: LX_BENCH_DETECT_ROUNDS (default LX_BENCH_ROUNDS, else 5), LX_BENCH_DETECT_IMAGES
# (pictures per lx-detect run, default 3), LX_BENCH_DETECT_TORCH_IMAGES (pictures PyTorch
# times per run, default 1), LX_BENCH_PYTHON (the Python with torch, default /usr/bin/python3).
set -u
D=$LX_BENCH_DIR/detect; mkdir -p "$D"
PATH=$LX_BIN:$LX_BUILD/tools:$PATH
ROUNDS=${LX_BENCH_DETECT_ROUNDS:-${LX_BENCH_ROUNDS:-5}}
N=${LX_BENCH_DETECT_IMAGES:-3}
TN=${LX_BENCH_DETECT_TORCH_IMAGES:-1}
TORCH=$LX_ROOT/bench/torch_frcnn.py PY=${LX_BENCH_PYTHON:-/usr/bin/python3} # Debian's, with its torch
SIZES="600/1000 800/1333"  # --min-size/--max-size: LXMERT's (Caffe) and HF config's
BOXES=36

if ! "$PY" -c 'import torch, torchvision, yaml' 2> /dev/null; then
    echo "detect: skipped: this bench needs python3-torch, python3-torchvision and python3-yaml for now"
    echo "  (they write the random full-size detector and run the PyTorch baseline; lx-detect alone"
    echo "  would need another generator of detector checkpoints): apt-get install python3-torch"
    echo "  python3-torchvision python3-yaml"
    exit 0
fi
"$PY" "$TORCH" randmodel "$D/det" --seed 1 > "$D/randmodel.log" || { cat "$D/randmodel.log"; exit 1; }
"$PY" "$TORCH" image "$D/img.png" --height 480 --width 640 || exit 1
IMG=$D/img.png
echo "model: ResNet-101 C4 Faster R-CNN, frcnn-vg-finetuned shape, random weights (bench/torch_frcnn.py" \
     "randmodel): $(sed -n 's/.*: \([0-9]* tensors, [0-9.]* M values\);.*/\1/p' "$D/randmodel.log")," \
     "safetensors $(($(stat -c %s "$D/det/model.safetensors") / 1000000)) MB"
echo "picture: 480x640 random PNG (bench/torch_frcnn.py image); $BOXES boxes; RPN 6000 -> NMS 0.7 -> 300 proposals"

# PyTorch beside lx, only when it reproduces the fixtures.
if "$PY" "$TORCH" check "$LX_FIXTURES" > "$D/torch.check" 2>&1; then
    echo "pytorch: $("$PY" -c 'import torch, torchvision; print(torch.__version__ + ", torchvision " + torchvision.__version__)')," \
         "HF's frcnn demo in torch ops (bench/torch_frcnn.py; matches the reference fixtures, both selections)"
else
    echo "pytorch: bench/torch_frcnn.py does not reproduce the fixtures; no comparison:"
    sed 's/^/  /' "$D/torch.check"
    TORCH=
fi

# lx-detect: when lx-convert reads detector folders and the tool is built.
LX=
if ! lx-convert "$D/det" -o "$D/det.lxm" > /dev/null 2> "$D/convert.err"; then
    echo "lx-detect: not available yet (lx-convert cannot read the detector folder:" \
         "$(tail -1 "$D/convert.err" | cut -c1-160)...); PyTorch figures only"
elif ! lx-convert "$D/det" --dtype bf16 -o "$D/det-bf16.lxm" > /dev/null 2> "$D/convert.err"; then
    echo "lx-detect: not available yet (lx-convert --dtype bf16 failed: $(tail -1 "$D/convert.err" | cut -c1-160)); PyTorch figures only"
elif [ ! -x "$LX_BIN/lx-detect" ]; then
    echo "lx-detect: not available yet (no $LX_BIN/lx-detect); PyTorch figures only"
elif ! lx-detect -m "$D/det.lxm" --min-size 600 --max-size 1000 --boxes $BOXES "$IMG" > /dev/null 2> "$D/detect.err"; then
    echo "lx-detect: not available yet (it failed on the picture: $(tail -1 "$D/detect.err" | cut -c1-160)); PyTorch figures only"
else
    LX=1
    TIMINGS=
    lx-detect --help 2>&1 | grep -q -- '--timings' && TIMINGS=--timings
    echo "lx-detect: f32 $(($(stat -c %s "$D/det.lxm") / 1000000)) MB, bf16 $(($(stat -c %s "$D/det-bf16.lxm") / 1000000)) MB;" \
         "$N pictures per run${TIMINGS:+, per-stage times from --timings}"
fi
[ -n "$TORCH$LX" ] || exit 0
echo "sgemm: OpenBLAS cblas_sgemm on 2048^3 f32, all $(nproc) cores (gemmbench --sgemm-rate), before and after each round"

# field FILE KEY: the value of KEY=... in a peakrss record or a torch_frcnn.py line
field() { awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' "$1"; }

# Each measurement appends ROUND<tab>NAME<tab>SECONDS<tab>PEAK_RSS_MB<tab>SIZE<tab>WALL to $D/res and
# ROUND<tab>NAME<tab>STAGE<tab>SECONDS to $D/stages; $D/gflop holds SIZE<tab>STAGE<tab>GFLOP
# (from PyTorch's count over the same network, picture and sizes; "total" for the image).
torch_measure() { # torch_measure ROUND SIZE
    local k=$1 size=$2 name="pytorch ${2}"
    peakrss -o "$D/t.torch" "$PY" "$TORCH" time "$D/det" --image "$IMG" --min-size "${size%/*}" \
        --max-size "${size#*/}" --images "$TN" > "$D/torch.out" 2> "$D/torch.err" ||
        { echo "torch_frcnn.py time $size failed: $(tail -1 "$D/torch.err")"; return; }
    printf '%d\t%s\t%s\t%s\t%s\t%s\n' "$k" "$name" "$(field "$D/torch.out" torch_s_per_image)" \
        "$(field "$D/t.torch" peak_rss_mb)" "$size" "$(field "$D/t.torch" wall_s)" >> "$D/res"
    awk -v k="$k" -v name="$name" -v size="$size" -v g="$D/gflop" '
        /^torch_s_per_image=/ { for (i = 1; i <= NF; i++) if ($i ~ /^gflop=/) printf "%s\ttotal\t%s\n", size, substr($i, 7) >> g
                                for (i = 1; i <= NF; i++) if ($i ~ /^(resized|proposals)=/) printf "%s\t%s\t%s\n", size, $i, 0 >> g }
        /^torch_stage=/ { st = substr($1, 13); s = substr($2, 3); gf = substr($3, 7)
                          printf "%d\t%s\t%s\t%s\n", k, name, st, s
                          printf "%s\t%s\t%s\n", size, st, gf >> g }' "$D/torch.out" >> "$D/stages"
    sort -u -o "$D/gflop" "$D/gflop"
    [ -s "$D/torch.line" ] || head -1 "$D/torch.out" > "$D/torch.line"
}
lx_measure() { # lx_measure ROUND DTYPE SIZE
    local k=$1 m=det name="lx $2 $3" size=$3
    [ "$2" = bf16 ] && m=det-bf16
    # shellcheck disable=SC2046 # the picture N times
    peakrss -t -o "$D/t.lx" lx-detect -m "$D/$m.lxm" --min-size "${size%/*}" --max-size "${size#*/}" \
        --boxes $BOXES $TIMINGS $(for i in $(seq "$N"); do echo "$IMG"; done) 2> "$D/lx.err" ||
        { echo "lx-detect $2 $size failed: $(tail -1 "$D/lx.err")"; return; }
    awk -v f="$(field "$D/t.lx" first_out_s)" -v l="$(field "$D/t.lx" last_out_s)" \
        -v w="$(field "$D/t.lx" wall_s)" -v n="$N" -v k="$k" -v name="$name" -v size="$size" \
        -v rss="$(field "$D/t.lx" peak_rss_mb)" \
        'BEGIN { s = (n > 1 && l - f > 0.1 * w / n) ? (l - f) / (n - 1) : w / n
                 if (s == w / n && n > 1) print "  (" name ": its output came at once: seconds per picture = wall / " n ", load included)" > "/dev/stderr"
                 printf "%d\t%s\t%.4f\t%s\t%s\t%s\n", k, name, s, rss, size, w }' >> "$D/res"
    # `stage NAME SECONDS` lines (one per picture): the mean over the pictures after the first
    awk -v k="$k" -v name="$name" '$1 == "stage" && NF == 3 { if (!c[$2]++) on[++no] = $2
            if (c[$2] == 1) first[$2] = $3; else sum[$2] += $3 }
        END { for (i = 1; i <= no; i++) { st = on[i]
                  printf "%d\t%s\t%s\t%.4f\n", k, name, st, (c[st] > 1 ? sum[st] / (c[st] - 1) : first[st]) } }' \
        "$D/lx.err" >> "$D/stages"
}

# The machine is shared and its speed drifts, so every figure is measured in each of
# ROUNDS rounds, each with its own sgemm rate, and the median printed (ratios: the median
# of per-round ratios; the range shows the noise).
: > "$D/res"
: > "$D/stages"
: > "$D/rate"
: > "$D/gflop"
: > "$D/torch.line"
start=$(date +%s)
for k in $(seq "$ROUNDS"); do
    r0=$(gemmbench --sgemm-rate --time 1)
    for size in $SIZES; do
        [ -n "$TORCH" ] && torch_measure "$k" "$size"
        if [ -n "$LX" ]; then
            cat "$D/det.lxm" "$D/det-bf16.lxm" > /dev/null # warm page cache
            lx_measure "$k" f32 "$size"
            lx_measure "$k" bf16 "$size"
        fi
    done
    # a round lasts minutes: its rate is the mean of one before and one after
    printf '%d\tsgemm\t%s\n' "$k" "$(awk -v a="$r0" -v b="$(gemmbench --sgemm-rate --time 1)" 'BEGIN { print (a + b) / 2 }')" >> "$D/rate"
done
echo
echo "steady state, seconds per picture, median of $ROUNDS rounds ($(($(date +%s) - start)) s of measuring; \"run\": the"
echo "whole process's wall time: PyTorch's import, load, warm-up and $TN picture(s), lx-detect's load and $N pictures):"
awk -F '\t' '
    function med(a, n,    i, j, x, b) { for (i = 1; i <= n; i++) b[i] = a[i]
        for (i = 2; i <= n; i++) for (j = i; j > 1 && b[j] < b[j - 1]; j--) { x = b[j]; b[j] = b[j - 1]; b[j - 1] = x }
        return n % 2 ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2 }
    function lo(a, n,    i, x) { x = a[1]; for (i = 2; i <= n; i++) if (a[i] < x) x = a[i]; return x }
    function hi(a, n,    i, x) { x = a[1]; for (i = 2; i <= n; i++) if (a[i] > x) x = a[i]; return x }
    FILENAME == ARGV[1] { rate[$1] = $3; nr++; rr[nr] = $3; next }
    FILENAME == ARGV[2] { if ($2 ~ /=/) { split($2, kv, "="); info[$1, kv[1]] = kv[2] } else g[$1, $2] = $3; next }
    FILENAME == ARGV[3] { if (!($2 in cnt)) order[++no] = $2
             cnt[$2]++; t[$2, $1] = $3; size[$2] = $5; wall[$2, $1] = $6; if ($4 > rss[$2]) rss[$2] = $4; next }
    FILENAME == ARGV[4] { if (!(($2, $3) in sn)) { sn[$2, $3] = 1; so[$2, ++ns[$2]] = $3 }
             st[$2, $3, $1] = $4; next }
    END {
        printf "sgemm: median %.1f GFLOP/s (range %.1f-%.1f over the rounds; gemmbench --sgemm-rate)\n",
               med(rr, nr), lo(rr, nr), hi(rr, nr)
        for (s in g) { split(s, p, SUBSEP); if (p[2] == "total" && !(p[1] in done)) { done[p[1]] = 1
            printf "work, --min-size/--max-size %s (%s, %s proposals): %.0f GFLOP per picture (", p[1],
                   info[p[1], "resized"], info[p[1], "proposals"], g[p[1], "total"]
            split("backbone rpn roi head", sn2, " ")
            for (i = 1; i <= 4; i++) printf "%s%s %.1f", (i > 1 ? ", " : ""), sn2[i], g[p[1], sn2[i]]
            printf "; convolutions and linear layers, 2 x multiply-adds)\n" } }
        for (o = 1; o <= no; o++) { name = order[o]; n = 0; gf = g[size[name], "total"]
            for (k in rate) if ((name, k) in t) { n++; x[n] = t[name, k]; pc[n] = 100 * gf / x[n] / rate[k]; wl[n] = wall[name, k] }
            m = med(x, n)
            printf "%-20s %7.2f s/picture (range %.2f-%.2f) %6.1f GFLOP/s = %3.0f%% of sgemm  peak RSS %5.0f MB  run %.0f s\n",
                   name, m, lo(x, n), hi(x, n), gf / m, med(pc, n), rss[name], med(wl, n)
            for (j = 1; j <= ns[name]; j++) { sname = so[name, j]; n = 0; sg = g[size[name], sname]
                for (k in rate) if ((name, sname, k) in st) { n++; x[n] = st[name, sname, k]
                    pc[n] = (x[n] > 0 ? 100 * sg / x[n] / rate[k] : 0) }
                m = med(x, n)
                if (sg > 0 && m > 0)
                    printf "    %-9s %7.3f s (range %.3f-%.3f) %6.1f GFLOP/s = %3.0f%% of sgemm (%.1f GFLOP)\n",
                           sname, m, lo(x, n), hi(x, n), sg / m, med(pc, n), sg
                else
                    printf "    %-9s %7.3f s (range %.3f-%.3f)\n", sname, m, lo(x, n), hi(x, n) } }
        for (o = 1; o <= no; o++) { name = order[o]; if (name !~ /^lx /) continue
            tn = "pytorch " size[name]; if (!(tn in cnt)) continue; n = 0
            for (k in rate) if ((tn, k) in t && (name, k) in t) r[++n] = t[tn, k] / t[name, k]
            printf "%s against PyTorch: %.2fx as fast (median of per-round ratios; range %.2f-%.2f)\n",
                   name, med(r, n), lo(r, n), hi(r, n) }
    }' "$D/rate" "$D/gflop" "$D/res" "$D/stages"
echo
[ -n "$TORCH" ] && echo "pytorch run: $(sed 's/^torch_s_per_image=[^ ]* //' "$D/torch.line")"
echo "commands (per round, each size):"
[ -n "$TORCH" ] && echo "  $PY bench/torch_frcnn.py time DET --image IMG --min-size 600 --max-size 1000 --images $TN  (and 800 1333)"
echo "  lx-convert DET -o det.lxm;  lx-convert DET --dtype bf16 -o det-bf16.lxm"
echo "  peakrss -t lx-detect -m det.lxm --min-size 600 --max-size 1000 --boxes $BOXES ${TIMINGS:---timings (if offered)} IMG x$N  (and 800 1333; det-bf16.lxm)"
rm -rf "$D/det"
