/*
 * fuzz.h — what the fuzz targets (tests/fuzz/fuzz_*.c) share.
 *
 * Each target defines LLVMFuzzerTestOneInput(data, size): one input through one parser,
 * which must return (an error is fine) without a crash, a leak, undefined behaviour or
 * unbounded work.  Built with clang's -fsanitize=fuzzer it is a libFuzzer binary (make
 * fuzz); linked with replay.c it is a plain program that runs the stored inputs once
 * each (the fuzz/ tests of make check, make sanitize and make sanitize-clang).
 *
 * Parsers that read a path (lx_model_open, lx_safetensors_read, lx_torch_read, the line
 * and label readers) get the input as an in-memory file: fuzz_path() writes it to a
 * memfd and returns a /proc/self/fd path to it, which opens as a regular file and maps
 * like one, with no disk traffic.
 */
#ifndef LX_FUZZ_H
#define LX_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop on a broken expectation, saying which (libFuzzer then keeps the input). */
#define fuzz_fail(...) (fprintf(stderr, "fuzz: " __VA_ARGS__), fputc('\n', stderr), abort())

/* A path that reads as the regular file data[0..size) until the next call with the same
 * slot (0 or 1: two files at once). */
static inline const char *fuzz_path_at(int slot, const uint8_t *data, size_t size) {
    static int fd[2] = {-1, -1};
    static char path[2][64];
    if (fd[slot] < 0) {
        fd[slot] = memfd_create("lx-fuzz", MFD_CLOEXEC);
        if (fd[slot] < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path[slot], sizeof path[slot], "/proc/self/fd/%d", fd[slot]);
    }
    if (ftruncate(fd[slot], 0) < 0) abort();
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fd[slot], data + done, size - done, (off_t)done);
        if (w <= 0) abort();
        done += (size_t)w;
    }
    return path[slot];
}

static inline const char *fuzz_path(const uint8_t *data, size_t size) {
    return fuzz_path_at(0, data, size);
}

/* The feature TSV fuzz_featindex's index files describe (mkseeds makes their seeds from
 * it): keys of both layouts, a CRLF line, a blank line, lines that are not regions. */
#define FUZZ_INDEX_TSV "img1\t1\t2\n\n0042\ta\tb\tc\td\te\r\nCOCO_9\tx\nz\n"

/* A malloc'd copy of data[0..size) with a NUL after it (parsers of C strings). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = 0;
    return s;
}

#endif
