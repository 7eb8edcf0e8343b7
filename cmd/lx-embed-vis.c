/*
 * lx-embed-vis — attach each record's image regions: visual_feats [N, D] and visual_pos
 * [N, 4] (boxes / image size), looked up by image id in bottom-up-attention TSV files
 * (through their offset index) or in a stream of regions records; --dump turns TSVs
 * into regions records.
 *
 * A thin main on the cli skeleton (cmd/common/cli.h): its options, the feature store
 * (lib/featstore.c), then one callback per record.  Consecutive records that name the
 * same image (several questions per image) reuse the regions already decoded.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "lx.h"

enum { MAX_FILES = 64 };

typedef struct opts {
    const char *features[MAX_FILES]; /* --features: TSV files, searched in this order */
    const char *index[MAX_FILES];    /* --index: the index of the --features before it
                                        (default: FILE.lxi) */
    char *index_buf[MAX_FILES];      /* --index DIR made into DIR/NAME.lxi (owned) */
    int nfeatures;
    const char *regions;          /* --regions: a stream of regions records ("-": stdin) */
    const char *key;              /* --key: the id field (default: img_id, else image_id) */
    long max_boxes;               /* --max-boxes: keep the first N regions (0: all) */
    int objects;                  /* --objects: also objects_id/_conf, attrs_id/_conf */
    int skip_missing;             /* --skip-missing: drop records whose image is absent */
    int dump;                     /* --dump: write the TSVs' images as regions records */
    long buffer_size;             /* --buffer-size: TSV read buffer (LX_TSV_BUFSIZE) */
} opts;

enum { O_FEATURES = CLI_OWN, O_INDEX, O_REGIONS, O_DUMP, O_KEY, O_MAXBOXES, O_OBJECTS,
       O_SKIPMISSING, O_BUFSIZE };

static const struct option longopts[] = {
    {"features", required_argument, NULL, O_FEATURES},
    {"index", required_argument, NULL, O_INDEX},
    {"regions", required_argument, NULL, O_REGIONS},
    {"dump", no_argument, NULL, O_DUMP},
    {"key", required_argument, NULL, O_KEY},
    {"max-boxes", required_argument, NULL, O_MAXBOXES},
    {"objects", no_argument, NULL, O_OBJECTS},
    {"skip-missing", no_argument, NULL, O_SKIPMISSING},
    {"buffer-size", required_argument, NULL, O_BUFSIZE},
    {NULL, 0, NULL, 0},
};

static int option(lx_cli *c, void *p, int ch, const char *arg) {
    opts *o = p;
    switch (ch) {
    case O_FEATURES:
        if (o->nfeatures == MAX_FILES)
            return cli_usage(c, "at most %d --features files", MAX_FILES);
        o->features[o->nfeatures++] = arg;
        break;
    case O_INDEX:
        if (!o->nfeatures)
            return cli_usage(c, "--index names the index of the --features file before it; "
                                "give --features first");
        if (o->index[o->nfeatures - 1])
            return cli_usage(c, "two --index options for %s", o->features[o->nfeatures - 1]);
        o->index[o->nfeatures - 1] = arg;
        break;
    case O_REGIONS:
        if (o->regions) return cli_usage(c, "one --regions stream at most");
        o->regions = arg;
        break;
    case O_DUMP: o->dump = 1; break;
    case O_KEY: o->key = arg; break;
    case O_MAXBOXES: return cli_parse_long(c, "--max-boxes", arg, 1, 1L << 30, &o->max_boxes);
    case O_OBJECTS: o->objects = 1; break;
    case O_SKIPMISSING: o->skip_missing = 1; break;
    case O_BUFSIZE: return cli_parse_long(c, "--buffer-size", arg, 1, 1L << 30, &o->buffer_size);
    }
    return 0;
}

static const cli_tool tool = {
    .name = "lx-embed-vis",
    .about =
        "Usage: lx-embed-vis [OPTION]... [FILE]\n"
        "       lx-embed-vis --dump --features TSV... > regions.bin\n"
        "Attach image regions to each record: visual_feats (N x D float32) and visual_pos\n"
        "(N x 4: x1/img_w, y1/img_h, x2/img_w, y2/img_h in float32, as LXMERT's loader\n"
        "computes them), found by the record's image id.  Reads FILE or standard input (JSON\n"
        "lines, a JSON array or binary frames).  Boxes outside the image (coordinates on\n"
        "the border are fine), non-finite values, a num_boxes that disagrees with the\n"
        "arrays, and broken base64 are errors naming the file, the image and the record.\n",
    .options =
        "Sources:\n"
        "      --features TSV    bottom-up-attention features, one line per image: LXMERT's\n"
        "                        10 fields (img_id img_h img_w objects_id objects_conf\n"
        "                        attrs_id attrs_conf num_boxes boxes features) or the\n"
        "                        original 6 (image_id image_w image_h num_boxes boxes\n"
        "                        features).  Repeat for several files; the first file that\n"
        "                        has an image wins.\n"
        "      --index PATH      the offset index of the --features file given just before\n"
        "                        (default: TSV.lxi beside it; a directory: DIR/NAME.lxi for\n"
        "                        the TSV called NAME).  Built on first use by reading\n"
        "                        the TSV once, rebuilt when the TSV's size or mtime change;\n"
        "                        if it cannot be written it is kept in memory (a warning)\n"
        "      --regions FILE    regions records (JSON lines or binary frames, '-' for\n"
        "                        standard input) with img_id, img_h, img_w, boxes [N, 4] in\n"
        "                        pixels, features [N, D], optionally objects_id,\n"
        "                        objects_conf, attrs_id, attrs_conf: features from any\n"
        "                        detector.  Checked as read; from a regular file only each\n"
        "                        record's place is kept (memory bounded by one image),\n"
        "                        from a pipe or a JSON array the regions are held in\n"
        "                        memory.  Searched after the TSVs; an id given twice is\n"
        "                        an error\n"
        "      --dump            read no records: write every image of the --features files\n"
        "                        as a regions record (the --regions format)\n"
        "      --buffer-size N   bytes per read when indexing or dumping a TSV (default\n"
        "                        1048576); lines longer than that are assembled across reads\n"
        "\n"
        "Join:\n"
        "      --key NAME        the image id field (default: img_id, or image_id if the\n"
        "                        record has no img_id).  A string id matches the TSV id\n"
        "                        exactly; an integer id matches its decimal text, so 42 and\n"
        "                        \"42\" both find image 42 of a 6-field file\n"
        "      --max-boxes N     keep the first N regions (default: all)\n"
        "      --objects         also add objects_id (i64), objects_conf, attrs_id (i64),\n"
        "                        attrs_conf (f32), each [N] (10-field files and records\n"
        "                        that carry them)\n"
        "      --skip-missing    drop a record whose image is not found, and count it\n"
        "                        (default: an error naming the id and the record)\n",
    .examples =
        "Examples:\n"
        "  export LX_MODEL=vqa.lxm\n"
        "  lx-tokenize --max-length 20 < questions.jsonl |\n"
        "    lx-embed-vis --features train2014_obj36.tsv --features val2014_obj36.tsv |\n"
        "    lx-encode | lx-vqa\n"
        "  lx-embed-vis --key image_id --max-boxes 36 \\\n"
        "    --features trainval_resnet101_faster_rcnn_genome_36.tsv < vqa.jsonl > joined.bin\n"
        "  zcat regions.jsonl.gz | lx-embed-vis --regions - questions.jsonl > joined.bin\n",
    .flags = CLI_INPUT | CLI_RECORDS,
    .format = LX_FMT_BIN,
    .model_help = "accepted for uniformity; lx-embed-vis needs no model",
    .threads_help = "accepted for uniformity; lookups use one thread",
    .progress_help = "a progress line, and whether each index was loaded\n"
                     "                        or built",
    .longopts = longopts,
    .option = option,
};

typedef struct ctx {
    const opts *o;
    lx_features *store;
    lx_regions g;
    char last[1024];              /* key of the regions in g ("" none) */
    uint64_t missing;             /* records dropped by --skip-missing */
} ctx;

static int join_record(void *p, lx_record *r, lx_error *err) {
    ctx *c = p;
    const char *field = c->o->key;
    json_t *id = NULL;
    if (field) {
        id = lx_record_json(r, field);
        if (!id)
            return lx_error_set(err, "no %s field (the image id, see --key)", field);
    } else {
        field = "img_id";
        if (!(id = lx_record_json(r, field)) && (id = lx_record_json(r, "image_id")))
            field = "image_id";
        if (!id)
            return lx_error_set(err, "no img_id or image_id field (name the image id "
                                     "field with --key)");
    }
    char key[1024];
    if (lx_regions_key(id, key, sizeof key, err) < 0) return lx_error_prefix(err, "%s", field);
    if (strcmp(key, c->last) != 0) {
        c->last[0] = '\0';
        int rc = lx_features_lookup(c->store, key, &c->g, err);
        if (rc < 0) return -1;
        if (rc == 0) {
            if (c->o->skip_missing) {
                c->missing++;
                return 0;
            }
            return lx_error_set(err, "%s %s: image not found in the features given", field,
                                key);
        }
        memcpy(c->last, key, strlen(key) + 1);
    }
    if (lx_regions_attach(&c->g, r, c->o->max_boxes, c->o->objects, err) < 0) return -1;
    return 1;
}

/* --dump: every image of every --features file, in file order, as regions records. */
static int dump(lx_cli *cl, const opts *o) {
    lx_error err = {0};
    lx_regions g;
    lx_record r;
    lx_regions_init(&g);
    lx_record_init(&r);
    int status = LX_EXIT_OK;
    lx_writer *w = cli_output(cl, &err);
    if (!w) status = cli_error(cl, "%s", err.msg);
    for (int i = 0; i < o->nfeatures && status == LX_EXIT_OK; i++) {
        lx_tsv *t = lx_tsv_open(o->features[i], (size_t)o->buffer_size, &err);
        if (!t) {
            status = cli_error(cl, "%s", err.msg);
            break;
        }
        const char *line;
        size_t len;
        uint64_t off;
        int rc;
        while ((rc = lx_tsv_next(t, &line, &len, &off, &err)) == 1) {
            lx_record_clear(&r);
            if (lx_regions_parse_tsv(&g, line, len, &err) < 0) {
                lx_writer_flush(w, NULL);
                cli_error(cl, "%s: line %llu: %s", o->features[i],
                          (unsigned long long)lx_tsv_line_no(t), err.msg);
                if (cl->skip_bad) {
                    cl->nskipped++;
                    continue;
                }
                status = LX_EXIT_FAIL;
                break;
            }
            if (lx_regions_to_record(&g, &r, o->max_boxes, &err) < 0 ||
                lx_writer_write(w, &r, &err) < 0) {
                status = cli_error(cl, "%s: image %s: %s", o->features[i], g.img_id, err.msg);
                break;
            }
            cli_tick(cl);
        }
        if (rc < 0) status = cli_error(cl, "%s", err.msg);
        lx_tsv_close(t);
    }
    lx_record_clear(&r);
    lx_regions_free(&g);
    return status;
}

/* Read the --regions stream into the store. */
static int load_regions(lx_cli *cl, const opts *o, lx_features *store) {
    FILE *f = cli_fopen(cl, o->regions);
    if (!f) return LX_EXIT_FAIL;
    const char *name = f == stdin ? "<stdin>" : o->regions;
    lx_error err = {0};
    uint64_t recno;
    int status = LX_EXIT_OK;
    if (lx_features_add_regions(store, f, name, &recno, &err) < 0)
        status = recno ? cli_record_error_in(cl, name, recno, err.msg)
                       : cli_error(cl, "%s: %s", name, err.msg);
    if (f != stdin) fclose(f);
    return status;
}

/* --index DIR: the index of a TSV called NAME is DIR/NAME.lxi (one directory for
 * several TSVs).  Returns 0 or -1 (out of memory). */
static int index_paths(opts *o) {
    for (int i = 0; i < o->nfeatures; i++) {
        struct stat ds;
        if (!o->index[i] || stat(o->index[i], &ds) != 0 || !S_ISDIR(ds.st_mode)) continue;
        const char *base = strrchr(o->features[i], '/');
        base = base ? base + 1 : o->features[i];
        size_t len = strlen(o->index[i]) + strlen(base) + 6;
        if (!(o->index_buf[i] = malloc(len))) return -1;
        snprintf(o->index_buf[i], len, "%s/%s.lxi", o->index[i], base);
        o->index[i] = o->index_buf[i];
    }
    return 0;
}

/* An --index path that is a file the run reads (a TSV, the input, --regions) would be
 * replaced by the index: refused.  Returns 0, or the exit status after the message. */
static int check_indexes(lx_cli *cl, const opts *o) {
    for (int i = 0; i < o->nfeatures; i++) {
        const char *ix = o->index[i], *what = NULL;
        for (int k = 0; ix && !what && k < o->nfeatures; k++)
            if (lx_file_same(ix, o->features[k])) what = o->features[k];
        if (ix && !what && cl->path && lx_file_same(ix, cl->path)) what = cl->path;
        if (ix && !what && o->regions && lx_file_same(ix, o->regions)) what = o->regions;
        if (what)
            return cli_error(cl, "cannot write %s: it is a file this run is reading (%s); "
                                 "give --index another path", ix, what);
    }
    return LX_EXIT_OK;
}

/* The feature store: the TSVs with their indexes (a note or a warning for each), then
 * the --regions stream.  Returns the exit status so far. */
static int setup(ctx *c, lx_cli *cl, const opts *o) {
    lx_error err = {0};
    c->store = lx_features_open(o->features, o->index, (size_t)o->nfeatures,
                                (size_t)o->buffer_size, &err);
    if (!c->store) return cli_error(cl, "%s", err.msg);
    for (int i = 0; i < o->nfeatures; i++) {
        const lx_featindex *ix = lx_features_index(c->store, i);
        if (lx_featindex_status(ix) == LX_FEATINDEX_MEMORY)
            cli_warn(cl, "%s (--index PATH keeps it elsewhere)", lx_featindex_note(ix));
        else if (cl->progress && lx_featindex_status(ix) == LX_FEATINDEX_LOADED)
            cli_note(cl, "%s: %zu images, index loaded", o->features[i], lx_featindex_count(ix));
        else if (cl->progress)
            cli_note(cl, "%s: %zu images, index built (%s)", o->features[i],
                     lx_featindex_count(ix), lx_featindex_note(ix));
    }
    return o->regions ? load_regions(cl, o, c->store) : LX_EXIT_OK;
}

int main(int argc, char **argv) {
    opts o = {.buffer_size = (long)LX_TSV_BUFSIZE};
    lx_cli cl;
    int st = cli_start(&cl, &tool, argc, argv, &o);
    if (st != CLI_RUN) return st;
    if (o.dump) {
        if (!o.nfeatures) return cli_usage(&cl, "--dump needs --features TSV");
        if (o.regions || cl.path || o.key || o.objects || o.skip_missing || cl.skip ||
            cl.resume_path)
            return cli_usage(&cl, "--dump reads only the --features files; it takes no "
                                  "input, --regions, --key, --objects, --skip-missing, "
                                  "--skip or --resume");
    } else if (!o.nfeatures && !o.regions) {
        return cli_usage(&cl, "no features: give --features TSV or --regions FILE");
    }
    if (o.regions && strcmp(o.regions, "-") == 0 && !cl.path)
        return cli_usage(&cl, "--regions - reads standard input; give the records as FILE");

    /* Frames are ~300 KB per image: a 1 MiB pipe buffer (instead of 64 KiB) lets the
     * next tool read whole frames with fewer wake-ups.  Best effort. */
    struct stat sb;
    if (fstat(STDOUT_FILENO, &sb) == 0 && S_ISFIFO(sb.st_mode))
        (void)fcntl(STDOUT_FILENO, F_SETPIPE_SZ, 1 << 20);

    ctx c = {.o = &o};
    lx_regions_init(&c.g);
    if (index_paths(&o) < 0)
        st = cli_error(&cl, "out of memory");
    else if (o.dump)
        st = dump(&cl, &o);
    else if ((st = check_indexes(&cl, &o)) == LX_EXIT_OK &&
             (st = setup(&c, &cl, &o)) == LX_EXIT_OK)
        st = cli_records(&cl, &(cli_loop){.each = join_record, .ctx = &c});
    if (c.missing)
        cli_note(&cl, "%llu record%s dropped: image not found (--skip-missing)",
                 (unsigned long long)c.missing, c.missing == 1 ? "" : "s");
    lx_features_close(c.store);
    lx_regions_free(&c.g);
    for (int i = 0; i < o.nfeatures; i++) free(o.index_buf[i]);
    return cli_finish(&cl, st);
}
