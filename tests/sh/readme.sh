# Every command in README.md runs as written.  The commands are read from the README's
# indented code blocks (a fenced block is not a command: the README draws its pipeline
# in one), so the two cannot drift apart.  They run in README order in one shell (an
# `export` carries over to the commands after it), under `set -o pipefail`, in a scratch
# directory that holds a stand-in, made from the fixtures, for every file they name.
# A command that exits non-zero fails the test with its text and its messages; so does
# a line that does not form a complete command.  `make` is not run recursively: each
# make invocation is checked as a dry run, make -n -C "$LX_ROOT" ARGS (the target
# exists and its recipe expands).
. "$(dirname "$0")/lib.bash"
README=$LX_ROOT/README.md
[ -f "$README" ] || fail "no README.md at $README"

# ---- the commands: indented code blocks, lines joined until bash sees a whole command --
# A code block is a run of lines indented by 4 spaces after a blank line (blank lines
# inside it kept); the indent is removed.  Blocks are separated by a line "\x01".
awk '
    /^    / && (prev_blank || inblock) { inblock = 1; print substr($0, 5); prev_blank = 0; next }
    /^[ \t]*$/                         { prev_blank = 1; if (inblock) print ""; next }
                                       { if (inblock) print "\001"; inblock = 0; prev_blank = 0 }
    END                                { if (inblock) print "\001" }
' "$README" > "$T/blocks"
cmds=()
pending=
while IFS= read -r line; do
    if [ "$line" = $'\001' ] || { [ -z "$line" ] && [ -z "$pending" ]; }; then
        [ -z "$pending" ] || fail "README: an incomplete command at the end of a code block: $pending"
        continue
    fi
    pending=${pending:+$pending$'\n'}$line
    # whole when it does not end in a backslash and bash parses it (a trailing | does not)
    if [[ "$pending" != *\\ ]] && bash -n -c "$pending" 2>/dev/null; then
        cmds+=("$pending"); pending=
    fi
done < "$T/blocks"
[ -z "$pending" ] || fail "README: an incomplete command at the end: $pending"
[ "${#cmds[@]}" -ge 10 ] || fail "README: only ${#cmds[@]} commands found in its code blocks"

# ---- stand-ins for every file the commands name ----------------------------------------
W=$T/work; mkdir -p "$W"
# the HF folder unc-nlp/lxmert-vqa-uncased: config.json, vocab.txt, pytorch_model.bin
cp -r "$FX/models/tiny-vqa-torchzip" "$W/lxmert-vqa-uncased"
# the pre-trained HF folder unc-nlp/lxmert-base-uncased (legacy pytorch_model.bin)
cp -r "$FX/models/tiny-pretrain" "$W/lxmert-base-uncased"
cp "$FX/labels/vqa-label2ans.json" "$W/trainval_label2ans.json"
cp "$FX/vocab/bert-base-uncased-vocab.txt" "$W/vocab.txt"
# the original code's BEST.pth; its tiny shape beside it (a real one has LXMERT-base's,
# the default without a config.json)
mkdir -p "$W/snap/vqa"
cp "$FX/models/tiny-original/BEST.pth" "$FX/models/tiny-original/config.json" "$W/snap/vqa/"
# LXMERT's minival.json is a JSON array of question records
{ echo '['; sed '$!s/$/,/' "$FX/questions.jsonl"; echo ']'; } > "$W/minival.json"
# the COCO features: the fixture's images, and the README's image 42 (a copy of image 0)
cp "$FX/features.tsv" "$W/val2014_obj36.tsv"
head -n 1 "$FX/features.tsv" | sed 's/^COCO_val2014_000000000000\t/COCO_val2014_000000000042\t/' \
    >> "$W/val2014_obj36.tsv"
grep -q '^COCO_val2014_000000000042	' "$W/val2014_obj36.tsv" || fail "stand-in TSV without image 42"
# answers of two earlier runs (an answer and LXMERT's label each)
sed 's/}$/, "answer": "court"}/' "$FX/questions.jsonl" > "$W/answers-1.jsonl"
sed 's/}$/, "answer": "bear"}/' "$FX/questions.jsonl" > "$W/answers-2.jsonl"
echo '{"question": "What is on the table?", "caption": "A cat sits on a table."}' > "$W/qc.jsonl"
cp "$FX/cases.jsonl" "$W/inputs.jsonl"                 # model inputs
lx-embed-vis --dump --features "$FX/features.tsv" -f json > "$W/detections.jsonl" \
    || fail "stand-in detections.jsonl"                # regions records from "a detector"
# the detector folder unc-nlp/frcnn-vg-finetuned: a small random one whose features are
# as wide as LXMERT's (so its regions fit vqa.lxm), with its class and attribute names
randmodel --preset detector -o "$W/frcnn-vg-finetuned" > /dev/null || fail "stand-in detector"
mv "$W/frcnn-vg-finetuned/objects_vocab.txt" "$W/frcnn-vg-finetuned/attributes_vocab.txt" "$W/"
# pictures, and questions about them by file name
mkdir -p "$W/photos"
cp "$FX/frcnn/images/img2.jpg" "$W/photos/cat.jpg"
cp "$FX/frcnn/images/img2.jpg" "$W/photos/dog.jpg"
printf '{"question_id": %d, "img_id": "%s", "sent": "%s"}\n' 1 cat "What is the cat lying on?" \
    2 dog "Is the dog asleep?" 3 cat "What color is the cat?" > "$W/photo-questions.jsonl"

# ---- run them ----------------------------------------------------------------------------
# make: a dry run in the tree (never recursive, never a real install or apt-get)
make() { env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -n -C "$LX_ROOT" "$@" > /dev/null; }
cd "$W" || fail "cd $W"
# a command that ends this shell (exit, exec) must not pass for the rest having run
finished=0; exec 3>&2    # fd 3: stderr even while a command's output is redirected
trap 'st=$?; rm -rf "$T"; [ "$finished" = 1 ] || [ "$st" -ne 0 ] ||
      { echo "FAIL: README command $n ended the test: $c" >&3; exit 1; }' EXIT
set -o pipefail
n=0 c=
for c in "${cmds[@]}"; do
    n=$((n + 1))
    eval "$c" > "$T/cmd.out" 2> "$T/cmd.err"; st=$?
    if [ "$st" -ne 0 ]; then
        sed 's/^/    /' "$T/cmd.err" >&2
        fail "README command $n exited $st:"$'\n'"$c"
    fi
done
set +o pipefail

# ---- and they did what the README says ---------------------------------------------------
[ -s vqa.lxm ] && [ -s vqa-bf16.lxm ] && [ -s pretrain.lxm ] || fail "a model file was not written"
[ "$LX_MODEL" = "$W/vqa.lxm" ] || fail "LX_MODEL is '$LX_MODEL', expected $W/vqa.lxm"
nq=$(wc -l < "$FX/questions.jsonl")
[ "$(wc -l < answers.jsonl)" -eq "$nq" ] || fail "answers.jsonl: expected $nq records"
grep -q '"answer":' answers.jsonl || fail "answers.jsonl holds no answers"
grep -q '"count": *'"$((2 * nq))" summary.json || fail "summary.json does not count both runs"
[ -s val2014_obj36.tsv.lxi ] || fail "no offset index beside the TSV"
[ -s frcnn.lxm ] || fail "the detector was not converted"
[ "$(wc -l < photo-answers.jsonl)" -eq 3 ] && grep -q '"answer":' photo-answers.jsonl ||
    fail "photo-answers.jsonl: expected 3 answers"
[ "$(grep -c '<article class="card' report.html)" -eq 3 ] &&
    [ "$(grep -c 'src="data:image/jpeg;base64,' report.html)" -eq 3 ] ||
    fail "report.html: expected 3 cards with their pictures"
[ -s wrong.html ] && [ -n "$(ls figures/*.svg)" ] || fail "lx-show wrote no wrong.html or figures/"
finished=1
echo "ok: $n README commands"
