# lx-tokenize: the reference cases through the tool, questions.jsonl against
# expected/answers.jsonl, the vocabulary from a .lxm, input forms, --decode, errors.
. "$(dirname "$0")/lib.bash"
V=$FX/vocab/bert-base-uncased-vocab.txt
Q=$FX/questions.jsonl

# questions.jsonl with --max-length 20 gives the input_ids of expected/answers.jsonl
lx-tokenize --vocab "$V" --max-length 20 < "$Q" > "$T/q.jsonl" || fail "questions"
reccmp --fields question_id,input_ids "$T/q.jsonl" "$FX/expected/answers.jsonl" \
    || fail "input_ids differ from expected/answers.jsonl"
# every input field passes through in order, then input_ids, token_type_ids
head -n1 "$T/q.jsonl" | grep -q '^{"question_id":1000,"img_id":"[^"]*","sent":"What color is the cat?","label":{[^}]*},"input_ids":\[101,2054,3609,2003,1996,4937,1029,102\],"token_type_ids":\[0,0,0,0,0,0,0,0\]}$' \
    || fail "record layout: $(head -n1 "$T/q.jsonl")"

# The reference cases: the tool replaces tokens/input_ids/token_type_ids in place, so
# its output must equal its input.  (Cases with max_length are per record: the unit test
# has them.)
grep -v -e '"max_length"' -e '"text_pair"' "$FX/tokenizer-cases.jsonl" > "$T/single.jsonl"
[ "$(wc -l < "$T/single.jsonl")" -ge 90 ] || fail "too few single cases"
lx-tokenize --vocab "$V" --tokens < "$T/single.jsonl" > "$T/single.out" || fail "single cases"
reccmp --fields text,tokens,input_ids,token_type_ids "$T/single.jsonl" "$T/single.out" \
    || fail "single-text reference cases"
grep -e '"text_pair"' "$FX/tokenizer-cases.jsonl" | grep -v '"max_length"' > "$T/pair.jsonl"
lx-tokenize --vocab "$V" --tokens --pair-field text_pair < "$T/pair.jsonl" > "$T/pair.out" \
    || fail "pair cases"
reccmp --fields tokens,input_ids,token_type_ids "$T/pair.jsonl" "$T/pair.out" \
    || fail "pair reference cases"
grep -e '"max_length": 16' "$FX/tokenizer-cases.jsonl" > "$T/p16.jsonl"
lx-tokenize --vocab "$V" --tokens --pair-field text_pair --max-length 16 < "$T/p16.jsonl" \
    > "$T/p16.out" || fail "pair case with max_length 16"
reccmp --fields tokens,input_ids,token_type_ids "$T/p16.jsonl" "$T/p16.out" \
    || fail "pair truncation (longest_first)"

# The vocabulary (and lower-casing) from a model file, by -m and by $LX_MODEL
lx-convert "$FX/models/tiny-vqa" -o "$T/tiny.lxm" >/dev/null || fail "lx-convert tiny-vqa"
lx-tokenize -m "$T/tiny.lxm" --tokens < "$T/single.jsonl" > "$T/m.out" || fail "-m"
cmp -s "$T/m.out" "$T/single.out" || fail "-m model.lxm differs from --vocab vocab.txt"
LX_MODEL=$T/tiny.lxm lx-tokenize --max-length 20 < "$Q" > "$T/env.out" || fail "LX_MODEL"
cmp -s "$T/env.out" "$T/q.jsonl" || fail "\$LX_MODEL differs from --vocab"

# A vocab.txt with CRLF line ends (as Windows writes it) is the same vocabulary: the
# same ids and word pieces from --vocab, and from a model lx-convert made with it
sed 's/$/\r/' "$V" > "$T/crlf.txt"
[ "$(head -c 6 "$T/crlf.txt" | od -An -c | tr -d ' ')" = '[PAD]\r' ] || fail "setup: CRLF vocab"
lx-tokenize --vocab "$T/crlf.txt" --max-length 20 < "$Q" > "$T/crlf.out" || fail "--vocab crlf.txt"
cmp -s "$T/crlf.out" "$T/q.jsonl" || fail "--vocab with CRLF line ends gives other ids"
lx-tokenize --vocab "$T/crlf.txt" --tokens < "$T/single.jsonl" | cmp -s - "$T/single.out" ||
    fail "--vocab with CRLF line ends gives other word pieces"
lx-convert "$FX/models/tiny-vqa" --vocab "$T/crlf.txt" -o "$T/crlf.lxm" > /dev/null ||
    fail "lx-convert --vocab crlf.txt"
lx-tokenize -m "$T/crlf.lxm" --tokens < "$T/single.jsonl" | cmp -s - "$T/single.out" ||
    fail "a model converted with a CRLF vocab.txt tokenizes differently"

# Input forms: a JSON array of records, --lines (with CRLF), --field, binary frames
printf '[{"sent":"A cat."},\n {"sent":"Two dogs!"}]\n' | lx-tokenize --vocab "$V" > "$T/arr.out" \
    || fail "JSON array input"
[ "$(cat "$T/arr.out")" = '{"sent":"A cat.","input_ids":[101,1037,4937,1012,102],"token_type_ids":[0,0,0,0,0]}
{"sent":"Two dogs!","input_ids":[101,2048,6077,999,102],"token_type_ids":[0,0,0,0,0]}' ] \
    || fail "JSON array output: $(cat "$T/arr.out")"
printf 'Is the [MASK] red?\r\nno\n' | lx-tokenize --vocab "$V" --lines --tokens > "$T/lines.out" \
    || fail "--lines"
[ "$(head -n1 "$T/lines.out")" = '{"text":"Is the [MASK] red?","input_ids":[101,2003,1996,103,2417,1029,102],"token_type_ids":[0,0,0,0,0,0,0],"tokens":["[CLS]","is","the","[MASK]","red","?","[SEP]"]}' ] \
    || fail "--lines output: $(head -n1 "$T/lines.out")"
printf 'hello\n' | lx-tokenize --vocab "$V" --lines --field q > "$T/lf.out"
grep -q '^{"q":"hello","input_ids":\[101,7592,102\]' "$T/lf.out" || fail "--lines --field"
printf '{"sent":"no","question":"a cat"}\n' | lx-tokenize --vocab "$V" --field question > "$T/f.out"
grep -q '"input_ids":\[101,1037,4937,102\]' "$T/f.out" || fail "--field question"
printf '{"question":"x","text":"a cat"}\n' | lx-tokenize --vocab "$V" > "$T/f2.out"
grep -q '"input_ids":\[101,1037,4937,102\]' "$T/f2.out" || fail "text comes before question"
lx-tokenize --vocab "$V" --max-length 20 -f bin < "$Q" > "$T/q.bin" || fail "-f bin"
reccmp "$T/q.bin" "$T/q.jsonl" || fail "binary output differs"
lx-tokenize --vocab "$V" --max-length 20 < "$T/q.bin" > "$T/q2.jsonl" || fail "binary input"
reccmp "$T/q2.jsonl" "$T/q.jsonl" || fail "binary input gives different ids"
lx-tokenize --vocab "$V" --max-length 20 "$Q" > "$T/q3.jsonl" || fail "FILE argument"
cmp -s "$T/q3.jsonl" "$T/q.jsonl" || fail "FILE argument differs from stdin"

# --decode: pieces joined, ## glued; --skip-special
printf '{"sent":"Unaffable [MASK] naïve"}\n' | lx-tokenize --vocab "$V" |
    lx-tokenize --vocab "$V" --decode > "$T/d.out" || fail "--decode"
grep -q '"text":"\[CLS\] unaffable \[MASK\] naive \[SEP\]"}$' "$T/d.out" || fail "decode: $(cat "$T/d.out")"
printf '{"input_ids":[101,14477,4246,3085,102]}\n' |
    lx-tokenize --vocab "$V" --decode --skip-special --field d > "$T/d2.out" || fail "--skip-special"
[ "$(cat "$T/d2.out")" = '{"input_ids":[101,14477,4246,3085,102],"d":"unaffable"}' ] \
    || fail "skip-special: $(cat "$T/d2.out")"
printf '{"input_ids":[101,30522]}\n' | expect_status 1 lx-tokenize --vocab "$V" --decode
expect_err '^lx-tokenize: <stdin>:record 1: input_ids\[1\]: got 30522, expected an id in 0\.\.30521$'
# an empty list decodes to "" (as HF's decode([])), between good records
printf '{"input_ids":[101,102]}\n{"input_ids":[]}\n{"input_ids":[101]}\n' |
    expect_status 0 lx-tokenize --vocab "$V" --decode
[ "$(cat "$T/out")" = '{"input_ids":[101,102],"text":"[CLS] [SEP]"}
{"input_ids":[],"text":""}
{"input_ids":[101],"text":"[CLS]"}' ] || fail "decode of []: $(cat "$T/out")"

# Bad records: the good ones before are written; --skip-bad drops and reports
printf '{"sent":"one"}\n{"sent":3}\n{"sent":"three"}\n' > "$T/bad.jsonl"
expect_status 1 lx-tokenize --vocab "$V" < "$T/bad.jsonl"
expect_err "^lx-tokenize: <stdin>:record 2: field 'sent': got a JSON number, expected a string$"
[ "$(wc -l < "$T/out")" -eq 1 ] || fail "the record before the bad one was not written"
expect_status 0 lx-tokenize --vocab "$V" --skip-bad < "$T/bad.jsonl"
[ "$(wc -l < "$T/out")" -eq 2 ] || fail "--skip-bad: expected 2 records"
expect_err '1 record skipped'
printf '{"img_id":"x"}\n' | expect_status 1 lx-tokenize --vocab "$V"
expect_err 'record 1: no text field: expected one of text, sent, question'
printf '{"sent":"a"}\n' | expect_status 1 lx-tokenize --vocab "$V" --pair-field caption
expect_err "record 1: no field 'caption'"
printf 'good\nbad \377 byte\n' | expect_status 1 lx-tokenize --vocab "$V" --lines
expect_err '^lx-tokenize: <stdin>:record 2: .*UTF-8'
[ "$(wc -l < "$T/out")" -eq 1 ] || fail "--lines: the good line before the bad one"

# No vocabulary at all is a missing model (1), as in every tool; then usage errors
expect_status 1 lx-tokenize < /dev/null
expect_err '^lx-tokenize: no model: give -m FILE or set LX_MODEL \(or give --vocab FILE\)$'
expect_status 2 lx-tokenize --vocab "$V" -m "$T/tiny.lxm"
expect_status 2 lx-tokenize --vocab "$V" --max-length 1
expect_status 2 lx-tokenize --vocab "$V" --max-length 2 --pair-field b
expect_status 2 lx-tokenize --vocab "$V" --max-length x
expect_status 2 lx-tokenize --vocab "$V" --decode --tokens
expect_status 2 lx-tokenize --vocab "$V" --skip-special
expect_status 2 lx-tokenize --vocab "$V" a b
expect_status 1 lx-tokenize --vocab "$T/missing.txt" < /dev/null
expect_err 'missing.txt'
expect_status 1 lx-tokenize -m "$T/missing.lxm" < /dev/null
exit 0
