/*
 * error.c — lx_error: the one-line message every failing library call leaves behind.
 * The library never prints; callers (the tools) decide where a message goes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

int lx_error_set(lx_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = 0;
    }
    return -1;
}

int lx_error_prefix(lx_error *err, const char *fmt, ...) {
    if (err) {
        char pre[512], old[sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(pre, sizeof pre, fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof old);
        size_t n = strlen(pre);
        if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
        memcpy(err->msg, pre, n);
        memcpy(err->msg + n, ": ", 2);
        size_t m = strnlen(old, sizeof old - 1);
        if (m > sizeof err->msg - n - 3) m = sizeof err->msg - n - 3;
        memcpy(err->msg + n + 2, old, m);
        err->msg[n + 2 + m] = 0;
    }
    return -1;
}

const char *lx_u128_str(char *buf, unsigned __int128 v) {
    char tmp[LX_U128_STR];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
    return buf;
}
