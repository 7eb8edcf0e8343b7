# lx-show's page in a real browser: headless Chromium (Debian's chromium package, which
# `make deps` installs for this test).  The fixtures' report loads without a console
# message, shows one card per record, and its script leaves the page as written; hovering
# a word piece (the page's #hover=C.T hook sends the event a mouse sends) shades the boxes
# by that word piece's attention, to the digit, against the records; screenshots show the
# pictures shaded, and the shading change.  make demo's report too, screenshot with the
# command the README gives.  Skipped, and reported as skipped, without chromium.
. "$(dirname "$0")/lib.bash"

CHROMIUM=${LX_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] ||
    skip "chromium is not installed ('make deps' installs it): lx-show's page was not opened in a browser"

# headless, its profile in the scratch directory; --no-sandbox: the tests may run as root
browser() {
    timeout 120 "$CHROMIUM" --headless --disable-gpu --no-sandbox --no-first-run \
        --disable-extensions --user-data-dir="$T/profile" "$@"
}
# the console messages in a log of --enable-logging=stderr: the page logs nothing, so any
# is a problem (an exception, a refused resource)
console() { grep -a ':CONSOLE' "$1" || true; }

IMG=$FX/frcnn/images
lx-convert "$FX/frcnn/models/frcnn-tiny" -o "$T/det.lxm" 2> /dev/null || fail "lx-convert detector"
randmodel --preset tiny --feat-dim 128 --head-std 0.02 -o "$T/lxmert" > /dev/null || fail "randmodel"
lx-convert "$T/lxmert" -o "$T/vqa.lxm" 2> /dev/null || fail "lx-convert lxmert"
export LX_MODEL=$T/vqa.lxm
cat > "$T/q.jsonl" <<'EOF'
{"question_id": 1, "img_id": "img0", "sent": "What is in the picture?", "label": {"nothing": 1.0}}
{"question_id": 2, "img_id": "img1", "sent": "How many people are there?"}
{"question_id": 3, "img_id": "img0", "sent": "What color is the sky?", "label": {"blue": 1.0}}
{"question_id": 4, "img_id": "img2", "sent": "Is it day or night?", "label": {"day": 0.3}}
EOF
lx-detect -m "$T/det.lxm" "$IMG/img0.png" "$IMG/img1.png" "$IMG/img2.jpg" |
    lx-embed-vis --regions - <(lx-tokenize < "$T/q.jsonl") |
    lx-vqa --attentions -f bin > "$T/a.bin" || fail "the pipeline"
lx-show --image-dir "$IMG" -o "$T/page.html" "$T/a.bin" || fail "lx-show"
URL=file://$T/page.html

# ---- as loaded ----------------------------------------------------------------------------
browser --enable-logging=stderr --v=0 --dump-dom "$URL" > "$T/dom0.html" 2> "$T/log0" ||
    fail "chromium --dump-dom: $(tail -n 3 "$T/log0")"
[ -z "$(console "$T/log0")" ] || fail "console messages on load: $(console "$T/log0")"
[ "$(grep -o '<article class="card' "$T/dom0.html" | wc -l)" -eq 4 ] ||
    fail "the browser shows $(grep -o '<article class="card' "$T/dom0.html" | wc -l) cards, expected 4"
[ "$(grep -o '<img alt="" loading="lazy" decoding="async" src="data:image/' "$T/dom0.html" | wc -l)" -eq 4 ] ||
    fail "four pictures in the page"
! grep -q '<body data-hovered' "$T/dom0.html" || fail "a hover without #hover"
showcheck "$T/dom0.html" "$T/a.bin" > /dev/null || fail "the loaded page's shades differ from the records'"

# ---- hovering a word piece ------------------------------------------------------------------
# card 0's word piece 3 ("the") and card 3's word piece 1 ("is"), each as a mouse hovers it:
# every box's fill-opacity becomes that word piece's shade, and not the [CLS] one
for ct in 0.3 3.1; do
    browser --enable-logging=stderr --v=0 --dump-dom "$URL#hover=$ct" > "$T/dom.$ct.html" 2> "$T/log.$ct" ||
        fail "chromium --dump-dom #hover=$ct"
    [ -z "$(console "$T/log.$ct")" ] || fail "console messages on hover: $(console "$T/log.$ct")"
    grep -q "<body data-hovered=\"$ct\">" "$T/dom.$ct.html" || fail "the page did not hover $ct"
    showcheck --dom "$T/dom.$ct.html" --card "${ct%.*}" --token "${ct#*.}" "$T/a.bin" > "$T/check" ||
        fail "after hovering $ct the boxes are not shaded by that word piece"
    [ "$(grep -o '<span class="tok on"' "$T/dom.$ct.html" | wc -l)" -eq 1 ] ||
        fail "the hovered word piece is not the one marked"
done
# a hook that names no word piece says so, and changes nothing
browser --dump-dom "$URL#hover=9.9" > "$T/dom.none.html" 2> /dev/null || fail "#hover=9.9"
grep -q '<body data-hovered="none">' "$T/dom.none.html" || fail "#hover of no word piece"
showcheck "$T/dom.none.html" "$T/a.bin" > /dev/null || fail "#hover of no word piece changed the page"

# ---- screenshots ----------------------------------------------------------------------------
# the first card fills the window: its picture (many colours), its boxes (the shading's
# orange over a good part of it), and the shading moves when a word piece is hovered
browser --hide-scrollbars --window-size=1200,900 --screenshot="$T/shot.png" "$URL" 2> /dev/null ||
    fail "chromium --screenshot"
browser --hide-scrollbars --window-size=1200,900 --screenshot="$T/hover.png" "$URL#hover=0.3" \
    2> /dev/null || fail "chromium --screenshot #hover"
read -r w h tinted distinct differ < <(showcheck --png "$T/shot.png" "$T/hover.png") ||
    fail "showcheck --png"
[ "$w" -eq 1200 ] && [ "$h" -eq 900 ] || fail "screenshot of ${w}x$h, expected 1200x900"
[ "$tinted" -ge $((w * h / 50)) ] || fail "screenshot: $tinted pixels shaded, expected 2% or more"
[ "$distinct" -ge 500 ] || fail "screenshot: $distinct colours, no picture in it"
[ "$differ" -ge 1000 ] || fail "hovering a word piece changed $differ pixels of the screenshot"

# ---- make demo's report ---------------------------------------------------------------------
# the demo as make demo runs it (its test programs from the build), then the README's
# screenshot command in the directory it writes to
mkdir -p "$T/tree"
LX_TOOLS=$LX_BUILD/tools LX_DEMO_DIR=$T/tree/demo-out "$LX_ROOT/scripts/demo" > "$T/demo.log" 2>&1 ||
    { tail -n 20 "$T/demo.log" >&2; fail "make demo"; }
[ -s "$T/tree/demo-out/report.html" ] || fail "make demo wrote no demo-out/report.html"
cmd=$(sed -n '/^```sh$/,/^```$/p' "$LX_ROOT/README.md" | grep -- '--screenshot=demo-out/report.png')
[ -n "$cmd" ] || fail "README: no screenshot command for demo-out/report.html"
# (as the README writes it, but with this machine's chromium and the scratch profile)
(cd "$T/tree" && eval "\"\$CHROMIUM\" ${cmd#chromium } --user-data-dir=\"\$T/profile\"") \
    > /dev/null 2>&1 ||
    fail "README's screenshot command failed: $cmd"
read -r w h tinted distinct < <(showcheck --png "$T/tree/demo-out/report.png") || fail "demo screenshot"
[ "$tinted" -ge $((w * h / 50)) ] && [ "$distinct" -ge 500 ] ||
    fail "demo screenshot: $tinted pixels shaded, $distinct colours"
browser --enable-logging=stderr --v=0 --dump-dom "file://$T/tree/demo-out/report.html#hover=0.2" \
    > "$T/demo-dom.html" 2> "$T/demo-log" || fail "the demo's report in chromium"
[ -z "$(console "$T/demo-log")" ] || fail "console messages in the demo's report: $(console "$T/demo-log")"
[ "$(grep -o '<article class="card' "$T/demo-dom.html" | wc -l)" -eq 3 ] || fail "the demo's report: 3 cards"
showcheck --dom "$T/demo-dom.html" --card 0 --token 2 "$T/tree/demo-out/photo-attentions.bin" > /dev/null ||
    fail "the demo's report: hovering"
echo ok
