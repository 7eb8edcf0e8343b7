# Records of 100 000 fields go through the tools in linear time: field lookups, the JSON
# and frame codecs and the stream reader.  Each step takes a fraction of a second (a
# second or two under the sanitizers); the time limit is far above that and far below
# what a quadratic path took (20 s a record).
. "$(dirname "$0")/lib.bash"
secs=8; [ -n "${LX_SANITIZE:-}" ] && secs=15
limit() { timeout "$secs" "$@"; }

V=$FX/vocab/bert-base-uncased-vocab.txt
N=100000
# {"sent":"...","img_id":"...","k0":0,...,"k99999":99999}, and a second record like it
wide() {
    awk -v n="$N" -v id="$1" 'BEGIN {
        printf "{\"sent\":\"what is on the table?\",\"img_id\":\"%s\"", id
        for (i = 0; i < n; i++) printf ",\"k%d\":%d", i, i
        print "}" }'
}
img=$(cut -f 1 "$FX/features.tsv" | head -n 1)
{ wide "$img"; wide "$img"; } > "$T/wide.jsonl"
[ "$(wc -c < "$T/wide.jsonl")" -gt 2000000 ] || fail "the wide records were not made"

# JSON -> JSON, JSON -> frames -> JSON: the same text
limit lx-convert -f json < "$T/wide.jsonl" > "$T/w1.jsonl" || fail "lx-convert -f json: too slow or failed"
cmp -s "$T/wide.jsonl" "$T/w1.jsonl" || fail "lx-convert -f json changed the records"
limit lx-convert -f bin < "$T/wide.jsonl" > "$T/w.bin" || fail "lx-convert -f bin: too slow or failed"
limit lx-convert -f json < "$T/w.bin" > "$T/w2.jsonl" || fail "frames -> JSON: too slow or failed"
cmp -s "$T/wide.jsonl" "$T/w2.jsonl" || fail "the frame round trip changed the records"

# through the tokenizer and the feature join: their fields are looked up and appended
limit lx-tokenize --vocab "$V" < "$T/wide.jsonl" > "$T/tok.jsonl" || fail "lx-tokenize: too slow or failed"
[ "$(wc -l < "$T/tok.jsonl")" -eq 2 ] || fail "lx-tokenize: expected 2 records"
grep -q '"k99999":99999,"input_ids":\[101,' "$T/tok.jsonl" || fail "lx-tokenize: input_ids not appended after the last field"
limit lx-embed-vis --features "$FX/features.tsv" --index "$T" < "$T/tok.jsonl" |
    limit lx-convert -f json > "$T/vis.jsonl" || fail "lx-embed-vis: too slow or failed"
grep -q '"visual_pos":\[\[' "$T/vis.jsonl" || fail "lx-embed-vis: no visual_pos"

# a wide record whose names share long prefixes, and one with a duplicate among them
awk -v n="$N" 'BEGIN { printf "{"; p = "prefix_shared_by_every_name_of_this_record_"
    for (i = 0; i < n; i++) printf "%s\"%s%d\":%d", (i ? "," : ""), p, i, i; print "}" }' > "$T/pre.jsonl"
limit lx-convert -f bin < "$T/pre.jsonl" | limit lx-convert -f json | cmp -s - "$T/pre.jsonl" \
    || fail "prefixed names: too slow, failed or changed"
sed 's/}$/,"k5":1}/' "$T/wide.jsonl" | head -n 1 > "$T/dup.jsonl"
expect_status 1 limit lx-convert -f json < "$T/dup.jsonl"
expect_err '^lx-convert: <stdin>:record 1: invalid JSON: duplicate object key'
