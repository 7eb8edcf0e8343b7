# lx-show: the fixture pictures through lx-detect, lx-embed-vis and lx-vqa --attentions,
# drawn as a page and as SVG files.  The page's weights and shades are held against the
# records' cross_encoder_attentions (showcheck computes them on its own); the images are
# the files' bytes; choosing records (--limit, --only-wrong, --sort); records that lack
# fields; bad records and usage errors; memory over 10 000 records.  The page in a
# browser: show_browser.sh.
. "$(dirname "$0")/lib.bash"

command -v xmllint > /dev/null ||
    fail "xmllint is not installed: run 'make deps' (Debian package libxml2-utils)"

IMG=$FX/frcnn/images
head -n 30 "$FX/labels/vg-objects-1600.txt" > "$T/objects.txt"
head -n 12 "$FX/labels/vg-attributes-400.txt" > "$T/attributes.txt"
lx-convert "$FX/frcnn/models/frcnn-tiny" --objects "$T/objects.txt" \
    --attributes "$T/attributes.txt" -o "$T/det.lxm" 2> /dev/null || fail "lx-convert detector"
# a quiet answer head (--head-std), so that the answers' scores differ (--sort)
randmodel --preset tiny --feat-dim 128 --head-std 0.02 -o "$T/lxmert" > /dev/null || fail "randmodel"
lx-convert "$T/lxmert" -o "$T/vqa.lxm" 2> /dev/null || fail "lx-convert lxmert"
export LX_MODEL=$T/vqa.lxm

cat > "$T/q.jsonl" <<'EOF'
{"question_id": 1, "img_id": "img0", "sent": "What is in the <picture>?", "label": {"nothing": 1.0}}
{"question_id": 2, "img_id": "img1", "sent": "How many people are there?"}
{"question_id": 3, "img_id": "img0", "sent": "What color is the sky?", "label": {"blue": 1.0}}
{"question_id": "q4", "img_id": "img2", "image": "img2.jpg", "sent": "Is it day or night?", "label": {"day": 1.0}}
EOF
lx-detect -m "$T/det.lxm" "$IMG/img0.png" "$IMG/img1.png" "$IMG/img2.jpg" > "$T/regions.bin" ||
    fail "lx-detect"
lx-tokenize --max-length 20 < "$T/q.jsonl" | lx-embed-vis --regions "$T/regions.bin" --objects |
    lx-vqa --attentions -f bin > "$T/a.bin" || fail "the pipeline"
lx-convert -f json < "$T/a.bin" > "$T/a.jsonl" || fail "lx-convert"
# the third answer right and the first wrong: a label that names what the model answered
a3=$(sed -n '3s/.*"answer":"\([^"]*\)".*/\1/p' "$T/a.jsonl")
[ -n "$a3" ] || fail "no answer for question 3"
sed "3s/\"label\":{\"blue\":1.0}/\"label\":{\"$a3\":1.0}/; 3s/\"vqa_score\":[0-9.e-]*/\"vqa_score\":1.0/" \
    "$T/a.jsonl" > "$T/b.jsonl"
grep -q "\"label\":{\"$a3\":1.0}" "$T/b.jsonl" || fail "could not set question 3's label"

# ---- the page ---------------------------------------------------------------------------
expect_status 0 lx-show --image-dir "$IMG" -o "$T/page.html" "$T/b.jsonl"
[ ! -s "$T/out" ] || fail "-o: nothing on standard output"
[ ! -s "$T/err" ] || fail "a clean run says nothing: $(cat "$T/err")"
P=$T/page.html
head -n 1 "$P" | grep -qx '<!DOCTYPE html>' || fail "not an HTML page"
tail -n 1 "$P" | grep -qx '</html>' || fail "the page is not finished"
[ "$(grep -o '<article class="card[^"]*" id="r[0-9]*" data-rec="[0-9]*"' "$P" |
     sed 's/.*data-rec="\([0-9]*\)"/\1/' | tr '\n' ' ')" = "1 2 3 4 " ] || fail "one card per record, in order"
# self-contained: nothing fetched
! grep -qE '(src|href)="(https?:)?//' "$P" || fail "the page refers to something outside it"
! grep -q '<link' "$P" || fail "the page links a stylesheet"
# the pictures are the files' bytes
[ "$(grep -c 'src="data:image/png;base64,' "$P")" -eq 3 ] || fail "three PNG pictures embedded"
sed -n 's/.*src="data:image\/jpeg;base64,\([^"]*\)".*/\1/p' "$P" | base64 -d > "$T/img2.out" ||
    fail "the JPEG is not valid base64"
cmp -s "$T/img2.out" "$IMG/img2.jpg" || fail "the JPEG embedded is not the file's bytes"
# the canvas is the picture's size (from the file: visual_pos records carry none)
w0=$(lx-convert -f json < "$T/regions.bin" | sed -n '1s/.*"img_h":\([0-9]*\),"img_w":\([0-9]*\).*/\2 \1/p')
[ -n "$w0" ] || fail "no size in the regions record"
grep -q "<svg viewBox=\"0 0 $w0\"" "$P" || fail "canvas of img0 is not its size ($w0)"
# text escaped; word pieces spelled with the model's vocabulary; verdicts
grep -q '<h2>What is in the &lt;picture&gt;?</h2>' "$P" || fail "the question is not escaped"
! grep -q '<picture>' "$P" || fail "markup from a record reached the page"
grep -q '<span class="tok cls on" tabindex="0" data-w="[^"]*">\[CLS\]</span>' "$P" ||
    fail "[CLS] is not the default word piece"
grep -q '<article class="card wrong" id="r1"' "$P" || fail "question 1's answer is wrong"
grep -q '<article class="card right" id="r3"' "$P" || fail "question 3's answer is right"
grep -q '<article class="card" id="r2"' "$P" || fail "question 2 has no truth"
grep -q 'label: '"$a3"' 1 · <span class="v">score 1 (right)' "$P" || fail "the truth of question 3"
[ "$(grep -c '<ol class="ans"><li' "$P")" -eq 4 ] || fail "answers on every card"

# ---- the shading is exact -----------------------------------------------------------------
# every word piece's weights and the default view's shades, against the records
showcheck "$P" "$T/b.jsonl" > "$T/check" || fail "the page's weights differ from the records'"
grep -q '^4 cards, ' "$T/check" || fail "showcheck: $(cat "$T/check")"
# another layer and head
lx-show --layer 0 --head 1 -o "$T/l0.html" "$T/a.bin" || fail "--layer 0 --head 1"
showcheck --layer 0 --head 1 "$T/l0.html" "$T/a.bin" > /dev/null || fail "--layer 0 --head 1 weights"
! showcheck "$T/l0.html" "$T/a.bin" > /dev/null 2>&1 || fail "showcheck cannot tell two layers apart"
grep -q 'cross-modality layer 1 of 2, head 2 of 4' "$T/l0.html" || fail "the card names its layer and head"
lx-show --layer -2 -o "$T/l2.html" "$T/a.bin" && showcheck --layer 0 "$T/l2.html" "$T/a.bin" > /dev/null ||
    fail "--layer -2 is the first of two"

# ---- names, ids, what records lack --------------------------------------------------------
lx-show --detector "$T/det.lxm" --image-dir "$IMG" -o "$T/names.html" "$T/a.bin" || fail "--detector"
# region 0 of question 1 is labelled with its attribute's and object's names
ids=$(lx-convert -f json < "$T/a.bin" | sed -n '1s/.*"objects_id":\[\([0-9]*\),.*"attrs_id":\[\([0-9]*\),.*/\1 \2/p')
obj=$(sed -n "$(( ${ids% *} + 1 ))p" "$T/objects.txt" | cut -d, -f1)
att=$(sed -n "$(( ${ids#* } + 1 ))p" "$T/attributes.txt" | cut -d, -f1)
[ -n "$obj" ] && [ -n "$att" ] || fail "no object or attribute for ids $ids"
sed -n '/id="r1"/,/<\/article>/p' "$T/names.html" > "$T/card1"
grep -q "<title>region 0: $att $obj, weight " "$T/card1" || fail "region 0 is not named '$att $obj'"
[ "$(grep -o '<text [^>]*>' "$T/card1" | grep -vc 'class="off"')" -eq 3 ] ||
    fail "the three strongest regions are named"
# without a vocabulary the ids; without attentions unshaded boxes; no image found
env -u LX_MODEL lx-show -o "$T/ids.html" "$T/a.bin" || fail "no model"
grep -q 'word pieces shown as ids (no vocabulary)' "$T/ids.html" || fail "no note on ids"
grep -q '>101</span>' "$T/ids.html" || fail "[CLS] shown as its id"
lx-tokenize < "$T/q.jsonl" | lx-embed-vis --regions "$T/regions.bin" | lx-vqa --keep-tensors |
    lx-show -o "$T/noatt.html" || fail "records without attentions"
[ "$(grep -c 'no attentions: boxes unshaded' "$T/noatt.html")" -eq 4 ] || fail "no note on attentions"
! grep -q 'fill-opacity="0\.[0-9]*[1-9]' "$T/noatt.html" || fail "boxes shaded without attentions"
! grep -q 'data-w=' "$T/noatt.html" || fail "weights without attentions"
mkdir -p "$T/empty"
expect_status 0 lx-show --image-dir "$T/empty" -o "$T/noimg.html" "$T/a.bin"
expect_err "^lx-show: warning: record 1: no image img0.jpg, .jpeg or .png in $T/empty; drawn without it"
expect_err "^lx-show: 4 records drawn without their image \(the first is named above\)$"
[ "$(grep -c '<span class="noimg">no image · size unknown</span>' "$T/noimg.html")" -eq 4 ] ||
    fail "blank canvases of unknown size"
grep -q '<svg viewBox="0 0 640 480"' "$T/noimg.html" || fail "the canvas of an unknown size"
sed -n 4p "$T/b.jsonl" > "$T/r4.jsonl"
expect_status 0 lx-show --image-dir "$T/empty" -o /dev/null "$T/r4.jsonl"
expect_err "^lx-show: warning: record 1: image $T/empty/img2.jpg not found; drawn without it$"
# a FIFO where the image should be is not waited on, and said to be what it is
mkfifo "$T/empty/fifo.png"
echo '{"image":"fifo.png","input_ids":[101,102]}' > "$T/fifo.jsonl"
expect_status 0 timeout 20 lx-show --image-dir "$T/empty" -o /dev/null "$T/fifo.jsonl"
expect_err "^lx-show: warning: record 1: image $T/empty/fifo.png is not a regular file; drawn without it$"
printf '{"sent": "Nothing else?"}\n' | lx-show > "$T/bare.html" || fail "a record with a question only"
grep -q 'no regions (visual_pos or boxes); no word pieces (tokens or input_ids); no answers' \
    "$T/bare.html" || fail "the notes of a bare record"
# a detector's regions records as they are: pixel boxes, names from the record
lx-detect -m "$T/det.lxm" --names "$IMG/img2.jpg" | lx-show --image-dir "$IMG" > "$T/det.html" ||
    fail "regions records"
grep -q 'src="data:image/jpeg;base64,' "$T/det.html" || fail "regions records: the picture"
grep -q '<g class="names"' "$T/det.html" || fail "regions records: names"

# ---- SVG files ------------------------------------------------------------------------------
expect_status 0 lx-show --svg "$T/svg" --image-dir "$IMG" "$T/b.jsonl"
[ ! -s "$T/out" ] || fail "--svg: nothing on standard output"
[ "$(cd "$T/svg" && ls | tr '\n' ' ')" = "1.svg 2.svg 3.svg q4.svg " ] || fail "--svg names: $(ls "$T/svg")"
xmllint --noout "$T"/svg/*.svg || fail "an SVG file is not well-formed XML"
grep -q 'xlink:href="data:image/jpeg;base64,' "$T/svg/q4.svg" || fail "the picture in q4.svg"
# the [CLS] shades, as on the page
sed -n '/id="r3"/,/<\/article>/p' "$P" | sed -n '/<g class="shade">/p' | grep -o 'fill-opacity="[0-9.]*"' > "$T/s.page"
grep '<g fill="#f06a00" opacity="0.6">' "$T/svg/3.svg" | grep -o 'fill-opacity="[0-9.]*"' > "$T/s.svg"
[ -s "$T/s.page" ] && cmp -s "$T/s.page" "$T/s.svg" || fail "3.svg is not shaded as the page is"
# a name met twice gets the record's number
cat "$T/b.jsonl" "$T/b.jsonl" | lx-show --svg "$T/svg2" || fail "--svg twice"
[ -f "$T/svg2/1.svg" ] && [ -f "$T/svg2/1-5.svg" ] && [ "$(ls "$T/svg2" | wc -l)" -eq 8 ] ||
    fail "--svg repeats: $(ls "$T/svg2")"

# ---- choosing records -----------------------------------------------------------------------
cards() { grep -o 'data-rec="[0-9]*"' "$1" | tr -dc '0-9\n' | tr '\n' ' '; }
expect_status 0 lx-show --limit 2 -o "$T/lim.html" "$T/b.jsonl"
[ "$(cards "$T/lim.html")" = "1 2 " ] || fail "--limit 2: $(cards "$T/lim.html")"
expect_err "^lx-show: 4 records read, 2 shown \(--limit 2; --limit 0 shows all\)$"
grep -q '2 of 4 records shown' "$T/lim.html" || fail "the footer's count"
lx-show --only-wrong -o "$T/wrong.html" "$T/b.jsonl" || fail "--only-wrong"
[ "$(cards "$T/wrong.html")" = "1 4 " ] || fail "--only-wrong: $(cards "$T/wrong.html")"
# --sort score: the top answers' scores, highest first (and the lowest first)
sed 's/.*"answers":\[{"answer":"[^"]*","label":[0-9]*,"score":\([0-9.e-]*\).*/\1/' "$T/b.jsonl" |
    awk '{ print NR, $1 }' > "$T/scores"
want=$(sort -k2,2gr -k1,1n "$T/scores" | cut -d' ' -f1 | tr '\n' ' ')
lx-show --sort score -o "$T/sorted.html" "$T/b.jsonl" || fail "--sort score"
[ "$(cards "$T/sorted.html")" = "$want" ] || fail "--sort score: $(cards "$T/sorted.html"), expected $want"
want=$(sort -k2,2g -k1,1n "$T/scores" | cut -d' ' -f1 | tr '\n' ' ')
lx-show --sort low-score --limit 3 -o "$T/low.html" "$T/b.jsonl" 2> /dev/null || fail "--sort low-score"
[ "$(cards "$T/low.html")" = "$(echo "$want" | cut -d' ' -f1-3) " ] ||
    fail "--sort low-score --limit 3: $(cards "$T/low.html"), expected the first three of $want"
showcheck "$T/sorted.html" "$T/b.jsonl" > /dev/null || fail "sorted cards: weights"
lx-show --sort score --svg "$T/svg3" --limit 1 "$T/b.jsonl" 2> /dev/null || fail "--sort --svg"
[ "$(ls "$T/svg3")" = "$(echo "$want" | awk '{ print $NF }' | sed 's/^4$/q4/').svg" ] ||
    fail "--sort score --svg --limit 1: $(ls "$T/svg3")"

# ---- bad records and usage ------------------------------------------------------------------
head -n 2 "$T/b.jsonl" > "$T/bad.jsonl"
sed -n 3p "$T/b.jsonl" | sed 's/"tokens":\[/"tokens":["extra",/; s/"input_ids":\[/"input_ids":[7,/' >> "$T/bad.jsonl"
sed -n 3p "$T/b.jsonl" | sed 's/"input_ids":\[[0-9,]*\],//' >> "$T/bad.jsonl"
sed -n 4p "$T/b.jsonl" >> "$T/bad.jsonl"
expect_status 1 lx-show -o "$T/bad.html" "$T/bad.jsonl"
expect_err "^lx-show: $T/bad.jsonl:record 3: cross_encoder_attentions: got \[2, 4, [0-9]+, [0-9]+\], expected \[x, heads, [0-9]+, [0-9]+\] \([0-9]+ word pieces, [0-9]+ regions\)$"
[ "$(wc -l < "$T/err")" -eq 1 ] || fail "one line for a bad record: $(cat "$T/err")"
[ "$(cards "$T/bad.html")" = "1 2 " ] || fail "the cards before the bad record"
tail -n 1 "$T/bad.html" | grep -qx '</html>' || fail "the page is finished after a bad record"
expect_status 0 lx-show --skip-bad -o "$T/skip.html" "$T/bad.jsonl"
expect_err "^lx-show: 2 records skipped$"
[ "$(cards "$T/skip.html")" = "1 2 5 " ] || fail "--skip-bad: $(cards "$T/skip.html")"
expect_status 1 lx-show --layer 2 "$T/a.bin"
expect_err "record 1: cross_encoder_attentions: layer 2 asked for, but the record has 2 cross-modality layers"
expect_status 1 lx-show --detector "$T/vqa.lxm" "$T/a.bin"
expect_err "^lx-show: $T/vqa.lxm: is an LXMERT model, expected a detector"
printf '{"visual_pos": [[0, 0, 1, 1]], "objects_id": [99]}\n' > "$T/bigid.jsonl"
expect_status 1 lx-show --detector "$T/det.lxm" "$T/bigid.jsonl"
expect_err "record 1: objects_id\[0\]: got 99, expected an id below 30 \(the detector's object names\)"
expect_status 1 lx-show -o "$T/no/such/dir.html" "$T/a.bin"
expect_err "^lx-show: cannot create $T/no/such/dir.html: No such file or directory$"
expect_status 2 lx-show -f json "$T/a.bin"
expect_err "^lx-show: -f does not apply"
expect_status 2 lx-show --svg "$T/x" -o "$T/x.html" "$T/a.bin"
expect_err "^lx-show: --svg writes files into its DIR: -o does not apply$"
expect_status 2 lx-show --sort name
expect_err "^lx-show: --sort: got 'name', expected input, score or low-score$"
expect_status 2 lx-show --head -1
expect_err "^lx-show: --head: '-1' is not a whole number from 0 to 999$"
expect_status 2 lx-show --limit x
expect_status 2 lx-show --image-dir ''
expect_err "^lx-show: --image-dir: an empty name$"
lx-show --help > "$T/help" && grep -q -- '--only-wrong' "$T/help" || fail "--help lists --only-wrong"
# a failed write of the page fails the run, once
lx-show --limit 0 < "$T/a.bin" > /dev/full 2> "$T/err"; st=$?
[ "$st" -eq 1 ] && [ "$(wc -l < "$T/err")" -eq 1 ] && grep -q 'No space left on device' "$T/err" ||
    fail "a page > /dev/full: exit $st, $(cat "$T/err")"

# ---- a long run: memory of one record --------------------------------------------------------
# 10 000 records through a pipe, every one drawn (to /dev/null), against 1 000: the peak
# memory must not grow with the input
sed -n 1p "$T/b.jsonl" | lx-convert -f bin > "$T/one.bin" || fail "one frame"
frames() { seq "$1" | sed "s|.*|$T/one.bin|" | xargs cat; } # frames N: N copies of the record
# (under ASan, without its quarantine of freed memory, which would grow to 256 MB)
run_n() { # run_n N: peak RSS of lx-show over N records, in MB
    frames "$1" | ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0 \
        peakrss -o "$T/rss.$1" lx-show --limit 0 -o /dev/null || fail "lx-show over $1 records"
    sed 's/.*peak_rss_mb=\([0-9.]*\).*/\1/' "$T/rss.$1"
}
small=$(run_n 1000)
big=$(run_n 10000)
awk -v s="$small" -v b="$big" 'BEGIN { exit !(b <= s + 8) }' ||
    fail "peak memory grew with the input: $small MB for 1 000 records, $big MB for 10 000"
# and the default --limit: 500 shown, the note says so
frames 2000 | lx-show -o /dev/null 2> "$T/err" || fail "--limit default"
grep -qx 'lx-show: 2000 records read, 500 shown (--limit 500; --limit 0 shows all)' "$T/err" ||
    fail "the default limit's note: $(cat "$T/err")"
echo ok
