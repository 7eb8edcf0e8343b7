# The files lx reads: paths that are FIFOs are refused at once, never waited on.
. "$(dirname "$0")/lib.bash"

M=$FX/models
lx-convert "$M/tiny-vqa" --labels "$FX/labels/vqa-label2ans.json" -o "$T/tiny.lxm" ||
    fail "lx-convert tiny-vqa"

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
