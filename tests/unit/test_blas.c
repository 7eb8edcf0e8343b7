/* Tests of lib/nn/blas.c: OpenBLAS loaded by the library with one thread (this test does
 * not link it, as the tools do not), lx_sgemm against a plain loop, and running out of
 * address space for OpenBLAS's matrix buffers: an error within seconds, never the hang
 * OpenBLAS's retry loop gives. */
#include <errno.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include "testutil.h"
#include "nn/blas.h"

/* C = A B^T for A [m, k] and B [n, k], in double. */
static void reference(int m, int n, int k, const float *a, const float *b, float *c) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) s += (double)a[i * k + p] * b[j * k + p];
            c[i * n + j] = (float)s;
        }
}

/* Large enough that OpenBLAS takes a buffer of its own (a small product does not). */
static void test_sgemm(void **state) {
    lx_error err = {0};
    if (lx_blas_init(2, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(lx_blas_threads(), 1);
    const int m = 300, n = 200, k = 150;
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k),
          *c = malloc(sizeof(float) * m * n), *r = malloc(sizeof(float) * m * n);
    for (int i = 0; i < m * k; i++) a[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    for (int i = 0; i < n * k; i++) b[i] = (float)((i * 53) % 97) / 48.0f - 1.0f;
    reference(m, n, k, a, b, r);
    lx_sgemm(CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
    for (int i = 0; i < m * n; i++)
        if (fabsf(c[i] - r[i]) > 1e-3f * (1.0f + fabsf(r[i])))
            fail_msg("c[%d] = %g, expected %g", i, c[i], r[i]);
    free(a), free(b), free(c), free(r);
}

static long vm_kib(void) {
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld", &pages) != 1) pages = 0;
        fclose(f);
    }
    return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* In a child: OpenBLAS loaded, then address space for what is mapped now and 24 MB
 * more, then as many buffers as two threads need.  Exits 0 when lx_blas_init said there
 * was no room for them, 2 when it succeeded, 3 on another message. */
static void starved_child(void) {
    lx_error err = {0};
    if (lx_blas_init(0, &err) < 0) _exit(5);
    struct rlimit r;
    r.rlim_cur = r.rlim_max = (rlim_t)(vm_kib() + 24 * 1024) * 1024;
    if (setrlimit(RLIMIT_AS, &r) != 0) _exit(4);
    int rc = lx_blas_init(2, &err);
    if (rc == 0) _exit(2);
    fprintf(stderr, "%s\n", err.msg);
    _exit(strstr(err.msg, "out of memory: no room for OpenBLAS's matrix buffers") ? 0 : 3);
}

static void test_out_of_memory(void **state) {
    const char *san = getenv("LX_SANITIZE");
    if (san && *san) {
        /* ASan reserves terabytes of address space: no RLIMIT_AS can apply.  The plain
         * build runs this test. */
        skip();
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) starved_child();
    int st = 0;
    /* A hang would be OpenBLAS's retry loop: give it 30 s, then fail. */
    for (int ms = 0; waitpid(pid, &st, WNOHANG) == 0; ms += 10) {
        if (ms > 30000) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("lx_blas_init hung under a memory limit");
        }
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) != 0) fail_msg("the child exited %d", WEXITSTATUS(st));
    assert_true(t1.tv_sec - t0.tv_sec < 20);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_of_memory),   /* first: before this process loads it */
        cmocka_unit_test(test_sgemm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
