# What lx(7)'s BAD INPUT AND FAULTS says of every tool, where no other test holds it:
# a failed write, a closed downstream, a frame that cannot be read (--skip-bad or not),
# SIGTERM between records; per tool, the vocabulary's checks, the TSV lines read only
# when asked for, the regions and duplicate ids that stop a run before its first record,
# a damaged index, --labels refused before any record, human answers of the wrong form,
# a failed conversion that leaves the older model, and lx-show's page (the input and the
# models refused as -o, an image it cannot decode, a page cut short by a kill).  Every
# run is under timeout.
. "$(dirname "$0")/lib.bash"
to() { timeout 60 "$@"; }

M=$FX/models
IMG=$FX/frcnn/images
to lx-convert "$M/tiny-vqa" --labels "$FX/labels/vqa-label2ans.json" -o "$T/v.lxm" 2> /dev/null ||
    fail "converting the fixture"
to lx-convert "$FX/frcnn/models/frcnn-tiny" -o "$T/det.lxm" 2> /dev/null || fail "the detector"
cp "$FX/features.tsv" "$T/f.tsv"
for i in 1 2; do cat "$FX/questions.jsonl"; done > "$T/q.jsonl"
for i in 1 2; do cat "$FX/cases.jsonl"; done > "$T/c.jsonl"
for i in $(seq 20); do echo '{"img_id":"img0","sent":"What is it?","answer":"a cat"}'; done > "$T/s.jsonl"
printf '{"image":"%s"}\n' "$IMG/img0.png" "$IMG/img1.png" > "$T/d.jsonl"
unset LX_MODEL

TOOLS="tokenize embed-vis encode vqa convert detect show"
# run NAME [OPTION]...: that tool over the records in $T/in (EXEC=exec: in place of the
# shell, so that a signal to the background job's pid reaches timeout, which passes it on)
EXEC=
run() {
    local t=$1; shift
    case $t in
    tokenize) $EXEC timeout 60 lx-tokenize -m "$T/v.lxm" "$@" "$T/in" ;;
    embed-vis) $EXEC timeout 60 lx-embed-vis --features "$T/f.tsv" "$@" "$T/in" ;;
    encode) $EXEC timeout 60 lx-encode -m "$T/v.lxm" "$@" "$T/in" ;;
    vqa) $EXEC timeout 60 lx-vqa -m "$T/v.lxm" "$@" "$T/in" ;;
    convert) $EXEC timeout 60 lx-convert -f json "$@" < "$T/in" ;;
    detect) $EXEC timeout 60 lx-detect -m "$T/det.lxm" "$@" < "$T/in" ;;
    show) $EXEC timeout 60 lx-show --image-dir "$IMG" "$@" "$T/in" ;;
    esac
}
input_of() { # the records each tool reads (JSON lines)
    case $1 in
    tokenize | embed-vis) echo "$T/q.jsonl" ;;
    encode | vqa | convert) echo "$T/c.jsonl" ;;
    detect) echo "$T/d.jsonl" ;;
    show) echo "$T/s.jsonl" ;;
    esac
}
# records NAME: how many records (or lx-show's cards) $T/out holds
records() {
    if [ "$1" = show ]; then grep -c '^<article class="card' "$T/out"
    else to lx-convert -f json < "$T/out" | wc -l; fi
}

# ---- every tool: a failed write is one line with "write error", exit 1 -------------------
for t in $TOOLS; do
    cp "$(input_of $t)" "$T/in"
    run $t > /dev/full 2> "$T/err" < /dev/null
    st=$?
    [ $st -eq 1 ] || fail "$t > /dev/full: exit $st"
    [ "$(wc -l < "$T/err")" -eq 1 ] && grep -q "^lx-$t: .*write error: No space left on device$" "$T/err" ||
        fail "$t > /dev/full: $(cat "$T/err")"
done

# a bad record after good ones whose output cannot be written: both are said (the flush
# before the record's message is where the write fails), with and without --skip-bad
for skip in "" --skip-bad; do
    printf '{"text":"a b"}\n{"text":5}\n' > "$T/in"
    to lx-tokenize -m "$T/v.lxm" $skip "$T/in" > /dev/full 2> "$T/err"
    st=$?
    [ $st -eq 1 ] || fail "lx-tokenize $skip: a bad record with stdout full: exit $st"
    grep -q '^lx-tokenize: .*record 2: ' "$T/err" || fail "$skip: the bad record is not named"
    grep -q '^lx-tokenize: write error: No space left on device$' "$T/err" ||
        fail "lx-tokenize $skip: the write error is not said: $(cat "$T/err")"
done

# ---- every tool: a closed downstream ends it quietly (SIGPIPE) ----------------------------
# (each writes more than a pipe holds, so that it is still writing when head exits)
for i in $(seq 200); do cat "$FX/questions.jsonl"; done > "$T/qbig.jsonl"
for i in $(seq 8); do ln -s "$IMG/img0.png" "$T/p$i.png"; echo "{\"image\":\"$T/p$i.png\"}"; done > "$T/d8.jsonl"
for t in $TOOLS; do
    cp "$(input_of $t)" "$T/in"
    opt=
    case $t in
    tokenize) cp "$T/qbig.jsonl" "$T/in" ;;
    vqa) opt=--keep-tensors ;;
    detect) cp "$T/d8.jsonl" "$T/in" ;;
    esac
    # shellcheck disable=SC2086
    run $t $opt 2> "$T/err" < /dev/null | head -c 1 > /dev/null
    st=${PIPESTATUS[0]}
    [ $st -eq 141 ] || fail "$t | head -c 1: exit $st"
    [ ! -s "$T/err" ] || fail "$t | head -c 1: $(cat "$T/err")"
done

# ---- every tool reading records: a frame cut short stops the run, --skip-bad or not, -----
# after the records before it
for t in $TOOLS; do
    to lx-convert -f bin < "$(input_of $t)" > "$T/whole.bin" || fail "$t: records to frames"
    n=$(wc -l < "$(input_of $t)")
    head -c $(( $(stat -c %s "$T/whole.bin") - 10 )) "$T/whole.bin" > "$T/in"
    for skip in "" --skip-bad; do
        # shellcheck disable=SC2086
        expect_status 1 run $t $skip
        expect_err "^lx-$t: ([^:]*/in|<stdin>):record $n: truncated frame"
        want=$((n - 1))
        [ "$(records $t)" -eq $want ] || fail "$t $skip: $(records $t) records before the cut frame, expected $want"
    done
done

# a frame that is not one (a garbage header) stops it too
to lx-convert -f bin < "$FX/questions.jsonl" > "$T/q7.bin" || fail "questions to frames"
{ cat "$T/q7.bin"; printf 'LXRF\007\000\000\000garbagegarbagegarbagegarbage'; cat "$T/q7.bin"; } > "$T/in"
expect_status 1 run tokenize --skip-bad
expect_err "^lx-tokenize: $T/in:record 8: frame version 7"
[ "$(wc -l < "$T/out")" -eq 7 ] || fail "the records before a garbage frame are written"

# ---- every tool: SIGTERM between records ends it with 143 ---------------------------------
for t in $TOOLS; do
    rm -f "$T/in"
    mkfifo "$T/in"
    (EXEC=exec run $t) > "$T/out" 2> "$T/err" & pid=$!
    exec 3> "$T/in"
    head -n 1 "$(input_of $t)" >&3
    sleep 1
    kill -TERM $pid
    { wait $pid; } 2> /dev/null
    st=$?
    exec 3>&-
    [ $st -eq 143 ] || fail "$t: SIGTERM between records: exit $st ($(cat "$T/err"))"
done
rm -f "$T/in"

# ---- lx-tokenize: the vocabulary must not be empty, hold NUL or lack [UNK] ---------------
: > "$T/empty.txt"
printf '[PAD]\n[UNK]\na\0b\n' > "$T/nul.txt"
printf '[PAD]\n[CLS]\n[SEP]\na\n' > "$T/nounk.txt"
for v in "empty.txt:empty, expected one entry per line" "nul.txt:line 3: holds a NUL byte" \
         "nounk.txt:the vocabulary \(4 tokens\) has no \[UNK\] token"; do
    expect_status 1 to lx-tokenize --vocab "$T/${v%%:*}" "$FX/questions.jsonl"
    expect_err "^lx-tokenize: $T/${v%%:*}: ${v#*:}$"
    [ ! -s "$T/out" ] || fail "${v%%:*}: records written"
done

# ---- lx-embed-vis -------------------------------------------------------------------------
# a bad TSV line no record asks for is not read; one asked for is that record's error
echo '{"img_id": "COCO_val2014_000000000000"}' > "$T/q0.jsonl"
printf '{"img_id": "COCO_val2014_00000000000%d"}\n' 0 1 2 > "$T/q012.jsonl"
for kind in box nan numboxes base64 fields; do
    mktsv -n 3 -b 4 -d 8 --bad "$kind:1" > "$T/bad.tsv" || fail "mktsv"
    expect_status 0 to lx-embed-vis --features "$T/bad.tsv" -f json "$T/q0.jsonl"
    expect_status 0 to lx-embed-vis --features "$T/bad.tsv" -f json --skip-bad "$T/q012.jsonl"
    [ "$(wc -l < "$T/out")" -eq 2 ] || fail "$kind: --skip-bad writes the two good records"
    expect_err "^lx-embed-vis: $T/q012.jsonl:record 2: $T/bad.tsv: image COCO_val2014_000000000001: "
    expect_err "^lx-embed-vis: 1 record skipped$"
done
# a bad regions record, an id twice in regions or in a TSV: the run stops before the
# first record, --skip-bad or not
reg() { printf '{"img_id":"%s","img_h":10,"img_w":10,"boxes":[[0,0,5,5],[1,1,%s,2]],"features":[[1.0,2.0],[3.0,4.0]]}\n' "$1" "$2"; }
printf '{"img_id":"%s"}\n' a b c > "$T/abc.jsonl"
{ reg a 2; reg b 20; reg c 2; } > "$T/badreg.jsonl"
{ reg a 2; reg b 2; reg a 3; } > "$T/dupreg.jsonl"
cat "$FX/features.tsv" <(head -n 1 "$FX/features.tsv") > "$T/dup.tsv"
for skip in "" --skip-bad; do
    # shellcheck disable=SC2086
    expect_status 1 to lx-embed-vis --regions "$T/badreg.jsonl" -f json $skip "$T/abc.jsonl"
    expect_err "^lx-embed-vis: $T/badreg.jsonl:record 2: image b: boxes: region 1: .* is outside"
    [ ! -s "$T/out" ] || fail "a bad regions record: records written ($skip)"
    # shellcheck disable=SC2086
    { reg a 2; reg b 20; reg c 2; } | expect_status 1 to lx-embed-vis --regions - -f json $skip "$T/abc.jsonl"
    expect_err "^lx-embed-vis: <stdin>:record 2: image b: boxes"
    [ ! -s "$T/out" ] || fail "a bad regions record from a pipe: records written ($skip)"
    # shellcheck disable=SC2086
    expect_status 1 to lx-embed-vis --regions "$T/dupreg.jsonl" -f json $skip "$T/abc.jsonl"
    expect_err "^lx-embed-vis: $T/dupreg.jsonl:record 3: image a was given twice"
    [ ! -s "$T/out" ] || fail "an id twice in regions: records written ($skip)"
    # shellcheck disable=SC2086
    expect_status 1 to lx-embed-vis --features "$T/dup.tsv" -f json $skip "$T/q012.jsonl"
    expect_err "^lx-embed-vis: $T/dup.tsv: image id COCO_val2014_000000000000 appears twice"
    [ ! -s "$T/out" ] || fail "an id twice in a TSV: records written ($skip)"
done
# a damaged index is rebuilt, and gives the same records
expect_status 0 to lx-embed-vis --features "$T/f.tsv" -f json "$T/q012.jsonl"
mv "$T/out" "$T/ref.jsonl"
[ -s "$T/f.tsv.lxi" ] || fail "no index beside the TSV"
size=$(stat -c %s "$T/f.tsv.lxi")
head -c 40 "$T/f.tsv.lxi" > "$T/x.lxi"
head -c $((size - 40)) /dev/zero | tr '\0' 'x' >> "$T/x.lxi"
cp "$T/x.lxi" "$T/f.tsv.lxi"
expect_status 0 to lx-embed-vis --progress --features "$T/f.tsv" -f json "$T/q012.jsonl"
expect_err "f.tsv: 6 images, index built"
cmp -s "$T/out" "$T/ref.jsonl" || fail "a damaged index: other records"
cmp -s "$T/f.tsv.lxi" "$T/x.lxi" && fail "the damaged index was not rewritten"

# ---- lx-encode, lx-vqa: the inputs' lengths and values; a head the model lacks ------------
python3 - "$FX/cases.jsonl" "$T" <<'PY' || fail "making bad inputs"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
def bad(name, edit):
    r = json.loads(json.dumps(recs[1]))
    edit(r)
    with open(f"{sys.argv[2]}/{name}.jsonl", "w") as f:
        for x in (recs[0], r, recs[2]):
            f.write(json.dumps(x) + "\n")
bad("ttlen", lambda r: r["token_type_ids"].pop())
bad("masklen", lambda r: r["attention_mask"].pop())
bad("tt7", lambda r: r["token_type_ids"].__setitem__(1, 7))
bad("vmask", lambda r: r.__setitem__("visual_attention_mask", [2] * len(r["visual_feats"])))
PY
for tool in lx-encode lx-vqa; do
    for c in 'ttlen|token_type_ids: got \[9\], expected \[10\] like input_ids' \
             'masklen|attention_mask: got \[9\], expected \[10\] like input_ids' \
             'tt7|token_type_ids\[1\]: got 7, expected an integer in 0\.\.1' \
             'vmask|visual_attention_mask\[0\]: got 2, expected 0 or 1'; do
        expect_status 1 to $tool -m "$T/v.lxm" -f json "$T/${c%%|*}.jsonl"
        expect_err "^$tool: $T/${c%%|*}.jsonl:record 2: ${c#*|}"
        [ "$(wc -l < "$T/out")" -eq 1 ] || fail "$tool ${c%%|*}: the record before is written"
        expect_status 0 to $tool -m "$T/v.lxm" -f json --skip-bad "$T/${c%%|*}.jsonl"
        [ "$(wc -l < "$T/out")" -eq 2 ] || fail "$tool ${c%%|*}: --skip-bad"
    done
done
expect_status 1 to lx-encode -m "$T/v.lxm" --heads all "$FX/cases.jsonl"
expect_err "^lx-encode: $T/v.lxm: the model has no [a-z_]+ head"
[ ! -s "$T/out" ] || fail "a head the model lacks: records written"

# ---- lx-vqa: --labels that do not fit, before any record; the truth's form ---------------
expect_status 1 to lx-vqa -m "$T/v.lxm" --labels "$FX/models/tiny-vqa/vocab.txt" "$FX/cases.jsonl"
[ ! -s "$T/out" ] || fail "--labels that do not fit: records written"
pooled() { # pooled ID [EXTRA]: a record carrying pooled_output (hidden 48)
    awk -v s="$1" -v x="${2:-}" 'BEGIN { printf "{\"id\":%d,\"pooled_output\":[", s
        for (i = 0; i < 48; i++) printf "%s%.4f", (i ? "," : ""), sin(s * 7 + i * 0.37)
        printf "]%s}\n", x }'
}
for a in '[5,6]|numbers' '"yes"|a string' '{"yes":1}|an object' '[[1,2]]|numbers'; do
    { pooled 1; pooled 2 ",\"answers\":${a%%|*}"; pooled 3; } > "$T/h.jsonl"
    expect_status 1 to lx-vqa -m "$T/v.lxm" "$T/h.jsonl"
    expect_err "^lx-vqa: $T/h.jsonl:record 2: answers: got ${a#*|}, expected the human answers"
    [ "$(wc -l < "$T/out")" -eq 1 ] || fail "answers ${a%%|*}: the record before is written"
    expect_status 0 to lx-vqa -m "$T/v.lxm" --skip-bad "$T/h.jsonl"
    [ "$(wc -l < "$T/out")" -eq 2 ] || fail "answers ${a%%|*}: --skip-bad"
done
{ pooled 1; pooled 2 ',"label":{"yes":"x"}'; } > "$T/h.jsonl"
expect_status 1 to lx-vqa -m "$T/v.lxm" "$T/h.jsonl"
expect_err "^lx-vqa: $T/h.jsonl:record 2: label\[\"yes\"\]: got a non-number, expected a score"
# an empty list, strings, objects with "answer": truth (or none), not an error
for a in '[]' '["yes","no"]' '[{"answer":"yes"}]'; do
    { pooled 1 ",\"answers\":$a"; } | expect_status 0 to lx-vqa -m "$T/v.lxm"
done

# ---- lx-convert: a conversion that fails leaves the older model, and no temporary ------
mkdir "$T/cut" "$T/badcfg"
cp "$M/tiny-vqa/config.json" "$M/tiny-vqa/vocab.txt" "$M/tiny-vqa/model.safetensors" "$T/cut/"
truncate -s $(( $(stat -c %s "$T/cut/model.safetensors") / 2 )) "$T/cut/model.safetensors"
cp "$M/tiny-vqa/vocab.txt" "$M/tiny-vqa/model.safetensors" "$T/badcfg/"
echo '{"hidden_size": 47}' > "$T/badcfg/config.json"
echo "the model before" > "$T/old.lxm"
expect_status 1 to lx-convert "$T/cut" -o "$T/old.lxm"
expect_err "^lx-convert: $T/cut/model.safetensors: tensor '.*': data_offsets .* out of range"
mkdir "$T/zip"
cp "$M/tiny-vqa-torchzip/"* "$T/zip/"
printf 'XXXXXXXX' | dd of="$T/zip/pytorch_model.bin" bs=1 seek=2000 conv=notrunc 2> /dev/null
expect_status 1 to lx-convert "$T/zip" -o "$T/old.lxm"
expect_err "^lx-convert: $T/zip/pytorch_model.bin: zip entry [^ ]*: CRC-32 is [0-9a-f]+, the directory says [0-9a-f]+$"
expect_status 1 to lx-convert "$T/badcfg" -o "$T/old.lxm"
expect_err "^lx-convert: $T/badcfg/config.json: config: hidden_size 47"
[ "$(cat "$T/old.lxm")" = "the model before" ] || fail "a failed conversion changed the model"
set -- "$T"/old.lxm.tmp*
[ ! -e "$1" ] || fail "a failed conversion left $*"

# ---- lx-show ------------------------------------------------------------------------------
# -o the input or a model the run reads: refused, the file intact
cp "$T/s.jsonl" "$T/page-in.jsonl"
cp "$T/v.lxm" "$T/m.lxm"
expect_status 1 to lx-show -o "$T/page-in.jsonl" "$T/page-in.jsonl"
expect_err "^lx-show: cannot write $T/page-in.jsonl: it is the input, which this run reads"
expect_status 1 to lx-show -o "$T/page-in.jsonl" < "$T/page-in.jsonl"
expect_err "^lx-show: cannot write $T/page-in.jsonl: it is the input"
cmp -s "$T/page-in.jsonl" "$T/s.jsonl" || fail "lx-show -o emptied its input"
expect_status 1 to lx-show -m "$T/m.lxm" -o "$T/m.lxm" "$T/s.jsonl"
expect_err "^lx-show: cannot write $T/m.lxm: it is a model, which this run reads"
expect_status 1 to lx-show --detector "$T/det.lxm" -o "$T/det.lxm" "$T/s.jsonl"
expect_err "^lx-show: cannot write $T/det.lxm: it is a model"
cmp -s "$T/m.lxm" "$T/v.lxm" || fail "lx-show -o emptied the model"
# an image that cannot be decoded: a warning, the card drawn without it
head -c 1000 "$IMG/img2.jpg" > "$T/cut.jpg"
printf '{"image":"%s","answer":"x"}\n' "$T/cut.jpg" "$IMG/img0.png" > "$T/ci.jsonl"
expect_status 0 to lx-show -o "$T/ci.html" "$T/ci.jsonl"
expect_err "^lx-show: warning: record 1: $T/cut.jpg: truncated JPEG .*; drawn without it$"
[ "$(grep -c '^<article class="card' "$T/ci.html")" -eq 2 ] || fail "both cards are drawn"
# the page is written in place: a kill leaves it cut short (no temporary beside it)
mkfifo "$T/sf"
echo "an older page" > "$T/killed.html"
(exec timeout 60 lx-show -o "$T/killed.html" "$T/sf") 2> /dev/null & pid=$!
exec 3> "$T/sf"
head -n 1 "$T/s.jsonl" >&3
for i in $(seq 100); do [ "$(cat "$T/killed.html")" != "an older page" ] && break; sleep 0.05; done
kill -TERM $pid
{ wait $pid; } 2> /dev/null
st=$?
exec 3>&-
[ $st -eq 143 ] || fail "lx-show killed: exit $st"
[ "$(cat "$T/killed.html")" != "an older page" ] || fail "-o FILE is emptied when the run starts"
! grep -q '</html>' "$T/killed.html" || fail "a killed run finished its page"
set -- "$T"/killed.html.tmp*
[ ! -e "$1" ] || fail "lx-show left $*"
exit 0
