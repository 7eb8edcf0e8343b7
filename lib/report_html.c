/*
 * report_html.c — cards (report.c) drawn as one self-contained HTML page, or each as a
 * standalone SVG file.
 *
 * The page is written as it goes (lx_report_begin, a card at a time, lx_report_end), so
 * a writer holds one card.  Everything is inline: the style, a small script at the end,
 * the images as base64 data: URLs; nothing is fetched.  A card is
 *
 *   <article class="card VERDICT" data-rec=N>  header: question, ids
 *     <figure class="fig" style="aspect-ratio:W/H">  <img lazy> or a blank canvas,
 *       <svg viewBox="0 0 W H">                        and over it, in image pixels:
 *         <g class="shade">   a filled rect per region, fill-opacity = its shade
 *         <g class="outline"> the same rects outlined, each with a <title>
 *         <g class="names">   a label per region (class "off": hidden)
 *     <div class="side">  the word pieces (data-w: their weights, region by region),
 *                         notes, the answers as bars, the truth
 *
 * The shade of a region is where its weight lies between the weakest and the strongest
 * region of the word piece shown (lx_card_shades), written as "%.6f"; the page opens on
 * the default word piece ([CLS]) and the script recomputes the shades from data-w, in the
 * same double arithmetic and to the same digits, for the word piece hovered or clicked.
 * Weights are written as the shortest text that reads back to the same float, and the
 * script reads them back as that float (Math.fround), so both start from the same
 * numbers.  The whole
 * shade group is drawn at opacity 0.6, so the strongest regions never hide the picture.
 *
 * Images are <img loading=lazy decoding=async> and cards are content-visibility:auto:
 * the browser decodes and lays out only the cards near the screen, which keeps a page of
 * hundreds of pictures responsive.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* Regions named at once: the strongest few, more would cover the picture. */
#define NAMED 3
#define STR_(x) #x
#define STR(x) STR_(x)
/* The canvas when the record gives no size (visual_pos without img_w / img_h). */
#define CANVAS_W 640
#define CANVAS_H 480

/* ---- text ----------------------------------------------------------------------------- */

/* s as HTML / XML character data or attribute text: the five markup characters escaped,
 * control characters (which XML forbids) written as U+FFFD. */
static void put_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            if ((ch < 0x20 && ch != '\t' && ch != '\n') || ch == 0x7f) fputs("\xef\xbf\xbd", f);
            else fputc(ch, f);
        }
    }
}

/* A coordinate or size: up to 6 significant digits, no exponent below 1e6. */
static void put_num(FILE *f, double v) {
    fprintf(f, "%.6g", v);
}

static int put_base64(FILE *f, const void *data, size_t len) {
    enum { CHUNK = 3 * 1024 };
    char out[4 * 1024];
    const unsigned char *p = data;
    for (size_t at = 0; at < len; at += CHUNK) {
        size_t n = len - at < CHUNK ? len - at : CHUNK;
        size_t m = lx_base64_encode(out, p + at, n);
        if (fwrite(out, 1, m, f) != m) return -1;
    }
    return 0;
}

static int done(FILE *f, lx_error *err) {
    if (ferror(f)) return lx_error_set(err, "write error: %s", strerror(errno ? errno : EIO));
    return 0;
}

/* ---- geometry --------------------------------------------------------------------------- */

/* The canvas in pixels: the image's size, else the extent of pixel boxes, else 640 x 480. */
static void canvas(const lx_card *c, double *W, double *H) {
    *W = c->width;
    *H = c->height;
    if (*W > 0 && *H > 0) return;
    *W = CANVAS_W;
    *H = CANVAS_H;
    if (!c->pixels || c->nboxes == 0) return;
    *W = *H = 1;
    for (size_t b = 0; b < c->nboxes; b++) {
        if (c->boxes[4 * b + 2] > *W) *W = ceil(c->boxes[4 * b + 2]);
        if (c->boxes[4 * b + 3] > *H) *H = ceil(c->boxes[4 * b + 3]);
    }
}

/* Box b in canvas pixels: x, y, width, height. */
static void box_px(const lx_card *c, size_t b, double W, double H, double r[4]) {
    const float *p = c->boxes + 4 * b;
    double sx = c->pixels ? 1 : W, sy = c->pixels ? 1 : H;
    r[0] = p[0] * sx;
    r[1] = p[1] * sy;
    r[2] = (p[2] - p[0]) * sx;
    r[3] = (p[3] - p[1]) * sy;
}

static void put_rect(FILE *f, const double r[4]) {
    fputs("<rect x=\"", f);
    put_num(f, r[0]);
    fputs("\" y=\"", f);
    put_num(f, r[1]);
    fputs("\" width=\"", f);
    put_num(f, r[2]);
    fputs("\" height=\"", f);
    put_num(f, r[3]);
    fputc('"', f);
}

/* The regions in order of shade, strongest first (equal: the earlier first); without
 * shades, in their own order. */
static void strongest(const double *shade, size_t n, size_t *order) {
    for (size_t i = 0; i < n; i++) {
        size_t at = i;
        while (shade && at > 0 && shade[order[at - 1]] < shade[i]) {
            order[at] = order[at - 1];
            at--;
        }
        order[at] = i;
    }
}

/* The shades of the default word piece (NULL when the card has no attention); named[b]
 * is 1 for the regions labelled in the default view.  Returns -1 when out of memory. */
static int default_view(const lx_card *c, double **shade, unsigned char **named, lx_error *err) {
    size_t n = c->nboxes ? c->nboxes : 1;
    size_t *order = malloc(n * sizeof *order);
    *shade = c->att ? calloc(n, sizeof **shade) : NULL;
    *named = calloc(n, 1);
    if (!order || (c->att && !*shade) || !*named) {
        free(order);
        free(*shade);
        free(*named);
        *shade = NULL;
        *named = NULL;
        return lx_error_set(err, "out of memory");
    }
    if (*shade) lx_card_shades(c, c->cls, *shade);
    strongest(*shade, c->nboxes, order);
    for (size_t i = 0; i < c->nboxes && i < NAMED; i++) (*named)[order[i]] = 1;
    free(order);
    return 0;
}

/* "cross-modality layer 5 of 5, mean of 12 heads" */
static void put_what(FILE *f, const lx_card *c) {
    fprintf(f, "cross-modality layer %d of %d", c->layer + 1, c->nlayers);
    if (c->head < 0) fprintf(f, ", mean of %d head%s", c->nheads, c->nheads == 1 ? "" : "s");
    else fprintf(f, ", head %d of %d", c->head + 1, c->nheads);
}

static const char *verdict_class(lx_verdict v) {
    switch (v) {
    case LX_VERDICT_RIGHT: return "right";
    case LX_VERDICT_PARTLY: return "partly";
    case LX_VERDICT_WRONG: return "wrong";
    default: return NULL;
    }
}

/* ---- the page ----------------------------------------------------------------------------- */

static const char style[] =
    ":root{color-scheme:light;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;"
    "--card:#fff;--hi:#f06a00;--ok:#1a7f37;--mid:#9a6700;--bad:#cf222e}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--bg);color:var(--fg);"
    "font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif}\n"
    ".top,.bottom{max-width:1200px;margin:0 auto;padding:12px 16px;color:var(--muted)}\n"
    ".top h1{margin:0;font-size:18px;color:var(--fg)}\n"
    ".top p,.bottom p{margin:2px 0 0}\n"
    "main{display:grid;gap:14px;max-width:1200px;margin:0 auto;padding:0 16px}\n"
    ".card{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:10px 18px;"
    "padding:12px 16px;background:var(--card);border:1px solid var(--line);"
    "border-left:5px solid var(--line);border-radius:6px;content-visibility:auto;"
    "contain-intrinsic-size:auto 480px}\n"
    ".card.right{border-left-color:var(--ok)}.card.partly{border-left-color:var(--mid)}"
    ".card.wrong{border-left-color:var(--bad)}\n"
    ".card>header{grid-column:1/-1}\n"
    ".card h2{margin:0;font-size:16px}\n"
    ".ids{margin:0;color:var(--muted);font-size:12px}\n"
    ".fig{position:relative;margin:0;width:100%;background:#e9edf1;border-radius:4px;"
    "overflow:hidden}\n"
    ".fig img,.fig svg{position:absolute;left:0;top:0;width:100%;height:100%;display:block}\n"
    ".noimg{position:absolute;inset:0;display:flex;align-items:center;justify-content:center;"
    "color:var(--muted)}\n"
    ".shade{opacity:.6}.shade rect{fill:var(--hi)}\n"
    ".outline rect{fill:none;stroke:var(--hi);stroke-width:1.5px;"
    "vector-effect:non-scaling-stroke;pointer-events:all}\n"
    ".outline rect:hover{stroke-width:3px}\n"
    ".names text{fill:#111;stroke:#fff;paint-order:stroke;stroke-linejoin:round}\n"
    ".names text.off{display:none}\n"
    ".side{min-width:0}\n"
    ".toks{margin:0 0 6px}\n"
    ".tok{display:inline-block;padding:0 6px;margin:0 3px 4px 0;border-radius:4px;"
    "background:#eef1f4;line-height:1.8}\n"
    ".tok[data-w]{cursor:pointer}.tok.on{background:var(--hi);color:#fff}\n"
    ".tok.pin{box-shadow:0 0 0 2px var(--fg)}\n"
    ".how,.miss{margin:0 0 8px;color:var(--muted);font-size:12px}\n"
    ".ans{list-style:none;margin:0 0 8px;padding:0}\n"
    ".ans li{display:grid;grid-template-columns:96px minmax(0,1fr) auto;gap:8px;"
    "align-items:center}\n"
    ".bar{height:10px;background:#eef1f4;border-radius:3px;overflow:hidden}\n"
    ".bar i{display:block;height:100%;background:#8c959f}\n"
    ".ans li:first-child .bar i{background:var(--fg)}\n"
    ".ans li.right .bar i{background:var(--ok)}.ans li.partly .bar i{background:var(--mid)}"
    ".ans li.wrong .bar i{background:var(--bad)}\n"
    ".ans li.right .a{color:var(--ok);font-weight:600}"
    ".ans li.partly .a{color:var(--mid);font-weight:600}"
    ".ans li.wrong .a{color:var(--bad);font-weight:600}\n"
    ".s{color:var(--muted);font-variant-numeric:tabular-nums}\n"
    ".truth{margin:0;font-size:13px}\n"
    ".truth.right .v{color:var(--ok)}.truth.partly .v{color:var(--mid)}"
    ".truth.wrong .v{color:var(--bad)}\n"
    "@media (max-width:760px){.card{grid-template-columns:1fr}}\n";

/* The script: hovering, focusing or clicking a word piece shades the card's boxes by its
 * weights as the page was written for the default word piece (lx_card_shades, "%.6f"),
 * names its three strongest regions and puts its weights in the boxes' tooltips; leaving it returns to the clicked word
 * piece, else the default.  #hover=C.T (card C, word piece T, from 0) hovers that word
 * piece once the page has loaded, through the event a mouse sends, and records it in
 * body[data-hovered]: how a test drives the page in a headless browser. */
static const char script[] =
    "(function () {\n"
    "  'use strict';\n"
    "  function show(card, tok) {\n"
    "    if (!card || !tok || !tok.hasAttribute('data-w')) return;\n"
    "    var w = tok.getAttribute('data-w').split(' ').map(Math.fround), lo = Infinity, hi = 0;\n"
    "    var i;\n"
    "    for (i = 0; i < w.length; i++) { lo = Math.min(lo, w[i]); hi = Math.max(hi, w[i]); }\n"
    "    var rects = card.querySelectorAll('.shade rect');\n"
    "    for (i = 0; i < rects.length; i++)\n"
    "      rects[i].setAttribute('fill-opacity',\n"
    "        (hi > lo ? (w[i] - lo) / (hi - lo) : hi > 0 ? 1 : 0).toFixed(6));\n"
    "    var tips = card.querySelectorAll('.outline title');\n"
    "    for (i = 0; i < tips.length; i++)\n"
    "      tips[i].textContent = tips[i].textContent.replace(/weight [^ ]*$/, 'weight ' + w[i]);\n"
    "    var order = w.map(function (v, j) { return j; });\n"
    "    order.sort(function (a, b) { return w[b] - w[a] || a - b; });\n"
    "    var names = card.querySelectorAll('.names text');\n"
    "    for (i = 0; i < names.length; i++) names[i].classList.add('off');\n"
    "    for (i = 0; i < order.length && i < " STR(NAMED) "; i++)\n"
    "      if (names[order[i]]) names[order[i]].classList.remove('off');\n"
    "    var on = card.querySelectorAll('.tok.on');\n"
    "    for (i = 0; i < on.length; i++) on[i].classList.remove('on');\n"
    "    tok.classList.add('on');\n"
    "  }\n"
    "  function held(card) {\n"
    "    return card.querySelector('.tok.pin') || card.querySelector('.tok.cls');\n"
    "  }\n"
    "  function token(e) {\n"
    "    return e.target && e.target.closest ? e.target.closest('.tok[data-w]') : null;\n"
    "  }\n"
    "  function enter(e) { var t = token(e); if (t) show(t.closest('.card'), t); }\n"
    "  function leave(e) {\n"
    "    var t = token(e);\n"
    "    if (!t || (e.relatedTarget && t.contains(e.relatedTarget))) return;\n"
    "    var c = t.closest('.card');\n"
    "    show(c, held(c));\n"
    "  }\n"
    "  document.addEventListener('mouseover', enter);\n"
    "  document.addEventListener('focusin', enter);\n"
    "  document.addEventListener('mouseout', leave);\n"
    "  document.addEventListener('focusout', leave);\n"
    "  document.addEventListener('click', function (e) {\n"
    "    var t = token(e);\n"
    "    if (!t) return;\n"
    "    var c = t.closest('.card'), p = c.querySelector('.tok.pin');\n"
    "    if (p) p.classList.remove('pin');\n"
    "    if (p !== t) t.classList.add('pin');\n"
    "    show(c, held(c));\n"
    "  });\n"
    "  var m = /^#hover=(\\d+)\\.(\\d+)$/.exec(location.hash);\n"
    "  if (m) {\n"
    "    var card = document.querySelectorAll('.card')[+m[1]];\n"
    "    var t = card ? card.querySelectorAll('.tok')[+m[2]] : null;\n"
    "    if (t) t.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));\n"
    "    document.body.setAttribute('data-hovered', t ? m[1] + '.' + m[2] : 'none');\n"
    "  }\n"
    "})();\n";

int lx_report_begin(FILE *f, const char *title, const char *note, lx_error *err) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta name=\"generator\" content=\"lx " LX_VERSION "\">\n<title>", f);
    put_text(f, title);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<header class=\"top\"><h1>", style);
    put_text(f, title);
    fputs("</h1>", f);
    if (note && *note) {
        fputs("<p>", f);
        put_text(f, note);
        fputs("</p>", f);
    }
    fputs("</header>\n<main>\n", f);
    return done(f, err);
}

int lx_report_end(FILE *f, const char *note, lx_error *err) {
    fputs("</main>\n<footer class=\"bottom\">", f);
    if (note && *note) {
        fputs("<p>", f);
        put_text(f, note);
        fputs("</p>", f);
    }
    fprintf(f, "</footer>\n<script>\n%s</script>\n</body>\n</html>\n", script);
    return done(f, err);
}

/* The figure: the image (or a blank canvas) and the boxes over it. */
static int put_figure(FILE *f, const lx_card *c, const void *image, size_t len,
                      const double *shade, const unsigned char *named) {
    double W, H, r[4];
    canvas(c, &W, &H);
    const char *mime = image ? lx_image_mime(image, len) : NULL;
    /* as wide as the column, but no taller than most of the window */
    fputs("<figure class=\"fig\" style=\"aspect-ratio:", f);
    put_num(f, W);
    fputc('/', f);
    put_num(f, H);
    fputs(";max-width:calc(75vh*", f);
    put_num(f, W);
    fputc('/', f);
    put_num(f, H);
    fputs(")\">", f);
    if (mime) {
        fprintf(f, "<img alt=\"\" loading=\"lazy\" decoding=\"async\" src=\"data:%s;base64,", mime);
        if (put_base64(f, image, len) < 0) return -1;
        fputs("\">", f);
    } else {
        fputs("<span class=\"noimg\">no image \xc2\xb7 ", f);
        if (c->width > 0) fprintf(f, "%.0f \xc3\x97 %.0f", W, H);
        else fputs("size unknown", f);
        fputs("</span>", f);
    }
    fputs("\n<svg viewBox=\"0 0 ", f);
    put_num(f, W);
    fputc(' ', f);
    put_num(f, H);
    fputs("\" aria-hidden=\"true\">\n<g class=\"shade\">", f);
    for (size_t b = 0; b < c->nboxes; b++) {
        box_px(c, b, W, H, r);
        put_rect(f, r);
        fprintf(f, " fill-opacity=\"%.6f\"/>", shade ? shade[b] : 0.0);
    }
    fputs("</g>\n<g class=\"outline\">", f);
    for (size_t b = 0; b < c->nboxes; b++) {
        box_px(c, b, W, H, r);
        put_rect(f, r);
        fprintf(f, "><title>region %zu", b);
        if (c->names && c->names[b][0]) {
            fputs(": ", f);
            put_text(f, c->names[b]);
        }
        if (c->att) {
            char num[32];
            lx_format_float(num, c->att[c->cls * c->nboxes + b]);
            fprintf(f, ", weight %s", num);
        }
        fputs("</title></rect>", f);
    }
    fputs("</g>\n", f);
    if (c->names) {
        double fs = fmax(W, H) / 36;
        fputs("<g class=\"names\" font-size=\"", f);
        put_num(f, fs);
        fputs("\" stroke-width=\"", f);
        put_num(f, fs / 4);
        fputs("\">", f);
        for (size_t b = 0; b < c->nboxes; b++) {
            box_px(c, b, W, H, r);
            fputs("<text x=\"", f);
            put_num(f, r[0] + fs / 4);
            fputs("\" y=\"", f);
            put_num(f, r[1] + fs);
            fprintf(f, "\"%s>", named[b] ? "" : " class=\"off\"");
            put_text(f, c->names[b]);
            fputs("</text>", f);
        }
        fputs("</g>\n", f);
    }
    fputs("</svg></figure>\n", f);
    return 0;
}

/* The side: word pieces, notes, answers, truth. */
static void put_side(FILE *f, const lx_card *c) {
    char num[32];
    fputs("<div class=\"side\">\n", f);
    if (c->ntokens) {
        fputs("<p class=\"toks\">", f);
        for (size_t t = 0; t < c->ntokens; t++) {
            fprintf(f, "<span class=\"tok%s%s\"", t == c->cls ? " cls" : "",
                    t == c->cls && c->att ? " on" : "");
            if (c->att) {
                fputs(" tabindex=\"0\" data-w=\"", f);
                for (size_t b = 0; b < c->nboxes; b++) {
                    lx_format_float(num, c->att[t * c->nboxes + b]);
                    fprintf(f, "%s%s", b ? " " : "", num);
                }
                fputc('"', f);
            }
            fputc('>', f);
            put_text(f, c->tokens[t]);
            fputs("</span> ", f);
        }
        fputs("</p>\n", f);
    }
    if (c->att) {
        fputs("<p class=\"how\">Shading: ", f);
        put_what(f, c);
        fputs("; the weakest region clear, the strongest full. Hover or click a word piece."
              "</p>\n", f);
    }
    /* what the record lacks */
    const char *miss[5];
    size_t nm = 0;
    if (!c->nboxes) miss[nm++] = "no regions (visual_pos or boxes)";
    else if (!c->att) miss[nm++] = "no attentions: boxes unshaded (lx-vqa --attentions adds them)";
    if (!c->ntokens) miss[nm++] = "no word pieces (tokens or input_ids)";
    else if (c->tokens_are_ids) miss[nm++] = "word pieces shown as ids (no vocabulary)";
    if (!c->npicks) miss[nm++] = "no answers";
    if (nm) {
        fputs("<p class=\"miss\">", f);
        for (size_t i = 0; i < nm; i++) {
            fputs(i ? "; " : "", f);
            put_text(f, miss[i]);
        }
        fputs(".</p>\n", f);
    }
    if (c->npicks) {
        const char *v = verdict_class(c->verdict);
        fputs("<ol class=\"ans\">", f);
        for (size_t i = 0; i < c->npicks; i++) {
            const lx_card_pick *p = &c->picks[i];
            fprintf(f, "<li%s%s%s><span class=\"bar\"><i style=\"width:%.2f%%\"></i></span>"
                       "<span class=\"a\">", i == 0 && v ? " class=\"" : "", i == 0 && v ? v : "",
                    i == 0 && v ? "\"" : "", p->score >= 0 ? 100 * p->score : 0.0);
            put_text(f, p->answer);
            fputs("</span><span class=\"s\">", f);
            if (p->score >= 0) fprintf(f, "%.3f", p->score);
            fputs("</span></li>", f);
        }
        fputs("</ol>\n", f);
    }
    if (c->truth || c->score >= 0) {
        const char *v = verdict_class(c->verdict);
        fprintf(f, "<p class=\"truth%s%s\">", v ? " " : "", v ? v : "");
        put_text(f, c->truth);
        if (c->score >= 0) {
            fprintf(f, "%s<span class=\"v\">score %.3g", c->truth ? " \xc2\xb7 " : "", c->score);
            fprintf(f, "%s</span>", v ? (c->verdict == LX_VERDICT_RIGHT ? " (right)"
                                         : c->verdict == LX_VERDICT_WRONG ? " (wrong)" : " (partly)")
                                      : "");
        }
        fputs("</p>\n", f);
    }
    fputs("</div>\n", f);
}

int lx_report_card(FILE *f, const lx_card *c, const void *image, size_t len, lx_error *err) {
    double *shade;
    unsigned char *named;
    if (default_view(c, &shade, &named, err) < 0) return -1;
    const char *v = verdict_class(c->verdict);
    fprintf(f, "<article class=\"card%s%s\" id=\"r%llu\" data-rec=\"%llu\">\n<header><h2>",
            v ? " " : "", v ? v : "", (unsigned long long)c->recno,
            (unsigned long long)c->recno);
    put_text(f, c->question ? c->question : "(no question)");
    fprintf(f, "</h2><p class=\"ids\">record %llu", (unsigned long long)c->recno);
    if (c->caption) {
        fputs(" \xc2\xb7 ", f);
        put_text(f, c->caption);
    }
    fputs("</p></header>\n", f);
    int rc = put_figure(f, c, image, len, shade, named);
    if (rc == 0) {
        put_side(f, c);
        fputs("</article>\n", f);
    }
    free(shade);
    free(named);
    return rc < 0 ? lx_error_set(err, "write error: %s", strerror(errno ? errno : EIO))
                  : done(f, err);
}

/* ---- one SVG file ----------------------------------------------------------------------- */

int lx_card_write_svg(FILE *f, const lx_card *c, const void *image, size_t len,
                      lx_error *err) {
    double *shade;
    unsigned char *named;
    if (default_view(c, &shade, &named, err) < 0) return -1;
    double W, H, r[4];
    canvas(c, &W, &H);
    double fs = fmax(W, H) / 36, lh = fs * 1.4;
    int lines = 1 + (c->npicks > 0) + (c->truth != NULL);
    double total = H + lines * lh + fs * 0.6;
    const char *mime = image ? lx_image_mime(image, len) : NULL;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" "
          "xmlns:xlink=\"http://www.w3.org/1999/xlink\" version=\"1.1\" width=\"", f);
    put_num(f, W);
    fputs("\" height=\"", f);
    put_num(f, total);
    fputs("\" viewBox=\"0 0 ", f);
    put_num(f, W);
    fputc(' ', f);
    put_num(f, total);
    fputs("\" font-family=\"sans-serif\">\n<title>", f);
    put_text(f, c->question ? c->question : "(no question)");
    fputs("</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", f);
    if (mime) {
        fputs("<image x=\"0\" y=\"0\" width=\"", f);
        put_num(f, W);
        fputs("\" height=\"", f);
        put_num(f, H);
        fprintf(f, "\" preserveAspectRatio=\"none\" xlink:href=\"data:%s;base64,", mime);
        if (put_base64(f, image, len) < 0) goto fail;
        fputs("\"/>\n", f);
    } else {
        double bg[4] = {0, 0, W, H};
        put_rect(f, bg);
        fputs(" fill=\"#e9edf1\"/>\n", f);
    }
    if (shade) {
        fputs("<g fill=\"#f06a00\" opacity=\"0.6\">", f);
        for (size_t b = 0; b < c->nboxes; b++) {
            box_px(c, b, W, H, r);
            put_rect(f, r);
            fprintf(f, " fill-opacity=\"%.6f\"/>", shade[b]);
        }
        fputs("</g>\n", f);
    }
    fputs("<g fill=\"none\" stroke=\"#f06a00\" stroke-width=\"", f);
    put_num(f, fmax(1, fmax(W, H) / 400));
    fputs("\">", f);
    for (size_t b = 0; b < c->nboxes; b++) {
        box_px(c, b, W, H, r);
        put_rect(f, r);
        fputs("/>", f);
    }
    fputs("</g>\n", f);
    if (c->names) {
        fputs("<g font-size=\"", f);
        put_num(f, fs);
        fputs("\" fill=\"#111111\" stroke=\"#ffffff\" stroke-width=\"", f);
        put_num(f, fs / 4);
        fputs("\" stroke-linejoin=\"round\" paint-order=\"stroke\">", f);
        for (size_t b = 0; b < c->nboxes; b++) {
            if (!named[b] || !c->names[b][0]) continue;
            box_px(c, b, W, H, r);
            fputs("<text x=\"", f);
            put_num(f, r[0] + fs / 4);
            fputs("\" y=\"", f);
            put_num(f, r[1] + fs);
            fputs("\">", f);
            put_text(f, c->names[b]);
            fputs("</text>", f);
        }
        fputs("</g>\n", f);
    }
    /* the caption: question, answer and score, truth */
    fputs("<g font-size=\"", f);
    put_num(f, fs);
    fputs("\" fill=\"#1f2328\">", f);
    double y = H + lh;
    fputs("<text x=\"", f);
    put_num(f, fs / 2);
    fputs("\" y=\"", f);
    put_num(f, y);
    fputs("\" font-weight=\"bold\">", f);
    put_text(f, c->question ? c->question : "(no question)");
    fputs("</text>", f);
    if (c->npicks) {
        const char *v = verdict_class(c->verdict);
        y += lh;
        fputs("<text x=\"", f);
        put_num(f, fs / 2);
        fputs("\" y=\"", f);
        put_num(f, y);
        fprintf(f, "\"%s>", c->verdict == LX_VERDICT_RIGHT   ? " fill=\"#1a7f37\""
                            : c->verdict == LX_VERDICT_WRONG ? " fill=\"#cf222e\""
                            : c->verdict == LX_VERDICT_PARTLY ? " fill=\"#9a6700\"" : "");
        put_text(f, c->picks[0].answer);
        if (c->picks[0].score >= 0) fprintf(f, " (%.3f)", c->picks[0].score);
        if (v && c->score >= 0) fprintf(f, " \xc2\xb7 score %.3g", c->score);
        fputs("</text>", f);
    }
    if (c->truth) {
        y += lh;
        fputs("<text x=\"", f);
        put_num(f, fs / 2);
        fputs("\" y=\"", f);
        put_num(f, y);
        fputs("\" fill=\"#59636e\">", f);
        put_text(f, c->truth);
        fputs("</text>", f);
    }
    fputs("</g>\n</svg>\n", f);
    free(shade);
    free(named);
    return done(f, err);
fail:
    free(shade);
    free(named);
    return lx_error_set(err, "write error: %s", strerror(errno ? errno : EIO));
}
