/*
 * pool.c — the persistent thread pool of pool.h.
 *
 * A run publishes (fn, arg), sets pending = n - 1 and bumps the generation counter under
 * the mutex, then broadcasts.  A worker that has seen generation g waits for g to change:
 * first by spinning on the atomic counter (LX_POOL_SPIN_US), then under the mutex on the
 * `wake` condition — the counter is bumped under the same mutex, so no wake-up is lost.
 * The last worker to finish signals `done` under the mutex, where the caller re-checks
 * pending before waiting.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "pool.h"

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spin until *v != old or LX_POOL_SPIN_US pass; returns 1 when it changed. */
static int spin_until_changed(atomic_uint *v, unsigned old) {
    double t0 = 0;
    for (int i = 0;; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) != old) return 1;
        if ((i & 255) == 0) {
            double t = now_us();
            if (i == 0) t0 = t;
            else if (t - t0 > LX_POOL_SPIN_US) return 0;
        }
        cpu_relax();
    }
}

static void *worker(void *arg) {
    lx_pool *p = ((lx_pool_worker *)arg)->p;
    int t = ((lx_pool_worker *)arg)->t;
    unsigned seen = 0;
    for (;;) {
        if (!spin_until_changed(&p->gen, seen)) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen) pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        seen = atomic_load(&p->gen);
        if (atomic_load(&p->quit)) return NULL;
        p->fn(p->arg, t, p->n);
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

int lx_pool_init(lx_pool *p, int nthreads, lx_error *err) {
    if (nthreads < 1 || nthreads > LX_POOL_MAX)
        return lx_error_set(err, "pool: got %d threads, expected 1 to %d", nthreads,
                            LX_POOL_MAX);
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, 0);
    p->n = 1;
    for (int t = 1; t < nthreads; t++) {
        p->w[t] = (lx_pool_worker){p, t};
        int rc = pthread_create(&p->tid[t], NULL, worker, &p->w[t]);
        if (rc != 0) {
            lx_pool_free(p);
            /* EAGAIN: no room for its stack (ulimit -v), or a limit on threads */
            return lx_error_set(err, "pool: %scannot start thread %d of %d: %s",
                                rc == EAGAIN ? "out of memory (or threads): " : "", t + 1,
                                nthreads, strerror(rc));
        }
        p->n = t + 1;
    }
    return 0;
}

void lx_pool_free(lx_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t < p->n; t++) pthread_join(p->tid[t], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    p->n = 0;
}

int lx_pool_size(const lx_pool *p) { return p && p->n > 0 ? p->n : 1; }

void lx_pool_run(lx_pool *p, lx_pool_fn fn, void *arg) {
    if (!p || p->n <= 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->n - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    /* the other shares are usually nearly done: spin a little before sleeping */
    double t0 = now_us();
    for (int i = 0; atomic_load(&p->pending) > 0; i++) {
        cpu_relax();
        if ((i & 255) == 255 && now_us() - t0 > LX_POOL_SPIN_US) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu);
            pthread_mutex_unlock(&p->mu);
            break;
        }
    }
}
