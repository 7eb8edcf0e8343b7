# Values that are not finite never become answers: masks that are not 0/1 and features
# too large for the network are refused as bad records; a float where an integer belongs
# must be a whole number in range.  Every run is under timeout.
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
# a u8 mask of 255 comes in a frame: the same check
to lx-convert -f bin < "$T/mask255.jsonl" > "$T/mask255.bin" || fail "to frames"
expect_status 1 to lx-encode -m "$T/vqa.lxm" "$T/mask255.bin"
expect_err "record 2: attention_mask\[1\]: got 255, expected 0 or 1"

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
echo ok
