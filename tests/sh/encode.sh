# lx-encode: outputs against the HF fixtures through the tool, batching equal to
# unbatched, --only / --heads / --fill-mask, the input checks and their messages.
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
reccmp --fields pooled_output "$T/only.jsonl" "$T/out.json" || fail "--only changed pooled_output"
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
