/*
 * blas.c — OpenBLAS, loaded by the first network made rather than when a tool starts,
 * so that running out of memory is an error and never a hang (blas.h).
 *
 * Debian's pthreads OpenBLAS (0.3.21) starts a worker thread per core when it loads, and
 * each worker maps a matrix buffer (128 MB in that build) as it starts; every thread
 * that calls sgemm with more than a few rows maps one the same way on its first call.
 * When the mapping fails (ulimit -v, ulimit -d, strict overcommit), OpenBLAS's
 * blas_memory_alloc retries it forever.  Linked into a tool, that happened before main:
 * the worker spun at 100% CPU, and lx_rt_init's blas_thread_shutdown_ (and OpenBLAS's
 * destructor at exit) waited on it for ever.  So the tools do not link OpenBLAS: this
 * file dlopen()s it with OPENBLAS_NUM_THREADS=1 in the environment while it initialises
 * (lx splits every product over its own pool), so that it starts no workers at all, and
 * takes the buffers of the threads that will call it before any product runs.  Whether
 * they fit cannot be asked of OpenBLAS (a failed mapping is retried, not reported), so
 * where memory is limited a child process takes them first: if it has not finished
 * within PROBE_MS it is spinning, and is killed, and the caller gets "out of memory".
 *
 * OpenBLAS is one per process, so this file keeps its state in one static struct (set
 * once under pthread_once, and the count of buffers taken under a mutex): the only
 * process-wide state in the library, because the library it describes is process-wide.
 * A program that links OpenBLAS itself has loaded it (and its workers) before main; it
 * is used as it is, set to one thread and its workers stopped, as before.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../internal.h"
#include "blas.h"
#include "pool.h"

#define BLAS_LIB "libopenblas.so.0"
/* How long a child may take to map the buffers: a mapping takes microseconds; a child
 * still running after this is in OpenBLAS's retry loop. */
#define PROBE_MS 2000

static struct {
    pthread_once_t once;
    pthread_mutex_t mu;
    char why[320];                /* why loading failed ("" when it did not) */
    __typeof__(cblas_sgemm) *sgemm;
    __typeof__(openblas_get_num_threads) *get_threads;
    void *(*mem_alloc)(int);      /* blas_memory_alloc / _free: the buffers */
    void (*mem_free)(void *);
    int limited;                  /* memory_limited() when it loaded */
    _Atomic int reserved;         /* buffers taken so far */
} blas = {.once = PTHREAD_ONCE_INIT, .mu = PTHREAD_MUTEX_INITIALIZER};

/* Can a mapping fail for want of address space or commit charge? */
static int memory_limited(void) {
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY) return 1;
    if (getrlimit(RLIMIT_DATA, &r) == 0 && r.rlim_cur != RLIM_INFINITY) return 1;
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = 0;
    if (f) {
        if (fscanf(f, "%d", &mode) != 1) mode = 0;
        fclose(f);
    }
    return mode == 2;
}

static void load(void) {
    /* Already there (a program that links OpenBLAS): use it as it is. */
    void *h = dlopen(BLAS_LIB, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    int fresh = !h;
    if (fresh) {
        /* OpenBLAS reads its thread count once, as it loads; the environment is put
         * back as it was right after. */
        const char *old = getenv("OPENBLAS_NUM_THREADS");
        char *keep = old ? strdup(old) : NULL;
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        h = dlopen(BLAS_LIB, RTLD_NOW | RTLD_LOCAL);
        if (keep) setenv("OPENBLAS_NUM_THREADS", keep, 1);
        else unsetenv("OPENBLAS_NUM_THREADS");
        free(keep);
    }
    if (!h) {
        const char *e = dlerror();
        snprintf(blas.why, sizeof blas.why, "%scannot load OpenBLAS (%s): %s",
                 e && strstr(e, "failed to map") ? "out of memory: " : "", BLAS_LIB,
                 e ? e : "unknown error");
        return;
    }
    blas.sgemm = (__typeof__(cblas_sgemm) *)dlsym(h, "cblas_sgemm");
    blas.get_threads = (__typeof__(openblas_get_num_threads) *)dlsym(h,
                                                                    "openblas_get_num_threads");
    blas.mem_alloc = (void *(*)(int))dlsym(h, "blas_memory_alloc");
    blas.mem_free = (void (*)(void *))dlsym(h, "blas_memory_free");
    if (!blas.sgemm) {
        snprintf(blas.why, sizeof blas.why, "%s has no cblas_sgemm", BLAS_LIB);
        return;
    }
    if (!fresh) {
        /* Its workers were started as it loaded: one thread (the pool splits every
         * product itself), and the workers stopped, since they spin waiting for work
         * (~2^28 cycles) and slow a one-record run on two cores. */
        void (*set)(int) = (void (*)(int))dlsym(h, "openblas_set_num_threads");
        void (*stop)(void) = (void (*)(void))dlsym(h, "blas_thread_shutdown_");
        if (set) set(1);
        if (stop) stop();
    }
    blas.limited = memory_limited();
    /* h stays open for the life of the process, as a linked library would. */
}

/* Take nbuf buffers at once (so that each is a buffer of its own), then give them back:
 * OpenBLAS keeps a buffer it mapped and hands it out again. */
static void take(int nbuf) {
    void *b[LX_POOL_MAX];
    for (int i = 0; i < nbuf; i++) b[i] = blas.mem_alloc(0);
    for (int i = 0; i < nbuf; i++) blas.mem_free(b[i]);
}

/* Do nbuf buffers fit?  Taken in a child process: 1 when it finished, 0 when it was
 * still retrying after PROBE_MS (or could not be started), -1 with errno on a failed
 * fork. */
static int fits(int nbuf) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        /* Only this: none of the tool's signal handlers (which could flush or remove
         * what belongs to the parent) runs here. */
        for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
        take(nbuf);
        _exit(0);
    }
    int st = 0;
    for (int waited = 0;; waited++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (r < 0 && errno != EINTR) return 0;
        if (waited >= PROBE_MS) break;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    return 0;
}

int lx_blas_init(int nbuf, lx_error *err) {
    pthread_once(&blas.once, load);
    if (!blas.sgemm) return lx_error_set(err, "%s", blas.why);
    if (nbuf > LX_POOL_MAX) nbuf = LX_POOL_MAX;
    pthread_mutex_lock(&blas.mu);
    if (!blas.mem_alloc || !blas.mem_free) {   /* not OpenBLAS's buffers: nothing to take */
        if (nbuf > blas.reserved) blas.reserved = nbuf;
        pthread_mutex_unlock(&blas.mu);
        return 0;
    }
    int rc = 0;
    if (nbuf > blas.reserved) {
        int ok = blas.limited || memory_limited() ? fits(nbuf) : 1;
        if (ok == 1) {
            take(nbuf);
            blas.reserved = nbuf;
        } else if (ok < 0) {
            rc = lx_error_set(err, "out of memory: cannot check room for OpenBLAS's matrix "
                                   "buffers (fork: %s)", strerror(errno));
        } else {
            rc = lx_error_set(err, "out of memory: no room for OpenBLAS's matrix buffers "
                                   "(one per thread, %d thread%s%s)", nbuf, nbuf > 1 ? "s" : "",
                              nbuf > 1 ? ": fewer --threads need less" : "");
        }
    }
    pthread_mutex_unlock(&blas.mu);
    return rc;
}

int lx_blas_threads(void) {
    pthread_once(&blas.once, load);
    return blas.get_threads ? blas.get_threads() : 1;
}

void lx_sgemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
              float alpha, const float *a, int lda, const float *b, int ldb, float beta,
              float *c, int ldc) {
    pthread_once(&blas.once, load);
    /* Under a memory limit OpenBLAS is only called with its buffers taken: else its first
     * call on this thread could retry a failed mapping for ever. */
    if (blas.sgemm && (!blas.limited || atomic_load(&blas.reserved) > 0)) {
        blas.sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++)
                s += (double)(ta == CblasNoTrans ? a[(size_t)i * lda + p]
                                                 : a[(size_t)p * lda + i]) *
                     (tb == CblasNoTrans ? b[(size_t)p * ldb + j] : b[(size_t)j * ldb + p]);
            float *cij = c + (size_t)i * ldc + j;
            *cij = alpha * (float)s + (beta == 0.0f ? 0.0f : beta * *cij);
        }
}
