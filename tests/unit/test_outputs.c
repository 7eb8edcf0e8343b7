/* The library's table of network outputs (lx_net_outputs) against what people read:
 * lx-encode(1) and `lx-encode --help` must list every output with its shape as
 * lx_output_shape_str writes it.  A new output in the table fails here until the man
 * page describes it (--help is made from the table, so it fails only if that breaks).
 *
 * The man page gives each output its own entry:
 *     .TP
 *     .BR name " (with " \-\-option )      (or .B name)
 *     [shape]: what it is
 * --help gives each a line "  name  [shape]  option". */
#include "testutil.h"

/* The whole of a text file or a command's output, NUL-terminated (caller frees). */
static char *slurp(FILE *f) {
    size_t n = 0, cap = 4096;
    char *s = malloc(cap);
    assert_non_null(s);
    for (size_t got; (got = fread(s + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n - 1 == 0) {
            s = realloc(s, cap *= 2);
            assert_non_null(s);
        }
    }
    s[n] = '\0';
    return s;
}

/* Lines of text, split in place. */
static size_t split_lines(char *text, char **lines, size_t max) {
    size_t n = 0;
    for (char *p = text; *p && n < max; n++) {
        lines[n] = p;
        char *nl = strchr(p, '\n');
        if (!nl) {
            n++;
            break;
        }
        *nl = '\0';
        p = nl + 1;
    }
    return n;
}

/* 1 if s starts with word followed by a space, a tab or its end. */
static int starts_with_word(const char *s, const char *word) {
    size_t n = strlen(word);
    return strncmp(s, word, n) == 0 && (s[n] == ' ' || s[n] == '\t' || s[n] == '\0');
}

static void test_man_page(void **state) {
    (void)state;
    const char *root = getenv("LX_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/man/lx-encode.1", root ? root : ".");
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s (run through make check, which sets LX_ROOT)", path);
    char *text = slurp(f);
    fclose(f);
    static char *lines[20000];
    size_t nl = split_lines(text, lines, 20000), n;
    const lx_output *out = lx_net_outputs(&n);
    int missing = 0;
    for (size_t i = 0; i < n; i++) {
        char shape[64];
        lx_output_shape_str(&out[i], shape, sizeof shape);
        int found = 0;
        for (size_t l = 0; l + 2 < nl && !found; l++) {
            if (strcmp(lines[l], ".TP") != 0) continue;
            const char *tag = lines[l + 1];
            if (strncmp(tag, ".BR ", 4) == 0) tag += 4;
            else if (strncmp(tag, ".B ", 3) == 0) tag += 3;
            else continue;
            found = starts_with_word(tag, out[i].name) &&
                    strncmp(lines[l + 2], shape, strlen(shape)) == 0;
        }
        if (!found) {
            print_error("%s: no entry \".TP / .B %s / %s...\"\n", path, out[i].name, shape);
            missing++;
        }
    }
    free(text);
    assert_int_equal(missing, 0);
}

static void test_help(void **state) {
    (void)state;
    const char *bin = getenv("LX_BIN");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s/lx-encode' --help", bin ? bin : "bin");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *text = slurp(p);
    assert_int_equal(pclose(p), 0);
    static char *lines[2000];
    size_t nl = split_lines(text, lines, 2000), n;
    const lx_output *out = lx_net_outputs(&n);
    int missing = 0;
    for (size_t i = 0; i < n; i++) {
        char shape[64];
        lx_output_shape_str(&out[i], shape, sizeof shape);
        int found = 0;
        for (size_t l = 0; l < nl && !found; l++) {
            const char *s = lines[l] + strspn(lines[l], " ");
            if (!starts_with_word(s, out[i].name)) continue;
            s += strlen(out[i].name);
            s += strspn(s, " ");
            found = strncmp(s, shape, strlen(shape)) == 0;
        }
        if (!found) {
            print_error("lx-encode --help: no line \"%s  %s\"\n", out[i].name, shape);
            missing++;
        }
    }
    free(text);
    assert_int_equal(missing, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_man_page),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
