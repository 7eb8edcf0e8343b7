/*
 * lx-detect — image files to LXMERT's regions: the bottom-up-attention Faster R-CNN
 * (lx_detector, lib/nn/frcnn.c) run on each image, one regions record per image in the
 * format lx-embed-vis --regions reads (or LXMERT's TSV lines with --tsv).
 *
 * The images are the IMAGE operands or, without any, records on standard input that
 * name them in a field (--field, default "image").  One image at a time: decode
 * (lx_image_read), detect, write, so memory is one image and the detector's buffers.
 *
 * Ids.  An operand's img_id is its file name without directory and extension; a
 * record's is its img_id (or image_id) field when it has one, kept as it is (string or
 * integer), else the file name likewise.  Records name images incidentally (several
 * questions about one image), so a record whose id was already detected in this run
 * writes nothing; operands are the user's list of images, so each one is detected and
 * written, a repeat too.  Two different files under one id are an error either way,
 * since the regions records could not be told apart downstream.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "lx.h"

/* --max-pixels's default: larger than any camera's picture, small enough that a file
 * declaring absurd dimensions is refused before memory is allocated for it. */
#define MAX_PIXELS_DEFAULT 50000000ull
/* The library refuses an image whose resized side comes under 32 pixels: a smaller
 * --min-size could detect nothing. */
#define MIN_SIZE_LOW 32
#define SIZE_HIGH 16384
#define BOXES_HIGH 65536

typedef struct opts {
    const char *field;            /* --field: the record field with the image's path
                                     (NULL: "image") */
    const char *image_dir;        /* --image-dir: base of relative paths in records (NULL:
                                     the working directory) */
    int select;                   /* --select: LX_SELECT_HF or _CAFFE (-1: not given) */
    int rgb;                      /* --rgb: feed the pixels in RGB order */
    long min_size, max_size;      /* --min-size, --max-size (0: the model's) */
    long min_boxes, max_boxes;    /* --min-boxes, --max-boxes (0: the model's) */
    int boxes;                    /* --boxes given (sets both) */
    int preset;                   /* --preset lxmert */
    unsigned long long max_pixels;/* --max-pixels (MAX_PIXELS_DEFAULT; 0: the decoder's
                                     own limit only) */
    int names;                    /* --names: add objects and attrs name lists */
    int tsv;                      /* --tsv: LXMERT's TSV lines instead of records */
    int timings;                  /* --timings: seconds per stage on stderr */
    int exact_bf16;               /* --exact-bf16: bf16 weights computed in f32 */
} opts;

enum { O_FIELD = CLI_OWN, O_IMAGE_DIR, O_SELECT, O_RGB, O_MIN_SIZE, O_MAX_SIZE, O_BOXES,
       O_MIN_BOXES, O_MAX_BOXES, O_PRESET, O_MAX_PIXELS, O_NAMES, O_TSV, O_TIMINGS,
       O_EXACT };

static const struct option longopts[] = {
    {"field", required_argument, NULL, O_FIELD},
    {"image-dir", required_argument, NULL, O_IMAGE_DIR},
    {"select", required_argument, NULL, O_SELECT},
    {"rgb", no_argument, NULL, O_RGB},
    {"min-size", required_argument, NULL, O_MIN_SIZE},
    {"max-size", required_argument, NULL, O_MAX_SIZE},
    {"boxes", required_argument, NULL, O_BOXES},
    {"min-boxes", required_argument, NULL, O_MIN_BOXES},
    {"max-boxes", required_argument, NULL, O_MAX_BOXES},
    {"preset", required_argument, NULL, O_PRESET},
    {"max-pixels", required_argument, NULL, O_MAX_PIXELS},
    {"names", no_argument, NULL, O_NAMES},
    {"tsv", no_argument, NULL, O_TSV},
    {"timings", no_argument, NULL, O_TIMINGS},
    {"exact-bf16", no_argument, NULL, O_EXACT},
    {NULL, 0, NULL, 0},
};

/* --max-pixels: a whole number, in decimal or as 50e6 / 1.5e7. */
static int parse_pixels(lx_cli *c, const char *s, unsigned long long *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || strspn(s, "0123456789.eE+") != strlen(s) || *end || errno || !(v >= 0) ||
        v > 1e15 || v != (double)(unsigned long long)v)
        return cli_usage(c, "--max-pixels: '%s' is not a whole number of pixels (such as "
                            "50000000 or 50e6)", s);
    *out = (unsigned long long)v;
    return 0;
}

static int option(lx_cli *c, void *p, int ch, const char *arg) {
    opts *o = p;
    long v;
    int st;
    switch (ch) {
    case O_FIELD:
    case O_IMAGE_DIR:
        if (!*arg) return cli_usage(c, "--%s: an empty name", ch == O_FIELD ? "field" : "image-dir");
        *(ch == O_FIELD ? &o->field : &o->image_dir) = arg;
        break;
    case O_SELECT:
        if (strcmp(arg, "hf") == 0) o->select = LX_SELECT_HF;
        else if (strcmp(arg, "caffe") == 0) o->select = LX_SELECT_CAFFE;
        else return cli_usage(c, "--select: got '%s', expected hf or caffe", arg);
        break;
    case O_RGB: o->rgb = 1; break;
    case O_MIN_SIZE: return cli_parse_long(c, "--min-size", arg, MIN_SIZE_LOW, SIZE_HIGH, &o->min_size);
    case O_MAX_SIZE: return cli_parse_long(c, "--max-size", arg, MIN_SIZE_LOW, SIZE_HIGH, &o->max_size);
    case O_BOXES:
        if ((st = cli_parse_long(c, "--boxes", arg, 1, BOXES_HIGH, &v))) return st;
        o->min_boxes = o->max_boxes = v;
        o->boxes = 1;
        break;
    case O_MIN_BOXES: return cli_parse_long(c, "--min-boxes", arg, 1, BOXES_HIGH, &o->min_boxes);
    case O_MAX_BOXES: return cli_parse_long(c, "--max-boxes", arg, 1, BOXES_HIGH, &o->max_boxes);
    case O_PRESET:
        if (strcmp(arg, "lxmert") != 0)
            return cli_usage(c, "--preset: got '%s', expected lxmert", arg);
        o->preset = 1;
        break;
    case O_MAX_PIXELS: return parse_pixels(c, arg, &o->max_pixels);
    case O_NAMES: o->names = 1; break;
    case O_TSV: o->tsv = 1; break;
    case O_TIMINGS: o->timings = 1; break;
    case O_EXACT: o->exact_bf16 = 1; break;
    }
    return 0;
}

static const cli_tool tool = {
    .name = "lx-detect",
    .about =
        "Usage: lx-detect [OPTION]... IMAGE...\n"
        "       lx-detect [OPTION]... < records\n"
        "Find the regions of images as LXMERT's features were made: the bottom-up-attention\n"
        "Faster R-CNN (a detector .lxm, see lx-convert) on each JPEG or PNG file, one\n"
        "regions record per image (img_id, img_h, img_w, boxes [N, 4] in pixels, features\n"
        "[N, D], objects_id, objects_conf, attrs_id, attrs_conf), the format lx-embed-vis\n"
        "--regions reads.  An IMAGE's img_id is its file name without directory and\n"
        "extension.  Without IMAGE operands, records on standard input (JSON lines, a JSON\n"
        "array or binary frames) name the images: each record's img_id (or image_id) field\n"
        "is kept as the id, else the file name gives it; an id already detected writes\n"
        "nothing (several questions about one image), and two files under one id are an\n"
        "error.  The records' other fields are not copied: a regions record describes an\n"
        "image.\n",
    .options =
        "Images:\n"
        "      --field NAME      the record field holding the image's path (default image)\n"
        "      --image-dir DIR   resolve relative paths in records against DIR\n"
        "      --max-pixels N    refuse an image declaring more than N pixels, before\n"
        "                        decoding it (default 50000000; 50e6 works too; 0: only the\n"
        "                        decoder's limit of 2^30)\n"
        "      --rgb             feed the network RGB pixels, as HF's demo does with image\n"
        "                        files (default: BGR, the order the weights were trained on)\n"
        "\n"
        "Detection (default: the model's config):\n"
        "      --select hf|caffe which regions to keep: hf (default), HF's demo (NMS over\n"
        "                        each proposal's best-class box); caffe, the original\n"
        "                        extractor LXMERT's features came from (per-class NMS on\n"
        "                        the proposals, confidence >= 0.2)\n"
        "      --min-size N      resize the shorter side to N pixels (32 to 16384)\n"
        "      --max-size N      ... and the longer side to at most N\n"
        "      --boxes N         exactly N regions where the image has them (--min-boxes N\n"
        "                        --max-boxes N)\n"
        "      --min-boxes N, --max-boxes N\n"
        "                        at least N regions (fewer when the image has fewer), at\n"
        "                        most N (1 to 65536)\n"
        "      --preset lxmert   LXMERT's own features: --select caffe --min-size 600\n"
        "                        --max-size 1000 --boxes 36; options given as well win,\n"
        "                        wherever they stand\n"
        "      --exact-bf16      compute a bf16 model's products in f32\n"
        "\n"
        "Output:\n"
        "      --names           also objects and attrs: the class and attribute names\n"
        "                        (the model must carry them)\n"
        "      --tsv             LXMERT's 10-field TSV lines instead of records, a file\n"
        "                        lx-embed-vis --features indexes\n"
        "      --timings         after each image, 'stage NAME SECONDS' lines on stderr\n"
        "                        (decode, then the detector's stages); totals at the end\n",
    .examples =
        "Examples:\n"
        "  lx-detect -m frcnn.lxm --preset lxmert photos/*.jpg > photos.regions\n"
        "  lx-detect -m frcnn.lxm --preset lxmert --tsv photos/*.jpg > photos.tsv\n"
        "  lx-detect -m frcnn.lxm --image-dir photos < photo-questions.jsonl > photos.regions\n",
    .flags = CLI_MODEL | CLI_NET | CLI_RECORDS,
    .format = LX_FMT_BIN,
    .model_help = "the detector .lxm (default: $LX_MODEL)",
    .longopts = longopts,
    .option = option,
};

/* ---- the ids seen ------------------------------------------------------------------- */

/* An id detected in this run and the file it came from. */
typedef struct seen {
    char *key;                    /* NULL: empty slot */
    char *path;
    dev_t dev;
    ino_t ino;
    int stat_ok;                  /* dev and ino are the file's */
} seen;

/* Open addressing over a power-of-two table, at most half full. */
typedef struct seen_set {
    seen *v;
    size_t cap, n;
} seen_set;

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static seen *seen_slot(const seen_set *s, const char *key) {
    size_t i = (size_t)hash(key) & (s->cap - 1);
    while (s->v[i].key && strcmp(s->v[i].key, key) != 0) i = (i + 1) & (s->cap - 1);
    return &s->v[i];
}

static seen *seen_find(const seen_set *s, const char *key) {
    if (!s->cap) return NULL;
    seen *e = seen_slot(s, key);
    return e->key ? e : NULL;
}

/* Record key -> path (a new key).  Returns 0 or -1. */
static int seen_add(seen_set *s, const char *key, const char *path, lx_error *err) {
    if (2 * (s->n + 1) > s->cap) {
        seen_set t = {calloc(s->cap ? 2 * s->cap : 256, sizeof *t.v), s->cap ? 2 * s->cap : 256, s->n};
        if (!t.v) return lx_error_set(err, "out of memory for %zu image ids", s->n + 1);
        for (size_t i = 0; i < s->cap; i++)
            if (s->v[i].key) *seen_slot(&t, s->v[i].key) = s->v[i];
        free(s->v);
        *s = t;
    }
    seen *e = seen_slot(s, key);
    struct stat st;
    *e = (seen){strdup(key), strdup(path), 0, 0, 0};
    if (!e->key || !e->path) {
        free(e->key), free(e->path);
        e->key = NULL;
        return lx_error_set(err, "out of memory");
    }
    if (stat(path, &st) == 0) e->dev = st.st_dev, e->ino = st.st_ino, e->stat_ok = 1;
    s->n++;
    return 0;
}

/* 1 if path is the file e came from: the same device and inode, or the same name. */
static int same_file(const seen *e, const char *path) {
    struct stat st;
    if (e->stat_ok && stat(path, &st) == 0) return st.st_dev == e->dev && st.st_ino == e->ino;
    return strcmp(e->path, path) == 0;
}

static void seen_free(seen_set *s) {
    for (size_t i = 0; i < s->cap; i++) free(s->v[i].key), free(s->v[i].path);
    free(s->v);
}

/* ---- detection ---------------------------------------------------------------------- */

typedef struct run {
    const opts *o;
    lx_cli *cli;
    lx_model *model;
    lx_detector *det;
    lx_regions g;                 /* the image's regions (arrays reused) */
    seen_set seen;
    const char *const *objects;   /* --names: the model's tables */
    const char *const *attrs;
    size_t nobjects, nattrs;
    char *path;                   /* the path of the image in hand (--image-dir applied) */
    size_t path_cap;
    double decode_s;              /* seconds decoding, in all */
    double stage_s[LX_STAGE_COUNT];/* the detector's totals before the image in hand */
    uint64_t nimages;             /* images detected */
    uint64_t skipped;             /* operands skipped (--skip-bad) */
} run;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The file name of path without its directory and extension ("photos/cat.jpg" -> "cat";
 * leading dots belong to the name, as in ".jpg" or "..x"), into buf.  Returns 0 or -1. */
static int file_id(const char *path, char *buf, size_t len, lx_error *err) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot > base && (size_t)(dot - base) >= strspn(base, ".")) n = (size_t)(dot - base);
    if (n == 0) return lx_error_set(err, "%s: no file name to take the image id from", path);
    if (n >= len) return lx_error_set(err, "%s: file name too long for an image id", path);
    memcpy(buf, base, n);
    buf[n] = '\0';
    return 0;
}

/* Decode path and detect its regions into R->g.  Errors name the file. */
static int detect(run *R, const char *path, lx_error *err) {
    lx_image img;
    double t0 = now();
    if (lx_image_read(&img, path, R->o->max_pixels, err) < 0) return -1;
    double dt = now() - t0;
    R->decode_s += dt;
    for (int s = 0; s < LX_STAGE_COUNT; s++)
        R->stage_s[s] = lx_detector_stage_seconds(R->det, (lx_detector_stage)s);
    int rc = lx_detector_run(R->det, &img, &R->g, err);
    lx_image_free(&img);
    if (rc < 0) return lx_error_prefix(err, "%s", path);
    R->nimages++;
    /* --timings: bare "stage NAME SECONDS" lines, the form bench/detect.sh reads one
     * picture at a time, rather than the tool's own "lx-detect: ..." notes */
    if (R->o->timings) {
        fprintf(stderr, "stage decode %.6f\n", dt);
        for (int s = 0; s < LX_STAGE_COUNT; s++)
            fprintf(stderr, "stage %s %.6f\n", lx_detector_stage_name((lx_detector_stage)s),
                    lx_detector_stage_seconds(R->det, (lx_detector_stage)s) - R->stage_s[s]);
    }
    return 0;
}

/* A JSON list of the names of ids[0, n) from table names[0, count). */
static int name_list(lx_record *r, const char *field, const int64_t *ids, int64_t n,
                     const char *const *names, size_t count, lx_error *err) {
    json_t *a = json_array();
    for (int64_t i = 0; a && i < n; i++) {
        if (ids[i] < 0 || (uint64_t)ids[i] >= count) {
            json_decref(a);
            return lx_error_set(err, "%s: class %lld has no name (the model has %zu)", field,
                                (long long)ids[i], count);
        }
        if (json_array_append_new(a, json_string(names[ids[i]])) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    if (!a) return lx_error_set(err, "out of memory");
    return lx_record_set_json(r, field, a, err);
}

/* The regions as a record in r (cleared first). */
static int to_record(run *R, lx_record *r, lx_error *err) {
    lx_record_clear(r);
    if (lx_regions_to_record(&R->g, r, 0, err) < 0) return -1;
    if (!R->o->names) return 0;
    return name_list(r, "objects", R->g.objects_id, R->g.num_boxes, R->objects, R->nobjects,
                     err) < 0 ||
                   name_list(r, "attrs", R->g.attrs_id, R->g.num_boxes, R->attrs, R->nattrs,
                             err) < 0
               ? -1
               : 0;
}

/* --tsv: the line, flushed at once, so that everything before a bad image is out. */
static int write_tsv(run *R, lx_error *err) {
    if (lx_file_check_mapped(err) < 0) return -1; /* the model rewritten under the image */
    if (lx_regions_write_tsv(&R->g, stdout, err) < 0) return -1;
    if (fflush(stdout) != 0) return lx_error_set(err, "write error: %s", strerror(errno));
    cli_tick(R->cli);
    return 0;
}

/* Two files under one id. */
static int clash(const seen *e, const char *path, lx_error *err) {
    return lx_error_set(err, "%s: image id %s was already detected from %s", path, e->key,
                        e->path);
}

/* path with --image-dir applied (relative paths only) into R->path.  Returns it, or NULL. */
static const char *resolve(run *R, const char *path, lx_error *err) {
    const char *dir = R->o->image_dir;
    if (!dir || path[0] == '/') dir = NULL;
    size_t need = (dir ? strlen(dir) + 1 : 0) + strlen(path) + 1;
    if (need > R->path_cap) {
        char *p = realloc(R->path, need);
        if (!p) {
            lx_error_set(err, "out of memory");
            return NULL;
        }
        R->path = p;
        R->path_cap = need;
    }
    if (dir) snprintf(R->path, need, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", path);
    else memcpy(R->path, path, need);
    return R->path;
}

/* ---- records on standard input ------------------------------------------------------ */

/* The image a record names: its path (--image-dir applied) and its id into key
 * (*is_int: the id is an integer).  Returns the path, or NULL with err set. */
static const char *record_image(run *R, const lx_record *r, char *key, size_t keylen,
                                int *is_int, lx_error *err) {
    const char *field = R->o->field ? R->o->field : "image";
    json_t *v = lx_record_json(r, field);
    if (!v) {
        if (lx_record_tensor(r, field))
            lx_error_set(err, "%s: a tensor, expected the image file's path", field);
        else
            lx_error_set(err, "no %s field (the image file's path; see --field)", field);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        lx_error_set(err, "%s: expected the image file's path as a string", field);
        return NULL;
    }
    const char *path = resolve(R, json_string_value(v), err);
    if (!path) return NULL;
    *is_int = 0;
    const char *idf = "img_id";
    json_t *id = lx_record_json(r, idf);
    if (!id && (id = lx_record_json(r, "image_id"))) idf = "image_id";
    if (id) {
        if (lx_regions_key(id, key, keylen, err) < 0) {
            lx_error_prefix(err, "%s", idf);
            return NULL;
        }
        *is_int = json_is_integer(id);
    } else if (file_id(path, key, keylen, err) < 0) {
        return NULL;
    }
    return path;
}

/* One record: its image detected (unless its id was), the record replaced by the
 * regions (or, with --tsv, the line written and the record dropped). */
static int each_record(void *ctx, lx_record *r, lx_error *err) {
    run *R = ctx;
    char key[1024];
    int is_int;
    const char *path = record_image(R, r, key, sizeof key, &is_int, err);
    if (!path) return -1;
    const seen *e = seen_find(&R->seen, key);
    if (e) return same_file(e, path) ? 0 : clash(e, path, err);
    if (detect(R, path, err) < 0 || lx_regions_set_id(&R->g, key, is_int, err) < 0 ||
        seen_add(&R->seen, key, path, err) < 0)
        return -1;
    if (R->o->tsv) return write_tsv(R, err) < 0 ? -1 : 0;
    return to_record(R, r, err) < 0 ? -1 : 1;
}

/* A record that --skip or --resume skips: an earlier run detected its image, so a later
 * record naming the image writes nothing, as it would have in one run.  (An image that
 * failed in the earlier run under --skip-bad counts as detected too: a later record
 * naming it writes nothing rather than failing again.)  Returns 0, or -1 without memory. */
static int skipped_record(void *ctx, lx_record *r, lx_error *err) {
    run *R = ctx;
    char key[1024];
    int is_int;
    lx_error ignored = {0};
    const char *path = record_image(R, r, key, sizeof key, &is_int, &ignored);
    if (!path || seen_find(&R->seen, key)) return 0; /* a bad record, or a repeat */
    return seen_add(&R->seen, key, path, err);
}

/* ---- image operands ----------------------------------------------------------------- */

/* One operand into the output.  Returns 0, -1 for a bad image (message in err), or
 * -2 when the output failed (the run stops). */
static int one_image(run *R, const char *path, lx_record *r, lx_error *err) {
    char key[1024];
    if (file_id(path, key, sizeof key, err) < 0) return -1;
    const seen *e = seen_find(&R->seen, key);
    if (e && !same_file(e, path)) return clash(e, path, err);
    if (detect(R, path, err) < 0 || lx_regions_set_id(&R->g, key, 0, err) < 0 ||
        (!e && seen_add(&R->seen, key, path, err) < 0))
        return -1;
    if (R->o->tsv) return write_tsv(R, err) < 0 ? -2 : 0;
    if (lx_file_check_mapped(err) < 0) return -2; /* the model rewritten under the image */
    lx_writer *w = cli_output(R->cli, err);
    if (!w) return -2;
    if (to_record(R, r, err) < 0) return -1;
    if (lx_writer_write(w, r, err) < 0) return ferror(stdout) ? -2 : -1;
    if (lx_writer_flush(w, err) < 0) return -2;
    cli_tick(R->cli);
    return 0;
}

static int images(run *R) {
    lx_cli *c = R->cli;
    lx_record r;
    lx_error err = {0};
    int status = LX_EXIT_OK;
    lx_record_init(&r);
    c->records = 1; /* for the count at the end, --tsv or not */
    for (int i = 0; i < c->nargs; i++) {
        int rc = one_image(R, c->args[i], &r, &err);
        if (rc == 0) continue;
        if (c->out) lx_writer_flush(c->out, NULL);
        cli_error(c, "%s", err.msg);
        if (rc == -1 && c->skip_bad) {
            R->skipped++;
            continue;
        }
        status = LX_EXIT_FAIL;
        break;
    }
    lx_record_clear(&r);
    if (R->skipped)
        cli_note(c, "%llu image%s skipped", (unsigned long long)R->skipped,
                 R->skipped == 1 ? "" : "s");
    return status;
}

/* ---- main --------------------------------------------------------------------------- */

/* The model, its name tables for --names, the detector.  Returns 0 or -1. */
static int setup(run *R, const lx_cli *c, lx_error *err) {
    const opts *o = R->o;
    const char *path = cli_model_path(c);
    if (!(R->model = cli_model_open(c, NULL, err)) ||
        lx_model_expect(R->model, LX_MODEL_DETECTOR, err) < 0)
        return -1;
    if (o->names) {
        const lx_detector_config *dc = lx_model_detector_config(R->model);
        R->objects = lx_model_names(R->model, LX_TABLE_OBJECTS, &R->nobjects);
        R->attrs = lx_model_names(R->model, LX_TABLE_ATTRIBUTES, &R->nattrs);
        if (!R->objects || !R->attrs)
            return lx_error_set(err, "%s: --names: the model has no %s names (convert it with "
                                     "lx-convert --objects FILE --attributes FILE)", path,
                                R->objects ? "attribute" : "object");
        if (R->nobjects != (size_t)dc->num_classes || R->nattrs != (size_t)dc->num_attrs)
            return lx_error_set(err, "%s: --names: %zu object and %zu attribute names for %d "
                                     "classes and %d attributes", path, R->nobjects,
                                R->nattrs, dc->num_classes, dc->num_attrs);
    }
    lx_net_opts no = {0};
    if (cli_net_opts(c, &no, err) < 0) return -1;
    lx_detector_opts d = {
        .select = o->select < 0 ? LX_SELECT_HF : (lx_selection)o->select,
        .rgb = o->rgb,
        .min_size = (int)o->min_size,
        .max_size = (int)o->max_size,
        .min_boxes = (int)o->min_boxes,
        .max_boxes = (int)o->max_boxes,
        .threads = no.threads,
        .max_isa = no.max_isa,
        .exact_bf16 = o->exact_bf16,
    };
    if (!(R->det = lx_detector_new(R->model, &d, err))) return lx_error_prefix(err, "%s", path);
    return 0;
}

/* --preset lxmert: what LXMERT's features were made with, under the options given. */
static void apply_preset(opts *o) {
    if (!o->preset) return;
    if (o->select < 0) o->select = LX_SELECT_CAFFE;
    if (!o->min_size) o->min_size = 600;
    if (!o->max_size) o->max_size = 1000;
    if (!o->min_boxes) o->min_boxes = 36;
    if (!o->max_boxes) o->max_boxes = 36;
}

/* --timings: the totals over the run. */
static void timing_totals(run *R) {
    char buf[512];
    int at = snprintf(buf, sizeof buf, "timings over %llu image%s: decode %.3f s",
                      (unsigned long long)R->nimages, R->nimages == 1 ? "" : "s", R->decode_s);
    double total = R->decode_s;
    for (int s = 0; s < LX_STAGE_COUNT && at > 0 && (size_t)at < sizeof buf; s++) {
        double t = lx_detector_stage_seconds(R->det, (lx_detector_stage)s);
        total += t;
        at += snprintf(buf + at, sizeof buf - (size_t)at, ", %s %.3f s",
                       lx_detector_stage_name((lx_detector_stage)s), t);
    }
    cli_note(R->cli, "%s; %.3f s in all", buf, total);
}

int main(int argc, char **argv) {
    opts o = {.select = -1, .max_pixels = MAX_PIXELS_DEFAULT};
    lx_cli c;
    int st = cli_start(&c, &tool, argc, argv, &o);
    if (st != CLI_RUN) return st;
    if (o.boxes && (o.min_boxes != o.max_boxes))
        return cli_usage(&c, "--boxes N sets both --min-boxes and --max-boxes; give one or "
                             "the others");
    apply_preset(&o);
    if (o.min_size && o.max_size && o.min_size > o.max_size)
        return cli_usage(&c, "--min-size %ld is more than --max-size %ld%s", o.min_size,
                         o.max_size, o.preset ? " (with --preset lxmert)" : "");
    if (o.min_boxes && o.max_boxes && o.min_boxes > o.max_boxes)
        return cli_usage(&c, "--min-boxes %ld is more than --max-boxes %ld%s", o.min_boxes,
                         o.max_boxes, o.preset ? " (with --preset lxmert)" : "");
    if (o.tsv && (c.format_arg || o.names))
        return cli_usage(&c, "--tsv writes TSV lines: -f and --names do not apply");
    if (c.nargs && (o.image_dir || o.field || c.skip || c.resume_path))
        return cli_usage(&c, "--field, --image-dir, --skip and --resume apply to records on "
                             "standard input; not with IMAGE operands");
    if (o.tsv && c.resume_path)
        return cli_usage(&c, "--resume writes records, not --tsv lines (--skip N with the "
                             "output appended goes on after N records)");

    run R = {.o = &o, .cli = &c};
    lx_regions_init(&R.g);
    lx_error err = {0};
    if (setup(&R, &c, &err) < 0)
        st = cli_error(&c, "%s", err.msg);
    else if (c.nargs)
        st = images(&R);
    else
        st = cli_records(&c, &(cli_loop){.each = each_record, .skipped = skipped_record,
                                          .ctx = &R});
    if (o.timings && R.det) timing_totals(&R);
    lx_detector_free(R.det);
    lx_model_close(R.model);
    lx_regions_free(&R.g);
    seen_free(&R.seen);
    free(R.path);
    return cli_finish(&c, st);
}
