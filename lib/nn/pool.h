/*
 * pool.h — a tiny persistent thread pool (lib/nn/pool.c).  Private to liblx.
 *
 * Why: a forward pass of LXMERT makes ~150 matrix products per record at batch 1, each
 * worth ~0.1 ms; starting and joining a pthread per product costs tens of microseconds,
 * a pool woken through a spinning flag a few.  lx_gemm (gemm.h) takes one, and the
 * network can use the same pool for its own loops (LayerNorm rows, attention heads).
 *
 *     lx_pool pool;
 *     if (lx_pool_init(&pool, 2, &err) < 0) ...   // the caller + 1 worker thread
 *     lx_pool_run(&pool, fn, arg);                 // fn(arg, 0, 2) here, fn(arg, 1, 2) there
 *     lx_pool_free(&pool);
 *
 * lx_pool_run returns when every share is done; the calling thread runs share 0.  Runs
 * do not nest and one pool serves one calling thread at a time.  Workers spin for about
 * LX_POOL_SPIN_US after a run (back-to-back runs then start at once), then sleep on a
 * condition variable, so an idle pool costs no CPU.  An lx_pool must not be copied
 * (it holds a mutex): keep it where it was initialised.
 */
#ifndef LX_POOL_H
#define LX_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include "lx.h"

#define LX_POOL_MAX 64
#define LX_POOL_SPIN_US 50

/* One share of a run: thread t of n (0 <= t < n). */
typedef void (*lx_pool_fn)(void *arg, int t, int n);

typedef struct lx_pool lx_pool;
typedef struct lx_pool_worker {
    lx_pool *p;
    int t;
} lx_pool_worker;

struct lx_pool {
    int n;                        /* threads, the caller's included (1 = no workers) */
    pthread_t tid[LX_POOL_MAX];
    lx_pool_worker w[LX_POOL_MAX]; /* what each worker is started with */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    /* What a run publishes, on a cache line of its own: the workers spin reading gen,
     * and nothing else written during a run may share the line (where the line falls
     * moved with the fields around the pool and cost batch 1 a few percent) */
    _Alignas(64) atomic_uint gen; /* bumped by each run (and by free, with quit set) */
    atomic_int quit;
    lx_pool_fn fn;
    void *arg;
    _Alignas(64) atomic_int pending; /* workers still in the current run: written by them */
    char pad_[64 - sizeof(atomic_int)];
};

/* Start nthreads - 1 workers (1 <= nthreads <= LX_POOL_MAX).  Returns 0, or -1 with err
 * set (nothing to free then). */
int lx_pool_init(lx_pool *p, int nthreads, lx_error *err);
/* Stop and join the workers.  p may be NULL. */
void lx_pool_free(lx_pool *p);
/* Threads of the pool (1 for NULL). */
int lx_pool_size(const lx_pool *p);
/* Run fn(arg, t, n) for t = 0..n-1 across the pool (n = lx_pool_size; p NULL: fn(arg, 0, 1)
 * here) and wait for all. */
void lx_pool_run(lx_pool *p, lx_pool_fn fn, void *arg);

#endif
