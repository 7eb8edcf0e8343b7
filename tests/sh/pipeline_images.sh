# Pictures to answers: the fixture images through lx-detect (the fixture detector,
# converted as users convert one), lx-embed-vis --regions and lx-vqa, with an LXMERT
# model whose features are as wide as the detector's (randmodel --feat-dim 128).  The
# same answers whichever way the regions travel: a pipe of regions records, a --tsv
# file, or the detector reading the question records itself; and through lx-encode.
. "$(dirname "$0")/lib.bash"

IMG=$FX/frcnn/images
lx-convert "$FX/frcnn/models/frcnn-tiny" -o "$T/det.lxm" 2> /dev/null || fail "lx-convert detector"
randmodel --preset tiny --feat-dim 128 -o "$T/lxmert" > /dev/null || fail "randmodel --feat-dim 128"
lx-convert "$T/lxmert" -o "$T/vqa.lxm" 2> /dev/null || fail "lx-convert lxmert"
export LX_MODEL=$T/vqa.lxm

cat > "$T/q.jsonl" <<EOF
{"question_id": 1, "img_id": "img0", "image": "img0.png", "sent": "What is in the picture?"}
{"question_id": 2, "img_id": "img1", "image": "img1.png", "sent": "How many people are there?"}
{"question_id": 3, "img_id": "img0", "image": "img0.png", "sent": "What color is the sky?"}
{"question_id": 4, "img_id": "img2", "image": "img2.jpg", "sent": "Is it day or night?"}
EOF
lx-tokenize --max-length 20 < "$T/q.jsonl" > "$T/tok.jsonl" || fail "lx-tokenize"

# regions records through a pipe
lx-detect -m "$T/det.lxm" "$IMG/img0.png" "$IMG/img1.png" "$IMG/img2.jpg" |
    lx-embed-vis --regions - "$T/tok.jsonl" | lx-vqa --top-k 3 > "$T/a.jsonl" || fail "the pipeline"
[ "$(wc -l < "$T/a.jsonl")" -eq 4 ] || fail "expected 4 answers"
[ "$(grep -oE '"question_id":[0-9]+' "$T/a.jsonl" | tr -d '"question_id:' | tr '\n' ' ')" = "1 2 3 4 " ] ||
    fail "answers out of order"
grep -c '"answer":"answer[0-9]*","answers":\[{"answer"' "$T/a.jsonl" | grep -qx 4 || fail "no answers"
grep -q '"sent":"What color is the sky?"' "$T/a.jsonl" || fail "the question's fields were not passed through"

# the same through a TSV file lx-embed-vis indexes
lx-detect -m "$T/det.lxm" --tsv "$IMG/img0.png" "$IMG/img1.png" "$IMG/img2.jpg" > "$T/photos.tsv" ||
    fail "lx-detect --tsv"
lx-embed-vis --features "$T/photos.tsv" "$T/tok.jsonl" | lx-vqa --top-k 3 > "$T/b.jsonl" ||
    fail "the pipeline through a TSV"
cmp -s "$T/a.jsonl" "$T/b.jsonl" || fail "answers through the TSV differ"

# the detector reading the question records (each picture once)
lx-detect -m "$T/det.lxm" --image-dir "$IMG" < "$T/q.jsonl" > "$T/regions.bin" || fail "lx-detect on records"
[ "$(lx-convert -f json < "$T/regions.bin" | wc -l)" -eq 3 ] || fail "one regions record per picture expected"
lx-embed-vis --regions "$T/regions.bin" "$T/tok.jsonl" | lx-vqa --top-k 3 > "$T/c.jsonl" ||
    fail "the pipeline from records"
cmp -s "$T/a.jsonl" "$T/c.jsonl" || fail "answers from records differ"

# the long form through lx-encode: the same answers, scores within 1e-5
lx-embed-vis --regions "$T/regions.bin" "$T/tok.jsonl" | lx-encode --only pooled_output |
    lx-vqa --top-k 3 > "$T/d.jsonl" || fail "the pipeline through lx-encode"
jsoncmp --tol 1e-5 --fields question_id,answer,answers "$T/d.jsonl" "$T/a.jsonl" ||
    fail "answers through lx-encode differ"
echo ok
