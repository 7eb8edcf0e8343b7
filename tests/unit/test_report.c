/*
 * test_report.c — lx_card_read (a record as lx-show draws it) and the HTML and SVG
 * writers: which word pieces and regions are kept, the weights of the chosen layer and
 * head, the shades, names, answers and truth; the errors; what the writers put in a page.
 */
#include <math.h>
#include "testutil.h"

/* cross_encoder_attentions [2, 2, 4, 3]: layer l, head h, row r, column k. */
static double att_value(int l, int h, int r, int k) {
    return 0.01 * (1 + l) + 0.001 * (h + 1) * (r + 1) + 0.0005 * k * (h + 1) + 0.0001 * r * k;
}

static void record_from(lx_record *r, const char *json) {
    lx_error err = {0};
    lx_record_init(r);
    if (lx_record_from_json(r, json, strlen(json), &err) < 0) fail_msg("%s: %s", json, err.msg);
}

/* The JSON of a record of four word pieces ([PAD] masked) and three regions (the last
 * masked), 200 x 100 pixels, with extra fields appended. */
static char *base_record(const char *extra) {
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    assert_non_null(f);
    fputs("{\"question_id\": 7, \"img_id\": \"cat\", \"sent\": \"Is <it> a \\\"cat\\\"?\", "
          "\"tokens\": [\"[CLS]\", \"is\", \"[PAD]\", \"[SEP]\"], "
          "\"input_ids\": [101, 2003, 0, 102], \"attention_mask\": [1, 1, 0, 1], "
          "\"visual_pos\": [[0, 0, 0.5, 0.5], [0.5, 0.25, 1, 1], [0, 0, 1, 1]], "
          "\"visual_attention_mask\": [1, 1, 0], \"img_w\": 200, \"img_h\": 100, "
          "\"cross_encoder_attentions\": [", f);
    for (int l = 0; l < 2; l++) {
        fputs(l ? ",[" : "[", f);
        for (int h = 0; h < 2; h++) {
            fputs(h ? ",[" : "[", f);
            for (int r = 0; r < 4; r++) {
                fputs(r ? ",[" : "[", f);
                for (int k = 0; k < 3; k++) fprintf(f, "%s%.6f", k ? "," : "", att_value(l, h, r, k));
                fputc(']', f);
            }
            fputc(']', f);
        }
        fputc(']', f);
    }
    fprintf(f, "]%s}", extra);
    fclose(f);
    return s;
}

static void read_ok(lx_card *c, const char *extra, const lx_card_opts *o) {
    char *json = base_record(extra);
    lx_record r;
    record_from(&r, json);
    lx_error err = {0};
    if (lx_card_read(c, &r, o, &err) < 0) fail_msg("lx_card_read: %s", err.msg);
    lx_record_clear(&r);
    free(json);
}

static void read_bad(const char *json, const lx_card_opts *o, const char *want) {
    lx_record r;
    record_from(&r, json);
    lx_error err = {0};
    lx_card c;
    int rc = lx_card_read(&c, &r, o, &err);
    lx_record_clear(&r);
    if (rc == 0) {
        lx_card_free(&c);
        fail_msg("accepted, expected \"%s\": %.200s", want, json);
    }
    if (!strstr(err.msg, want)) fail_msg("got \"%s\", expected \"%s\"", err.msg, want);
}

static void test_card_fields(void **st) {
    (void)st;
    lx_card c;
    read_ok(&c, ", \"answers\": [{\"answer\": \"yes\", \"label\": 3, \"score\": 0.875, "
                "\"logit\": 1.9}, {\"answer\": \"no\", \"label\": 9, \"score\": 0.25, "
                "\"logit\": -1.1}], \"label\": {\"no\": 0.3, \"yes\": 1}", NULL);
    assert_string_equal(c.question, "Is <it> a \"cat\"?");
    assert_string_equal(c.caption, "question_id 7 \xc2\xb7 img_id cat");
    assert_string_equal(c.img_id, "cat");
    assert_null(c.image);
    /* [PAD] (attention_mask 0) and the third region (visual_attention_mask 0) left out */
    assert_int_equal(c.ntokens, 3);
    assert_string_equal(c.tokens[0], "[CLS]");
    assert_string_equal(c.tokens[2], "[SEP]");
    assert_int_equal(c.cls, 0);
    assert_int_equal(c.nboxes, 2);
    assert_false(c.pixels);
    assert_true(c.boxes[4] == 0.5f && c.boxes[5] == 0.25f && c.boxes[7] == 1.0f);
    assert_true(c.width == 200 && c.height == 100);
    assert_null(c.names);
    /* the last layer, the mean of the two heads, rows 0, 1, 3 and columns 0, 1 */
    assert_int_equal(c.layer, 1);
    assert_int_equal(c.nlayers, 2);
    assert_int_equal(c.head, -1);
    assert_int_equal(c.nheads, 2);
    static const int rows[3] = {0, 1, 3};
    for (int t = 0; t < 3; t++)
        for (int b = 0; b < 2; b++) {
            float want = (float)(((double)(float)att_value(1, 0, rows[t], b) +
                                  (double)(float)att_value(1, 1, rows[t], b)) / 2);
            assert_true(c.att[t * 2 + b] == want);
        }
    /* the shades: the weakest region 0, the strongest 1 */
    double sh[2];
    lx_card_shades(&c, 1, sh);
    assert_true(sh[0] == 0.0 && sh[1] == 1.0);
    assert_int_equal(c.npicks, 2);
    assert_string_equal(c.picks[0].answer, "yes");
    assert_true(c.picks[0].score == 0.875);
    assert_string_equal(c.truth, "label: yes 1, no 0.3");
    assert_true(c.score == 1.0);
    assert_int_equal(c.verdict, LX_VERDICT_RIGHT);
    lx_card_free(&c);

    /* a chosen layer and head */
    lx_card_opts o = {.layer = 0, .head = 1};
    read_ok(&c, "", &o);
    assert_int_equal(c.layer, 0);
    assert_int_equal(c.head, 1);
    assert_true(c.att[2 * 2 + 1] == (float)att_value(0, 1, 3, 1));
    assert_int_equal(c.npicks, 0);
    assert_int_equal(c.verdict, LX_VERDICT_NONE);
    lx_card_free(&c);
    o = (lx_card_opts){.layer = -2, .head = -1};
    read_ok(&c, "", &o);
    assert_int_equal(c.layer, 0);
    lx_card_free(&c);
}

static void test_card_truth(void **st) {
    (void)st;
    lx_card c;
    /* lx-vqa's score is taken as given */
    read_ok(&c, ", \"answer\": \"no\", \"vqa_score\": 0.3, \"label\": {\"yes\": 1}", NULL);
    assert_int_equal(c.npicks, 1);
    assert_true(c.picks[0].score == -1);
    assert_true(c.score == 0.3);
    assert_int_equal(c.verdict, LX_VERDICT_PARTLY);
    lx_card_free(&c);
    /* computed from the label */
    read_ok(&c, ", \"answer\": \"no\", \"label\": {\"yes\": 1}", NULL);
    assert_true(c.score == 0);
    assert_int_equal(c.verdict, LX_VERDICT_WRONG);
    lx_card_free(&c);
    /* the official accuracy from human answers: 2 of 10 agree */
    read_ok(&c, ", \"answer\": \"two\", \"answers\": [\"2\", \"two\", \"3\", \"3\", \"3\", "
                "\"3\", \"3\", \"3\", \"3\", {\"answer\": \"3\"}]", NULL);
    assert_true(fabs(c.score - 0.6) < 1e-9);
    assert_string_equal(c.truth, "human answers: 3 \xc3\x97" "8, 2, two");
    lx_card_free(&c);
}

static void test_card_names_and_ids(void **st) {
    (void)st;
    /* names from the record's lists (the first synonym); pixel boxes sized by extent */
    const char *json =
        "{\"input_ids\": [101, 7, 102], \"boxes\": [[0, 0, 30, 20], [10, 5, 50, 40]], "
        "\"objects\": [\"man,men\", \"cat\"], \"attrs\": [\"tall\", \"\"]}";
    lx_record r;
    record_from(&r, json);
    lx_error err = {0};
    lx_card c;
    assert_int_equal(lx_card_read(&c, &r, NULL, &err), 0);
    assert_true(c.pixels);
    assert_true(c.width == 0);
    assert_string_equal(c.names[0], "tall man");
    assert_string_equal(c.names[1], "cat");
    /* no vocabulary: the ids as numbers */
    assert_true(c.tokens_are_ids);
    assert_string_equal(c.tokens[1], "7");
    assert_null(c.att);
    /* the page: no attention, the boxes unshaded, a note */
    char *page = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&page, &n);
    assert_int_equal(lx_report_card(f, &c, NULL, 0, &err), 0);
    fclose(f);
    assert_non_null(strstr(page, "no attentions: boxes unshaded"));
    assert_non_null(strstr(page, "viewBox=\"0 0 50 40\""));
    assert_non_null(strstr(page, "fill-opacity=\"0.000000\""));
    assert_null(strstr(page, "data-w"));
    assert_non_null(strstr(page, ">tall man</text>"));
    free(page);
    lx_card_free(&c);
    lx_record_clear(&r);
}

static void test_card_errors(void **st) {
    (void)st;
    char *json = base_record("");
    lx_card_opts o = {.layer = 2, .head = -1};
    read_bad(json, &o, "cross_encoder_attentions: layer 2 asked for, but the record has 2");
    o = (lx_card_opts){.layer = -3, .head = -1};
    read_bad(json, &o, "layer -3 asked for");
    o = (lx_card_opts){.layer = -1, .head = 2};
    read_bad(json, &o, "head 2 asked for, but the record has 2 heads");
    free(json);
    read_bad("{\"tokens\": [\"[CLS]\", \"a\"], \"visual_pos\": [[0, 0, 1, 1]], "
             "\"cross_encoder_attentions\": [[[[0.5], [0.5], [1]]]]}", NULL,
             "cross_encoder_attentions: got [1, 1, 3, 1], expected [x, heads, 2, 1]");
    read_bad("{\"tokens\": [\"[CLS]\"], \"visual_pos\": [[0, 0, 1, 1]], "
             "\"cross_encoder_attentions\": [[[[-0.5]]]]}", NULL,
             "cross_encoder_attentions[0][0][0][0]: got -0.5, expected a probability");
    read_bad("{\"tokens\": [\"a\", 3]}", NULL, "tokens[1]: got a non-string");
    read_bad("{\"tokens\": [\"a\"], \"input_ids\": [1, 2]}", NULL,
             "tokens: got 1, expected one per input_ids entry (2)");
    read_bad("{\"visual_pos\": [[0, 0, 1]]}", NULL, "visual_pos: got [1, 3], expected [N, 4]");
    read_bad("{\"visual_pos\": [[0.5, 0, 0.25, 1]]}", NULL, "expected x1 <= x2 and y1 <= y2");
    read_bad("{\"img_w\": 10}", NULL, "img_h: missing");
    read_bad("{\"img_w\": -1, \"img_h\": 3}", NULL, "img_w: got another value");
    read_bad("{\"sent\": 3}", NULL, "sent: got another JSON value, expected a string");
    read_bad("{\"visual_pos\": [[0, 0, 1, 1]], \"objects_id\": [1, 2]}", NULL,
             "objects_id: got 2 entries, expected one per region (1)");
    read_bad("{\"answers\": [{\"answer\": \"a\", \"score\": 2}]}", NULL,
             "answers[0]: expected {\"answer\": a string, \"score\": a number from 0 to 1}");
    read_bad("{\"label\": [\"yes\"]}", NULL, "label: got a list");
    read_bad("{\"answer\": \"a\", \"vqa_score\": \"high\"}", NULL,
             "vqa_score: expected a number from 0 to 1");
}

/* The HTML card: escaped text, the weights of every word piece, the default view's
 * shades as lx_card_shades gives them; the page's frame; the SVG file. */
static void test_writers(void **st) {
    (void)st;
    lx_card c;
    read_ok(&c, ", \"answers\": [{\"answer\": \"<b>\", \"score\": 0.5}]", NULL);
    c.recno = 12;
    char *page = NULL;
    size_t n = 0;
    lx_error err = {0};
    FILE *f = open_memstream(&page, &n);
    assert_int_equal(lx_report_begin(f, "t<1>", "a & b", &err), 0);
    static const unsigned char png[] = "\x89PNG\r\n\x1a\nrest";
    assert_int_equal(lx_report_card(f, &c, png, sizeof png - 1, &err), 0);
    assert_int_equal(lx_report_end(f, "end", &err), 0);
    fclose(f);
    assert_non_null(strstr(page, "<title>t&lt;1&gt;</title>"));
    assert_non_null(strstr(page, "<p>a &amp; b</p>"));
    assert_non_null(strstr(page, "<h2>Is &lt;it&gt; a &quot;cat&quot;?</h2>"));
    assert_non_null(strstr(page, "data-rec=\"12\""));
    assert_non_null(strstr(page, "src=\"data:image/png;base64,iVBORw0KGgpyZXN0\""));
    assert_non_null(strstr(page, "<span class=\"a\">&lt;b&gt;</span>"));
    assert_non_null(strstr(page, "viewBox=\"0 0 200 100\""));
    assert_non_null(strstr(page, "<rect x=\"100\" y=\"25\" width=\"100\" height=\"75\""));
    assert_non_null(strstr(page, "</script>\n</body>\n</html>\n"));
    /* each word piece's weights, shortest float text */
    char want[200], num[32];
    for (size_t t = 0; t < c.ntokens; t++) {
        size_t at = (size_t)snprintf(want, sizeof want, "data-w=\"");
        for (size_t b = 0; b < c.nboxes; b++) {
            lx_format_float(num, c.att[t * c.nboxes + b]);
            at += (size_t)snprintf(want + at, sizeof want - at, "%s%s", b ? " " : "", num);
        }
        snprintf(want + at, sizeof want - at, "\">");
        if (!strstr(page, want)) fail_msg("no %s", want);
    }
    /* the default view: [CLS]'s shades */
    double sh[2];
    lx_card_shades(&c, c.cls, sh);
    const char *g = strstr(page, "<g class=\"shade\">");
    assert_non_null(g);
    for (size_t b = 0; b < 2; b++) {
        snprintf(want, sizeof want, "fill-opacity=\"%.6f\"", sh[b]);
        g = strstr(g, want);
        if (!g) fail_msg("no %s", want);
    }
    assert_non_null(strstr(page, "<span class=\"tok cls on\""));
    free(page);

    f = open_memstream(&page, &n);
    assert_int_equal(lx_card_write_svg(f, &c, NULL, 0, &err), 0);
    fclose(f);
    assert_true(strncmp(page, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 44) == 0);
    assert_non_null(strstr(page, "width=\"200\""));
    assert_non_null(strstr(page, "fill-opacity=\"1.000000\""));
    assert_non_null(strstr(page, "</svg>\n"));
    free(page);
    lx_card_free(&c);

    assert_string_equal(lx_image_mime("\xff\xd8\xff\xe0", 4), "image/jpeg");
    assert_string_equal(lx_image_mime(png, sizeof png - 1), "image/png");
    assert_null(lx_image_mime("GIF89a", 6));
    assert_null(lx_image_mime("\xff\xd8", 2));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_card_fields),
        cmocka_unit_test(test_card_truth),
        cmocka_unit_test(test_card_names_and_ids),
        cmocka_unit_test(test_card_errors),
        cmocka_unit_test(test_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
