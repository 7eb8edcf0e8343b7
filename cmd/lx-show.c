/*
 * lx-show — answered records drawn for people: one self-contained HTML page with a card
 * per record (the image with its regions shaded by a word piece's cross-modality
 * attention, the word pieces, the answers, the truth), or one SVG file per record.
 *
 * The library reads each record into a card (lx_card_read) and draws it
 * (lx_report_card, lx_card_write_svg); this file chooses the records (--only-wrong,
 * --limit, --sort), finds their images and writes the page.
 *
 * Memory.  Without --sort the page is written card by card: one record, its card and its
 * image at a time, however many records come.  --sort must see every record before the
 * first card; it keeps the cards that may be shown (at most --limit of them, without
 * their images, which are read when the page is written), so memory grows with --limit,
 * not with the input.  Records past --limit are still read and checked, and counted for
 * the note at the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "lx.h"

/* Image files are read whole to be embedded: larger ones are left out. */
#define MAX_IMAGE_BYTES ((size_t)64 << 20)
/* An image is decoded only when the record gives no size; this many pixels at most. */
#define MAX_PIXELS 50000000ull
#define LIMIT_DEFAULT 500

typedef enum { SORT_INPUT = 0, SORT_SCORE, SORT_LOW_SCORE } sort_key;

typedef struct opts {
    const char *output;           /* -o FILE (NULL: standard output) */
    const char *svg;              /* --svg DIR: one SVG file per record instead */
    const char *image_dir;        /* --image-dir DIR: images by img_id, base of paths */
    const char *detector;         /* --detector FILE: object and attribute names */
    long layer;                   /* --layer K: the cross-modality layer (-1: the last) */
    long head;                    /* --head H (-1: the mean over heads) */
    long limit;                   /* --limit N: records shown (LIMIT_DEFAULT; 0: all) */
    int only_wrong;               /* --only-wrong: records whose answer scores 0 */
    sort_key sort;                /* --sort: input order (default), score, low-score */
} opts;

enum { O_SVG = CLI_OWN, O_IMAGE_DIR, O_DETECTOR, O_LAYER, O_HEAD, O_LIMIT, O_ONLY_WRONG,
       O_SORT };

static const struct option longopts[] = {
    {"output", required_argument, NULL, 'o'},
    {"svg", required_argument, NULL, O_SVG},
    {"image-dir", required_argument, NULL, O_IMAGE_DIR},
    {"detector", required_argument, NULL, O_DETECTOR},
    {"layer", required_argument, NULL, O_LAYER},
    {"head", required_argument, NULL, O_HEAD},
    {"limit", required_argument, NULL, O_LIMIT},
    {"only-wrong", no_argument, NULL, O_ONLY_WRONG},
    {"sort", required_argument, NULL, O_SORT},
    {NULL, 0, NULL, 0},
};

static int option(lx_cli *c, void *p, int ch, const char *arg) {
    opts *o = p;
    switch (ch) {
    case 'o':
    case O_SVG:
    case O_IMAGE_DIR:
    case O_DETECTOR:
        if (!*arg)
            return cli_usage(c, "%s: an empty name", ch == 'o' ? "-o" : ch == O_SVG ? "--svg"
                                                     : ch == O_IMAGE_DIR ? "--image-dir"
                                                                         : "--detector");
        *(ch == 'o' ? &o->output : ch == O_SVG ? &o->svg : ch == O_IMAGE_DIR ? &o->image_dir
                                                                             : &o->detector) = arg;
        break;
    case O_LAYER: return cli_parse_long(c, "--layer", arg, -1000, 999, &o->layer);
    case O_HEAD:
        if (strcmp(arg, "mean") == 0) {
            o->head = -1;
            return 0;
        }
        return cli_parse_long(c, "--head", arg, 0, 999, &o->head);
    case O_LIMIT: return cli_parse_long(c, "--limit", arg, 0, 100000000, &o->limit);
    case O_ONLY_WRONG: o->only_wrong = 1; break;
    case O_SORT:
        if (strcmp(arg, "input") == 0) o->sort = SORT_INPUT;
        else if (strcmp(arg, "score") == 0) o->sort = SORT_SCORE;
        else if (strcmp(arg, "low-score") == 0) o->sort = SORT_LOW_SCORE;
        else return cli_usage(c, "--sort: got '%s', expected input, score or low-score", arg);
        break;
    }
    return 0;
}

static const cli_tool tool = {
    .name = "lx-show",
    .about =
        "Usage: lx-show [OPTION]... [FILE]\n"
        "Draw the answered records of FILE (default: standard input) as one self-contained\n"
        "HTML page (-o FILE, default standard output), or one SVG file per record (--svg):\n"
        "each card shows the image (found by --image-dir or the record's \"image\" path)\n"
        "with its regions, shaded by a word piece's cross-modality attention, the word\n"
        "pieces (hover or click one to shade by it; [CLS] by default), the answers with\n"
        "their scores and the truth.  It reads what lx-tokenize, lx-embed-vis and\n"
        "lx-vqa --attentions leave in a record: sent, tokens or input_ids, visual_pos or\n"
        "boxes, img_w and img_h, objects_id and attrs_id, cross_encoder_attentions,\n"
        "answers, label, vqa_score or vqa_accuracy.  A record without some of them is\n"
        "drawn without them (no attentions: the boxes unshaded), with a note.\n",
    .options =
        "Output:\n"
        "  -o, --output FILE     write the page to FILE (default: standard output)\n"
        "      --svg DIR         write DIR/NAME.svg for each record instead (the [CLS]\n"
        "                        shading; NAME: the question_id, else record-N)\n"
        "      --image-dir DIR   find each image as DIR/IMG_ID.jpg (.jpeg, .png, or in\n"
        "                        capitals), and relative \"image\" paths under DIR\n"
        "      --detector FILE   the detector .lxm whose names label objects_id and\n"
        "                        attrs_id\n"
        "\n"
        "Attention:\n"
        "      --layer K         the cross-modality layer, from 0; negative counts from\n"
        "                        the last (default -1: the last)\n"
        "      --head H          one head, from 0, or mean (default: the mean over heads)\n"
        "\n"
        "Choosing records:\n"
        "      --limit N         show at most N records (default 500; 0: all); a note on\n"
        "                        stderr says how many more were read\n"
        "      --only-wrong      only records whose answer scores 0 against their truth\n"
        "      --sort KEY        input (default), score (the top answer's score, highest\n"
        "                        first) or low-score (lowest first)\n",
    .examples =
        "Examples:\n"
        "  lx-tokenize -m vqa.lxm < q.jsonl | lx-embed-vis --features f.tsv |\n"
        "    lx-vqa -m vqa.lxm --attentions | lx-show -o report.html\n"
        "  lx-show --only-wrong --sort score --limit 50 -o wrong.html answers.bin\n",
    .flags = CLI_INPUT | CLI_MODEL,
    .format = LX_FMT_JSON,
    .model_help = "an LXMERT .lxm whose vocabulary spells input_ids\n"
                  "                        without tokens (default: $LX_MODEL; optional)",
    .format_help = "does not apply: lx-show writes HTML or SVG",
    .threads_help = "accepted; lx-show runs on one thread",
    .progress_help = "a progress line on standard error, a count at the end",
    .shortopts = "o:",
    .longopts = longopts,
    .option = option,
};

/* ---- the run ---------------------------------------------------------------------- */

/* A card kept for --sort, with the image found for it. */
typedef struct kept {
    lx_card card;
    char *image;                  /* path, or NULL */
    int asked;                    /* an image was asked for */
    char *base;                   /* --svg: the file's name */
    double key;                   /* larger shows first */
} kept;

typedef struct run {
    const opts *o;
    lx_cli *cli;
    lx_card_opts copts;
    lx_model *model, *detector;
    FILE *out;                    /* the page (NULL with --svg) */
    const char *out_name;         /* for messages */
    uint64_t calls, failed;       /* record callbacks, and those that failed */
    uint64_t read, eligible, shown;
    int write_failed;
    /* images */
    char *path;                   /* scratch for a path */
    size_t path_cap;
    char *size_of;                /* the last image decoded for its size, and that size */
    int size_w, size_h;
    uint64_t missing;             /* images asked for and not found or not readable */
    /* --svg file names already written */
    char **names;
    size_t nnames, names_cap;
    /* --sort */
    kept *keep;
    size_t nkeep, keep_cap;
} run;

/* The record's number in its input: the callbacks so far plus the records the loop
 * skipped before reaching a callback (--skip-bad counts both kinds). */
static uint64_t record_no(const run *R) {
    return R->calls + (R->cli->nskipped - R->failed);
}

static int path_set(run *R, const char *dir, const char *name, const char *ext,
                    lx_error *err) {
    size_t need = (dir ? strlen(dir) + 1 : 0) + strlen(name) + (ext ? strlen(ext) : 0) + 1;
    if (need > R->path_cap) {
        char *p = realloc(R->path, need);
        if (!p) return lx_error_set(err, "out of memory");
        R->path = p;
        R->path_cap = need;
    }
    snprintf(R->path, need, "%s%s%s%s", dir ? dir : "", dir ? "/" : "", name, ext ? ext : "");
    return 0;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The image file of card c: its image field (under --image-dir when relative), else
 * --image-dir/IMG_ID with the usual extensions.  *path gets a new string, NULL when
 * none is asked for (*asked 0) or none is found.  Returns 0 or -1. */
static int find_image(run *R, const lx_card *c, char **path, int *asked, lx_error *err) {
    static const char *const ext[] = {".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG"};
    const char *dir = R->o->image_dir;
    *asked = 0;
    *path = NULL;
    if (c->image) {
        *asked = 1;
        if (path_set(R, c->image[0] == '/' ? NULL : dir, c->image, NULL, err) < 0) return -1;
    } else if (dir && c->img_id) {
        *asked = 1;
        for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
            if (path_set(R, dir, c->img_id, ext[i], err) < 0) return -1;
            if (is_file(R->path)) break;
        }
    }
    if (*asked && is_file(R->path) && !(*path = strdup(R->path)))
        return lx_error_set(err, "out of memory");
    return 0;
}

/* An image asked for that cannot be drawn: the first one is named, all are counted. */
static void image_missing(run *R, const lx_card *c, const char *why) {
    if (R->missing++ == 0)
        cli_warn(R->cli, "record %llu: %s; drawn without it", (unsigned long long)c->recno, why);
}

/* Read the image at path (NULL: none) into *data; give the card its size when the record
 * did not.  Problems are warnings: the card is drawn without the image. */
static void load_image(run *R, lx_card *c, const char *path, int asked, void **data,
                       size_t *len) {
    *data = NULL;
    *len = 0;
    char why[1200];
    if (!path) {
        if (asked) {
            const char *dir = c->image && c->image[0] != '/' ? R->o->image_dir : NULL;
            struct stat st;
            if (c->image)
                snprintf(why, sizeof why, "image %s%s%s %s", dir ? dir : "", dir ? "/" : "",
                         c->image, stat(R->path, &st) == 0 ? "is not a regular file"
                                                           : "not found");
            else snprintf(why, sizeof why, "no image %s.jpg, .jpeg or .png in %s", c->img_id,
                          R->o->image_dir);
            image_missing(R, c, why);
        }
        return;
    }
    FILE *f = fopen(path, "rb");
    struct stat st;
    int bad = !f || fstat(fileno(f), &st) < 0;
    if (bad || !S_ISREG(st.st_mode)) {
        snprintf(why, sizeof why, "cannot read %s: %s", path,
                 bad ? strerror(errno) : "not a regular file");
        if (f) fclose(f);
        image_missing(R, c, why);
        return;
    }
    if ((uint64_t)st.st_size > MAX_IMAGE_BYTES) {
        snprintf(why, sizeof why, "%s: %lld bytes, more than the %zu MiB embedded", path,
                 (long long)st.st_size, MAX_IMAGE_BYTES >> 20);
        fclose(f);
        image_missing(R, c, why);
        return;
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf || fread(buf, 1, n, f) != n) {
        snprintf(why, sizeof why, "cannot read %s", path);
        free(buf);
        fclose(f);
        image_missing(R, c, why);
        return;
    }
    fclose(f);
    if (!lx_image_mime(buf, n)) {
        snprintf(why, sizeof why, "%s: not a JPEG or PNG file", path);
        free(buf);
        image_missing(R, c, why);
        return;
    }
    if (!(c->width > 0)) {
        /* the size the boxes were made in: the decoded image's, EXIF orientation applied
         * (as lx-detect and browsers see it); consecutive records often share an image */
        if (!R->size_of || strcmp(R->size_of, path) != 0) {
            lx_image img = {0};
            lx_error err = {0};
            if (lx_image_decode(&img, buf, n, path, MAX_PIXELS, &err) < 0) {
                free(buf);
                image_missing(R, c, err.msg);
                return;
            }
            free(R->size_of);
            R->size_of = strdup(path);
            R->size_w = img.w;
            R->size_h = img.h;
            lx_image_free(&img);
        }
        c->width = R->size_w;
        c->height = R->size_h;
    }
    *data = buf;
    *len = n;
}

/* --svg: the name of record r's file, without .svg: its question_id when that is a
 * plain name, else record-N.  Returns a new string, or NULL. */
static char *svg_base(const lx_record *r, uint64_t recno) {
    const json_t *q = lx_record_json(r, "question_id");
    char key[256];
    lx_error e = {0};
    int plain = q && lx_regions_key(q, key, sizeof key, &e) > 0 && key[0] != '.' &&
                strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                            "0123456789._-") == strlen(key);
    if (!plain) snprintf(key, sizeof key, "record-%llu", (unsigned long long)recno);
    return strdup(key);
}

/* --svg: the path of card c's file from its base name (one already written in this run
 * gets -N), into R->path. */
static int svg_path(run *R, const lx_card *c, const char *base, lx_error *err) {
    char name[300];
    snprintf(name, sizeof name, "%s", base);
    for (size_t i = 0; i < R->nnames; i++)
        if (strcmp(R->names[i], name) == 0) {
            size_t l = strlen(name);
            snprintf(name + l, sizeof name - l, "-%llu", (unsigned long long)c->recno);
            break;
        }
    if (R->nnames == R->names_cap) {
        size_t cap = R->names_cap ? 2 * R->names_cap : 64;
        char **p = realloc(R->names, cap * sizeof *p);
        if (!p) return lx_error_set(err, "out of memory");
        R->names = p;
        R->names_cap = cap;
    }
    if (!(R->names[R->nnames] = strdup(name))) return lx_error_set(err, "out of memory");
    R->nnames++;
    return path_set(R, R->o->svg, name, ".svg", err);
}

/* Draw card c (with the image at path) onto the page or into its SVG file (named from
 * base). */
static int draw(run *R, lx_card *c, const char *path, int asked, const char *base,
                lx_error *err) {
    void *img;
    size_t len;
    load_image(R, c, path, asked, &img, &len);
    int rc;
    if (R->o->svg) {
        if (svg_path(R, c, base, err) < 0) {
            free(img);
            return -1;
        }
        FILE *f = fopen(R->path, "w");
        if (!f) {
            rc = lx_error_set(err, "cannot create %s: %s", R->path, strerror(errno));
        } else {
            rc = lx_card_write_svg(f, c, img, len, err);
            if (fclose(f) != 0 && rc == 0) rc = lx_error_set(err, "write error: %s", strerror(errno));
            if (rc < 0) lx_error_prefix(err, "%s", R->path);
        }
    } else {
        rc = lx_report_card(R->out, c, img, len, err);
        if (rc < 0) lx_error_prefix(err, "%s", R->out_name);
    }
    free(img);
    if (rc < 0) R->write_failed = 1;
    else R->shown++;
    return rc;
}

/* --sort: the key (larger first; no score: last) and the order of two kept cards. */
static double sort_key_of(const run *R, const lx_card *c) {
    double s = c->npicks && c->picks[0].score >= 0 ? c->picks[0].score : -1;
    if (s < 0) return -2;
    return R->o->sort == SORT_SCORE ? s : -s;
}

static int kept_cmp(const void *a, const void *b) {
    const kept *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    return x->card.recno < y->card.recno ? -1 : x->card.recno > y->card.recno;
}

static void kept_free(kept *k) {
    lx_card_free(&k->card);
    free(k->image);
    free(k->base);
}

/* Keep card c (of record r) for --sort when it may be shown: at most --limit, the
 * weakest one making way for a stronger.  Takes c (freed when not kept). */
static int sort_keep(run *R, lx_card *c, const lx_record *r, lx_error *err) {
    kept k = {.card = *c, .key = sort_key_of(R, c)};
    size_t limit = (size_t)R->o->limit;
    memset(c, 0, sizeof *c);
    if (limit && R->nkeep == limit) {
        size_t worst = 0;
        for (size_t i = 1; i < R->nkeep; i++)
            if (kept_cmp(&R->keep[i], &R->keep[worst]) > 0) worst = i;
        if (kept_cmp(&k, &R->keep[worst]) >= 0) {
            lx_card_free(&k.card);
            return 0;
        }
        kept_free(&R->keep[worst]);
        R->keep[worst] = R->keep[--R->nkeep];
    }
    if (R->nkeep == R->keep_cap) {
        size_t cap = R->keep_cap ? 2 * R->keep_cap : 64;
        kept *p = realloc(R->keep, cap * sizeof *p);
        if (!p) {
            lx_card_free(&k.card);
            return lx_error_set(err, "out of memory");
        }
        R->keep = p;
        R->keep_cap = cap;
    }
    if (find_image(R, &k.card, &k.image, &k.asked, err) < 0 ||
        (R->o->svg && !(k.base = svg_base(r, k.card.recno)))) {
        kept_free(&k);
        return err->msg[0] ? -1 : lx_error_set(err, "out of memory");
    }
    R->keep[R->nkeep++] = k;
    return 0;
}

/* One record: read it into a card, choose, draw (or keep it for --sort). */
static int each(void *ctx, lx_record *r, lx_error *err) {
    run *R = ctx;
    R->calls++;
    err->msg[0] = '\0';
    if (R->write_failed) return 0; /* reported; the input is read to its end */
    lx_card c;
    if (lx_card_read(&c, r, &R->copts, err) < 0) {
        R->failed++;
        if (R->out) fflush(R->out);
        return -1;
    }
    c.recno = record_no(R);
    R->read++;
    cli_tick(R->cli);
    if (R->o->only_wrong && c.verdict != LX_VERDICT_WRONG) {
        lx_card_free(&c);
        return 0;
    }
    R->eligible++;
    int rc = 0;
    if (R->o->sort != SORT_INPUT) {
        rc = sort_keep(R, &c, r, err);
    } else if (R->o->limit == 0 || R->shown < (uint64_t)R->o->limit) {
        int asked;
        char *path = NULL, *base = NULL;
        if (find_image(R, &c, &path, &asked, err) < 0 ||
            (R->o->svg && !(base = svg_base(r, c.recno))))
            rc = err->msg[0] ? -1 : lx_error_set(err, "out of memory");
        else
            rc = draw(R, &c, path, asked, base, err);
        free(path);
        free(base);
    }
    lx_card_free(&c);
    if (rc < 0 && R->write_failed) {
        /* the output failed, not the record: said once, and the run fails at the end */
        cli_error(R->cli, "%s", err->msg);
        return 0;
    }
    if (rc < 0) {
        R->failed++;
        if (R->out) fflush(R->out);
    }
    return rc < 0 ? -1 : 0;
}

/* --sort: draw the kept cards in order. */
static int draw_kept(run *R) {
    lx_error err = {0};
    if (R->nkeep) qsort(R->keep, R->nkeep, sizeof *R->keep, kept_cmp);
    for (size_t i = 0; i < R->nkeep; i++) {
        kept *k = &R->keep[i];
        if (!R->write_failed && draw(R, &k->card, k->image, k->asked, k->base, &err) < 0)
            return cli_error(R->cli, "%s", err.msg);
    }
    return LX_EXIT_OK;
}

/* What the page says at its top: the input and the view. */
static void header_note(const run *R, char *buf, size_t len) {
    const opts *o = R->o;
    char layer[64], head[64];
    if (o->layer == -1) snprintf(layer, sizeof layer, "the last cross-modality layer");
    else snprintf(layer, sizeof layer, "cross-modality layer %ld", o->layer);
    if (o->head < 0) snprintf(head, sizeof head, "the mean over heads");
    else snprintf(head, sizeof head, "head %ld", o->head);
    snprintf(buf, len, "Boxes shaded by each word piece's attention over the regions (%s, %s); "
             "[CLS] by default, hover or click a word piece for its own.%s%s",
             layer, head, o->only_wrong ? " Only wrong answers." : "",
             o->sort == SORT_SCORE ? " Highest-scoring answers first."
             : o->sort == SORT_LOW_SCORE ? " Lowest-scoring answers first." : "");
}

static void footer_note(const run *R, char *buf, size_t len) {
    if (R->read == 0) {
        snprintf(buf, len, "No records.");
        return;
    }
    snprintf(buf, len, "%llu of %llu record%s shown%s.", (unsigned long long)R->shown,
             (unsigned long long)R->read, R->read == 1 ? "" : "s",
             R->o->only_wrong ? " (only wrong answers)" : "");
}

/* Open what the run writes: the page (-o or stdout, its head written) or the SVG
 * directory; the models.  Returns 0, or -1 with err set. */
static int setup(run *R, lx_error *err) {
    const opts *o = R->o;
    lx_cli *c = R->cli;
    const char *mp = cli_model_path(c);
    if (mp && (!(R->model = lx_model_open(mp, err)) ||
               lx_model_expect(R->model, LX_MODEL_LXMERT, err) < 0))
        return -1;
    if (o->detector && (!(R->detector = lx_model_open(o->detector, err)) ||
                        lx_model_expect(R->detector, LX_MODEL_DETECTOR, err) < 0))
        return -1;
    R->copts = (lx_card_opts){.layer = (int)o->layer, .head = (int)o->head,
                              .model = R->model, .detector = R->detector};
    if (o->svg) {
        struct stat st;
        if (mkdir(o->svg, 0777) < 0 && errno != EEXIST)
            return lx_error_set(err, "cannot create %s: %s", o->svg, strerror(errno));
        if (stat(o->svg, &st) < 0 || !S_ISDIR(st.st_mode))
            return lx_error_set(err, "%s: not a directory", o->svg);
        return 0;
    }
    /* the page is written as the records come, into FILE opened for writing, which
     * empties it first: a file the run reads (the input, a model) is refused */
    const char *reads = NULL;
    struct stat so, si;
    if (o->output && (c->path ? lx_file_same(o->output, c->path)
                              : stat(o->output, &so) == 0 && fstat(STDIN_FILENO, &si) == 0 &&
                                    so.st_dev == si.st_dev && so.st_ino == si.st_ino))
        reads = "the input";
    else if (o->output && ((mp && lx_file_same(o->output, mp)) ||
                           (o->detector && lx_file_same(o->output, o->detector))))
        reads = "a model";
    if (reads)
        return lx_error_set(err, "cannot write %s: it is %s, which this run reads; write to "
                                 "another file", o->output, reads);
    R->out = o->output ? fopen(o->output, "w") : stdout;
    R->out_name = o->output ? o->output : "standard output";
    if (!R->out) return lx_error_set(err, "cannot create %s: %s", o->output, strerror(errno));
    char title[1200], note[600];
    snprintf(title, sizeof title, "lx-show: %s", c->path ? c->path : "standard input");
    header_note(R, note, sizeof note);
    return lx_report_begin(R->out, title, note, err) < 0 ? lx_error_prefix(err, "%s", R->out_name)
                                                         : 0;
}

/* The end of the page, the file closed; the notes. */
static int finish(run *R, int st) {
    lx_error err = {0};
    char note[300];
    if (R->out) {
        footer_note(R, note, sizeof note);
        if (!R->write_failed && lx_report_end(R->out, note, &err) < 0) {
            st = cli_error(R->cli, "%s: %s", R->out_name, err.msg);
            R->write_failed = 1;
        }
        if (R->out != stdout && fclose(R->out) != 0 && !R->write_failed)
            st = cli_error(R->cli, "%s: write error: %s", R->out_name, strerror(errno));
        R->out = NULL;
    }
    if (R->write_failed) st = LX_EXIT_FAIL;
    if (R->missing > 1)
        cli_note(R->cli, "%llu records drawn without their image (the first is named above)",
                 (unsigned long long)R->missing);
    if (R->eligible > R->shown && !R->write_failed && st == LX_EXIT_OK) {
        char wrong[64] = "";
        if (R->o->only_wrong)
            snprintf(wrong, sizeof wrong, ", %llu with a wrong answer",
                     (unsigned long long)R->eligible);
        cli_note(R->cli, "%llu records read%s, %llu shown (--limit %ld; --limit 0 shows all)",
                 (unsigned long long)R->read, wrong, (unsigned long long)R->shown, R->o->limit);
    }
    return st;
}

int main(int argc, char **argv) {
    opts o = {.layer = -1, .head = -1, .limit = LIMIT_DEFAULT};
    lx_cli c;
    int st = cli_start(&c, &tool, argc, argv, &o);
    if (st != CLI_RUN) return st;
    if (c.format_arg)
        return cli_usage(&c, "-f does not apply: lx-show writes an HTML page (or SVG files)");
    if (o.svg && o.output) return cli_usage(&c, "--svg writes files into its DIR: -o does not apply");

    run R = {.o = &o, .cli = &c};
    lx_error err = {0};
    if (setup(&R, &err) < 0) {
        st = cli_error(&c, "%s", err.msg);
    } else {
        st = cli_records(&c, &(cli_loop){.each = each, .ctx = &R});
        if (o.sort != SORT_INPUT && st == LX_EXIT_OK) st = draw_kept(&R);
        if (R.out || o.svg) st = finish(&R, st);
    }
    if (R.out && R.out != stdout) fclose(R.out);
    for (size_t i = 0; i < R.nkeep; i++) kept_free(&R.keep[i]);
    free(R.keep);
    for (size_t i = 0; i < R.nnames; i++) free(R.names[i]);
    free(R.names);
    free(R.path);
    free(R.size_of);
    lx_model_close(R.detector);
    lx_model_close(R.model);
    return cli_finish(&c, st);
}
