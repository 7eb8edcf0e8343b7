# Out of memory is an error, not a hang: every tool, under `ulimit -v` limits from a few
# MB (too little to load a library) to enough, either works (exit 0) or exits 1 with one
# line that says "out of memory", within a timeout.  OpenBLAS, which used to spin for
# ever retrying its buffers under such a limit (before main, in a thread that the
# network and exit then waited on), is loaded by the networks with one thread and never
# linked into a tool.
. "$(dirname "$0")/lib.bash"

# No tool links OpenBLAS: its load-time threads are where the hang started.
for tool in lx-tokenize lx-embed-vis lx-encode lx-vqa lx-convert lx-detect lx-show; do
    readelf -d "$LX_BIN/$tool" > "$T/dyn" || fail "readelf $tool"
    ! grep -q 'NEEDED.*libopenblas' "$T/dyn" || fail "$tool links OpenBLAS"
done
if [ -n "${LX_SANITIZE:-}" ]; then
    # ASan reserves terabytes of address space, so no `ulimit -v` can apply to these
    # binaries (nor is one tried on the UBSan-only build's runtime); the plain build runs
    # the limits below.
    skip "a sanitizer build: the memory limits are run by the plain build (make check)"
fi

M=$FX/models
lx-convert "$M/tiny-vqa" --labels "$FX/labels/vqa-label2ans.json" -o "$T/v.lxm" 2> /dev/null ||
    fail "converting the fixture"
lx-convert "$T/v.lxm" --dtype f16 -o "$T/v16.lxm" 2> /dev/null || fail "converting to f16"
lx-convert "$FX/frcnn/models/frcnn-tiny" -o "$T/det.lxm" 2> /dev/null || fail "the detector"
cp "$FX/features.tsv" "$T/"
img=$FX/frcnn/images/img0.png
# lx-show's records: a small one, then one of 15 MB (its pass-through field read whole)
{ echo '{"img_id":"img0","sent":"What is it?","answer":"a cat"}'
  awk 'BEGIN { printf "{\"img_id\":\"img1\",\"answer\":\"a dog\",\"extra\":["
               for (i = 0; i < 3000000; i++) printf "%s0.5", i ? "," : ""; print "]}" }'
} > "$T/show.jsonl"

bad=()
# limited MB NAME CMD...: run CMD under `ulimit -v` of MB megabytes
limited() {
    local mb=$1 name=$2; shift 2
    (ulimit -v $((mb * 1024)) && exec timeout 60 "$@") > "$T/out" 2> "$T/err" < /dev/null
    local st=$?
    [ "$st" -eq 0 ] && { ok=$((ok + 1)); return; }
    if [ "$st" -eq 1 ] && [ "$(wc -l < "$T/err")" -eq 1 ] && grep -q 'out of memory' "$T/err"; then
        oom=$((oom + 1)); return
    fi
    bad+=("$name at $mb MB: exit $st: $(head -c 300 "$T/err")")
}
ok=0 oom=0
for mb in 6 10 14 20 30 60 200; do
    limited $mb tokenize lx-tokenize -m "$T/v.lxm" "$FX/questions.jsonl"
    limited $mb embed-vis lx-embed-vis --features "$T/features.tsv" -f json "$FX/questions.jsonl"
    limited $mb encode lx-encode -m "$T/v.lxm" "$FX/cases.jsonl"
    limited $mb vqa lx-vqa -m "$T/v.lxm" "$FX/cases.jsonl"
    limited $mb convert lx-convert "$M/tiny-vqa" -o "$T/c.lxm"
    limited $mb convert-zip lx-convert "$M/tiny-vqa-torchzip" -o "$T/c.lxm"
    limited $mb convert-legacy lx-convert "$M/tiny-pretrain" -o "$T/c.lxm"
    limited $mb convert-stream sh -c 'exec lx-convert -f bin < "$0"' "$FX/cases.jsonl"
    limited $mb detect lx-detect -m "$T/det.lxm" "$img"
    limited $mb show lx-show -m "$T/v.lxm" --detector "$T/det.lxm" \
        --image-dir "$FX/frcnn/images" -o "$T/page.html" "$T/show.jsonl"
done
# Products through OpenBLAS (f16 weights on AVX-512, the portable path): its buffers do
# not fit below a few hundred MB, which is an error said at once (not a hang); each
# failure costs the two seconds the check of the buffers waits.
for mb in 30 100 600; do
    limited $mb encode-f16 lx-encode -m "$T/v16.lxm" --batch 64 "$FX/cases.jsonl"
    LX_CPU=portable limited $mb vqa-portable lx-vqa -m "$T/v.lxm" --threads 1 "$FX/cases.jsonl"
    LX_CPU=portable limited $mb detect-portable lx-detect -m "$T/det.lxm" --threads 1 "$img"
done
[ "${#bad[@]}" -eq 0 ] || { printf '%s\n' "${bad[@]}" >&2; fail "${#bad[@]} runs neither worked nor ran out of memory"; }
# Both outcomes happened: the limits reach from too little to enough.
[ "$ok" -gt 0 ] && [ "$oom" -gt 0 ] || fail "$ok runs worked, $oom ran out of memory"
# The message names what ran out: the OpenBLAS buffers, said at once
(ulimit -v $((200 * 1024)) && exec timeout 60 lx-encode -m "$T/v16.lxm" "$FX/cases.jsonl") \
    > /dev/null 2> "$T/err"
[ $? -eq 1 ] || fail "f16 at 200 MB: $(cat "$T/err")"
expect_err "^lx-encode: .*v16.lxm: out of memory: no room for OpenBLAS's matrix buffers"
exit 0
