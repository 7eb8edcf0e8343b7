/*
 * fuzz_tsv — one feature TSV line (lib/tsv.c, base64.c, featregions.c): the input as a
 * line through lx_regions_parse_tsv and lx_tsv_line_key.  A line that parses is turned
 * into a record and model inputs as lx-embed-vis does, and, in LXMERT's 10-field layout,
 * written back with lx_regions_write_tsv: that line must parse to the same regions.
 */
#include <math.h>
#include "fuzz.h"
#include "internal.h"

static void same(const void *a, const void *b, size_t n, const char *what) {
    if (n && memcmp(a, b, n) != 0) {
        fprintf(stderr, "fuzz_tsv: %s differ after writing and reading back\n", what);
        abort();
    }
}

static void write_back(const lx_regions *g) {
    if (!g->has_objects || strpbrk(g->img_id, "\t\r\n")) return;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) abort();
    lx_error err = {0};
    int rc = lx_regions_write_tsv(g, f, &err);
    fclose(f);
    if (rc < 0) {
        fprintf(stderr, "fuzz_tsv: a parsed line does not write: %s\n", err.msg);
        abort();
    }
    if (!len || text[len - 1] != '\n') abort();
    lx_regions h;
    lx_regions_init(&h);
    if (lx_regions_parse_tsv(&h, text, len - 1, &err) < 0) {
        fprintf(stderr, "fuzz_tsv: a written line does not parse: %s\n", err.msg);
        abort();
    }
    size_t n = (size_t)g->num_boxes;
    if (strcmp(g->img_id, h.img_id) || g->img_h != h.img_h || g->img_w != h.img_w ||
        g->num_boxes != h.num_boxes || g->feat_dim != h.feat_dim || !h.has_objects) {
        fprintf(stderr, "fuzz_tsv: sizes or id differ after writing and reading back\n");
        abort();
    }
    same(g->boxes, h.boxes, 16 * n, "boxes");
    same(g->features, h.features, 4 * n * (size_t)g->feat_dim, "features");
    same(g->objects_id, h.objects_id, 8 * n, "objects_id");
    same(g->objects_conf, h.objects_conf, 4 * n, "objects_conf");
    same(g->attrs_id, h.attrs_id, 8 * n, "attrs_id");
    same(g->attrs_conf, h.attrs_conf, 4 * n, "attrs_conf");
    lx_regions_free(&h);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *line = (const char *)data;
    lx_error err = {0};
    char key[256];
    int nf;
    (void)lx_tsv_line_key(line, size, key, sizeof key, &nf, &err);
    lx_regions g;
    lx_regions_init(&g);
    if (lx_regions_parse_tsv(&g, line, size, &err) == 0) {
        if (g.num_boxes < 1 || g.feat_dim < 1 || g.img_h < 1 || g.img_w < 1) abort();
        for (int64_t i = 0; i < 4 * g.num_boxes; i++)
            if (!isfinite(g.boxes[i])) abort();
        write_back(&g);
        /* an id that is not UTF-8 is a key, but no JSON string: refused here, with a
         * message */
        lx_record r;
        lx_record_init(&r);
        if (lx_regions_to_record(&g, &r, 2, &err) < 0 && !err.msg[0]) abort();
        lx_record_clear(&r);
        if (lx_regions_attach(&g, &r, 0, g.has_objects, &err) < 0)
            fuzz_fail("lx_regions_attach refuses parsed regions: %s", err.msg);
        if (!lx_record_tensor(&r, "visual_feats") || !lx_record_tensor(&r, "visual_pos"))
            abort();
        lx_record_clear(&r);
    } else if (!err.msg[0]) {
        abort();
    }
    lx_regions_free(&g);
    return 0;
}
