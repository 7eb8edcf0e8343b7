# Values that are not finite never become answers: masks that are not 0/1 and features
# too large for the network are refused as bad records; a record whose outputs overflow
# (weights that are not finite or too large, made here with lxmset) is a bad record that
# --skip-bad skips, the others written; JSON output of a value that is not finite names
# the record; a float where an integer belongs must be a whole number in range;
# lx-convert refuses weights that are not finite or that overflow --dtype
# (--clamp-overflow clamps them); lx-detect names the image.  Every run is under timeout.
. "$(dirname "$0")/lib.bash"
to() { timeout 60 "$@"; }

to lx-convert "$FX/models/tiny-vqa" --labels "$FX/labels/vqa-label2ans.json" -o "$T/vqa.lxm" \
    || fail "lx-convert tiny-vqa"
C=$FX/cases.jsonl
OVER="the network overflowed"

# ---- inputs the network cannot take ----------------------------------------------------
# record 2 of each file is bad; the message names it, record 1 is written
bad2() { # bad2 FILE SED-EXPRESSION: cases 1..3, the second edited
    { sed -n 1p "$C"; sed -n 2p "$C" | sed "$2"; sed -n 3p "$C"; } > "$1"
    [ "$(sed -n 2p "$1")" != "$(sed -n 2p "$C")" ] || fail "$1: the edit did not apply"
}
bad2 "$T/mask30.jsonl" 's/"attention_mask": \[1, 1,/"attention_mask": [1, 1e30,/'
bad2 "$T/mask255.jsonl" 's/"attention_mask": \[1, 1,/"attention_mask": [1, 255,/'
bad2 "$T/feat38.jsonl" 's/"visual_feats": \[\[[-0-9.e]*,/"visual_feats": [[3e38,/'
for tool in lx-encode lx-vqa; do
    expect_status 1 to $tool -m "$T/vqa.lxm" -f json "$T/mask30.jsonl"
    expect_err "^$tool: $T/mask30.jsonl:record 2: attention_mask\[1\]: got 1e\+30, expected 0 or 1"
    [ "$(wc -l < "$T/out")" -eq 1 ] || fail "$tool: the record before the bad mask is written"
    expect_status 1 to $tool -m "$T/vqa.lxm" -f json "$T/mask255.jsonl"
    expect_err "record 2: attention_mask\[1\]: got 255, expected 0 or 1"
    expect_status 1 to $tool -m "$T/vqa.lxm" -f json "$T/feat38.jsonl"
    expect_err "record 2: visual_feats\[0\]\[0\]: got 3e\+38, expected a value from -1e\+06 to 1e\+06"
    expect_status 0 to $tool -m "$T/vqa.lxm" -f json --skip-bad "$T/feat38.jsonl"
    [ "$(wc -l < "$T/out")" -eq 2 ] || fail "$tool --skip-bad: records 1 and 3 are written"
    expect_err "1 record skipped"
done
# the same from binary frames (the mask an i64 tensor there; a u8 mask of 255 is
# test_values' test_input_checks)
to lx-convert -f bin < "$T/mask255.jsonl" > "$T/mask255.bin" || fail "to frames"
expect_status 1 to lx-encode -m "$T/vqa.lxm" "$T/mask255.bin"
expect_err "record 2: attention_mask\[1\]: got 255, expected 0 or 1"

# ---- outputs that overflow ------------------------------------------------------------
# the answer head with a weight of 3e38 on pooled_output[0] (finite, so lx-convert writes
# it): record 2, whose pooled_output[0] is 2, overflows; records 1 and 3 (0) do not.  No
# answer for it, and no empty one.
cp "$T/vqa.lxm" "$T/head.lxm"
lxmset "$T/head.lxm" answer_head.logit_fc.0.weight 0 3e38 || fail "lxmset"
pooled() { # pooled ID FIRST: 48 values, the first FIRST
    awk -v s="$1" -v v="$2" 'BEGIN { printf "{\"id\":%d,\"pooled_output\":[%s", s, v
        for (i = 1; i < 48; i++) printf ",%.4f", sin(s * 7 + i * 0.37) / 2
        printf "]}\n" }'
}
{ pooled 1 0; pooled 2 2; pooled 3 0; } > "$T/p.jsonl"
for b in 1 16; do
    expect_status 1 to lx-vqa -m "$T/head.lxm" --batch $b "$T/p.jsonl"
    expect_err "^lx-vqa: $T/p.jsonl:record 2: question_answering_score\[[0-9]+\]: got (nan|-?inf), expected a finite number: $OVER"
    [ "$(wc -l < "$T/out")" -eq 1 ] || fail "--batch $b: record 1 is written before the error"
    grep -q '^{"id":1,"answer":"[^"]' "$T/out" || fail "--batch $b: record 1 answered"
    expect_status 0 to lx-vqa -m "$T/head.lxm" --batch $b --skip-bad "$T/p.jsonl"
    [ "$(grep -c '"answer":"[^"]' "$T/out")" -eq 2 ] || fail "--batch $b --skip-bad: 2 answers"
    ! grep -q '"id":2' "$T/out" || fail "--batch $b: the bad record is not written"
    ! grep -q '"answer":""' "$T/out" || fail "--batch $b: an empty answer"
    expect_err "1 record skipped"
done

# a weight that is not finite: every record is bad, named, and nothing is answered
cp "$T/vqa.lxm" "$T/inf.lxm"
lxmset "$T/inf.lxm" answer_head.logit_fc.3.weight 5 inf || fail "lxmset"
expect_status 1 to lx-vqa -m "$T/inf.lxm" "$T/p.jsonl"
expect_err "record 1: question_answering_score\[0\]: got -?inf, expected a finite number: $OVER"
[ ! -s "$T/out" ] || fail "nothing is answered"
expect_status 0 to lx-vqa -m "$T/inf.lxm" --skip-bad "$T/p.jsonl"
[ ! -s "$T/out" ] || fail "--skip-bad: nothing is answered"
expect_err "3 records skipped"
cp "$T/vqa.lxm" "$T/nan.lxm"
lxmset "$T/nan.lxm" lxmert.encoder.visn_fc.visn_fc.weight 7 nan || fail "lxmset"
for tool in lx-encode lx-vqa; do
    expect_status 1 to $tool -m "$T/nan.lxm" -f json "$C"
    expect_err "^$tool: $C:record 1: [a-z_]+(\[[0-9]+\])+: got nan, expected a finite number: $OVER"
    [ ! -s "$T/out" ] || fail "$tool: nothing is written"
done
# a model changed after it was written: its CRCs tell, and lx-convert does not launder
# it into a model whose new CRCs vouch for it
cp "$T/vqa.lxm" "$T/flip.lxm"
lxmset --keep-crc "$T/flip.lxm" lxmert.encoder.visn_fc.visn_fc.weight 7 0.5 || fail "lxmset"
expect_status 1 to lx-convert --verify "$T/flip.lxm"
expect_err "visn_fc.visn_fc.weight"
for out in "-o $T/y.lxm" "--export-safetensors $T/y.st"; do
    expect_status 1 to lx-convert "$T/flip.lxm" $out
    expect_err "^lx-convert: $T/flip.lxm: tensor 'lxmert.encoder.visn_fc.visn_fc.weight': CRC-32 [0-9a-f]{8}, expected [0-9a-f]{8}: the data is corrupt$"
    [ ! -e "${out#* }" ] || fail "$out: written from a corrupt model"
done
expect_status 0 to lx-convert --verify "$T/nan.lxm" # lxmset keeps the CRCs true

# One record of a batch overflows, the others do not: feature 5 weighs 3e38 (finite,
# so lx-convert writes it), and only the record whose feature 5 is 2 overflows
cp "$T/vqa.lxm" "$T/big.lxm"
lxmset "$T/big.lxm" lxmert.encoder.visn_fc.visn_fc.weight 5 3e38 || fail "lxmset"
rec() { # rec ID FEATURE5
    awk -v id="$1" -v f5="$2" 'BEGIN { printf "{\"id\":%d,\"input_ids\":[101,2054,102],", id
        printf "\"visual_feats\":["
        for (r = 0; r < 2; r++) { printf "%s[", r ? "," : ""
            for (i = 0; i < 2048; i++) printf "%s%s", i ? "," : "", i == 5 ? f5 : (i % 7) / 7
            printf "]" }
        printf "],\"visual_pos\":[[0.1,0.1,0.5,0.5],[0,0,1,1]]}\n" }'
}
{ rec 1 0; rec 2 2; rec 3 0; } > "$T/big.jsonl"
for b in 1 3; do
    for f in json bin; do
        expect_status 1 to lx-encode -m "$T/big.lxm" -f $f --batch $b "$T/big.jsonl"
        expect_err "^lx-encode: $T/big.jsonl:record 2: language_output\[0\]\[0\]: got nan, expected a finite number: $OVER"
        [ "$(to lx-convert -f json < "$T/out" | wc -l)" -eq 1 ] || fail "-f $f --batch $b: record 1 first"
        expect_status 0 to lx-encode -m "$T/big.lxm" -f $f --batch $b --skip-bad "$T/big.jsonl"
        to lx-convert -f json < "$T/out" | grep -o '^{"id": *[0-9]*' | tr -d ' ' > "$T/ids"
        [ "$(paste -sd, "$T/ids")" = '{"id":1,{"id":3' ] || fail "-f $f --batch $b --skip-bad: records 1 and 3"
        expect_err "1 record skipped"
    done
    expect_status 0 to lx-vqa -m "$T/big.lxm" --batch $b --skip-bad "$T/big.jsonl"
    [ "$(grep -c '"answer":"[^"]' "$T/out")" -eq 2 ] || fail "lx-vqa --batch $b: 2 answers"
    expect_err "record 2: question_answering_score\[0\]: got nan"
done

# ---- JSON cannot hold what frames can -------------------------------------------------
# a field passed through holds inf (frames can; a JSON number beyond f32 is a bad record,
# see stream.sh, so the frame's 1234.5 is made inf in its bytes): in JSON that record is
# bad, named, and skipped with --skip-bad; in frames it goes through
{ sed -n 1p "$C"; sed -n 2p "$C" | sed 's/^{/{"extra": [1, 1234.5],/'; sed -n 3p "$C"; } > "$T/x.jsonl"
lx-convert -f bin < "$T/x.jsonl" > "$T/x0.bin" || fail "x.jsonl to frames"
perl -0777 -pe 's/\x00\x50\x9a\x44/\x00\x00\x80\x7f/' "$T/x0.bin" > "$T/x.in"
! cmp -s "$T/x0.bin" "$T/x.in" || fail "1234.5 not found in the frames"
for b in 1 16; do
    expect_status 1 to lx-encode -m "$T/vqa.lxm" -f json --batch $b "$T/x.in"
    expect_err "^lx-encode: $T/x.in:record 2: field 'extra': element \[1\] is inf, which JSON cannot hold"
    [ "$(wc -l < "$T/out")" -eq 1 ] || fail "--batch $b: record 1 before the error"
    expect_status 0 to lx-encode -m "$T/vqa.lxm" -f json --batch $b --skip-bad "$T/x.in"
    [ "$(wc -l < "$T/out")" -eq 2 ] || fail "--batch $b --skip-bad: records 1 and 3"
    expect_err "1 record skipped"
done
expect_status 0 to lx-encode -m "$T/vqa.lxm" -f bin "$T/x.in"
mv "$T/out" "$T/x.bin"
expect_status 0 to lx-convert -f json --skip-bad < "$T/x.bin"
[ "$(cat "$T/err")" = "lx-convert: <stdin>:record 2: field 'extra': element [1] is inf, which JSON cannot hold (binary frames can: -f bin)
lx-convert: 1 record skipped" ] || fail "lx-convert names the record JSON cannot hold"
[ "$(wc -l < "$T/out")" -eq 2 ] || fail "lx-convert: records 1 and 3"

# ---- floats given where integers belong ------------------------------------------------
# a class id of 1e30 (no int64 holds it; the cast was undefined) or 2.5 is refused
reg() { printf '{"img_id":"a","img_h":10,"img_w":10,"boxes":[[0,0,5,5],[1,1,2,2]],%s}\n' \
    '"features":[[1.0,2.0],[3.0,4.0]],"objects_id":['"$1"',2.0],"objects_conf":[0.5,0.5],"attrs_id":[1,2],"attrs_conf":[0.1,0.2]' \
    > "$T/reg.jsonl"; }
echo '{"img_id":"a"}' > "$T/q.jsonl"
for v in '1e30:1e\+30' '2.5:2.5'; do
    reg "${v%%:*}"
    expect_status 1 to lx-embed-vis --regions "$T/reg.jsonl" --objects -f json "$T/q.jsonl"
    expect_err "record 1: image a: objects_id\[0\]: got ${v#*:}, expected an integer"
done
reg 7.0
expect_status 0 to lx-embed-vis --regions "$T/reg.jsonl" --objects -f json "$T/q.jsonl"
grep -q '"objects_id":\[7,2\]' "$T/out" || fail "whole floats are ids"

# ---- lx-convert: weights that are not finite, or beyond --dtype -------------------------
# a checkpoint with a weight of 1e6 and one of -7e4 (exported from a model lxmset changed)
cp "$T/vqa.lxm" "$T/w.lxm"
Q=lxmert.encoder.layer.0.attention.self.query.weight
lxmset "$T/w.lxm" $Q 100 1e6 && lxmset "$T/w.lxm" $Q 7 -7e4 || fail "lxmset"
to lx-convert "$T/w.lxm" --export-safetensors "$T/w.st" || fail "export"
ck() { to lx-convert "$T/w.st" --config "$FX/models/tiny-vqa/config.json" \
           --vocab "$FX/models/tiny-vqa/vocab.txt" "$@"; }
echo "the model before" > "$T/h.lxm"
expect_status 1 ck --dtype f16 -o "$T/h.lxm"
expect_err "^lx-convert: $T/w.st: $Q\[0\]\[7\]: got -70000, beyond f16's largest value 65504 \(2 of the tensor's values are\): store it as bf16 or f32, or give --clamp-overflow to store it as 65504$"
[ "$(cat "$T/h.lxm")" = "the model before" ] || fail "a refused conversion changed the output"
[ -z "$(ls "$T" | grep 'h.lxm.tmp')" ] || fail "a refused conversion left a temporary file"
expect_status 0 ck --dtype bf16 -o "$T/b.lxm" --verify
# int8 holds any finite weight (its row's scale takes the range): no error, no warning
expect_status 0 ck --dtype int8 -o "$T/i.lxm"
[ ! -s "$T/err" ] || fail "int8 of a weight of 1e6 said: $(cat "$T/err")"
expect_status 0 ck --dtype int8 --clamp-overflow -o "$T/i.lxm"
[ ! -s "$T/err" ] || fail "int8 --clamp-overflow said: $(cat "$T/err")"
expect_status 0 ck -o "$T/f.lxm"
expect_status 0 ck --dtype f16 --clamp-overflow -o "$T/h.lxm" --verify
expect_err "^lx-convert: warning: $Q: 2 values beyond f16's range stored as \+-65504$"
[ "$(grep -c warning "$T/err")" -eq 1 ] || fail "one warning per tensor"
# the clamped values are the largest f16 of their sign
to lx-convert "$T/h.lxm" --export-safetensors "$T/h.st" || fail "export the f16 model"
strec "$T/h.st" "$Q=q" > "$T/q.jsonl" || fail "strec"
grep -qE '^\{"q":\[\[([^],]*,){7}-65504\.0,' "$T/q.jsonl" || fail "-7e4 stored as -65504"
grep -qE '^\{"q":\[\[[^]]*\],\[[^]]*\],\[([^],]*,){4}65504\.0,' "$T/q.jsonl" || fail "1e6 stored as 65504"
# not finite: refused in every dtype, clamp or not
lxmset "$T/w.lxm" $Q 200 nan || fail "lxmset"
to lx-convert "$T/w.lxm" --export-safetensors "$T/w.st" || fail "export"
for d in f32 f16 bf16 int8; do
    for clamp in "" --clamp-overflow; do
        expect_status 1 ck --dtype $d $clamp -o "$T/n.lxm"
        expect_err "^lx-convert: $T/w.st: $Q\[4\]\[8\]: got nan, expected a finite weight \(1 of the tensor's values are not finite\)$"
        [ ! -e "$T/n.lxm" ] || fail "--dtype $d $clamp: a model was written"
    done
done
# a .lxm source is checked the same way
expect_status 1 to lx-convert "$T/w.lxm" -o "$T/n.lxm"
expect_err "^lx-convert: $T/w.lxm: $Q\[4\]\[8\]: got nan"
expect_status 2 to lx-convert --clamp-overflow < /dev/null
expect_err "conversion options need a SRC"

# ---- lx-detect: the detector's outputs -------------------------------------------------
IMG=$FX/frcnn/images
to lx-convert "$FX/frcnn/models/frcnn-tiny" -o "$T/det.lxm" 2> /dev/null || fail "the detector"
for w in proposal_generator.rpn_head.anchor_deltas.weight:pred_anchor_deltas \
         roi_heads.box_predictor.cls_score.weight:cls_score; do
    cp "$T/det.lxm" "$T/d.lxm"
    lxmset "$T/d.lxm" "${w%%:*}" 0 inf || fail "lxmset"
    expect_status 1 to lx-detect -m "$T/d.lxm" -f json "$IMG/img1.png" "$IMG/img0.png"
    expect_err "^lx-detect: $IMG/img1.png: ${w##*:}(\[[0-9]+\])+: got (nan|-?inf), expected a finite number: the detector overflowed"
    [ ! -s "$T/out" ] || fail "${w##*:}: no regions are written"
    expect_status 0 to lx-detect -m "$T/d.lxm" -f json --skip-bad "$IMG/img1.png"
    expect_err "1 image skipped"
done
echo ok
