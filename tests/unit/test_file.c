/* lib/file.c: opening a user's file (non-blocking, regular files only). */
#include "testutil.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

/* A scratch folder of its own for each test (so counting its entries means something). */
static char dir[4096];

static int setup(void **state) {
    (void)state;
    static int n;
    char tag[32];
    snprintf(tag, sizeof tag, "file%d", n++);
    snprintf(dir, sizeof dir, "%s", scratch(tag));
    return mkdir(dir, 0755);
}

static int teardown(void **state) {
    (void)state;
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[8192];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    if (d) closedir(d);
    return rmdir(dir);
}

static const char *in_dir(const char *name) {
    static char p[8][8192];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}



static void expect_err(const lx_error *err, const char *part) {
    if (!strstr(err->msg, part)) fail_msg("message '%s' lacks '%s'", err->msg, part);
}

/* ---- reading ------------------------------------------------------------------------ */

static void test_open_refuses_fifo(void **state) {
    (void)state;
    const char *p = in_dir("fifo");
    assert_int_equal(mkfifo(p, 0644), 0);
    lx_error err = {0};
    struct stat st;
    /* non-blocking: returns at once (no writer), and refuses what is not a file */
    assert_int_equal(lx_file_open(p, &st, &err), -1);
    expect_err(&err, "not a regular file");
    assert_null(lx_file_fopen(p, &err));
    assert_null(lx_json_read_file(p, 100, 0, &err));
    expect_err(&err, "not a regular file");
    assert_int_equal(lx_file_open(in_dir("none"), &st, &err), -1);
    assert_int_equal(errno, ENOENT);
    expect_err(&err, "cannot open: No such file");
}

static void test_json_read_file(void **state) {
    (void)state;
    put(in_dir("a.json"), "{\"x\": 1}");
    lx_error err = {0};
    json_t *j = lx_json_read_file(in_dir("a.json"), 100, 0, &err);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "x")), 1);
    json_decref(j);
    assert_null(lx_json_read_file(in_dir("a.json"), 4, 0, &err));
    expect_err(&err, "more than");
    put(in_dir("b.json"), "{\"x\": ");
    assert_null(lx_json_read_file(in_dir("b.json"), 100, 0, &err));
    expect_err(&err, "b.json: not valid JSON");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_refuses_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_read_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
