/* lib/file.c: opening a user's file (non-blocking, regular files only), the one way lx
 * writes a file (lx_outfile: beside, then renamed), and the tables the tools' signal
 * handlers read (temporaries to remove, files mapped). */
#include "testutil.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <utime.h>

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

static char *get(const char *path) {
    static char b[4096];
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t n = fread(b, 1, sizeof b - 1, f);
    fclose(f);
    b[n] = 0;
    return b;
}

/* Entries of dir whose names contain ".tmp". */
static int ntemps(void) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) n += strstr(e->d_name, ".tmp") != NULL;
    if (d) closedir(d);
    return n;
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

/* ---- writing ------------------------------------------------------------------------ */

static void test_commit_replaces(void **state) {
    (void)state;
    const char *p = in_dir("out");
    put(p, "old");
    chmod(p, 0640);
    lx_error err = {0};
    lx_outfile *f = lx_outfile_open(p, &err);
    assert_non_null(f);
    assert_int_equal(ntemps(), 1);
    assert_string_equal(get(p), "old"); /* untouched until the commit */
    assert_int_equal(lx_outfile_write(f, "new", 3, &err), 0);
    assert_int_equal(lx_outfile_commit(f, &err), 0);
    assert_string_equal(get(p), "new");
    assert_int_equal(ntemps(), 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640); /* a replaced file keeps its mode */
}

static void test_abort_keeps_old(void **state) {
    (void)state;
    const char *p = in_dir("out");
    put(p, "old");
    lx_error err = {0};
    lx_outfile *f = lx_outfile_open(p, &err);
    assert_non_null(f);
    assert_int_equal(lx_outfile_write(f, "partial", 7, &err), 0);
    lx_outfile_abort(f);
    assert_string_equal(get(p), "old");
    assert_int_equal(ntemps(), 0);
}

static void test_new_file_mode(void **state) {
    (void)state;
    mode_t old = umask(027);
    lx_error err = {0};
    lx_outfile *f = lx_outfile_open(in_dir("new"), &err);
    umask(old);
    assert_non_null(f);
    assert_int_equal(lx_outfile_commit(f, &err), 0);
    struct stat st;
    assert_int_equal(stat(in_dir("new"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
}

static void test_refuses_non_regular(void **state) {
    (void)state;
    lx_error err = {0};
    const char *fifo = in_dir("fifo");
    assert_int_equal(mkfifo(fifo, 0644), 0);
    assert_null(lx_outfile_open(fifo, &err));
    expect_err(&err, "not a regular file");
    assert_null(lx_outfile_open(dir, &err));
    expect_err(&err, "not a regular file");
    assert_null(lx_outfile_open("/dev/null", &err));
    expect_err(&err, "/dev/null: not a regular file");
    struct stat st;
    assert_int_equal(stat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(ntemps(), 0);
    /* a missing folder: the reason, nothing made */
    assert_null(lx_outfile_open(in_dir("no/such"), &err));
    expect_err(&err, "No such file");
}

static void test_refuses_mapped_source(void **state) {
    (void)state;
    const char *src = in_dir("src");
    put(src, "0123456789");
    assert_int_equal(symlink(src, in_dir("link")), 0);
    assert_int_equal(link(src, in_dir("hard")), 0);
    lx_error err = {0};
    size_t len;
    void *map = lx_file_map(src, 1, "a test file", &len, NULL, &err);
    assert_non_null(map);
    const char *names[] = {src, in_dir("link"), in_dir("hard")};
    for (size_t i = 0; i < 3; i++) {
        assert_null(lx_outfile_open(names[i], &err));
        expect_err(&err, "this run is reading");
    }
    assert_ptr_equal(lx_file_mapped_at((char *)map + 3), lx_file_mapped_at(map));
    assert_non_null(strstr(lx_file_mapped_at(map), "/src"));
    assert_null(lx_file_mapped_at((char *)map + len));
    lx_file_unmap(map, len);
    assert_null(lx_file_mapped_at(map));
    /* unmapped: writable again */
    lx_outfile *f = lx_outfile_open(src, &err);
    assert_non_null(f);
    lx_outfile_abort(f);
    assert_string_equal(get(src), "0123456789");
}

static void test_refuses_std_stream(void **state) {
    (void)state;
    const char *p = in_dir("stdout");
    put(p, "records");
    int keep = dup(STDOUT_FILENO);
    int fd = open(p, O_WRONLY | O_APPEND);
    assert_true(keep >= 0 && fd >= 0);
    fflush(stdout);
    dup2(fd, STDOUT_FILENO);
    lx_error err = {0};
    lx_outfile *f = lx_outfile_open(p, &err);
    dup2(keep, STDOUT_FILENO);
    close(keep);
    close(fd);
    assert_null(f);
    expect_err(&err, "standard output");
    assert_string_equal(get(p), "records");
}

static void test_symlink_followed(void **state) {
    (void)state;
    put(in_dir("target"), "old");
    assert_int_equal(symlink("target", in_dir("link")), 0);
    lx_error err = {0};
    lx_outfile *f = lx_outfile_open(in_dir("link"), &err);
    assert_non_null(f);
    assert_int_equal(lx_outfile_write(f, "new", 3, &err), 0);
    assert_int_equal(lx_outfile_commit(f, &err), 0);
    struct stat st;
    assert_int_equal(lstat(in_dir("link"), &st), 0);
    assert_true(S_ISLNK(st.st_mode)); /* the link stays, its file is replaced */
    assert_string_equal(get(in_dir("target")), "new");
    /* a link to nothing: refused, nothing made */
    assert_int_equal(symlink("nowhere/x", in_dir("dangling")), 0);
    assert_null(lx_outfile_open(in_dir("dangling"), &err));
    expect_err(&err, "symbolic link");
}

static void test_write_error_keeps_old(void **state) {
    (void)state;
    /* past RLIMIT_FSIZE, with SIGXFSZ ignored as the tools ignore it: EFBIG, reported */
    const char *p = in_dir("big");
    put(p, "old");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        lx_error err = {0};
        lx_outfile *f = lx_outfile_open(p, &err);
        static char buf[10000];
        if (!f) _exit(2);
        if (lx_outfile_write(f, buf, sizeof buf, &err) == 0) _exit(3);
        if (!strstr(err.msg, "write failed: File too large")) _exit(4);
        lx_outfile_abort(f);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_string_equal(get(p), "old");
    assert_int_equal(ntemps(), 0);
}

/* What a tool's SIGTERM handler does: the temporaries go, the target stays. */
static void on_term(int sig) {
    lx_file_signal_cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void test_signal_cleanup(void **state) {
    (void)state;
    const char *p = in_dir("out");
    put(p, "old");
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGTERM, on_term);
        lx_error err = {0};
        lx_outfile *f = lx_outfile_open(p, &err);
        lx_outfile *g = lx_outfile_open(in_dir("other"), &err);
        if (!f || !g || lx_outfile_write(f, "partial", 7, &err) < 0) _exit(2);
        (void)!write(ready[1], "x", 1);
        for (;;) pause();
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(ntemps(), 2);
    kill(pid, SIGTERM);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);
    assert_int_equal(ntemps(), 0);
    assert_string_equal(get(p), "old");
    assert_null(get(in_dir("other")));
    close(ready[0]);
    close(ready[1]);
}

/* A killed writer's temporary: removed by the next write to the same target once no
 * process holds it and it is a minute old; a held or recent one is left alone. */
static void test_stale_temporaries(void **state) {
    (void)state;
    const char *old = in_dir("out.tmpAbC123"), *held = in_dir("out.tmpHeLd42"),
               *fresh = in_dir("out.tmpNew999"), *other = in_dir("other.tmpAbC123"),
               *notours = in_dir("out.tmpAbC12");
    const char *all[] = {old, held, fresh, other, notours};
    for (size_t i = 0; i < 5; i++) put(all[i], "x");
    struct utimbuf t = {time(NULL) - 3600, time(NULL) - 3600};
    for (size_t i = 0; i < 5; i++)
        if (all[i] != fresh) assert_int_equal(utime(all[i], &t), 0);
    int hfd = open(held, O_RDONLY);
    assert_true(hfd >= 0);
    /* the lock of a live writer: another process's, as lx_outfile_open takes it */
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(held, O_RDONLY);
        if (fd < 0 || flock(fd, LOCK_EX) < 0) _exit(2);
        (void)!write(go[1], "x", 1);
        for (;;) pause();
    }
    char c;
    assert_int_equal(read(go[0], &c, 1), 1);
    lx_error err = {0};
    lx_outfile *f = lx_outfile_open(in_dir("out"), &err);
    assert_non_null(f);
    assert_int_equal(lx_outfile_commit(f, &err), 0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(hfd);
    assert_int_equal(access(old, F_OK), -1);
    assert_int_equal(access(held, F_OK), 0);
    assert_int_equal(access(fresh, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);
    assert_int_equal(access(notours, F_OK), 0);
}

/* ---- files mapped ------------------------------------------------------------------- */

static void test_check_mapped(void **state) {
    (void)state;
    const char *p = in_dir("model");
    put(p, "0123456789abcdef");
    lx_error err = {0};
    int before = lx_file_check_mapped(&err);
    assert_true(before >= 0);
    size_t len;
    void *map = lx_file_map(p, 1, "a test file", &len, NULL, &err);
    assert_non_null(map);
    assert_int_equal(lx_file_check_mapped(&err), before + 1);
    /* replaced by rename: the mapping keeps the old file, which did not change */
    put(in_dir("new"), "fedcba9876543210");
    assert_int_equal(rename(in_dir("new"), p), 0);
    assert_int_equal(lx_file_check_mapped(&err), before + 1);
    lx_file_unmap(map, len);
    /* rewritten in place (what cp does): seen, named */
    map = lx_file_map(p, 1, "a test file", &len, NULL, &err);
    assert_non_null(map);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 0), 1);
    close(fd);
    assert_int_equal(lx_file_check_mapped(&err), -1);
    expect_err(&err, "/model changed or truncated while in use; replace a model by renaming");
    lx_file_unmap(map, len);
    /* cut short */
    map = lx_file_map(p, 1, "a test file", &len, NULL, &err);
    assert_non_null(map);
    assert_int_equal(truncate(p, 4), 0);
    assert_int_equal(lx_file_check_mapped(&err), -1);
    expect_err(&err, "/model changed or truncated while in use");
    lx_file_unmap(map, len);
    assert_int_equal(lx_file_check_mapped(&err), before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_refuses_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_read_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_file_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_non_regular, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_mapped_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_std_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_error_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signal_cleanup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_temporaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_mapped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
