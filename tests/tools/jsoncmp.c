/*
 * jsoncmp — compare two JSON-lines files with a numeric tolerance, for the shell tests
 * (no jq or python needed).
 *
 *   jsoncmp [--tol X] [--fields a,b,...] [--rename old=new] GOT EXPECTED
 *
 * Line i of GOT is compared with line i of EXPECTED (the same number of lines).  Only the
 * listed top-level fields are compared (default: all of EXPECTED's).  Objects: every key
 * of the expected object must be in the got one (renamed by --rename first; extra got
 * keys are ignored, order is not compared).  Arrays: the same length, element by element.
 * Numbers: |got - expected| <= X (default 0).  Strings, booleans, null: equal.
 * Exit 0 when equal, 1 with the first difference on stderr, 2 on a usage error.
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double tol = 0;
static const char *rename_from, *rename_to;

static int listed(const char *fields, const char *name) {
    if (!fields)
        return 1;
    size_t n = strlen(name);
    for (const char *p = fields; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncmp(p, name, n) == 0)
            return 1;
        p += l + (e != NULL);
    }
    return 0;
}

static int cmp(const json_t *got, const json_t *want, const char *path, long line) {
    char sub[1024];
    if (json_is_number(want)) {
        if (!json_is_number(got) ||
            !(fabs(json_number_value(got) - json_number_value(want)) <= tol)) {
            fprintf(stderr, "line %ld: %s: got %.9g, expected %.9g (tolerance %g)\n", line,
                    path, json_is_number(got) ? json_number_value(got) : NAN,
                    json_number_value(want), tol);
            return 1;
        }
        return 0;
    }
    if (json_is_object(want)) {
        if (!json_is_object(got)) {
            fprintf(stderr, "line %ld: %s: got a non-object\n", line, path);
            return 1;
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)want, k, v) {
            const char *gk = rename_from && strcmp(k, rename_from) == 0 ? rename_to : k;
            snprintf(sub, sizeof sub, "%s.%s", path, gk);
            const json_t *g = json_object_get(got, gk);
            if (!g) {
                fprintf(stderr, "line %ld: %s: missing\n", line, sub);
                return 1;
            }
            if (cmp(g, v, sub, line))
                return 1;
        }
        return 0;
    }
    if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(got) != json_array_size(want)) {
            fprintf(stderr, "line %ld: %s: got %zu elements, expected %zu\n", line, path,
                    json_is_array(got) ? json_array_size(got) : 0, json_array_size(want));
            return 1;
        }
        for (size_t i = 0; i < json_array_size(want); i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            if (cmp(json_array_get(got, i), json_array_get(want, i), sub, line))
                return 1;
        }
        return 0;
    }
    if (!json_equal((json_t *)got, (json_t *)want)) {
        char *g = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
        char *w = json_dumps(want, JSON_ENCODE_ANY);
        fprintf(stderr, "line %ld: %s: got %s, expected %s\n", line, path, g ? g : "nothing",
                w ? w : "?");
        free(g);
        free(w);
        return 1;
    }
    return 0;
}

static char *next_line(FILE *f) {
    char *l = NULL;
    size_t cap = 0;
    if (getline(&l, &cap, f) < 0) {
        free(l);
        return NULL;
    }
    return l;
}

int main(int argc, char **argv) {
    static const struct option lo[] = {{"tol", required_argument, 0, 't'},
                                       {"fields", required_argument, 0, 'f'},
                                       {"rename", required_argument, 0, 'r'},
                                       {0, 0, 0, 0}};
    const char *fields = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 't': tol = atof(optarg); break;
        case 'f': fields = optarg; break;
        case 'r': {
            char *eq = strchr(optarg, '=');
            if (!eq)
                return 2;
            *eq = '\0';
            rename_from = optarg;
            rename_to = eq + 1;
            break;
        }
        default: return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "usage: jsoncmp [--tol X] [--fields a,b] [--rename old=new] GOT EXPECTED\n");
        return 2;
    }
    FILE *a = fopen(argv[optind], "r"), *b = fopen(argv[optind + 1], "r");
    if (!a || !b) {
        fprintf(stderr, "jsoncmp: cannot open %s\n", !a ? argv[optind] : argv[optind + 1]);
        return 2;
    }
    long line = 0;
    for (;;) {
        char *la = next_line(a), *lb = next_line(b);
        line++;
        if (!la || !lb) {
            int diff = (la != NULL) != (lb != NULL);
            if (diff)
                fprintf(stderr, "line %ld: %s has more lines\n", line, la ? "got" : "expected");
            free(la);
            free(lb);
            return diff;
        }
        json_error_t je;
        json_t *ga = json_loads(la, 0, &je), *gb = json_loads(lb, 0, &je);
        free(la);
        free(lb);
        if (!ga || !gb) {
            fprintf(stderr, "line %ld: not JSON in %s\n", line, !ga ? "got" : "expected");
            return 1;
        }
        const char *k;
        json_t *v;
        json_object_foreach(gb, k, v) {
            if (!listed(fields, k))
                continue;
            const json_t *g = json_object_get(ga, k);
            if (!g) {
                fprintf(stderr, "line %ld: %s: missing\n", line, k);
                return 1;
            }
            if (cmp(g, v, k, line))
                return 1;
        }
        json_decref(ga);
        json_decref(gb);
    }
}
