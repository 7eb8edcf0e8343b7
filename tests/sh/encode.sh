# lx-encode: outputs against the HF fixtures through the tool, batching equal to
# unbatched, int8 storage, --only / --heads / --fill-mask, the input checks and their
# messages.
. "$(dirname "$0")/lib.bash"

lx-convert "$FX/models/tiny-vqa" -o "$T/vqa.lxm" || fail "lx-convert tiny-vqa"
lx-convert "$FX/expected/weights.tiny-pretrain.safetensors" -o "$T/pre.lxm" \
    --config "$FX/models/tiny-pretrain/config.json" --vocab "$FX/models/tiny-pretrain/vocab.txt" \
    || fail "lx-convert tiny-pretrain"
C=$FX/cases.jsonl

expect_status 0 lx-encode --help
grep -q -- '--fill-mask' "$T/out" || fail "--help lacks --fill-mask"
expect_status 0 lx-encode --version

# Every output, batch 1 (binary frames: the logits are large); pass-through fields kept
# in order, outputs appended
lx-encode -m "$T/pre.lxm" --batch 1 --hidden-states --attentions --heads all \
    < "$C" > "$T/b1.bin" || fail "batch 1 run"
lx-convert -f json < "$T/b1.bin" > "$T/b1.jsonl" || fail "b1.bin does not read back"
[ "$(wc -l < "$T/b1.jsonl")" -eq 5 ] || fail "expected 5 records"
head -n 1 "$T/b1.jsonl" > "$T/b1.first"
grep -q '^{"id": *"case0", *"input_ids"' "$T/b1.first" || fail "pass-through order"
for f in language_output vision_output pooled_output language_hidden_states \
         vision_hidden_states language_attentions vision_attentions cross_encoder_attentions \
         prediction_logits cross_relationship_score match_probability visual_obj_logits \
         visual_attr_logits visual_feat_logits question_answering_score; do
    grep -q "\"$f\":" "$T/b1.jsonl" || fail "output $f missing"
done

tensors=language_output,vision_output,pooled_output,language_hidden_states,vision_hidden_states
tensors=$tensors,language_attentions,vision_attentions,cross_encoder_attentions
tensors=$tensors,prediction_logits,cross_relationship_score,visual_obj_logits,visual_attr_logits
tensors=$tensors,visual_feat_logits,question_answering_score
# Batched runs equal unbatched within 1e-5 (mixed lengths and region counts), with one
# thread and with two
for b in 3 5 16; do
    lx-encode -m "$T/pre.lxm" --batch $b --hidden-states --attentions --heads all \
        < "$C" > "$T/b$b.bin" || fail "batch $b run"
    # (match_probability is a JSON number, which reccmp compares exactly: left out)
    reccmp --tol 1e-5 --fields "$tensors" "$T/b$b.bin" "$T/b1.bin" \
        || fail "batch $b differs from batch 1"
done

lx-encode -m "$T/pre.lxm" --batch 5 --threads 1 --hidden-states --attentions --heads all \
    < "$C" > "$T/t1.bin" || fail "--threads 1 run"
reccmp --tol 1e-5 --fields "$tensors" "$T/t1.bin" "$T/b1.bin" || fail "--threads 1 differs"

# int8 storage: the same outputs within the int8 bounds of test_net (5e-3 for the states,
# the logits relative above 1), and batches that change no bit of the encoder's outputs
# on the AVX2 and AVX-512 paths (each row of an int8 product is quantized and summed on
# its own, and the f32 products before them run with kernels that do not depend on the
# batch's size; the portable path's are OpenBLAS's); the f32 heads after the encoder
# within 1e-5, as in f32 models
lx-convert "$T/pre.lxm" --dtype int8 -o "$T/pre8.lxm" || fail "lx-convert --dtype int8"
lx-encode -m "$T/pre8.lxm" --batch 1 --hidden-states --attentions --heads all \
    < "$C" > "$T/q1.bin" || fail "int8 batch 1 run"
reccmp --tol 5e-3 --fields language_output,vision_output,pooled_output,language_hidden_states \
    "$T/q1.bin" "$T/b1.bin" || fail "int8 hidden states off by more than 5e-3"
reccmp --tol 5e-2 --fields "$tensors" "$T/q1.bin" "$T/b1.bin" || fail "int8 outputs off by more than 5e-2"
! reccmp --fields pooled_output "$T/q1.bin" "$T/b1.bin" 2> /dev/null || fail "int8 gave f32's bits"
# errstats (docs/performance.md's int8 figures): the same answers, and per-layer errors
# that are the quantization's: above 0, within the bound above
errstats "$T/b1.bin" "$T/q1.bin" > "$T/es" || fail "errstats"
grep -q '^question_answering_score: same top-1 in 5 of 5 records (100.00%)' "$T/es" \
    || fail "int8 changed a top answer: $(cat "$T/es")"
awk '$1 ~ /^(language|vision)_hidden_states\.[0-9]+$/ { n++; if (!($2 > 0 && $2 <= 5e-3)) bad = bad " " $1 }
     END { exit n != 7 || bad != "" }' "$T/es" || fail "int8 per-layer errors: $(cat "$T/es")"
# i8deq (the same figures' split): the int8 weights in f32, every matrix within half a
# step of f32's, so that the network's outputs move less than int8's
i8deq "$T/pre8.lxm" "$T/deq.lxm" 2> "$T/err" || fail "i8deq: $(cat "$T/err")"
grep -q '^i8deq: 50 int8 matrices written in f32' "$T/err" || fail "i8deq said: $(cat "$T/err")"
lx-convert --info "$T/deq.lxm" > "$T/info" || fail "i8deq's model"
! grep -Eq ' i8 |_scale ' "$T/info" || fail "i8deq left int8 tensors"
lx-encode -m "$T/deq.lxm" --batch 1 --hidden-states --heads qa < "$C" > "$T/d1.bin" || fail "deq run"
reccmp --tol 5e-3 --fields language_output,vision_output,pooled_output "$T/d1.bin" "$T/b1.bin" \
    || fail "dequantized weights off by more than 5e-3"
! reccmp --fields pooled_output "$T/d1.bin" "$T/b1.bin" 2> /dev/null || fail "i8deq gave f32's bits"
errstats "$T/b1.bin" "$T/b1.bin" > "$T/es" || fail "errstats on itself"
awk 'NR > 2 && $1 !~ /:$/ && $2 != 0 { exit 1 }' "$T/es" || fail "errstats of a stream against itself: $(cat "$T/es")"
lx-encode -m "$T/pre8.lxm" --batch 5 --hidden-states --attentions --heads all \
    < "$C" > "$T/q5.bin" || fail "int8 batch 5 run"
if [ "$(gemmbench --path)" != portable ]; then
    reccmp --fields language_output,vision_output,language_hidden_states,vision_hidden_states \
        "$T/q5.bin" "$T/q1.bin" || fail "int8 batch 5 changed the encoder's bits"
    reccmp --tol 1e-5 --fields "$tensors" "$T/q5.bin" "$T/q1.bin" || fail "int8 batch 5 differs"
else
    reccmp --tol 5e-2 --fields "$tensors" "$T/q5.bin" "$T/q1.bin" || fail "int8 batch 5 differs"
fi

# Binary frames (the default) carry the same values
lx-encode -m "$T/vqa.lxm" < "$C" > "$T/out.bin" || fail "binary run"
lx-encode -m "$T/vqa.lxm" -f json < "$C" > "$T/out.json" || fail "json run"
reccmp "$T/out.bin" "$T/out.json" || fail "binary and JSON outputs differ"

# The model from $LX_MODEL; --only keeps just the listed outputs
LX_MODEL=$T/vqa.lxm lx-encode -f json --only pooled_output,question_answering_score < "$C" \
    > "$T/only.jsonl" || fail "--only run"
grep -q '"pooled_output":' "$T/only.jsonl" || fail "--only lost pooled_output"
grep -q '"question_answering_score":' "$T/only.jsonl" || fail "--only lost the qa scores"
! grep -q '"language_output":' "$T/only.jsonl" || fail "--only kept language_output"
# (only the first token's row of the last cross layer is computed then: the same values,
# the last bits as another batch size could change them)
reccmp --tol 1e-5 --fields pooled_output "$T/only.jsonl" "$T/out.json" ||
    fail "--only changed pooled_output"
lx-encode -m "$T/vqa.lxm" -f json --only pooled_output --drop-inputs < "$C" > "$T/drop.jsonl"
! grep -q '"visual_feats":' "$T/drop.jsonl" || fail "--drop-inputs kept visual_feats"
grep -q '"id":' "$T/drop.jsonl" || fail "--drop-inputs dropped id"

# A small record built here: 3 tokens with [MASK] (103), 2 regions
feats=$(awk 'BEGIN { for (r = 0; r < 2; r++) { printf "%s[", r ? "," : ""
                     for (i = 0; i < 2048; i++) printf "%s%.3f", i ? "," : "", (i * 7 + r) % 13 / 13
                     printf "]" } }')
rec() { echo "{\"id\": \"m\", \"input_ids\": $1, \"visual_feats\": [$feats], \"visual_pos\": $2}"; }
rec '[101, 103, 102]' '[[0.1, 0.1, 0.5, 0.5], [0, 0, 1, 1]]' > "$T/mask.jsonl"
lx-encode -m "$T/pre.lxm" -f json --fill-mask 3 < "$T/mask.jsonl" > "$T/fill.jsonl" \
    || fail "--fill-mask run"
grep -q '"fill_mask": *\[{"position": *1, *"tokens": *\[{"token":' "$T/fill.jsonl" \
    || fail "fill_mask field"
! grep -q '"prediction_logits":' "$T/fill.jsonl" || fail "--fill-mask kept the logits"
# the man page's example: just the predictions
lx-encode -m "$T/pre.lxm" --fill-mask 5 --only fill_mask -f json --drop-inputs < "$T/mask.jsonl" \
    > "$T/fill2.jsonl" || fail "--only fill_mask run"
grep -q '^{"id": *"m", *"fill_mask": *\[{"position": *1, *"tokens": *\[' "$T/fill2.jsonl" \
    || fail "--only fill_mask output"
[ "$(grep -o '"token":' "$T/fill2.jsonl" | wc -l)" -eq 5 ] || fail "--fill-mask 5: not 5 tokens"

# Usage errors
expect_status 2 lx-encode -m "$T/vqa.lxm" --heads nope
expect_err "--heads: got 'nope'"
expect_status 2 lx-encode -m "$T/vqa.lxm" --only nope
expect_status 2 lx-encode -m "$T/vqa.lxm" --batch 0
# A head the model lacks, a missing model
expect_status 1 lx-encode -m "$T/vqa.lxm" --heads mlm < "$T/mask.jsonl"
expect_err "no mlm head"
expect_status 1 env -u LX_MODEL lx-encode < "$T/mask.jsonl"
expect_err "no model"
# LX_CPU: a ceiling on the kernels; anything else fails
expect_status 1 env LX_CPU=sse9 lx-encode -m "$T/vqa.lxm" < "$T/mask.jsonl"
expect_err "LX_CPU: got 'sse9', expected portable, avx2, avx512 or best"
LX_CPU=portable lx-encode -m "$T/vqa.lxm" < "$T/mask.jsonl" > "$T/cpu-p.bin" || fail "LX_CPU=portable"
for c in avx2 avx512 best; do
    LX_CPU=$c lx-encode -m "$T/vqa.lxm" < "$T/mask.jsonl" > "$T/cpu-$c.bin" || fail "LX_CPU=$c"
    reccmp --tol 1e-4 "$T/cpu-p.bin" "$T/cpu-$c.bin" || fail "LX_CPU=$c differs from portable"
done

# Bad records name the record; everything before is written
{ head -2 "$C"; rec '[101, 102]' '[[10, 20, 300, 400], [0, 0, 1, 1]]'; } > "$T/pix.jsonl"
expect_status 1 lx-encode -m "$T/vqa.lxm" -f json "$T/pix.jsonl"
expect_err "pix.jsonl:record 3: visual_pos\[0\]\[0\]: got 10, expected boxes normalised to 0..1"
expect_err "lx-embed-vis"
[ "$(wc -l < "$T/out")" -eq 2 ] || fail "records before the bad one not written"
expect_status 0 lx-encode -m "$T/vqa.lxm" -f json --no-box-check "$T/pix.jsonl"
expect_status 0 lx-encode -m "$T/vqa.lxm" -f json --skip-bad "$T/pix.jsonl"
[ "$(wc -l < "$T/out")" -eq 2 ] || fail "--skip-bad: expected 2 records"
# an array the reader keeps as JSON is named for what it is
for c in '[]:an empty list' '[[101], [102, 103]]:nested lists of different lengths' \
         '[101, "a"]:a list that is not all numbers' '"101":a string'; do
    rec "${c%%:*}" '[[0, 0, 1, 1]]' > "$T/kind.jsonl"
    expect_status 1 lx-encode -m "$T/vqa.lxm" "$T/kind.jsonl"
    expect_err "kind.jsonl:record 1: input_ids: got ${c#*:}"
done
rec '[101, 30522]' '[[0, 0, 1, 1], [0, 0, 1, 1]]' > "$T/bad.jsonl"
expect_status 1 lx-encode -m "$T/vqa.lxm" "$T/bad.jsonl"
expect_err "record 1: input_ids\[1\]: got 30522"
long=$(awk 'BEGIN { printf "["; for (i = 0; i < 65; i++) printf "%s101", i ? "," : ""; printf "]" }')
rec "$long" '[[0, 0, 1, 1], [0, 0, 1, 1]]' > "$T/bad.jsonl"
expect_status 1 lx-encode -m "$T/vqa.lxm" "$T/bad.jsonl"
expect_err "got 65 tokens, expected at most 64"
rec '[101, 102]' '[[0, 0, 1, 1]]' > "$T/bad.jsonl"
expect_status 1 lx-encode -m "$T/vqa.lxm" "$T/bad.jsonl"
expect_err "visual_pos: got \[1, 4\], expected \[2, 4\]"
echo '{"input_ids": [101, 102], "visual_feats": [[1, 2]], "visual_pos": [[0, 0, 1, 1]]}' \
    > "$T/bad.jsonl"
expect_status 1 lx-encode -m "$T/vqa.lxm" "$T/bad.jsonl"
expect_err "visual_feats: got \[1, 2\], expected \[N, 2048\]"
echo '{"visual_feats": [[1, 2]]}' > "$T/bad.jsonl"
expect_status 1 lx-encode -m "$T/vqa.lxm" "$T/bad.jsonl"
expect_err "record 1: input_ids: missing"
exit 0
