/*
 * blas.h — OpenBLAS as the networks use it: loaded when the first network is made, with
 * one thread and its matrix buffers taken up front (private to liblx; see blas.c for why).
 */
#ifndef LX_BLAS_H
#define LX_BLAS_H

#include <cblas.h>
#include "lx.h"

/* Load OpenBLAS if it is not loaded yet (without worker threads of its own), and make
 * sure it holds nbuf matrix buffers, one for each thread that may call lx_sgemm at the
 * same time: taken now, so that a product never waits on a buffer OpenBLAS cannot map
 * (it would retry forever).  When the address space is limited (ulimit -v or -d, or
 * strict overcommit) a child process first checks that they fit.  Returns 0, or -1 with
 * "out of memory: ..." (or why OpenBLAS cannot be loaded). */
int lx_blas_init(int nbuf, lx_error *err);

/* cblas_sgemm, row-major: C = alpha op(A) op(B) + beta C.  A plain loop computes it
 * instead where OpenBLAS cannot be loaded, or where memory is limited and lx_blas_init
 * took no buffers (a product the caller did not expect to reach OpenBLAS): slow, never
 * a hang. */
void lx_sgemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
              float alpha, const float *a, int lda, const float *b, int ldb, float beta,
              float *c, int ldc);

/* OpenBLAS's own thread count (1 unless a program that linked it set more). */
int lx_blas_threads(void);

#endif
