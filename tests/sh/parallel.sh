# The scale-out recipe of docs/scale-out.md: a question file spread over several
# processes with GNU parallel (--pipe --keep-order) gives output byte-identical to one
# process.  GNU parallel comes with `make deps` (scripts/install-deps).
. "$(dirname "$0")/lib.bash"

command -v parallel > /dev/null ||
    fail "GNU parallel is not installed (make deps installs it; Debian package 'parallel')"
parallel --version > "$T/version" 2> /dev/null
grep -q 'GNU parallel' "$T/version" || fail "'parallel' is not GNU parallel"

lx-convert "$FX/models/tiny-vqa" --labels "$FX/labels/vqa-label2ans.json" -o "$T/tiny.lxm" \
    || fail "lx-convert tiny-vqa"
export LX_MODEL=$T/tiny.lxm
F=$T/features.tsv; cp "$FX/features.tsv" "$F"   # its index goes beside it, never into the fixtures

# 42 questions: the fixture's 7 six times over, with distinct ids
for i in 1 2 3 4 5 6; do
    sed "s/\"question_id\": 10/\"question_id\": ${i}10/" "$FX/questions.jsonl"
done > "$T/q.jsonl"
[ "$(wc -l < "$T/q.jsonl")" -eq 42 ] || fail "setup: 42 questions"

# Byte-identical output needs identical batches: the encoder packs a batch's records into
# shared matrix products, whose rounding depends on the batch (answers agree within 1e-5
# otherwise).  So chunks are a multiple of --batch records, or --batch is 1.
serial() { lx-tokenize --max-length 20 | lx-embed-vis --features "$F" | lx-vqa --top-k 3 "$@"; }
serial < "$T/q.jsonl" > "$T/serial.jsonl" || fail "serial run failed"
serial --batch 1 < "$T/q.jsonl" > "$T/serial1.jsonl" || fail "serial run (--batch 1) failed"

# The whole pipeline per chunk of 16 lines (lx-vqa's default batch), 3 jobs at a time,
# output in input order
parallel --will-cite --pipe --keep-order -N 16 -j 3 \
    "lx-tokenize --max-length 20 | lx-embed-vis --features '$F' | lx-vqa --top-k 3" \
    < "$T/q.jsonl" > "$T/par.jsonl" || fail "parallel run failed"
cmp "$T/serial.jsonl" "$T/par.jsonl" || fail "parallel output differs from the serial run"

# Chunks by size (--block) with --batch 1, and the encoder in its own stage
parallel --will-cite --pipe --keep-order --block 2k -j 2 \
    "lx-tokenize --max-length 20 | lx-embed-vis --features '$F' | lx-encode --batch 1 | lx-vqa --batch 1 --top-k 3" \
    < "$T/q.jsonl" > "$T/par2.jsonl" || fail "parallel run (--block) failed"
cmp "$T/serial1.jsonl" "$T/par2.jsonl" || fail "parallel --block output differs"

# Chunks that split batches: the same answers, scores within rounding
parallel --will-cite --pipe --keep-order -N 5 -j 3 \
    "lx-tokenize --max-length 20 | lx-embed-vis --features '$F' | lx-vqa --top-k 3" \
    < "$T/q.jsonl" > "$T/par5.jsonl" || fail "parallel run (-N 5) failed"
jsoncmp --tol 1e-4 "$T/par5.jsonl" "$T/serial.jsonl" || fail "parallel -N 5 answers differ"

# Only the expensive stage in parallel: tokenized, joined records in, answers out
# (parallel --pipe cuts at newlines: what it splits must be JSON lines, -f json)
lx-tokenize --max-length 20 < "$T/q.jsonl" | lx-embed-vis --features "$F" -f json > "$T/in.jsonl"
parallel --will-cite --pipe --keep-order -N 16 --block 64M -j 2 lx-vqa --top-k 3 < "$T/in.jsonl" \
    > "$T/par3.jsonl" || fail "parallel lx-vqa failed"
cmp "$T/serial.jsonl" "$T/par3.jsonl" || fail "parallel lx-vqa output differs"

# The --sshlogin form of the recipe, with ':' (this machine) standing in for a host
parallel --will-cite --pipe --keep-order -N 16 --sshlogin 2/: \
    "LX_MODEL='$LX_MODEL' PATH='$PATH' lx-tokenize --max-length 20 | lx-embed-vis --features '$F' | lx-vqa --top-k 3" \
    < "$T/q.jsonl" > "$T/par4.jsonl" || fail "parallel --sshlogin run failed"
cmp "$T/serial.jsonl" "$T/par4.jsonl" || fail "parallel --sshlogin output differs"

# A failing stage fails its job, and the job fails the run: pipefail (bash, chosen with
# PARALLEL_SHELL) makes a pipeline fail when any of its tools does
printf '{"question_id": 1, "img_id": "no-such-image", "sent": "what?"}\n' >> "$T/q.jsonl"
export PARALLEL_SHELL=bash
! parallel --will-cite --pipe --keep-order -N 5 -j 3 --halt soon,fail=1 \
    "set -o pipefail; lx-tokenize --max-length 20 | lx-embed-vis --features '$F' | lx-vqa" \
    < "$T/q.jsonl" > /dev/null 2> "$T/err" || fail "a bad record did not fail the parallel run"
grep -q "no-such-image" "$T/err" || { cat "$T/err" >&2; fail "the bad record is not named"; }
echo ok
