/*
 * yaml.c — a YAML file as HF's frcnn code reads its config.yaml (PyYAML's yaml.load, YAML
 * 1.1), into JSON (ckpt.h).  libyaml parses; this file builds the JSON from its events.
 *
 * Scalars are typed as PyYAML's resolver types them, by the same patterns, and only when
 * plain (quoted and block scalars are strings):
 *   null    ~ null Null NULL, and the empty scalar
 *   bool    yes/no, true/false, on/off in lower, Title and UPPER case
 *   int     decimal, 0b binary, 0 octal, 0x hex, base-60 (1:30), '_' anywhere after
 *           the first digit
 *   float   with a '.' (1.5, 1., .5; an exponent needs its sign: 1.0e-5), base-60 with a
 *           '.': 1e-5 has no '.' and stays a string, as in PyYAML
 *   else a string.
 * Refused, each with the file and line, rather than read differently from PyYAML:
 * anchors and aliases, tags (!!str, !!python/...), merge keys (<<), timestamps, '=',
 * .inf / .nan and numbers JSON cannot hold (beyond int64, overflowing doubles), keys that
 * are not strings (PyYAML makes `on:` the key True), a key given twice (PyYAML keeps the
 * last silently), more than one document, nesting deeper than LX_YAML_MAX_DEPTH.
 * An empty file (or only comments) is JSON null, as PyYAML gives None.
 */
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "../internal.h"
#include "ckpt.h"

#define LX_YAML_MAX_DEPTH 64
#define LX_YAML_MAX_BYTES ((size_t)16 << 20) /* a config is a few KB */

/* PyYAML's implicit resolvers (yaml/resolver.py), in its order, as POSIX EREs. */
enum { R_BOOL, R_FLOAT, R_INT, R_MERGE, R_NULL, R_TIMESTAMP, R_VALUE, R_COUNT };
static const char *const patterns[R_COUNT] = {
    [R_BOOL] = "^(yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
    [R_FLOAT] = "^([-+]?[0-9][0-9_]*\\.[0-9_]*([eE][-+][0-9]+)?"
                "|\\.[0-9][0-9_]*([eE][-+][0-9]+)?"
                "|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*"
                "|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN))$",
    [R_INT] = "^([-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
              "|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$",
    [R_MERGE] = "^<<$",
    [R_NULL] = "^(~|null|Null|NULL)$", /* and "", tested apart */
    [R_TIMESTAMP] = "^([0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
                    "|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?([Tt]|[ \t]+)[0-9][0-9]?"
                    ":[0-9][0-9]:[0-9][0-9](\\.[0-9]*)?([ \t]*(Z|[-+][0-9][0-9]?(:[0-9][0-9])?))?)$",
    [R_VALUE] = "^=$",
};

/* A sequence or mapping being filled. */
typedef struct open_node {
    json_t *node;
    char *key;                    /* a mapping's key waiting for its value (malloc'd) */
} open_node;

typedef struct builder {
    const char *name;             /* the file, for messages */
    regex_t re[R_COUNT];
    int nre;                      /* compiled so far */
    open_node stack[LX_YAML_MAX_DEPTH];
    int depth;
    json_t *root;
    int docs;
} builder;

/* "NAME: line N: message".  Returns -1. */
static int fail(const builder *b, const yaml_event_t *ev, lx_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(const builder *b, const yaml_event_t *ev, lx_error *err, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lx_error_set(err, "%s: line %zu: %s", b->name, ev->start_mark.line + 1, msg);
}

/* ---- scalars ---------------------------------------------------------------------- */

/* s without '_' into out (room for strlen(s) + 1). */
static void strip_underscores(const char *s, char *out) {
    for (; *s; s++)
        if (*s != '_') *out++ = *s;
    *out = 0;
}

/* Digits of base into *v (overflow and no digits: -1). */
static int digits(const char *s, int base, uint64_t *v) {
    *v = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        int d = *s <= '9' ? *s - '0' : (*s | 0x20) - 'a' + 10;
        if (*v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return -1;
        *v = *v * (uint64_t)base + (uint64_t)d;
    }
    return 0;
}

/* PyYAML's construct_yaml_int on text matched by R_INT; NULL when JSON cannot hold it
 * (or out of memory). */
static json_t *make_int(const char *text) {
    char *t = malloc(strlen(text) + 1);
    if (!t) return NULL;
    strip_underscores(text, t);
    int neg = t[0] == '-';
    char *s = t + (t[0] == '-' || t[0] == '+');
    uint64_t v = 0;
    int rc = 0;
    if (strncmp(s, "0b", 2) == 0) rc = digits(s + 2, 2, &v);
    else if (strncmp(s, "0x", 2) == 0) rc = digits(s + 2, 16, &v);
    else if (s[0] == '0') rc = digits(s, 8, &v);
    else if (strchr(s, ':')) /* base 60: 1:30 is 90 */
        for (char *part = strtok(s, ":"); part && rc == 0; part = strtok(NULL, ":")) {
            uint64_t d;
            rc = digits(part, 10, &d) < 0 || v > (UINT64_MAX - d) / 60 ? -1 : 0;
            v = v * 60 + d;
        }
    else rc = digits(s, 10, &v);
    free(t);
    if (rc < 0 || v > (uint64_t)INT64_MAX + neg) return NULL;
    return json_integer(neg ? (json_int_t)(0 - v) : (json_int_t)v);
}

/* PyYAML's construct_yaml_float on text matched by R_FLOAT; NULL for .inf, .nan and
 * overflow (JSON has no such numbers; or out of memory). */
static json_t *make_float(const char *text) {
    char *t = malloc(strlen(text) + 1);
    if (!t) return NULL;
    strip_underscores(text, t);
    double sign = t[0] == '-' ? -1 : 1, v = 0, base = 1;
    char *s = t + (t[0] == '-' || t[0] == '+');
    if (s[0] == '.' && (s[1] | 0x20) >= 'a') /* .inf, .nan in their three cases */
        v = INFINITY;
    else if (!strchr(s, ':'))
        v = strtod(s, NULL);
    else /* base 60, summed from the last part as PyYAML does */
        for (char *part;; base *= 60) {
            part = strrchr(s, ':');
            v += strtod(part ? part + 1 : s, NULL) * base;
            if (!part) break;
            *part = 0;
        }
    free(t);
    v *= sign;
    return isfinite(v) ? json_real(v) : NULL;
}

/* PyYAML's true: yes, true and on (R_BOOL matched). */
static int truth(const char *s) {
    return strchr("yYtT", s[0]) || ((s[0] | 0x20) == 'o' && (s[1] | 0x20) == 'n');
}

static int matches(const builder *b, int r, const char *s) {
    return regexec(&b->re[r], s, 0, NULL, 0) == 0;
}

/* A plain scalar typed as PyYAML types it (or NULL with err set). */
static json_t *resolve_plain(const builder *b, const yaml_event_t *ev, lx_error *err) {
    const char *s = (const char *)ev->data.scalar.value;
    json_t *v = NULL;
    if (!*s || matches(b, R_NULL, s)) return json_null();
    if (matches(b, R_BOOL, s)) return json_boolean(truth(s));
    if (matches(b, R_FLOAT, s)) {
        if (!(v = make_float(s))) fail(b, ev, err, "%s: not a finite number (JSON has no other)", s);
    } else if (matches(b, R_INT, s)) {
        if (!(v = make_int(s))) fail(b, ev, err, "%s: an integer beyond 64 bits", s);
    } else if (matches(b, R_MERGE, s)) {
        fail(b, ev, err, "merge keys (<<) are not supported");
    } else if (matches(b, R_TIMESTAMP, s)) {
        fail(b, ev, err, "%s: a date, which JSON cannot hold (quote it to keep the text)", s);
    } else if (matches(b, R_VALUE, s)) {
        fail(b, ev, err, "'=' (YAML's value key) is not supported");
    } else if (!(v = json_stringn(s, ev->data.scalar.length))) {
        fail(b, ev, err, "out of memory");
    }
    return v;
}

/* The scalar of ev: a string unless plain (see the top of the file). */
static json_t *scalar(const builder *b, const yaml_event_t *ev, lx_error *err) {
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) return resolve_plain(b, ev, err);
    json_t *v = json_stringn((const char *)ev->data.scalar.value, ev->data.scalar.length);
    if (!v) fail(b, ev, err, "out of memory");
    return v;
}

/* ---- the tree --------------------------------------------------------------------- */

/* Every node must be bare: anchors and tags are refused. */
static int check_bare(const builder *b, const yaml_event_t *ev, const yaml_char_t *anchor,
                      const yaml_char_t *tag, lx_error *err) {
    if (anchor) return fail(b, ev, err, "anchors (&%s) are not supported", (const char *)anchor);
    if (tag)
        return fail(b, ev, err, "tags (%s) are not supported: lx reads plain mappings, lists "
                                "and scalars (quote a value to keep it a string)",
                    (const char *)tag);
    return 0;
}

/* Is the top of the stack a mapping waiting for a key? */
static int wants_key(const builder *b) {
    const open_node *o = b->depth ? &b->stack[b->depth - 1] : NULL;
    return o && json_is_object(o->node) && !o->key;
}

/* A key: a string (a plain scalar PyYAML types otherwise is refused), not given before. */
static int add_key(builder *b, const yaml_event_t *ev, json_t *v, lx_error *err) {
    open_node *o = &b->stack[b->depth - 1];
    const char *k = json_string_value(v);
    int rc = 0;
    if (!k)
        rc = fail(b, ev, err, "the key '%s' is %s, not a string (quote it)",
                  (const char *)ev->data.scalar.value,
                  json_is_null(v) ? "null" : json_is_boolean(v) ? "a boolean" : "a number");
    else if (strlen(k) != json_string_length(v))
        rc = fail(b, ev, err, "a key holds a NUL character");
    else if (json_object_get(o->node, k))
        rc = fail(b, ev, err, "the key '%s' is given twice", k);
    else if (!(o->key = strdup(k)))
        rc = fail(b, ev, err, "out of memory");
    json_decref(v);
    return rc;
}

/* A finished value (stolen) into its parent, or as the document. */
static int add_value(builder *b, const yaml_event_t *ev, json_t *v, lx_error *err) {
    if (!b->depth) {
        b->root = v;
        return 0;
    }
    open_node *o = &b->stack[b->depth - 1];
    int rc = json_is_array(o->node) ? json_array_append_new(o->node, v)
                                    : json_object_set_new(o->node, o->key, v);
    free(o->key);
    o->key = NULL;
    return rc < 0 ? fail(b, ev, err, "out of memory") : 0;
}

static int open_collection(builder *b, const yaml_event_t *ev, json_t *node, lx_error *err) {
    if (!node) return fail(b, ev, err, "out of memory");
    if (wants_key(b) || b->depth == LX_YAML_MAX_DEPTH) {
        json_decref(node);
        return wants_key(b) ? fail(b, ev, err, "a mapping key must be a scalar")
                            : fail(b, ev, err, "nested more than %d deep", LX_YAML_MAX_DEPTH);
    }
    b->stack[b->depth++] = (open_node){node, NULL};
    return 0;
}

static int close_collection(builder *b, const yaml_event_t *ev, lx_error *err) {
    json_t *node = b->stack[--b->depth].node;
    return add_value(b, ev, node, err);
}

static int on_scalar(builder *b, const yaml_event_t *ev, lx_error *err) {
    if (check_bare(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag, err) < 0) return -1;
    json_t *v = scalar(b, ev, err);
    if (!v) return -1;
    return wants_key(b) ? add_key(b, ev, v, err) : add_value(b, ev, v, err);
}

/* One parser event into the tree. */
static int on_event(builder *b, const yaml_event_t *ev, lx_error *err) {
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        return ++b->docs > 1 ? fail(b, ev, err, "a second document: expected one") : 0;
    case YAML_ALIAS_EVENT:
        return fail(b, ev, err, "aliases (*%s) are not supported",
                    (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev, err);
    case YAML_SEQUENCE_START_EVENT:
        return check_bare(b, ev, ev->data.sequence_start.anchor, ev->data.sequence_start.tag,
                          err) < 0 ? -1 : open_collection(b, ev, json_array(), err);
    case YAML_MAPPING_START_EVENT:
        return check_bare(b, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag,
                          err) < 0 ? -1 : open_collection(b, ev, json_object(), err);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return close_collection(b, ev, err);
    default: /* stream start and end, document end */
        return 0;
    }
}

/* libyaml's own error: "NAME: line L, column C: problem (context)". */
static int syntax_error(const builder *b, const yaml_parser_t *p, lx_error *err) {
    if (p->error == YAML_MEMORY_ERROR) return lx_error_set(err, "out of memory");
    if (p->error == YAML_READER_ERROR)
        return lx_error_set(err, "%s: byte %zu: %s", b->name, p->problem_offset,
                            p->problem ? p->problem : "unreadable");
    return lx_error_set(err, "%s: line %zu, column %zu: %s%s%s%s", b->name,
                        p->problem_mark.line + 1, p->problem_mark.column + 1,
                        p->problem ? p->problem : "not valid YAML", p->context ? " (" : "",
                        p->context ? p->context : "", p->context ? ")" : "");
}

static void builder_free(builder *b) {
    for (int i = 0; i < b->nre; i++) regfree(&b->re[i]);
    for (int i = 0; i < b->depth; i++) {
        json_decref(b->stack[i].node);
        free(b->stack[i].key);
    }
    json_decref(b->root);
}

json_t *lx_yaml_parse(const char *text, size_t len, const char *name, lx_error *err) {
    builder b = {.name = name};
    for (; b.nre < R_COUNT; b.nre++)
        if (regcomp(&b.re[b.nre], patterns[b.nre], REG_EXTENDED | REG_NOSUB) != 0) {
            builder_free(&b);
            lx_error_set(err, "out of memory");
            return NULL;
        }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        builder_free(&b);
        lx_error_set(err, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc = 0, done = 0;
    while (rc == 0 && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = syntax_error(&b, &p, err);
            break;
        }
        rc = on_event(&b, &ev, err);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    json_t *root = rc == 0 ? (b.root ? json_incref(b.root) : json_null()) : NULL;
    builder_free(&b);
    return root;
}

json_t *lx_yaml_read_file(const char *path, lx_error *err) {
    size_t len;
    char *text = lx_file_read(path, LX_YAML_MAX_BYTES, "a YAML file", &len, err);
    if (!text) return NULL;
    json_t *v = lx_yaml_parse(text, len, path, err);
    free(text);
    return v;
}
