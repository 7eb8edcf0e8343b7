# Record streams through lx-convert's stream mode: round trips, truncation, bad input.
. "$(dirname "$0")/lib.bash"

# JSON -> bin -> JSON -> bin: identical bytes; every value equal to the fixture's
lx-convert -f bin < "$FX/cases.jsonl" > "$T/a.bin" || fail "json -> bin"
lx-convert -f json < "$T/a.bin" > "$T/a.jsonl" || fail "bin -> json"
lx-convert -f bin < "$T/a.jsonl" > "$T/b.bin" || fail "json -> bin again"
cmp -s "$T/a.bin" "$T/b.bin" || fail "JSON -> bin -> JSON -> bin changed bytes"
lx-convert -f json < "$T/b.bin" > "$T/b.jsonl"
cmp -s "$T/a.jsonl" "$T/b.jsonl" || fail "bin -> JSON twice gave different text"
reccmp "$FX/cases.jsonl" "$T/a.jsonl" || fail "values changed in the round trip"
reccmp "$FX/cases.jsonl" "$T/a.bin" || fail "values changed in binary"
[ "$(wc -l < "$T/a.jsonl")" -eq 5 ] || fail "expected 5 records"

# Unknown fields of every kind survive, in order; integers stay integers; 0.0 stays float
printf '%s\n' '{"z":"s\u00e9","id":7,"nest":{"b":[1,{"c":null}],"a":0.5},"n":null,"zeros":[0.0,0.0],"ids":[1,2,3],"t":false}' > "$T/u.jsonl"
lx-convert -f bin < "$T/u.jsonl" | lx-convert -f json > "$T/u2.jsonl"
want='{"z":"sé","id":7,"nest":{"b":[1,{"c":null}],"a":0.5},"n":null,"zeros":[0.0,0.0],"ids":[1,2,3],"t":false}'
[ "$(cat "$T/u2.jsonl")" = "$want" ] || fail "pass-through changed: $(cat "$T/u2.jsonl")"

# A JSON array of records (LXMERT's train.json) reads as a stream of its elements
printf '[{"a":1},\n {"a":2}]\n' | lx-convert -f json > "$T/arr.jsonl"
[ "$(cat "$T/arr.jsonl")" = $'{"a":1}\n{"a":2}' ] || fail "JSON array input"

# Cut the binary stream at offsets inside its last frame: the records before it come out,
# then an error naming the last record, exit 1
size=$(stat -c %s "$T/a.bin")
lx-convert -f bin < <(head -n 4 "$FX/cases.jsonl") > "$T/four.bin"
start=$(stat -c %s "$T/four.bin")
for cut in $((start + 1)) $((start + 23)) $((start + 24)) $((start + 100)) $((start + 4096)) $((size - 1)); do
    head -c "$cut" "$T/a.bin" > "$T/cut.bin"
    expect_status 1 lx-convert -f json < "$T/cut.bin"
    expect_err '^lx-convert: <stdin>:record 5: truncated frame'
    [ "$(wc -l < "$T/out")" -eq 4 ] || fail "cut at $cut: $(wc -l < "$T/out") records before the error, expected 4"
done

# Garbage instead of a frame header; a 4 GiB length with nothing behind it
printf 'LXRF\001\000\000\000\000\000\000\000\001\000\000\000\002\000\000\000\000\000\000\000{}' > "$T/big.bin"
peakrss -o "$T/rss" lx-convert -f json < "$T/big.bin" > "$T/out" 2> "$T/err"
[ $? -eq 1 ] || fail "a 4 GiB frame length should fail with status 1"
expect_err 'record 1: truncated frame'
rss=$(sed 's/peak_rss_mb=\([0-9]*\).*/\1/' "$T/rss")
[ "$rss" -lt 200 ] || fail "a 4 GiB frame length made lx-convert use $rss MB"
cat "$T/a.bin" > "$T/g.bin"; printf 'LXRF\007\000\000\000garbagegarbagegarbagegarbage' >> "$T/g.bin"
expect_status 1 lx-convert -f json < "$T/g.bin"
expect_err 'record 6: frame version 7'
[ "$(wc -l < "$T/out")" -eq 5 ] || fail "good records before a garbage frame must be written"

# A bad JSON line: the good ones before it are written; --skip-bad goes on
printf '{"a":1}\n{"a":\n{"a":3}\n' > "$T/bad.jsonl"
expect_status 1 lx-convert -f json < "$T/bad.jsonl"
expect_err '^lx-convert: <stdin>:record 2: '
[ "$(cat "$T/out")" = '{"a":1}' ] || fail "the record before a bad one must be written"
lx-convert -f json --skip-bad < "$T/bad.jsonl" > "$T/out" 2> "$T/err"; [ $? -eq 0 ] || fail "--skip-bad should succeed"
[ "$(cat "$T/out")" = $'{"a":1}\n{"a":3}' ] || fail "--skip-bad lost good records: $(cat "$T/out")"
expect_err "1 record skipped"

# A number beyond f32's range in a tensor (it would be infinite) is a bad record naming
# the field, the element and the value; an integer beyond int64's too
for v in 1e39 -1e39; do
    printf '{"a":1}\n{"id":2,"visual_feats":[[0.5,1.0],[2.0,%s]]}\n{"a":3}\n' "$v" > "$T/big.jsonl"
    expect_status 1 lx-convert -f bin < "$T/big.jsonl"
    expect_err "^lx-convert: <stdin>:record 2: visual_feats\[1\]\[1\]: got ${v/e/e\\+}, outside f32's range \(-3\.4028235e\+38 to 3\.4028235e\+38\)$"
    lx-convert -f json < "$T/out" > "$T/back" || fail "the frames before a number out of range"
    [ "$(cat "$T/back")" = '{"a":1}' ] || fail "$v: the record before it must be written"
    lx-convert -f bin --skip-bad < "$T/big.jsonl" > "$T/out" 2> "$T/err" || fail "$v: --skip-bad"
    lx-convert -f json < "$T/out" > "$T/back" || fail "the frames around a number out of range"
    [ "$(cat "$T/back")" = $'{"a":1}\n{"a":3}' ] || fail "$v: --skip-bad gave $(cat "$T/back")"
    expect_err "1 record skipped"
done
printf '{"input_ids":[[101,9223372036854775808]]}\n' > "$T/big.jsonl"
expect_status 1 lx-convert -f bin < "$T/big.jsonl"
expect_err "^lx-convert: <stdin>:record 1: invalid JSON: too big integer near '9223372036854775808'"

# A read error names the record that could not be read (not record 0) and stops the run,
# --skip-bad or not: reading again would only fail again
mkdir "$T/dir"
for skip in "" --skip-bad; do
    expect_status 1 timeout 10 lx-convert -f json $skip < "$T/dir"
    expect_err '^lx-convert: <stdin>:record 1: read error: Is a directory$'
    [ "$(wc -l < "$T/err")" -eq 1 ] || fail "a read error reported more than once"
done

# never binary frames to a terminal (script gives the tool a terminal where available)
if command -v script >/dev/null; then
    script -qec "$LX_BIN/lx-convert -f bin < $FX/cases.jsonl" /dev/null > "$T/tty" 2>&1
    grep -q 'terminal' "$T/tty" || fail "binary frames were written to a terminal"
fi
# a closed downstream ends the tool quietly (status 0 or 141), no message
lx-convert -f json < "$T/a.bin" 2> "$T/err" | head -c 10 > /dev/null
st=${PIPESTATUS[0]}
[ "$st" -eq 0 ] || [ "$st" -eq 141 ] || fail "closed pipe: status $st"
[ ! -s "$T/err" ] || fail "closed pipe: $(cat "$T/err")"
exit 0
