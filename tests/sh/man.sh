# The man pages, as jq tests its manual: groff formats every page without a warning, no
# macro argument holds a bare double quote (roff drops it: {"answer", "label"} came out
# as {"answer", label }), and every command of every EXAMPLES section runs; so does the
# Examples section of every tool's --help, with the same stand-ins.
#
# The commands are taken from the page as groff renders it, so that what runs is what a
# reader sees and copies; the rendering maps the characters roff may typeset as
# something else (- ' ` ~ ^) to non-ASCII glyphs, and a command that comes out
# non-ASCII fails: write \- \(aq \(ga \(ti \(ha in examples.  Each .EX block of EXAMPLES
# runs as one bash script (set -e -o pipefail) in a directory of its own, holding a
# stand-in, made from the fixtures, for every file the block names.
. "$(dirname "$0")/lib.bash"

command -v groff > /dev/null ||
    fail "groff is not installed: run 'make deps' (Debian package groff-base)"

MAN=$LX_ROOT/man
pages=()
for p in "$MAN"/*.[1-9]; do [ -f "$p" ] && pages+=("$p"); done
[ "${#pages[@]}" -ge 8 ] || fail "expected at least 8 man pages in $MAN, found ${#pages[@]}"
errors=()
err() { errors+=("$*"); }
flush_errors() { # fail with every error collected so far
    [ "${#errors[@]}" -eq 0 ] && return
    printf '%s\n' "${errors[@]}" >&2
    fail "${#errors[@]} problem(s) in the man pages"
}
# the preprocessors a page asks for on its first line ('\" t: tbl), as man(1) reads it
preproc() { head -n 1 "$1" | grep -q "^'\\\\\" t" && echo -t; }

# ---- 1. groff formats every page without a warning, on the devices readers use --------
for p in "${pages[@]}"; do
    name=${p##*/}
    for args in "-man" "-mandoc" "$(preproc "$p") -man -Tutf8" "$(preproc "$p") -man -Tascii"; do
        # shellcheck disable=SC2086
        out=$(groff -ww -z $args "$p" 2>&1) || err "$name: groff $args failed: $out"
        [ -z "$out" ] || err "$name: groff -ww $args: $out"
    done
done

# ---- 2. no bare double quote inside a macro argument -----------------------------------
# In '.B {"answer", "label"}' the second argument is the quoted "label": its quotes are
# eaten.  A quote may only delimit a whole argument; a literal one is \(dq.
for p in "${pages[@]}"; do
    while IFS= read -r line; do err "$line"; done < <(awk -v page="${p##*/}" '
    /^\.[A-Z][A-Za-z]*([ \t]|$)/ {
        s = $0; sub(/\\".*/, "", s); sub(/^\.[A-Za-z]+/, "", s); bad = ""
        for (;;) {
            sub(/^[ \t]+/, "", s)
            if (s == "") break
            if (substr(s, 1, 1) == "\"") {
                rest = substr(s, 2); i = index(rest, "\"")
                if (i == 0) { bad = "an unclosed quote"; break }
                c = substr(rest, i + 1, 1)
                if (c == "\"") { bad = "a doubled quote"; break }
                if (c != "" && c != " " && c != "\t") { bad = "text after a closing quote"; break }
                s = substr(rest, i + 1)
            } else {
                match(s, /^[^ \t]+/); a = substr(s, 1, RLENGTH); s = substr(s, RLENGTH + 1)
                if (index(a, "\"")) { bad = "a quote inside an argument"; break }
            }
        }
        if (bad != "") printf "%s:%d: %s (write \\(dq): %s\n", page, FNR, bad, $0
    }' "$p")
done
flush_errors

# ---- 3. the EXAMPLES commands, as rendered ---------------------------------------------
# mark each .EX block of EXAMPLES; typeset - ' ` ~ ^ as the non-ASCII glyphs a typesetter
# may use for them, so that only \- \(aq \(ga \(ti \(ha come out as ASCII
BEGIN_MARK=@@EXAMPLEBEGIN@@ END_MARK=@@EXAMPLEEND@@  # no characters the mapping changes
mkdir -p "$T/ex"
for p in "${pages[@]}"; do
    name=${p##*/}
    grep -q '^\.SH EXAMPLES' "$p" || { err "$name: no EXAMPLES section"; continue; }
    awk '/^\.SH /{ ex = ($0 ~ /^\.SH EXAMPLES/) } ex && /^\.(nf|fi)/' "$p" | grep -q . &&
        err "$name: EXAMPLES uses .nf; put commands in .EX/.EE blocks"
    nsrc=$(awk '/^\.SH /{ ex = ($0 ~ /^\.SH EXAMPLES/) } ex && /^\.EX/' "$p" | wc -l)
    awk -v b="$BEGIN_MARK" -v e="$END_MARK" '
        /^\.SH / { ex = ($0 ~ /^\.SH EXAMPLES/) }
        ex && /^\.EE/ { print e }
        { print }
        ex && /^\.EX/ { print b }
        /^\.TH / { print ".char - \\[hy]"; print ".char '\'' \\[cq]"; print ".char ` \\[oq]"
                   print ".char ~ \\[u02DC]"; print ".char ^ \\[u02C6]" }' "$p" > "$T/ex/$name.roff"
    # shellcheck disable=SC2046
    groff $(preproc "$p") -man -Tutf8 -P-cbou "$T/ex/$name.roff" 2> /dev/null |
        expand > "$T/ex/$name.txt"
    # one file per block, without the indentation its lines share
    awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v out="$T/ex/$name" '
        index($0, e) { f = out "." n ".sh"
                       for (i = 1; i <= k; i++) print substr(L[i], min + 1) > f
                       close(f); inb = 0; next }
        inb { L[++k] = $0; if (match($0, /[^ ]/) && RSTART - 1 < min) min = RSTART - 1; next }
        index($0, b) { n++; k = 0; min = 1e9; inb = 1 }' "$T/ex/$name.txt"
    nout=$(find "$T/ex" -name "$name.*.sh" | wc -l)
    [ "$nsrc" -ge 1 ] || err "$name: EXAMPLES has no .EX block"
    [ "$nout" -eq "$nsrc" ] || err "$name: $nsrc .EX blocks in EXAMPLES, $nout found in the rendered page"
    for f in "$T/ex/$name".*.sh; do
        [ -e "$f" ] || continue
        n=${f#"$T/ex/$name."}
        while IFS= read -r bad; do
            err "$name: example ${n%.sh} renders non-ASCII (write \\- \\(aq \\(ga \\(ti \\(ha): $bad"
        done < <(LC_ALL=C grep '[^ -~]' "$f")
    done
done
flush_errors

# ... and each tool's --help examples, one block a tool (without their 2-space indent)
for tool in lx-tokenize lx-embed-vis lx-encode lx-vqa lx-convert lx-detect lx-show; do
    "$tool" --help | awk '/^Examples:$/ { ex = 1; next } ex && /^$/ { ex = 0 }
                          ex { print substr($0, 3) }' > "$T/ex/help-$tool.1.sh"
    [ -s "$T/ex/help-$tool.1.sh" ] || err "$tool --help has no Examples section"
done
flush_errors

# ---- 4. stand-ins for every file the examples name -------------------------------------
# Made once in $B from the fixtures; each block gets a copy of the ones it names (models
# are hard links: tools only read them, and lx-convert -o replaces a file by rename).
B=$T/standins
mkdir -p "$B/snap/pretrained" "$B/lxmert-vqa-uncased" "$B/coco" "$B/photos"
(
    set -e
    cd "$B"
    # models: the tiny fixtures, converted as the pages convert the real ones
    cp "$FX/models/tiny-vqa/config.json" "$FX/models/tiny-vqa/vocab.txt" \
        "$FX/models/tiny-vqa/model.safetensors" lxmert-vqa-uncased/
    cp "$FX/labels/vqa-label2ans.json" trainval_label2ans.json
    cp "$FX/vocab/bert-base-uncased-vocab.txt" vocab.txt
    lx-convert lxmert-vqa-uncased --labels trainval_label2ans.json -o vqa.lxm
    lx-convert "$FX/models/tiny-pretrain" -o pretrain.lxm
    # the original snapshot; a tiny one needs its config.json beside it (a real one is
    # LXMERT-base, which lx-convert assumes without one)
    cp "$FX/models/tiny-original/model_LXRT.pth" "$FX/models/tiny-original/config.json" \
        snap/pretrained/
    # the detector as HF publishes it (config.yaml, pytorch_model.bin), and as many names
    # as the tiny one has classes and attributes
    mkdir frcnn-vg-finetuned
    cp "$FX/frcnn/models/frcnn-tiny/config.yaml" "$FX/frcnn/models/frcnn-tiny/pytorch_model.bin" \
        frcnn-vg-finetuned/
    head -n 30 "$FX/labels/vg-objects-1600.txt" > objects_vocab.txt
    head -n 12 "$FX/labels/vg-attributes-400.txt" > attributes_vocab.txt
    # a GQA model: the tiny shape with GQA's 1842 answers
    randmodel --preset tiny --labels 1842 --heads qa -o gqa-model > /dev/null
    lx-convert gqa-model --labels "$FX/labels/gqa-label2ans.json" -o gqa.lxm
    rm -r gqa-model
    # features: the fixture's six COCO val2014 images, and two train2014 images
    cp "$FX/features.tsv" val2014_obj36.tsv
    cp "$FX/features.tsv" f.tsv
    mktsv -n 2 -b 4 | sed 's/^COCO_val2014_/COCO_train2014_/' > train2014_obj36.tsv
    cp train2014_obj36.tsv val2014_obj36.tsv coco/
    cp "$FX/features-butd.tsv" trainval_resnet101_faster_rcnn_genome_36.tsv
    lx-embed-vis --dump -f json --features f.tsv | gzip > regions.jsonl.gz
    # questions: LXMERT's records (as JSON lines and as a JSON array like minival.json),
    # official VQA ones by integer image_id, a question with a caption
    cp "$FX/questions.jsonl" questions.jsonl
    cp questions.jsonl minival.jsonl
    cp questions.jsonl q.jsonl
    { echo '['; sed '$!s/$/,/' questions.jsonl; echo ']'; } > minival.json
    for i in 0 1 2 3 4 5; do
        printf '{"question_id": %d, "image_id": %d, "question": "What is in the picture?"}\n' \
            "$((i + 100))" "$i"
    done > vqa.jsonl
    printf '{"question": "%s", "caption": "%s"}\n' \
        "What is the man holding?" "A man holds a red umbrella in the rain." \
        "Is it sunny?" "Two dogs play on the beach." > qc.jsonl
    # model inputs, with the annotation's ten human answers for the official accuracy
    humans='"question_type": "what is", "answer_type": "other", "answers": ["1:25", "1:25", "1:25", "muffins", "yes", "yes", "no", "1:25", "two", "red"]'
    sed "s/}\$/, $humans}/" questions.jsonl | lx-tokenize -m vqa.lxm --max-length 20 |
        lx-embed-vis --features f.tsv -f json > inputs.jsonl
    cp "$FX/cases.jsonl" in.jsonl
    cp "$FX/cases.jsonl" cases.jsonl
    lx-embed-vis --features f.tsv < questions.jsonl > features.bin
    printf '{"sent": "A [MASK] is sitting on the table.", "img_id": "COCO_val2014_000000000000"}\n' |
        lx-tokenize -m pretrain.lxm | lx-embed-vis --features f.tsv -f json > masked.jsonl
    # the detector: a random one of LXMERT's feature size (so that its regions fit
    # vqa.lxm) in the published folder's place, with its names; pictures, and questions
    # about them that name their files
    randmodel --preset detector -o frcnn-vg-finetuned > /dev/null
    mv frcnn-vg-finetuned/objects_vocab.txt frcnn-vg-finetuned/attributes_vocab.txt .
    lx-convert frcnn-vg-finetuned --objects objects_vocab.txt \
        --attributes attributes_vocab.txt -o frcnn.lxm
    cp "$FX/frcnn/images/img2.jpg" photos/cat.jpg
    cp "$FX/frcnn/images/img2.jpg" photos/dog.jpg
    printf '{"question_id": %d, "img_id": "%s", "image": "%s.jpg", "sent": "%s"}\n' \
        1 cat cat "What is the cat doing?" 2 dog dog "Is the dog asleep?" \
        3 cat cat "What color is the cat?" > photo-questions.jsonl
    # answers of two runs, for totals; answers with their attentions, for lx-show
    head -n 3 inputs.jsonl | lx-vqa -m vqa.lxm > answers-1.jsonl
    tail -n +4 inputs.jsonl | lx-vqa -m vqa.lxm > answers-2.jsonl
    lx-vqa -m vqa.lxm --attentions -f bin < inputs.jsonl > answers.bin
    rm -f ./*.lxi
) > "$T/standins.log" 2>&1 || { cat "$T/standins.log" >&2; fail "making the stand-ins"; }

# ---- 5. run every block ----------------------------------------------------------------
nrun=0
for f in "$T"/ex/*.sh; do
    ex=${f##*/}; ex=${ex%.sh}              # PAGE.N
    d=$T/run/$ex
    mkdir -p "$d/home/.cache"
    # the stand-ins the block names (a word, or the part after '=', or a glob)
    for w in $(tr -s ' \t|<>;&()=$"'\''' '\n' < "$f" | sort -u); do
        case $w in /* | "~"*) continue ;; esac   # system paths and the home directory
        for m in $(cd "$B" && compgen -G "$w"); do
            top=${m%%/*}
            [ -e "$d/$top" ] && continue
            case $top in
                *.lxm) ln "$B/$top" "$d/$top" ;;
                *) cp -a "$B/$top" "$d/$top" ;;
            esac
        done
    done
    if ! (cd "$d" && HOME=$d/home env -u LX_MODEL -u BASH_ENV bash -e -o pipefail "$f") \
            > "$T/run/$ex.out" 2> "$T/run/$ex.err"; then
        err "$(printf '%s: example %s failed:\n%s\n--- its standard error:\n%s' \
            "${ex%.*}" "${ex##*.}" "$(sed 's/^/    /' "$f")" "$(tail -n 5 "$T/run/$ex.err")")"
    fi
    nrun=$((nrun + 1))
done
flush_errors
[ "$nrun" -ge 20 ] || fail "only $nrun examples ran"
