# int8 models through the whole pipeline: the questions of expected/answers.jsonl get the
# reference's top answers (and so its vqa_score) from an int8 model, on every kernel level
# this CPU has, and its five best in the same order with their logits within the int8
# bound of the fixtures (5e-2; the closest two of them are 0.022 apart).
. "$(dirname "$0")/lib.bash"

lx-convert "$FX/models/tiny-vqa" --labels "$FX/labels/vqa-label2ans.json" --dtype int8 \
    -o "$T/q.lxm" || fail "lx-convert --dtype int8"
Q=$FX/questions.jsonl
F=$T/features.tsv; cp "$FX/features.tsv" "$F"   # its index goes beside it, never into the fixtures
E=$FX/expected/answers.jsonl
lx-tokenize -m "$T/q.lxm" --max-length 20 < "$Q" | lx-embed-vis --features "$F" > "$T/in.bin" \
    || fail "inputs"
# the top answer of each line, in order
top1() { sed -E 's/.*"answers": *\[\{[^}]*"answer": *"([^"]*)".*/\1/' "$1"; }
top1 "$E" > "$T/want"
[ "$(wc -l < "$T/want")" -eq "$(wc -l < "$Q")" ] || fail "expected answers: $(cat "$T/want")"
for level in best avx2 portable; do
    [ "$level" = best ] || [ "$(LX_CPU=$level gemmbench --path)" = "$level" ] || continue
    LX_CPU=$level lx-vqa -m "$T/q.lxm" --top-k 5 --score softmax --batch 3 < "$T/in.bin" \
        > "$T/a.jsonl" || fail "$level: lx-vqa"
    top1 "$T/a.jsonl" > "$T/got"
    cmp -s "$T/got" "$T/want" || fail "$level: top answers $(paste -sd, "$T/got"), expected $(paste -sd, "$T/want")"
    jsoncmp --tol 0 --fields question_id,vqa_score "$T/a.jsonl" "$E" || fail "$level: vqa_score"
    jsoncmp --tol 5e-2 --rename softmax=score --fields question_id,answers "$T/a.jsonl" "$E" \
        || fail "$level: answers' logits beyond 5e-2"
    ! jsoncmp --tol 1e-6 --rename softmax=score --fields answers "$T/a.jsonl" "$E" 2> /dev/null \
        || fail "$level: the int8 model gave f32's logits"
done
