# lx-vqa on its own: options, labels, the head-only path, truth and --eval, errors.
. "$(dirname "$0")/lib.bash"

expect_status 0 lx-vqa --help
grep -q -- '--top-k' "$T/out" || fail "--help lists --top-k"
expect_status 0 lx-vqa --version
expect_status 2 lx-vqa --bogus
expect_status 2 lx-vqa --score tanh
expect_err "expected sigmoid or softmax"
expect_status 2 lx-vqa --top-k 0
expect_status 2 lx-vqa a b
expect_status 1 lx-vqa < /dev/null
expect_err "^lx-vqa: no model"
# every long option of --help is in the man page
for o in $(lx-vqa --help | grep -o -- '--[a-z-]*' | sort -u); do
    m=$(printf '%s' "$o" | sed 's/-/\\-/g')
    grep -qF -- "$m" "$LX_ROOT/man/lx-vqa.1" || fail "man page lacks $o"
done

lx-convert "$FX/models/tiny-vqa" --labels "$FX/labels/vqa-label2ans.json" -o "$T/tiny.lxm" \
    || fail "lx-convert tiny-vqa"
lx-convert "$FX/models/tiny-vqa" -o "$T/nolabels.lxm" || fail "lx-convert without labels"
export LX_MODEL=$T/tiny.lxm

# Records carrying pooled_output (hidden 48): only the head runs
pooled() { # pooled SEED EXTRA-JSON
    awk -v s="$1" -v x="$2" 'BEGIN { printf "{\"id\":%d,\"pooled_output\":[", s
        for (i = 0; i < 48; i++) printf "%s%.4f", (i ? "," : ""), sin(s * 7 + i * 0.37)
        printf "]%s}\n", x }'
}
{ pooled 1 ''; pooled 2 ',"label":{"1:25":0.9}'; pooled 3 ''; } > "$T/p.jsonl"
expect_status 0 lx-vqa -k 3 "$T/p.jsonl"
cp "$T/out" "$T/p.out"
[ "$(wc -l < "$T/p.out")" -eq 3 ] || fail "expected 3 answer records"
! grep -q pooled_output "$T/p.out" || fail "pooled_output not dropped"
[ "$(head -n 1 "$T/p.out" | grep -o '"label":' | wc -l)" -eq 3 ] || fail "-k 3 gives 3 answers"
grep -q '^{"id":1,"answer":"[^"]*","answers":\[{"answer":' "$T/p.out" \
    || fail "field order: id, answer, answers"
grep -q '"vqa_score"' <(sed -n 2p "$T/p.out") || fail "vqa_score where label is given"
! grep -q '"vqa_score"' <(sed -n 1p "$T/p.out") || fail "vqa_score without label"
# --keep-tensors keeps pooled_output in place
lx-vqa --keep-tensors < "$T/p.jsonl" > "$T/keep.jsonl" || fail "--keep-tensors run"
head -n 1 "$T/keep.jsonl" > "$T/keep1.jsonl"
grep -q '^{"id":1,"pooled_output":\[' "$T/keep1.jsonl" || fail "--keep-tensors"
# an ans2label file gives the same answers as the label2ans list embedded in the model
lx-vqa -k 3 --labels "$FX/labels/vqa-ans2label.json" < "$T/p.jsonl" | cmp -s - "$T/p.out" \
    || fail "ans2label labels differ"
lx-vqa -k 3 -m "$T/nolabels.lxm" --labels "$FX/labels/vqa-label2ans.json" < "$T/p.jsonl" |
    cmp -s - "$T/p.out" || fail "--labels with a label-less model"
# binary input, -f bin output read back
lx-convert -f bin < "$T/p.jsonl" | lx-vqa -k 3 -f bin | lx-convert -f json | cmp -s - "$T/p.out" \
    || fail "binary frames in and out"
# batch size does not change these records' output (see docs/scale-out.md on the last bits)
lx-vqa -k 3 --batch 1 < "$T/p.jsonl" | cmp -s - "$T/p.out" || fail "--batch 1 differs"

# Labels: missing, wrong count
expect_status 1 lx-vqa -m "$T/nolabels.lxm" "$T/p.jsonl"
expect_err "no answer labels"
expect_status 1 lx-vqa --labels "$FX/labels/gqa-label2ans.json" "$T/p.jsonl"
expect_err "got 1842 answer labels, expected 3129"
printf '{"yes": 0, "no": 0}' > "$T/dup.json"
expect_status 1 lx-vqa --labels "$T/dup.json" "$T/p.jsonl"
expect_err "label 0 given to both"

# The official accuracy from ten human answers (which the predictions replace)
top=$(sed -n 's/^{"id":1,"answer":"\([^"]*\)".*/\1/p' "$T/p.out")
humans="[\"$top\",\"$top\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]"
pooled 1 ",\"question_type\":\"what\",\"answer_type\":\"other\",\"answers\":$humans" > "$T/h.jsonl"
pooled 3 ',"question_type":"what","answer_type":"other","answers":["a","b","c","d","e","f","g","h","i","j"]' >> "$T/h.jsonl"
expect_status 0 lx-vqa --eval-out "$T/ev.json" "$T/h.jsonl"
grep -q '"vqa_accuracy":0.6' <(sed -n 1p "$T/out") || fail "vqa_accuracy 0.6 for 2 matching humans"
grep -q '"vqa_accuracy":0.0' <(sed -n 2p "$T/out") || fail "vqa_accuracy 0 for no match"
grep -q '"answers":\[{"answer":' <(sed -n 1p "$T/out") || fail "predictions replace human answers"
grep -q '"official"' "$T/ev.json" || fail "--eval-out official"
grep -q '"overall": 30\.0' "$T/ev.json" || fail "--eval-out overall 30"
grep -q '"what": 30\.0' "$T/ev.json" || fail "--eval-out per question type"
# re-reading lx-vqa's own output does not take its predictions for human answers
lx-vqa --keep-tensors < "$T/h.jsonl" | lx-vqa --eval > /dev/null 2> "$T/err2" || fail "re-run"
grep -q "0 questions with answers to compare, 2 without" "$T/err2" || fail "own answers taken as truth"

# --eval-only (no model): the official figures of the fixture's 43 predictions
sed 's/"prediction"/"answer"/' "$FX/vqa-eval/cases.jsonl" > "$T/cases.jsonl"
expect_status 0 env -u LX_MODEL lx-vqa --eval-only --eval-out "$T/sum.json" "$T/cases.jsonl"
tr -d '\n' < "$T/sum.json" | sed 's/.*"official": *\({.*}\) *}$/\1/' > "$T/sum1.json"; echo >> "$T/sum1.json"
tr -d '\n' < "$FX/vqa-eval/summary.json" > "$T/want1.json"; echo >> "$T/want1.json"
jsoncmp --tol 1e-6 "$T/sum1.json" "$T/want1.json" || fail "--eval-only differs from summary.json"
grep -q '"vqa_accuracy":0.9' <(sed -n 6p "$T/out") || fail "--eval-only appends vqa_accuracy"
# and totals lx-vqa's own output, re-using its per-record scores
lx-vqa < "$T/h.jsonl" | lx-vqa --eval-only --eval-out "$T/ev2.json" > /dev/null || fail "totals"
grep -q '"overall": 30\.0' "$T/ev2.json" || fail "--eval-only over lx-vqa output"
expect_status 1 lx-vqa --eval-only "$T/p.jsonl"
expect_err "record 1: answer: missing, expected the prediction"

# --attentions: the encoder adds the cross-modality attentions alone; the record keeps
# them with the boxes and drops the features.  The same answers as without, and the same
# attentions as lx-encode --attentions gives (one record a batch: the same bits)
lx-tokenize --max-length 20 < "$FX/questions.jsonl" |
    lx-embed-vis --features "$FX/features.tsv" > "$T/in.bin" || fail "inputs"
lx-vqa --batch 1 < "$T/in.bin" > "$T/plain.jsonl" || fail "lx-vqa"
lx-vqa --batch 1 --attentions -f bin < "$T/in.bin" > "$T/att.bin" || fail "lx-vqa --attentions"
lx-convert -f json < "$T/att.bin" > "$T/att.jsonl" || fail "lx-convert"
n=$(wc -l < "$T/plain.jsonl")
[ "$n" -ge 4 ] && [ "$(wc -l < "$T/att.jsonl")" -eq "$n" ] || fail "--attentions: one record each"
reccmp --fields question_id,answer,answers "$T/plain.jsonl" "$T/att.jsonl" ||
    fail "--attentions changes the answers"
[ "$(grep -c '"cross_encoder_attentions":\[\[\[\[' "$T/att.jsonl")" -eq "$n" ] ||
    fail "--attentions: cross_encoder_attentions in every record"
[ "$(grep -c '"visual_pos":\[\[' "$T/att.jsonl")" -eq "$n" ] || fail "--attentions keeps visual_pos"
! grep -qE '"(visual_feats|language_attentions|vision_attentions|pooled_output)"' "$T/att.jsonl" ||
    fail "--attentions keeps only what lx-show draws"
! grep -q cross_encoder "$T/plain.jsonl" || fail "attentions without --attentions"
lx-encode --batch 1 --attentions -f json < "$T/in.bin" > "$T/enc.jsonl" || fail "lx-encode --attentions"
reccmp --fields question_id,input_ids,visual_pos,cross_encoder_attentions "$T/enc.jsonl" "$T/att.jsonl" ||
    fail "--attentions differs from lx-encode --attentions"
# from encoder outputs (the head-only path) the attentions they carry are kept
lx-encode --batch 1 --only pooled_output,cross_encoder_attentions < "$T/in.bin" |
    lx-vqa --attentions -f json > "$T/att2.jsonl" || fail "--attentions after lx-encode"
reccmp --fields question_id,answer,cross_encoder_attentions "$T/att.jsonl" "$T/att2.jsonl" ||
    fail "--attentions after lx-encode differs"

# Bad records: the good ones before are written, the message names the record
{ pooled 1 ''; echo '{"id":2,"pooled_output":[1,2,3]}'; pooled 3 ''; } > "$T/bad.jsonl"
expect_status 1 lx-vqa "$T/bad.jsonl"
expect_err "^lx-vqa: $T/bad.jsonl:record 2: pooled_output: got \[3\], expected \[48\]"
[ "$(wc -l < "$T/out")" -eq 1 ] || fail "the record before the bad one is written"
expect_status 0 lx-vqa --skip-bad "$T/bad.jsonl"
expect_err "1 record skipped"
[ "$(wc -l < "$T/out")" -eq 2 ] || fail "--skip-bad writes the good records"
# an infinite input (frames hold one: 1234.5 made inf in the frame's bytes)
pooled 4 '' | sed 's/\[[-0-9.]*,/[1234.5,/' | lx-convert -f bin |
    perl -0777 -pe 's/\x00\x50\x9a\x44/\x00\x00\x80\x7f/' > "$T/inf.bin" || fail "inf.bin"
expect_status 1 lx-vqa "$T/inf.bin"
expect_err "record 1: pooled_output\[0\]: got inf, expected a finite number"
echo '{"id":9,"sent":"no inputs"}' > "$T/none.jsonl"
expect_status 1 lx-vqa "$T/none.jsonl"
expect_err "record 1: got neither pooled_output"
bad_label=$(pooled 1 ',"label":["yes"]')
echo "$bad_label" > "$T/bl.jsonl"
expect_status 1 lx-vqa "$T/bl.jsonl"
expect_err "record 1: label: got a list, expected an object"
echo ok
