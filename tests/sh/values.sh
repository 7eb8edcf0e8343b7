# Floats become integers only where they fit: a float where an integer belongs must be a
# whole number in range.  Every run is under timeout.
. "$(dirname "$0")/lib.bash"
to() { timeout 60 "$@"; }

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
