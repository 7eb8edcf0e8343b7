# lx-detect: the fixture detector, converted as users convert one, on the three fixture
# images against the reference's regions (both selections, the channel order each image
# was run in), the records it writes, --names, --tsv into lx-embed-vis, records naming
# images on standard input, --preset and the options' order, --timings, and every kind
# of bad input and bad option.
. "$(dirname "$0")/lib.bash"

IMG=$FX/frcnn/images
EXP=$FX/frcnn/expected
lx-convert "$FX/frcnn/models/frcnn-tiny" -o "$T/det.lxm" 2> "$T/convert.err" ||
    { cat "$T/convert.err" >&2; fail "lx-convert of the fixture detector"; }
export LX_MODEL=$T/det.lxm
# the first record of a stream as its top-level field names, one line
keys() { lx-convert -f json < "$1" | head -n 1 | grep -oE '"[a-z_]+":' | tr -d '":' | paste -sd ' ' -; }

# ---- the regions against the reference ------------------------------------------------
# expect K PREFIX: the reference regions of image K as a regions record (the fixture's
# tensors under the record's names; PREFIX caffe_ for the Caffe selection)
expect() {
    strec "$EXP/frcnn-tiny.img$1.safetensors" "$2boxes=boxes" "$2roi_features=features" \
        "$2obj_ids=objects_id" "$2obj_probs=objects_conf" "$2attr_ids=attrs_id" \
        "$2attr_probs=attrs_conf" > "$T/want.jsonl" || fail "strec img$1"
}
# same GOT: boxes within 1e-3 px, the rest within 1e-4 (ids exactly)
same() {
    reccmp --tol 1e-3 --abs --fields boxes "$1" "$T/want.jsonl" &&
        reccmp --tol 1e-4 --fields features,objects_id,objects_conf,attrs_id,attrs_conf \
            "$1" "$T/want.jsonl"
}
# img1 was run in BGR (the weights' order), img0 and img2 in RGB (HF's demo on files)
for sel in hf caffe; do
    pre=; [ $sel = caffe ] && pre=caffe_
    for k in 0 1 2; do
        rgb=--rgb; [ $k = 1 ] && rgb=
        f=$(ls "$IMG"/img$k.*)
        # shellcheck disable=SC2086
        lx-detect --select $sel $rgb "$f" > "$T/img$k.bin" || fail "lx-detect --select $sel img$k"
        expect $k "$pre"
        same "$T/img$k.bin" || fail "--select $sel $rgb img$k differs from the reference"
    done
done
# the channel order matters: img0 in BGR is not the reference's RGB run
lx-detect "$IMG/img0.png" > "$T/bgr0.bin" || fail "img0 in BGR"
expect 0 ""
! reccmp --tol 1e-3 --abs --fields boxes "$T/bgr0.bin" "$T/want.jsonl" 2> /dev/null ||
    fail "--rgb changed nothing"
# LX_CPU=portable: the same regions (the tolerances above)
LX_CPU=portable lx-detect --rgb "$IMG/img0.png" > "$T/port.bin" || fail "LX_CPU=portable"
same "$T/port.bin" || fail "LX_CPU=portable differs from the reference"
LX_CPU=avx2 lx-detect --threads 1 --rgb "$IMG/img0.png" > "$T/avx2.bin" || fail "LX_CPU=avx2 --threads 1"
same "$T/avx2.bin" || fail "LX_CPU=avx2 --threads 1 differs from the reference"

# ---- the records --------------------------------------------------------------------------
lx-detect "$IMG/img0.png" "$IMG/img1.png" "$IMG/img2.jpg" > "$T/three.bin" || fail "three images"
head -c 4 "$T/three.bin" | grep -q LXRF || fail "default output is not binary frames"
lx-convert -f json < "$T/three.bin" > "$T/three.jsonl" || fail "frames to JSON"
[ "$(wc -l < "$T/three.jsonl")" -eq 3 ] || fail "expected 3 records"
[ "$(keys "$T/three.bin")" = "img_id img_h img_w boxes features objects_id objects_conf attrs_id attrs_conf" ] ||
    fail "fields: $(keys "$T/three.bin")"
[ "$(grep -oE '^\{"img_id":"[a-z0-9]+","img_h":[0-9]+,"img_w":[0-9]+' "$T/three.jsonl" | tr '\n' ' ')" = \
  '{"img_id":"img0","img_h":60,"img_w":80 {"img_id":"img1","img_h":117,"img_w":90 {"img_id":"img2","img_h":50,"img_w":110 ' ] ||
    fail "ids and sizes: $(cut -c 1-50 "$T/three.jsonl")"
# 20 regions of 128 features each (the fixture's detections and res5 width); -f json
# writes the same record
lx-detect -f json "$IMG/img1.png" > "$T/img1.jsonl" || fail "-f json"
lx-convert -f bin < "$T/img1.jsonl" | cmp -s - <(lx-detect "$IMG/img1.png") ||
    fail "-f json and frames differ"
strec "$EXP/frcnn-tiny.img1.safetensors" roi_features=features > "$T/want.jsonl"
reccmp --tol 1e-4 --fields features "$T/img1.jsonl" "$T/want.jsonl" || fail "features [20, 128]"
# the same file twice as operands: detected and written twice
lx-detect "$IMG/img1.png" "$IMG/img1.png" > "$T/twice.bin" || fail "an operand twice"
[ "$(lx-convert -f json < "$T/twice.bin" | wc -l)" -eq 2 ] || fail "an operand twice: two records expected"
# HF's selection when every threshold leaves fewer than asked for: the last one's
# survivors (30 at 0.7 for img0)
lx-detect --rgb --boxes 35 -f json "$IMG/img0.png" > "$T/few.jsonl" || fail "--boxes 35"
[ "$(sed -E 's/.*"objects_id":\[([^]]*)\].*/\1/' "$T/few.jsonl" | tr ',' '\n' | wc -l)" -eq 30 ] ||
    fail "--boxes 35 on img0: expected the 30 survivors of 0.7"

# ---- --names ------------------------------------------------------------------------------
for i in $(seq 0 29); do echo "object$i"; done > "$T/objects.txt"
for i in $(seq 0 11); do echo "attribute$i"; done > "$T/attributes.txt"
lx-convert "$FX/frcnn/models/frcnn-tiny" --objects "$T/objects.txt" \
    --attributes "$T/attributes.txt" -o "$T/names.lxm" 2> "$T/convert.err" ||
    { cat "$T/convert.err" >&2; fail "lx-convert --objects --attributes"; }
lx-detect -m "$T/names.lxm" --names -f json "$IMG/img1.png" > "$T/names.jsonl" || fail "--names"
[ "$(keys "$T/names.jsonl")" = "img_id img_h img_w boxes features objects_id objects_conf attrs_id attrs_conf objects attrs" ] ||
    fail "--names fields: $(keys "$T/names.jsonl")"
ids=$(sed -E 's/.*"objects_id":\[([^]]*)\].*/\1/' "$T/names.jsonl" | tr ',' ' ')
names=$(sed -E 's/.*"objects":\[([^]]*)\].*/\1/' "$T/names.jsonl" | tr -d '"' | tr ',' ' ')
[ "$names" = "$(for i in $ids; do printf 'object%s ' "$i"; done | sed 's/ $//')" ] ||
    fail "--names: objects '$names' for ids '$ids'"
ids=$(sed -E 's/.*"attrs_id":\[([^]]*)\].*/\1/' "$T/names.jsonl" | tr ',' ' ')
names=$(sed -E 's/.*"attrs":\[([^]]*)\].*/\1/' "$T/names.jsonl" | tr -d '"' | tr ',' ' ')
[ "$names" = "$(for i in $ids; do printf 'attribute%s ' "$i"; done | sed 's/ $//')" ] ||
    fail "--names: attrs '$names' for ids '$ids'"
expect_status 1 lx-detect --names "$IMG/img1.png"
expect_err "^lx-detect: $T/det.lxm: --names: the model has no object names"
[ ! -s "$T/out" ] || fail "--names without names wrote output"

# ---- --tsv, then lx-embed-vis --features ---------------------------------------------------
lx-detect --tsv "$IMG/img0.png" "$IMG/img1.png" "$IMG/img2.jpg" > "$T/f.tsv" || fail "--tsv"
[ "$(wc -l < "$T/f.tsv")" -eq 3 ] || fail "--tsv: expected 3 lines"
[ "$(awk -F '\t' '{ printf "%s %s %s %s %d|", $1, $2, $3, $8, NF }' "$T/f.tsv")" = \
  "img0 60 80 20 10|img1 117 90 20 10|img2 50 110 20 10|" ] || fail "--tsv fields: $(cut -f 1-3,8 "$T/f.tsv")"
printf '{"question_id": %d, "img_id": "img%d", "sent": "What is it?"}\n' 1 0 2 1 3 2 4 1 > "$T/q.jsonl"
lx-embed-vis --objects --features "$T/f.tsv" "$T/q.jsonl" > "$T/via-tsv.bin" || fail "lx-embed-vis --features on the --tsv file"
lx-embed-vis --objects --regions "$T/three.bin" "$T/q.jsonl" > "$T/via-regions.bin" || fail "lx-embed-vis --regions"
reccmp "$T/via-tsv.bin" "$T/via-regions.bin" || fail "the TSV and the regions records join differently"
[ "$(lx-convert -f json < "$T/via-tsv.bin" | wc -l)" -eq 4 ] || fail "4 joined records expected"

# ---- records on standard input -------------------------------------------------------------
# --field and --image-dir; several records about one image write one regions record;
# an integer img_id is kept; without img_id the file name is the id; the same file under
# another path is the same image
cat > "$T/recs.jsonl" <<EOF
{"question_id": 1, "img_id": "a", "picture": "img0.png"}
{"question_id": 2, "img_id": "a", "picture": "img0.png", "sent": "again"}
{"question_id": 3, "img_id": 7, "picture": "img2.jpg"}
{"question_id": 4, "picture": "img1.png"}
{"question_id": 5, "picture": "$IMG/img1.png"}
{"question_id": 6, "image_id": 9, "picture": "img1.png"}
EOF
lx-detect --field picture --image-dir "$IMG" --rgb -f json < "$T/recs.jsonl" > "$T/recs-out.jsonl" ||
    fail "records on stdin"
[ "$(grep -oE '^\{"img_id":[^,]+' "$T/recs-out.jsonl" | tr '\n' ' ')" = '{"img_id":"a" {"img_id":7 {"img_id":"img1" {"img_id":9 ' ] ||
    fail "ids from records: $(cut -c 1-30 "$T/recs-out.jsonl")"
head -n 1 "$T/recs-out.jsonl" > "$T/a.jsonl"
expect 0 ""
same "$T/a.jsonl" || fail "record a (img0) differs from the reference"
! grep -q '"question_id"\|"picture"' "$T/recs-out.jsonl" || fail "the records' own fields were copied"
# --image-dir with a trailing slash; the default field is image
sed 's/"picture"/"image"/' "$T/recs.jsonl" | lx-detect --image-dir "$IMG/" --rgb -f json > "$T/recs2.jsonl" ||
    fail "records with the default field"
cmp -s "$T/recs-out.jsonl" "$T/recs2.jsonl" || fail "--field picture and the default field differ"
# binary frames on standard input
lx-convert -f bin < "$T/recs.jsonl" | lx-detect --field picture --image-dir "$IMG" --rgb -f json > "$T/recs3.jsonl" ||
    fail "records as frames"
cmp -s "$T/recs-out.jsonl" "$T/recs3.jsonl" || fail "frames and JSON lines in differ"
# --tsv from records
lx-detect --field picture --image-dir "$IMG" --tsv < "$T/recs.jsonl" > "$T/recs.tsv" || fail "records --tsv"
[ "$(cut -f 1 "$T/recs.tsv" | tr '\n' ' ')" = "a 7 img1 9 " ] || fail "records --tsv ids: $(cut -f 1 "$T/recs.tsv")"
# one id, two files: an error for that record, after the ones before it are written
printf '%s\n' '{"img_id": "a", "image": "img0.png"}' '{"img_id": "a", "image": "img1.png"}' \
    '{"img_id": "b", "image": "img2.jpg"}' > "$T/clash.jsonl"
expect_status 1 lx-detect --image-dir "$IMG" -f json < "$T/clash.jsonl"
expect_err "^lx-detect: <stdin>:record 2: $IMG/img1.png: image id a was already detected from $IMG/img0.png$"
[ "$(wc -l < "$T/out")" -eq 1 ] || fail "the record before the clash was not written"
expect_status 0 lx-detect --image-dir "$IMG" -f json --skip-bad < "$T/clash.jsonl"
[ "$(wc -l < "$T/out")" -eq 2 ] || fail "--skip-bad: two records expected"
expect_err "^lx-detect: 1 record skipped$"
# two operands, one id
mkdir -p "$T/other"; cp "$IMG/img2.jpg" "$T/other/img0.jpg"
expect_status 1 lx-detect -f json "$IMG/img0.png" "$T/other/img0.jpg"
expect_err "^lx-detect: $T/other/img0.jpg: image id img0 was already detected from $IMG/img0.png$"

# ---- bad input -------------------------------------------------------------------------------
echo "hello, world" > "$T/text.png"
head -c 1000 "$IMG/img2.jpg" > "$T/cut.jpg"
head -c 2000 "$IMG/img0.png" > "$T/cut.png"
: > "$T/empty.jpg"
drawshapes -W 1 -H 1 "$T/dot.png" || fail "drawshapes 1x1"
drawshapes -W 400 -H 300 "$T/big.png" || fail "drawshapes 400x300"
head -c 100 "$T/big.png" > "$T/bigcut.png"   # a header declaring 120000 pixels, no data
G=$IMG/img1.png
# bad_image FILE PATTERN [OPTION]: after a good image, exit 1 with one line naming the
# file; the good image's record is out; with --skip-bad the next good one follows
bad_image() {
    local f=$1 pat=$2; shift 2
    expect_status 1 lx-detect "$@" -f json "$G" "$f" "$G"
    expect_err "^lx-detect: $f: $pat"
    [ "$(wc -l < "$T/err")" -eq 1 ] || fail "$f: one line expected: $(cat "$T/err")"
    [ "$(wc -l < "$T/out")" -eq 1 ] || fail "$f: the record before was not written"
    expect_status 0 lx-detect "$@" --skip-bad -f json "$G" "$f" "$G"
    [ "$(wc -l < "$T/out")" -eq 2 ] || fail "$f: --skip-bad: two records expected"
    expect_err "^lx-detect: $f: $pat"
    expect_err "^lx-detect: 1 image skipped$"
}
bad_image "$T/text.png" "not an image: neither JPEG nor PNG \(starts with 68 65 6c 6c\)$"
bad_image "$T/cut.jpg" "truncated JPEG"
bad_image "$T/cut.png" "truncated PNG"
bad_image "$T/empty.jpg" "not an image"
bad_image "$T/dot.png" "image of 1x1 pixels: the detector needs at least 8x8$"
bad_image "$T/missing.jpg" "cannot open: No such file or directory$"
bad_image "$T/bigcut.png" "PNG too large: 400 x 300 \(width x height\) is 120000 pixels, more than 100000$" \
    --max-pixels 1e5
bad_image "$T/big.png" "PNG too large: 400 x 300 \(width x height\) is 120000 pixels, more than 100000$" \
    --max-pixels 100000
bad_image "$T" "not a regular file$"
# the default limit is 50 million pixels; --max-pixels 0 leaves only the decoder's
lx-detect -f json --max-pixels 0 "$T/big.png" > /dev/null || fail "--max-pixels 0"
# a bad image named by a record: the record's number, the file
printf '%s\n' "{\"image\": \"$G\"}" "{\"image\": \"$T/cut.png\"}" > "$T/badrec.jsonl"
expect_status 1 lx-detect -f json < "$T/badrec.jsonl"
expect_err "^lx-detect: <stdin>:record 2: $T/cut.png: truncated PNG"
[ "$(wc -l < "$T/out")" -eq 1 ] || fail "bad record: the record before was not written"
# a record without the path, or with a path that is not a string
for rec in '{"img_id": "x"}' '{"image": 3}' '{"image": ""}' '{"image": [[1, 2]]}' '{"image": "a.png", "img_id": 1.5}'; do
    printf '%s\n' "{\"image\": \"$G\"}" "$rec" > "$T/badrec.jsonl"
    expect_status 1 lx-detect -f json < "$T/badrec.jsonl"
    expect_err "^lx-detect: <stdin>:record 2: (no image field|image: |img_id: )"
    [ "$(wc -l < "$T/out")" -eq 1 ] || fail "$rec: the record before was not written"
done
expect_status 1 lx-detect < "$T/badrec.jsonl" --field picture
expect_err "^lx-detect: <stdin>:record 1: no picture field \(the image file's path; see --field\)$"

# ---- --preset lxmert, the options' order ---------------------------------------------------
lx-detect --preset lxmert -f json "$IMG/img1.png" > "$T/p1.jsonl" || fail "--preset lxmert"
lx-detect --select caffe --min-size 600 --max-size 1000 --boxes 36 -f json "$IMG/img1.png" > "$T/p2.jsonl" ||
    fail "the preset's options"
cmp -s "$T/p1.jsonl" "$T/p2.jsonl" || fail "--preset lxmert is not --select caffe --min-size 600 --max-size 1000 --boxes 36"
lx-detect --preset lxmert --boxes 5 -f json "$IMG/img1.png" > "$T/p3.jsonl" || fail "--preset lxmert --boxes 5"
lx-detect --boxes 5 --preset lxmert -f json "$IMG/img1.png" > "$T/p4.jsonl" || fail "--boxes 5 --preset lxmert"
cmp -s "$T/p3.jsonl" "$T/p4.jsonl" || fail "the options' order changed the result"
[ "$(sed -E 's/.*"objects_id":\[([^]]*)\].*/\1/' "$T/p3.jsonl" | tr ',' '\n' | wc -l)" -eq 5 ] ||
    fail "--preset lxmert --boxes 5: expected 5 regions"

# ---- --timings -------------------------------------------------------------------------------
lx-detect --timings "$IMG/img0.png" "$IMG/img1.png" > /dev/null 2> "$T/timings" || fail "--timings"
[ "$(grep -cE '^stage (decode|resize|backbone|rpn|roi|head|select) [0-9]+\.[0-9]+$' "$T/timings")" -eq 14 ] ||
    { cat "$T/timings" >&2; fail "--timings: 7 stage lines per image expected"; }
grep -qE '^lx-detect: timings over 2 images: decode [0-9.]+ s, resize .* select [0-9.]+ s; [0-9.]+ s in all$' \
    "$T/timings" || { cat "$T/timings" >&2; fail "--timings: totals"; }

# ---- models and options ----------------------------------------------------------------------
lx-convert "$FX/models/tiny-vqa" -o "$T/lxmert.lxm" 2> /dev/null || fail "lx-convert tiny-vqa"
expect_status 1 lx-detect -m "$T/lxmert.lxm" "$G"
[ "$(cat "$T/err")" = "lx-detect: $T/lxmert.lxm: is an LXMERT model, expected a detector (Faster R-CNN)" ] ||
    fail "an LXMERT model: $(cat "$T/err")"
expect_status 1 env LX_CPU=fast lx-detect "$G"
expect_err "^lx-detect: LX_CPU: got 'fast', expected portable, avx2, avx512 or best$"
expect_status 1 lx-detect --min-boxes 30 "$G"
expect_err "^lx-detect: $T/det.lxm: at least 30 regions but at most 20$"
for bad in "--select fast" "--preset hf" "--boxes 0" "--min-size 31" "--max-size 20000" \
    "--max-pixels 1.5" "--max-pixels -3" "--max-pixels 5x" "--boxes 3 --min-boxes 4" \
    "--min-size 900 --max-size 800" "--preset lxmert --min-size 1200" \
    "--min-boxes 5 --max-boxes 4" "--tsv -f json" "--tsv --names" "--image-dir $IMG" \
    "--field picture" "--field=" "--image-dir="; do
    # shellcheck disable=SC2086
    expect_status 2 lx-detect $bad "$G"
    expect_err "^lx-detect: "
    expect_err "Try 'lx-detect --help'"
done
lx-detect --max-pixels 50e6 "$G" > /dev/null || fail "--max-pixels 50e6"
# bf16 weights: the detector runs, and on exact f32 products too
if lx-convert "$FX/frcnn/models/frcnn-tiny" --dtype bf16 -o "$T/bf16.lxm" 2> /dev/null; then
    for x in "" --exact-bf16; do
        # shellcheck disable=SC2086
        lx-detect -m "$T/bf16.lxm" $x -f json "$G" > "$T/bf16.jsonl" || fail "bf16 model $x"
        [ "$(wc -l < "$T/bf16.jsonl")" -eq 1 ] || fail "bf16 model $x: one record expected"
    done
fi
echo ok
