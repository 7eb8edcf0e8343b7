# The files lx reads and writes: shard indexes that name indexes, paths that are FIFOs
# or devices, outputs that are the source, writes that fail (ulimit -f), signals during
# a write, and a model rewritten under a running job.
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

# ---- a failed write (ulimit -f: SIGXFSZ ignored, EFBIG reported) leaves the old file --
cp "$T/b.st" "$T/keep.st"
cp "$T/tiny.lxm" "$T/keep.lxm"
( ulimit -f 1024; exec lx-convert "$T/a.lxm" --export-safetensors "$T/keep.st" ) 2> "$T/err"
[ $? -eq 1 ] || fail "--export-safetensors past ulimit -f: exit $?"
grep -q "^lx-convert: $T/keep.st: write failed: File too large$" "$T/err" || fail "$(cat "$T/err")"
cmp -s "$T/keep.st" "$T/b.st" || fail "a failed export changed the file"
( ulimit -f 1024; exec lx-convert "$M/tiny-vqa" --dtype bf16 -o "$T/keep.lxm" ) 2> "$T/err"
[ $? -eq 1 ] || fail "-o past ulimit -f: exit $?"
grep -q "^lx-convert: $T/keep.lxm: write failed: File too large$" "$T/err" || fail "$(cat "$T/err")"
cmp -s "$T/keep.lxm" "$T/tiny.lxm" || fail "a failed conversion changed the model"
ls "$T"/*.tmp* 2> /dev/null && fail "temporary files left after a failed write"
# record output past ulimit -f: one line, exit 1 (the output ends where the limit is)
for i in $(seq 3000); do echo '{"id":'$i',"text":"a record of some length to fill the file"}'; done > "$T/many.jsonl"
( ulimit -f 64; exec lx-convert -f json < "$T/many.jsonl" > "$T/cut.jsonl" ) 2> "$T/err"
[ $? -eq 1 ] || fail "records past ulimit -f: exit $?"
grep -q "^lx-convert: write error: File too large$" "$T/err" || fail "$(cat "$T/err")"
[ "$(wc -l < "$T/err")" -eq 1 ] || fail "one line expected: $(cat "$T/err")"

# ---- signals during a conversion remove its temporary ----------------------------------
# The conversion is stopped (SIGSTOP) once its temporary appears, then signalled: it
# must die of the signal and leave neither the temporary nor a model.  A run that
# finished before its temporary was seen is tried again.  `env --default-signal`: a
# background job starts with SIGINT ignored, and the test itself may run under nohup.
for sig in INT TERM HUP; do
    caught=
    for try in $(seq 20); do
        rm -f "$T"/sig.lxm*
        env --default-signal lx-convert "$M/tiny-vqa" -o "$T/sig.lxm" 2> /dev/null & pid=$!
        while kill -0 $pid 2> /dev/null; do
            set -- "$T"/sig.lxm.tmp*
            [ -e "$1" ] && { kill -STOP $pid; break; }
        done
        set -- "$T"/sig.lxm.tmp*
        if [ -e "$1" ] && [ ! -e "$T/sig.lxm" ]; then
            kill -$sig $pid
            kill -CONT $pid
            { wait $pid; } 2> /dev/null
            st=$?
            [ $st -eq $((128 + $(kill -l $sig))) ] || fail "SIG$sig: exit $st"
            set -- "$T"/sig.lxm*
            [ ! -e "$1" ] || fail "SIG$sig left $*"
            caught=1
            break
        fi
        kill -CONT $pid 2> /dev/null
        wait $pid
    done
    [ -n "$caught" ] || fail "SIG$sig: no conversion caught while writing in 20 tries"
done

# A summary being written (--eval-out's temporary lives for the whole run): the signal
# removes it and leaves the summary of an earlier run as it was.
pooled() { # pooled SEED: a record carrying pooled_output (hidden 48)
    awk -v s="$1" 'BEGIN { printf "{\"id\":%d,\"pooled_output\":[", s
        for (i = 0; i < 48; i++) printf "%s%.4f", (i ? "," : ""), sin(s * 7 + i * 0.37)
        printf "],\"answers\":[\"yes\"]}\n" }'
}
echo '{"old":"summary"}' > "$T/sum.json"
for sig in INT TERM HUP; do
    rm -f "$T/in.fifo"
    mkfifo "$T/in.fifo"
    env --default-signal lx-vqa -m "$T/tiny.lxm" --eval-out "$T/sum.json" \
        < "$T/in.fifo" > /dev/null 2> "$T/err" & pid=$!
    exec 3> "$T/in.fifo"
    pooled 1 >&3
    for i in $(seq 200); do set -- "$T"/sum.json.tmp*; [ -e "$1" ] && break; sleep 0.05; done
    [ -e "$1" ] || fail "no --eval-out temporary while lx-vqa runs"
    kill -$sig $pid
    { wait $pid; } 2> /dev/null
    st=$?
    exec 3>&-
    [ $st -eq $((128 + $(kill -l $sig))) ] || fail "lx-vqa SIG$sig: exit $st"
    set -- "$T"/sum.json.tmp*
    [ ! -e "$1" ] || fail "SIG$sig left $*"
    [ "$(cat "$T/sum.json")" = '{"old":"summary"}' ] || fail "SIG$sig changed the summary"
done
# ... and a run that ends well replaces it
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

# A stale temporary of a killed conversion (no process holds it, a minute old) goes with
# the next conversion to the same file; a recent one stays (its writer may be alive).
: > "$T/stale.lxm.tmpAbC123"
: > "$T/stale.lxm.tmpNew999"
touch -d '5 minutes ago' "$T/stale.lxm.tmpAbC123"
lx-convert "$M/tiny-vqa" -o "$T/stale.lxm" || fail "lx-convert over stale temporaries"
[ ! -e "$T/stale.lxm.tmpAbC123" ] || fail "a stale temporary was left"
[ -e "$T/stale.lxm.tmpNew999" ] || fail "a recent temporary was removed"

# ---- a feature index never replaces its TSV --------------------------------------------
cp "$FX/features.tsv" "$T/f.tsv"
head -n 1 "$FX/questions.jsonl" > "$T/q.jsonl"
refused "cannot write $T/f.tsv: it is a file this run is reading \($T/f.tsv\)" \
    lx-embed-vis --features "$T/f.tsv" --index "$T/f.tsv" "$T/q.jsonl"
cp "$T/f.tsv" "$T/g.tsv"
refused "cannot write $T/g.tsv: it is a file this run is reading \($T/g.tsv\)" \
    lx-embed-vis --features "$T/f.tsv" --index "$T/g.tsv" --features "$T/g.tsv" "$T/q.jsonl"
refused "cannot write $T/q.jsonl: it is a file this run is reading \($T/q.jsonl\)" \
    lx-embed-vis --features "$T/f.tsv" --index "$T/q.jsonl" "$T/q.jsonl"
cmp -s "$T/f.tsv" "$FX/features.tsv" || fail "the TSV changed"
cmp -s "$T/g.tsv" "$FX/features.tsv" || fail "the second TSV changed"
cmp -s "$T/q.jsonl" <(head -n 1 "$FX/questions.jsonl") || fail "the input changed"

# ---- a model rewritten under a running job ---------------------------------------------
# The records are sent in two parts: the first (more than the reader's buffer) is
# answered and flushed, then, while lx-vqa waits for more input, the model is changed,
# then the rest is sent.
for i in $(seq 1500); do pooled $i; done > "$T/part1.jsonl"
for i in $(seq 1501 1510); do pooled $i; done > "$T/part2.jsonl"
cat "$T/part1.jsonl" "$T/part2.jsonl" | lx-vqa -m "$T/tiny.lxm" --batch 4 > "$T/ref.jsonl" ||
    fail "lx-vqa reference run"
# change MODEL: what is done to the model file between the parts
under_change() { # under_change NAME CHANGE...: run lx-vqa on $T/use.lxm, CHANGE it midway
    local name=$1; shift
    cp "$T/tiny.lxm" "$T/use.lxm"
    rm -f "$T/go"
    { cat "$T/part1.jsonl"
      for i in $(seq 400); do [ -e "$T/go" ] && break; sleep 0.05; done
      cat "$T/part2.jsonl"; } |
        timeout 60 lx-vqa -m "$T/use.lxm" --batch 4 > "$T/got.jsonl" 2> "$T/err" & pid=$!
    for i in $(seq 400); do [ -s "$T/got.jsonl" ] && break; sleep 0.05; done
    [ -s "$T/got.jsonl" ] || fail "$name: no answers before the change"
    # until it waits for the second part: nothing more written for half a second
    local n=0 m
    for i in $(seq 100); do
        sleep 0.5
        m=$(wc -l < "$T/got.jsonl")
        [ "$m" -eq "$n" ] && break
        n=$m
    done
    "$@"
    touch "$T/go"
    wait $pid
    st=$?
}
# every record written is whole and the reference's
prefix_of_ref() {
    local n
    n=$(wc -l < "$T/got.jsonl")
    [ "$n" -ge 1 ] || fail "$1: the records done before were lost"
    [ "$(tail -c 1 "$T/got.jsonl" | od -An -c | tr -d ' ')" = '\n' ] || fail "$1: a record cut short"
    head -n "$n" "$T/ref.jsonl" | cmp -s - "$T/got.jsonl" || fail "$1: records differ"
}
# truncated (cp of a new model begins so): SIGBUS becomes one line and exit 1
under_change truncated truncate -s 0 "$T/use.lxm"
[ $st -eq 1 ] || fail "truncated model: exit $st ($(cat "$T/err"))"
[ "$(cat "$T/err")" = "lx-vqa: $T/use.lxm changed or truncated while in use; replace a model by renaming a new file over it (lx-convert -o does)" ] ||
    fail "truncated model: $(cat "$T/err")"
prefix_of_ref truncated
# rewritten in place with other weights of the same size: seen before a record is written
lx-convert "$T/tiny.lxm" --dtype f32 -o "$T/same.lxm" || fail "copy"
printf 'x' | dd of="$T/same.lxm" bs=1 seek=$(( $(stat -c %s "$T/same.lxm") - 1 )) conv=notrunc 2> /dev/null
under_change rewritten sh -c 'cat "$1" > "$2"' - "$T/same.lxm" "$T/use.lxm"
[ $st -eq 1 ] || fail "rewritten model: exit $st ($(cat "$T/err"))"
grep -q "^lx-vqa: $T/use.lxm changed or truncated while in use; replace a model by renaming a new file over it (lx-convert -o does)$" "$T/err" ||
    fail "rewritten model: $(cat "$T/err")"
[ "$(wc -l < "$T/err")" -eq 1 ] || fail "one line expected: $(cat "$T/err")"
prefix_of_ref rewritten
# replaced by rename, as lx-convert -o does: the job goes on with the model it opened
under_change renamed lx-convert "$M/tiny-vqa" -o "$T/use.lxm"
[ $st -eq 0 ] || fail "model replaced by rename: exit $st ($(cat "$T/err"))"
cmp -s "$T/got.jsonl" "$T/ref.jsonl" || fail "model replaced by rename: answers differ"
exit 0
