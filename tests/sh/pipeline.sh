# The whole pipeline with the tiny-vqa model against expected/answers.jsonl: the long
# form through lx-encode, the short form where lx-vqa runs the encoder, and --eval's mean
# of vqa_score.
. "$(dirname "$0")/lib.bash"

lx-convert "$FX/models/tiny-vqa" --labels "$FX/labels/vqa-label2ans.json" -o "$T/tiny.lxm" \
    || fail "lx-convert tiny-vqa"
export LX_MODEL=$T/tiny.lxm
Q=$FX/questions.jsonl
F=$T/features.tsv; cp "$FX/features.tsv" "$F"   # its index goes beside it, never into the fixtures
E=$FX/expected/answers.jsonl
nq=$(wc -l < "$Q")

# Long form.  Softmax scores so that the expected "softmax" can be compared too.
lx-tokenize --max-length 20 < "$Q" | lx-embed-vis --features "$F" | lx-encode |
    lx-vqa --top-k 5 --score softmax > "$T/long.jsonl" || fail "long pipeline failed"
[ "$(wc -l < "$T/long.jsonl")" -eq "$nq" ] || fail "long pipeline: expected $nq records"
# labels and answers in order (exact), logits and softmax within 1e-3, vqa_score, ids
jsoncmp --tol 1e-3 --rename softmax=score --fields question_id,input_ids,answers,vqa_score \
    "$T/long.jsonl" "$E" || fail "long pipeline differs from expected/answers.jsonl"
# the top-1 answer is answers[0]; the encoder outputs are gone, the question is kept
grep -q '"answer": *"1:25"' "$T/long.jsonl" || fail "no top-1 answer field"
grep -q '"sent":' "$T/long.jsonl" || fail "pass-through field sent lost"
! grep -q '"language_output"' "$T/long.jsonl" || fail "encoder outputs not dropped"

# Short form: lx-vqa runs the encoder itself; same answers
lx-tokenize --max-length 20 < "$Q" | lx-embed-vis --features "$F" |
    lx-vqa --top-k 5 --score softmax --batch 3 > "$T/short.jsonl" || fail "short pipeline failed"
jsoncmp --tol 1e-3 --rename softmax=score --fields question_id,input_ids,answers,vqa_score \
    "$T/short.jsonl" "$E" || fail "short pipeline differs from expected/answers.jsonl"

# Default sigmoid scores: the same labels and logits, score = 1 / (1 + exp(-logit))
lx-tokenize --max-length 20 < "$Q" | lx-embed-vis --features "$F" | lx-vqa > "$T/sig.jsonl" \
    || fail "sigmoid run failed"
jsoncmp --tol 1e-5 --fields question_id,vqa_score "$T/sig.jsonl" "$E" || fail "sigmoid run differs"
awk '{ if (match($0, /"score": *[0-9.e+-]+, *"logit": *[0-9.e+-]+/)) {
           s = substr($0, RSTART, RLENGTH); gsub(/"score": *|"logit": */, "", s)
           split(s, v, /, */); d = v[1] - 1 / (1 + exp(-v[2]))
           if (d > 1e-6 || d < -1e-6) { print "bad sigmoid " s; exit 1 } } }' "$T/sig.jsonl" \
    || fail "sigmoid scores"

# --eval: the mean of vqa_score over the questions, in percent.  The fixture's labels
# never hold the predicted answer (every vqa_score is 0), so give one question a label
# with it: its vqa_score becomes 0.6 and the mean 0.6 / 7.
sed 's/"court": 1.0/"1:25": 0.6/' "$Q" > "$T/q.jsonl"
lx-tokenize --max-length 20 < "$T/q.jsonl" | lx-embed-vis --features "$F" |
    lx-vqa --eval-out "$T/eval.json" > "$T/ev.jsonl" || fail "--eval-out failed"
grep -q '"vqa_score": *0.6' "$T/ev.jsonl" || fail "vqa_score of the relabelled question"
want=$(awk '{ match($0, /"vqa_score": *[0-9.e+-]+/); s = substr($0, RSTART, RLENGTH)
              sub(/"vqa_score": */, "", s); t += s; n++ } END { printf "%.6f", 100 * t / n }' "$T/ev.jsonl")
[ "$want" = "$(awk 'BEGIN { printf "%.6f", 60 / 7 }')" ] || fail "vqa_score mean: $want"
got=$(awk '/"lxmert"/ { m = 1 } m && /"overall"/ { gsub(/[^0-9.e+-]/, "", $2); printf "%.6f", $2; exit }' "$T/eval.json")
[ "$got" = "$want" ] || fail "--eval overall: got '$got', expected '$want'"
grep -q "\"count\": $nq" "$T/eval.json" || fail "--eval count"
lx-tokenize --max-length 20 < "$T/q.jsonl" | lx-embed-vis --features "$F" | lx-vqa --eval \
    > /dev/null 2> "$T/eval.txt" || fail "--eval failed"
grep -qF "LXMERT score (label[answer]): $(printf '%.2f' "$want") ($nq questions)" "$T/eval.txt" \
    || { cat "$T/eval.txt" >&2; fail "--eval summary on stderr"; }

# Binary frames between the tools give the same answers
lx-tokenize --max-length 20 -f bin < "$Q" | lx-embed-vis --features "$F" -f bin |
    lx-encode -f bin | lx-vqa --score softmax > "$T/bin.jsonl" || fail "binary pipeline failed"
cmp -s "$T/bin.jsonl" "$T/long.jsonl" || fail "binary pipeline differs from the JSON one"
echo ok
