# --resume FILE and --skip N: a run killed with SIGKILL halfway, then resumed, gives
# FILE byte for byte as an uninterrupted run writes it (lx-vqa and lx-encode, JSON lines
# and binary frames in and out, with bad records dropped by --skip-bad, with a torn
# record at the end, after an input that ended early, after a failed write; lx-tokenize,
# lx-embed-vis --skip-missing and lx-detect too); what is refused (a FILE without its
# progress, another input, another encoding, a FIFO, the input itself); --skip over
# every encoding.  Every run is under timeout.
. "$(dirname "$0")/lib.bash"

lx-convert "$FX/models/tiny-vqa" --labels "$FX/labels/vqa-label2ans.json" -o "$T/tiny.lxm" \
    2> /dev/null || fail "lx-convert tiny-vqa"
export LX_MODEL=$T/tiny.lxm
F=$T/features.tsv; cp "$FX/features.tsv" "$F"
to() { timeout 60 "$@"; }

# 28 questions (the fixture's 7 four times, distinct ids) and their model inputs, as
# JSON lines and as frames
for i in 1 2 3 4; do
    sed "s/\"question_id\": 10/\"question_id\": ${i}10/" "$FX/questions.jsonl"
done > "$T/q.jsonl"
to lx-tokenize --max-length 20 < "$T/q.jsonl" > "$T/qt.jsonl" || fail "setup: tokenize"
to lx-embed-vis --features "$F" < "$T/qt.jsonl" > "$T/in.bin" || fail "setup: embed-vis"
to lx-convert -f json < "$T/in.bin" > "$T/in.jsonl" || fail "setup: frames to JSON"
N=$(wc -l < "$T/in.jsonl")
[ "$N" -eq 28 ] || fail "setup: expected 28 input records, got $N"
# the first k records as frames
frames() { head -n "$1" "$T/in.jsonl" | lx-convert -f bin; }

# killed_run IN K WANT OUT CMD...: run CMD --resume OUT on the first K records of IN (a
# JSON lines file; frames when OUT ends in .bin and IN is in.bin), which then stalls;
# once OUT.progress has a checkpoint of WANT or more input records, SIGKILL it
killed_run() {
    local in=$1 k=$2 want=$3 out=$4; shift 4
    rm -f "$T/fifo"; mkfifo "$T/fifo"
    if [ "$in" = "$T/in.bin" ]; then
        (frames "$k"; exec sleep 60) > "$T/fifo" &
    else
        (head -n "$k" "$in"; exec sleep 60) > "$T/fifo" &
    fi
    local feeder=$!
    "$@" --resume "$out" < "$T/fifo" 2> "$T/killed.err" &   # killed below, whatever happens
    local pid=$! i got=0
    for i in $(seq 240); do
        got=$(awk '$1 == "in" { n = $2 } END { print n + 0 }' "$out.progress" 2> /dev/null)
        [ "${got:-0}" -ge "$want" ] && break
        sleep 0.25
    done
    kill -9 "$pid" 2> /dev/null; wait "$pid" 2> /dev/null
    kill "$feeder" 2> /dev/null; wait "$feeder" 2> /dev/null
    [ "${got:-0}" -ge "$want" ] || { cat "$T/killed.err" >&2; fail "$*: no checkpoint of $want records before the kill"; }
    # killed halfway: FILE holds some of the records, not all
    local have
    have=$(awk '$1 == "in" { n = $5 } END { print n + 0 }' "$out.progress")
    [ "$have" -gt 0 ] && [ "$have" -lt "$N" ] || fail "$*: expected a partial FILE, it holds $have records"
}
# resumed FULL OUT CMD...: resume CMD --resume OUT over the whole input (file FULL, on
# standard input); OUT must then be byte for byte the uninterrupted output
resumed() {
    local full=$1 out=$2 ref=$3; shift 3
    to "$@" --resume "$out" < "$full" > "$T/stdout" 2> "$T/resume.err" ||
        { cat "$T/resume.err" >&2; fail "$* --resume: the resumed run failed"; }
    [ ! -s "$T/stdout" ] || fail "$* --resume wrote to standard output"
    grep -q "going on after input record" "$T/resume.err" || { cat "$T/resume.err" >&2; fail "$*: no note of where it goes on"; }
    cmp -s "$ref" "$out" || fail "$* --resume: the resumed FILE differs from an uninterrupted run"
}

# ---- lx-vqa: JSON lines in and out, killed in the middle of a batch ----------------------
to lx-vqa --batch 4 < "$T/in.jsonl" > "$T/vqa.ref" || fail "lx-vqa uninterrupted"
[ "$(wc -l < "$T/vqa.ref")" -eq "$N" ] || fail "lx-vqa: $N answers expected"
killed_run "$T/in.jsonl" 18 8 "$T/a.jsonl" lx-vqa --batch 4
resumed "$T/in.jsonl" "$T/a.jsonl" "$T/vqa.ref" lx-vqa --batch 4
# the finished FILE, run again: the same bytes, exit 0
resumed "$T/in.jsonl" "$T/a.jsonl" "$T/vqa.ref" lx-vqa --batch 4

# a torn record at the end (a write cut by the kill) is dropped and made again
killed_run "$T/in.jsonl" 18 8 "$T/b.jsonl" lx-vqa --batch 4
head -c 100 "$T/vqa.ref" >> "$T/b.jsonl"
resumed "$T/in.jsonl" "$T/b.jsonl" "$T/vqa.ref" lx-vqa --batch 4
grep -Eq "[0-9]+ bytes written after it are redone" "$T/resume.err" || fail "the torn record was not reported as redone"
# ... and a torn last line of the progress file is ignored
killed_run "$T/in.jsonl" 18 8 "$T/c.jsonl" lx-vqa --batch 4
printf 'in 2' >> "$T/c.jsonl.progress"
resumed "$T/in.jsonl" "$T/c.jsonl" "$T/vqa.ref" lx-vqa --batch 4

# frames in, frames out (lx-vqa -f bin), batches of 3
to lx-vqa --batch 3 -f bin < "$T/in.bin" > "$T/vqab.ref" || fail "lx-vqa -f bin uninterrupted"
killed_run "$T/in.bin" 14 6 "$T/a.bin" lx-vqa --batch 3 -f bin
resumed "$T/in.bin" "$T/a.bin" "$T/vqab.ref" lx-vqa --batch 3 -f bin
# FILE's encoding is kept: no -f needed, another is refused
resumed "$T/in.bin" "$T/a.bin" "$T/vqab.ref" lx-vqa --batch 3
expect_status 2 to lx-vqa --batch 3 -f json --resume "$T/a.bin" < "$T/in.bin"
expect_err "a.bin holds binary frames; -f json would mix encodings"

# an input that ended in the middle of a batch (an upstream that died): the resumed run
# makes that batch again, whole
to lx-vqa --batch 4 --resume "$T/d.jsonl" < <(head -n 10 "$T/in.jsonl") 2> /dev/null || fail "lx-vqa on 10 records"
[ "$(wc -l < "$T/d.jsonl")" -eq 10 ] || fail "10 answers expected before resuming"
resumed "$T/in.jsonl" "$T/d.jsonl" "$T/vqa.ref" lx-vqa --batch 4

# ---- lx-encode: frames out, and JSON lines out ----------------------------------------------
to lx-encode --batch 4 < "$T/in.bin" > "$T/enc.ref" || fail "lx-encode uninterrupted"
killed_run "$T/in.bin" 14 8 "$T/e.bin" lx-encode --batch 4
head -c 5000 "$T/enc.ref" >> "$T/e.bin"    # and a torn frame
resumed "$T/in.bin" "$T/e.bin" "$T/enc.ref" lx-encode --batch 4
to lx-encode --batch 4 --only pooled_output -f json < "$T/in.jsonl" > "$T/encj.ref" || fail "lx-encode -f json uninterrupted"
killed_run "$T/in.jsonl" 18 8 "$T/e.jsonl" lx-encode --batch 4 --only pooled_output -f json
resumed "$T/in.jsonl" "$T/e.jsonl" "$T/encj.ref" lx-encode --batch 4 --only pooled_output -f json

# ---- bad records dropped by --skip-bad do not put input and output out of step ------------
awk 'NR == 3 { print "not json" } NR == 6 { print "{\"question_id\": 1}" }
     NR == 11 { print "{\"a\": tru}" } { print }' "$T/in.jsonl" > "$T/bad.jsonl"
to lx-vqa --batch 4 --skip-bad < "$T/bad.jsonl" > "$T/bad.ref" 2> "$T/bad.err" || fail "--skip-bad run"
grep -q "3 records skipped" "$T/bad.err" || fail "--skip-bad: 3 bad records expected"
[ "$(wc -l < "$T/bad.ref")" -eq "$N" ] || fail "--skip-bad: $N answers expected"
killed_run "$T/bad.jsonl" 20 13 "$T/f.jsonl" lx-vqa --batch 4 --skip-bad
resumed "$T/bad.jsonl" "$T/f.jsonl" "$T/bad.ref" lx-vqa --batch 4 --skip-bad
# a run stopped by a bad record: its records stay, the resumed run (with --skip-bad) goes on
expect_status 1 to lx-vqa --batch 4 --resume "$T/g.jsonl" < "$T/bad.jsonl"
expect_err "record 3: expected a JSON object"
[ "$(wc -l < "$T/g.jsonl")" -eq 2 ] || fail "the 2 answers before the bad record are kept"
resumed "$T/bad.jsonl" "$T/g.jsonl" "$T/bad.ref" lx-vqa --batch 4 --skip-bad

# ---- a failed write: FILE is cut back to its last checkpoint, whole records ---------------
( trap '' XFSZ; ulimit -f 8; to lx-vqa --batch 4 --resume "$T/h.jsonl" < "$T/in.jsonl" ) 2> "$T/err"
st=$?; [ "$st" -eq 1 ] || { cat "$T/err" >&2; fail "a write beyond ulimit -f: exit $st, expected 1"; }
grep -q "write error" "$T/err" || { cat "$T/err" >&2; fail "no write error reported"; }
size=$(stat -c %s "$T/h.jsonl")
[ "$size" -gt 0 ] && [ "$size" -eq "$(awk '$1 == "in" { b = $6 } END { print b + 0 }' "$T/h.jsonl.progress")" ] ||
    fail "after a failed write FILE is not cut back to its last checkpoint ($size bytes)"
[ "$(tail -c 1 "$T/h.jsonl" | od -An -c | tr -d ' ')" = '\n' ] || fail "FILE does not end on a whole record"
resumed "$T/in.jsonl" "$T/h.jsonl" "$T/vqa.ref" lx-vqa --batch 4

# ---- the tools that take records one at a time ----------------------------------------------
# lx-tokenize: checkpoints by time.  The reader waits for a 256 KiB window from a pipe, so
# the input comes in two parts larger than that, a second apart
for i in $(seq 1 1000); do sed "s/\"question_id\": 10/\"question_id\": ${i}10/" "$FX/questions.jsonl"; done > "$T/many.jsonl"
[ "$(wc -c < "$T/many.jsonl")" -gt 800000 ] || fail "setup: many.jsonl is too small"
to lx-tokenize --max-length 20 < "$T/many.jsonl" > "$T/tok.ref" || fail "lx-tokenize uninterrupted"
rm -f "$T/fifo"; mkfifo "$T/fifo"
(head -c 300000 "$T/many.jsonl"; sleep 1; head -c 700000 "$T/many.jsonl" | tail -c +300001; exec sleep 60) > "$T/fifo" &
feeder=$!
lx-tokenize --max-length 20 --resume "$T/t.jsonl" < "$T/fifo" 2> /dev/null & pid=$!
for i in $(seq 240); do grep -q '^in ' "$T/t.jsonl.progress" 2> /dev/null && break; sleep 0.25; done
kill -9 "$pid"; wait "$pid" 2> /dev/null; kill "$feeder"; wait "$feeder" 2> /dev/null
grep -q '^in ' "$T/t.jsonl.progress" || fail "lx-tokenize: no checkpoint before the kill"
resumed "$T/many.jsonl" "$T/t.jsonl" "$T/tok.ref" lx-tokenize --max-length 20

# lx-embed-vis --skip-missing drops records: the input is counted, not the output
awk 'NR % 4 == 0 { sub(/COCO_val2014_0000/, "COCO_val2014_9999") } { print }' "$T/qt.jsonl" > "$T/qm.jsonl"
to lx-embed-vis --features "$F" --skip-missing < "$T/qm.jsonl" > "$T/vis.ref" 2> /dev/null || fail "lx-embed-vis --skip-missing"
to lx-embed-vis --features "$F" --skip-missing --resume "$T/v.bin" < <(head -n 13 "$T/qm.jsonl") 2> /dev/null ||
    fail "lx-embed-vis on 13 records"
resumed "$T/qm.jsonl" "$T/v.bin" "$T/vis.ref" lx-embed-vis --features "$F" --skip-missing

# lx-detect, records on standard input: an image detected before the checkpoint is not
# detected (nor written) again
lx-convert "$FX/frcnn/models/frcnn-tiny" -o "$T/det.lxm" 2> /dev/null || fail "lx-convert detector"
printf '{"question_id": %d, "image": "%s"}\n' 1 img0.png 2 img2.jpg 3 img0.png 4 img1.png 5 img2.jpg > "$T/photos.jsonl"
to lx-detect -m "$T/det.lxm" --image-dir "$FX/frcnn/images" < "$T/photos.jsonl" > "$T/det.ref" || fail "lx-detect uninterrupted"
[ "$(lx-convert -f json < "$T/det.ref" | wc -l)" -eq 3 ] || fail "lx-detect: 3 images expected"
to lx-detect -m "$T/det.lxm" --image-dir "$FX/frcnn/images" --resume "$T/d.bin" < <(head -n 2 "$T/photos.jsonl") 2> /dev/null ||
    fail "lx-detect on 2 records"
resumed "$T/photos.jsonl" "$T/d.bin" "$T/det.ref" lx-detect -m "$T/det.lxm" --image-dir "$FX/frcnn/images"

# ---- what --resume refuses ----------------------------------------------------------------
# a FILE written without --resume: refused, with its count and the --skip recipe
head -n 10 "$T/vqa.ref" > "$T/plain.jsonl"
expect_status 1 to lx-vqa --resume "$T/plain.jsonl" < "$T/in.jsonl"
expect_err "plain.jsonl: not written with --resume \(no .*plain.jsonl.progress\).*its 10 whole records.*go on with --skip 10 >> .*plain.jsonl$"
head -c 9000 "$T/vqa.ref" > "$T/torn.jsonl"
whole=$(head -c 9000 "$T/vqa.ref" | grep -c '')
whole=$((whole - 1)); cut=$(head -n "$whole" "$T/vqa.ref" | wc -c)
expect_status 1 to lx-vqa --resume "$T/torn.jsonl" < "$T/in.jsonl"
expect_err "its $whole whole records .*truncate -s $cut .*torn.jsonl\) and go on with --skip $whole"
cmp -s "$T/torn.jsonl" <(head -c 9000 "$T/vqa.ref") || fail "a refused FILE was changed"
# ... and the recipe it gives works (at a batch boundary, the bytes are the same)
head -n 12 "$T/vqa.ref" > "$T/plain.jsonl"
to lx-vqa --batch 4 --skip 12 < "$T/in.jsonl" >> "$T/plain.jsonl" || fail "--skip 12 >> FILE"
cmp -s "$T/plain.jsonl" "$T/vqa.ref" || fail "the --skip recipe differs from an uninterrupted run"
# another input: fewer records, or records of other lengths
expect_status 1 to lx-vqa --batch 4 --resume "$T/a.jsonl" < <(head -n 3 "$T/in.jsonl")
expect_err "has 3 records, but .*a.jsonl.progress says the earlier run read 28 \(is it the same input\?\)"
expect_status 1 to lx-vqa --batch 4 --resume "$T/a.jsonl" < "$T/bad.jsonl"
expect_err "<stdin> does not match .*a.jsonl.progress: its first 28 records end at byte [0-9]+, those the earlier run read at byte [0-9]+"
cmp -s "$T/a.jsonl" "$T/vqa.ref" || fail "a refused resume changed FILE"
# a FILE changed since its progress was written
cp "$T/vqa.ref" "$T/changed.jsonl"; cp "$T/a.jsonl.progress" "$T/changed.jsonl.progress"
sed -i 1d "$T/changed.jsonl"
expect_status 1 to lx-vqa --batch 4 --resume "$T/changed.jsonl" < "$T/in.jsonl"
expect_err "changed.jsonl does not match .*changed.jsonl.progress"
# the progress of another tool
cp "$T/vqa.ref" "$T/other.jsonl"; sed 's/lx-vqa/lx-encode/' "$T/a.jsonl.progress" > "$T/other.jsonl.progress"
expect_status 1 to lx-vqa --resume "$T/other.jsonl" < "$T/in.jsonl"
expect_err "other.jsonl.progress: the progress of lx-encode, not of lx-vqa"
# not a regular file; the input itself; with --skip
mkfifo "$T/ff"
expect_status 1 to lx-vqa --resume "$T/ff" < "$T/in.jsonl"
expect_err "ff: not a regular file"
expect_status 1 to lx-convert --resume "$T/in.jsonl" < "$T/in.jsonl"
expect_err "in.jsonl is the input"
expect_status 2 lx-vqa --skip 3 --resume "$T/x.jsonl" < /dev/null
expect_err "--skip and --resume do not go together"
expect_status 2 lx-embed-vis --dump --features "$F" --skip 1
expect_status 2 lx-detect -m "$T/det.lxm" --skip 1 "$FX/frcnn/images/img0.png"
expect_status 2 lx-detect -m "$T/det.lxm" --tsv --resume "$T/x.tsv" < "$T/photos.jsonl"
expect_status 2 lx-convert "$FX/models/tiny-vqa" -o "$T/x.lxm" --skip 1

# ---- --skip N over every encoding -----------------------------------------------------------
# JSON lines, frames from a file (a seek) and from a pipe, a JSON array, --lines
to lx-convert -f json --skip 25 < "$T/in.jsonl" | cmp -s - <(tail -n 3 "$T/in.jsonl") || fail "--skip 25, JSON lines"
to lx-convert -f json --skip 25 < "$T/in.bin" | cmp -s - <(tail -n 3 "$T/in.jsonl") || fail "--skip 25, frames from a file"
cat "$T/in.bin" | to lx-convert -f json --skip 25 | cmp -s - <(tail -n 3 "$T/in.jsonl") || fail "--skip 25, frames from a pipe"
to lx-convert -f bin --skip 28 < "$T/in.bin" | cmp -s - /dev/null || fail "--skip all records"
{ echo '['; sed '$!s/$/,/' "$FX/questions.jsonl"; echo ']'; } > "$T/q.json"
to lx-convert -f json --skip 5 < "$T/q.json" | cmp -s - <(tail -n 2 "$FX/questions.jsonl" | lx-convert -f json) ||
    fail "--skip 5, a JSON array"
printf 'one\ntwo\n\nfour\n' | to lx-tokenize --vocab "$FX/vocab/bert-base-uncased-vocab.txt" --lines --skip 2 > "$T/lines.out" ||
    fail "--skip with --lines"
[ "$(wc -l < "$T/lines.out")" -eq 2 ] && grep -q '"text":"four"' "$T/lines.out" || fail "--skip 2 --lines"
# the records after it keep their numbers; too few records is an error
expect_status 1 to lx-vqa --skip 2 "$T/bad.jsonl"
expect_err "bad.jsonl:record 3: expected a JSON object"
expect_status 1 to lx-convert --skip 29 < "$T/in.bin"
expect_err "^lx-convert: <stdin>: --skip 29: the input has only 28 records$"
expect_status 2 lx-convert --skip -1 < /dev/null
# a truncated frame among the records skipped is an error naming it
head -c 300000 "$T/in.bin" > "$T/cut.bin"
expect_status 1 to lx-convert --skip 5 < "$T/cut.bin"
expect_err "record [0-9]+: truncated frame"
