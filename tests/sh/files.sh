# The files lx reads and writes: shard indexes that name indexes, paths that are FIFOs
# or devices, outputs that are the source or a stream of the run.
. "$(dirname "$0")/lib.bash"

M=$FX/models
lx-convert "$M/tiny-vqa" --labels "$FX/labels/vqa-label2ans.json" -o "$T/tiny.lxm" ||
    fail "lx-convert tiny-vqa"

# ---- a shard index names itself, or another index: an error, not a stack overflow ----
mkdir "$T/self" "$T/pair" "$T/stself" "$T/mixed"
printf '{"weight_map":{"a.weight":"pytorch_model.bin.index.json"}}' \
    > "$T/self/pytorch_model.bin.index.json"
printf '{"weight_map":{"a.weight":"b.bin.index.json"}}' > "$T/pair/pytorch_model.bin.index.json"
printf '{"weight_map":{"a.weight":"pytorch_model.bin.index.json"}}' > "$T/pair/b.bin.index.json"
printf '{"weight_map":{"a.weight":"model.safetensors.index.json"}}' \
    > "$T/stself/model.safetensors.index.json"
printf '{"weight_map":{"a.weight":"model.safetensors.index.json"}}' \
    > "$T/mixed/pytorch_model.bin.index.json"
printf '{"weight_map":{"a.weight":"pytorch_model.bin.index.json"}}' \
    > "$T/mixed/model.safetensors.index.json"
for d in self pair stself; do
    expect_status 1 timeout 20 lx-convert "$T/$d" -o "$T/x.lxm"
    expect_err "^lx-convert: $T/$d/[a-z_.]*index.json: names [^ ]*index.json as a shard, which is a shard index too"
done
expect_status 1 timeout 20 lx-convert "$T/mixed/pytorch_model.bin.index.json" -o "$T/x.lxm"
expect_err "which is a shard index too"
# a shard of JSON content under a weight file's name
printf '{"weight_map":{"a.weight":"pytorch_model-1.bin"}}' > "$T/mixed/idx.bin.index.json"
cp "$T/mixed/idx.bin.index.json" "$T/mixed/pytorch_model-1.bin"
expect_status 1 timeout 20 lx-convert "$T/mixed/idx.bin.index.json" -o "$T/x.lxm"
expect_err "which is JSON \(a shard index\?\), not a weight file"
[ ! -e "$T/x.lxm" ] || fail "a model written from a bad index"

# ---- a path that is a FIFO is refused at once, never waited on --------------------------
mkfifo "$T/fifo"
mkdir "$T/fshard"
printf '{"weight_map":{"a.weight":"pytorch_model-1.bin"}}' > "$T/fshard/pytorch_model.bin.index.json"
mkfifo "$T/fshard/pytorch_model-1.bin"
nonblocking() { # nonblocking PATTERN CMD...: exit 1 at once, stderr matching PATTERN
    local pat=$1; shift
    expect_status 1 timeout 20 "$@" < /dev/null
    expect_err "$pat"
}
nonblocking "pytorch_model-1.bin: not a regular file" lx-convert "$T/fshard" -o "$T/x.lxm"
nonblocking "$T/fifo: not a regular file" lx-convert "$T/fifo" -o "$T/x.lxm"
nonblocking "$T/fifo: not a regular file" lx-convert "$M/tiny-vqa" --config "$T/fifo" -o "$T/x.lxm"
nonblocking "$T/fifo: not a regular file" lx-convert "$M/tiny-vqa" --vocab "$T/fifo" -o "$T/x.lxm"
nonblocking "$T/fifo: not a regular file" lx-convert "$M/tiny-vqa" --labels "$T/fifo" -o "$T/x.lxm"
nonblocking "$T/fifo: not a regular file" lx-convert --info "$T/fifo"
nonblocking "$T/fifo: not a regular file" lx-tokenize --vocab "$T/fifo"
nonblocking "$T/fifo: not a regular file" lx-vqa -m "$T/fifo"
nonblocking "$T/fifo: not a regular file" lx-vqa -m "$T/tiny.lxm" --labels "$T/fifo"
nonblocking "$T/fifo: not a regular file" lx-embed-vis --dump --features "$T/fifo"
nonblocking "$T/fifo: not a regular file" lx-embed-vis --features "$T/fifo"
lx-convert "$FX/frcnn/models/frcnn-tiny" -o "$T/det.lxm" 2> /dev/null || fail "lx-convert frcnn-tiny"
nonblocking "$T/fifo: not a regular file" lx-detect -m "$T/det.lxm" "$T/fifo"
[ ! -e "$T/x.lxm" ] || fail "a model written from a FIFO"

# ---- an output that is the source, or is read by the run, is refused -----------------
mkdir "$T/src"
cp "$M/tiny-vqa/model.safetensors" "$M/tiny-vqa/config.json" "$M/tiny-vqa/vocab.txt" "$T/src/"
cp "$T/tiny.lxm" "$T/a.lxm"
ln -s a.lxm "$T/a-link.lxm"
ln "$T/a.lxm" "$T/a-hard.lxm"
ln -s src/model.safetensors "$T/st-link"
refused() { # refused PATTERN CMD...: exit 1, stderr matching PATTERN
    local pat=$1; shift
    expect_status 1 timeout 60 "$@"
    expect_err "$pat"
    [ "$(wc -l < "$T/err")" -eq 1 ] || fail "one line expected: $(cat "$T/err")"
}
for out in "$T/a.lxm" "$T/a-link.lxm" "$T/a-hard.lxm"; do
    refused "^lx-convert: cannot write $out: it is a file this run is reading \(" \
        lx-convert "$T/a.lxm" --export-safetensors "$out"
    refused "cannot write $out: it is a file this run is reading" lx-convert "$T/a.lxm" -o "$out"
done
refused "cannot write $T/a.lxm: it is a file this run is reading" \
    lx-convert --export-safetensors "$T/a.lxm" -m "$T/a.lxm"
for out in "$T/src/model.safetensors" "$T/st-link"; do
    refused "cannot write $out: it is a file this run is reading" \
        lx-convert "$T/src" --export-safetensors "$out"
done
refused "cannot write $T/src/vocab.txt: it is a file this run is reading \($T/src/vocab.txt\)" \
    lx-convert "$T/src" -o "$T/src/vocab.txt"
refused "cannot write $T/src/config.json: it is a file this run is reading \($T/src/config.json\)" \
    lx-convert "$T/src" --export-safetensors "$T/src/config.json"
expect_status 2 lx-convert "$T/src" -o "$T/b.lxm" --export-safetensors "$T/b.lxm"
cmp -s "$T/a.lxm" "$T/tiny.lxm" || fail "the .lxm source changed"
[ -L "$T/a-link.lxm" ] || fail "the link to the source was replaced"
cmp -s "$T/src/model.safetensors" "$M/tiny-vqa/model.safetensors" || fail "the checkpoint changed"
cmp -s "$T/src/vocab.txt" "$M/tiny-vqa/vocab.txt" || fail "vocab.txt changed"
# the converted model is what the source holds, and writing through a link replaces its file
lx-convert "$T/a.lxm" --export-safetensors "$T/b.st" || fail "export"
ln -s b.st "$T/b-link.st"
lx-convert "$T/src" --export-safetensors "$T/b-link.st" || fail "export through a link"
[ -L "$T/b-link.st" ] || fail "the link written through was replaced"
ls "$T"/*.tmp* 2> /dev/null && fail "temporary files left"

# ---- an output that exists and is not a regular file is never replaced ----------------
devs=("$T/fifo")
# a device node of our own (root only: the test never risks /dev's)
mknod "$T/null" c 1 3 2> /dev/null && devs+=("$T/null")
for out in "${devs[@]}" "$T/src"; do
    refused "cannot write $out: not a regular file" lx-convert "$T/a.lxm" --export-safetensors "$out"
    refused "cannot write $out: not a regular file" lx-convert "$M/tiny-vqa" -o "$out"
done
[ -p "$T/fifo" ] || fail "the FIFO was replaced"
[ ! -e "$T/null" ] || [ -c "$T/null" ] || fail "the device node was replaced"
refused "cannot write /dev/null: not a regular file" lx-convert "$T/a.lxm" --export-safetensors /dev/null
[ -c /dev/null ] || fail "/dev/null is no longer a device"

# ---- --eval-out ------------------------------------------------------------------------
pooled() { # pooled SEED: a record carrying pooled_output (hidden 48)
    awk -v s="$1" 'BEGIN { printf "{\"id\":%d,\"pooled_output\":[", s
        for (i = 0; i < 48; i++) printf "%s%.4f", (i ? "," : ""), sin(s * 7 + i * 0.37)
        printf "],\"answers\":[\"yes\"]}\n" }'
}
# --eval-out: a run that ends well writes the summary
pooled 1 | lx-vqa -m "$T/tiny.lxm" --eval-out "$T/sum.json" > /dev/null || fail "--eval-out"
grep -q '"count": 1' "$T/sum.json" || fail "summary: $(cat "$T/sum.json")"
# a run that fails leaves it as it was
cp "$T/sum.json" "$T/sum.keep"
{ pooled 1; echo '{"id":2}'; } | lx-vqa -m "$T/tiny.lxm" --eval-out "$T/sum.json" > /dev/null 2> "$T/err"
[ $? -eq 1 ] || fail "a bad record with --eval-out: not exit 1"
cmp -s "$T/sum.json" "$T/sum.keep" || fail "a failed run replaced the summary"
# --eval-out must not be what the run reads or writes
pooled 1 > "$T/p.jsonl"
refused "cannot write $T/p.jsonl: it is the input" lx-vqa -m "$T/tiny.lxm" --eval-out "$T/p.jsonl" "$T/p.jsonl"
refused "cannot write $T/tiny.lxm: it is a file this run is reading" \
    lx-vqa -m "$T/tiny.lxm" --eval-out "$T/tiny.lxm" "$T/p.jsonl"
cp "$FX/labels/vqa-label2ans.json" "$T/labels.json"
refused "it is the --labels file" \
    lx-vqa -m "$T/tiny.lxm" --labels "$T/labels.json" --eval-out "$T/labels.json" "$T/p.jsonl"
: > "$T/answers.jsonl"
lx-vqa -m "$T/tiny.lxm" --eval-out "$T/answers.jsonl" "$T/p.jsonl" >> "$T/answers.jsonl" 2> "$T/err"
[ $? -eq 1 ] || fail "--eval-out to standard output's file: not refused"
grep -q "cannot write $T/answers.jsonl: it is this run's standard output" "$T/err" ||
    fail "$(cat "$T/err")"
cmp -s "$T/p.jsonl" <(pooled 1) || fail "the input changed"
cmp -s "$T/labels.json" "$FX/labels/vqa-label2ans.json" || fail "the labels changed"

# ---- a feature index never replaces its TSV --------------------------------------------
cp "$FX/features.tsv" "$T/f.tsv"
head -n 1 "$FX/questions.jsonl" > "$T/q.jsonl"
refused "$T/f.tsv: is the TSV itself" lx-embed-vis --features "$T/f.tsv" --index "$T/f.tsv" "$T/q.jsonl"
cmp -s "$T/f.tsv" "$FX/features.tsv" || fail "the TSV changed"

exit 0
