# The files lx reads: shard indexes that name indexes, paths that are FIFOs.
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

exit 0
