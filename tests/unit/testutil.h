/* Helpers shared by the cmocka unit tests, which also see the library's internal
 * headers (they test its pieces on their own). */
#ifndef LX_TESTUTIL_H
#define LX_TESTUTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>
#include "lx.h"
#include "bytes.h"
#include "ckpt/ckpt.h"
#include "internal.h"
#include "schema.h"

/* Absolute path of a fixture: $LX_FIXTURES/rel (set by tests/run-tests). */
static inline const char *fixture(const char *rel) {
    static char buf[4096];
    const char *d = getenv("LX_FIXTURES");
    snprintf(buf, sizeof buf, "%s/%s", d ? d : "../shared/fixtures", rel);
    return buf;
}
/* A fresh scratch path under $TMPDIR (or /tmp) named after tag. */
static inline const char *scratch(const char *tag) {
    static char buf[4096];
    const char *d = getenv("TMPDIR");
    snprintf(buf, sizeof buf, "%s/lx-test-%d-%s", d ? d : "/tmp", (int)getpid(), tag);
    return buf;
}
#endif
