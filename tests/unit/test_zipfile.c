/* Tests of lib/zipfile.c: stored/deflated entries, zip64 records, and bad archives
 * (truncated at every offset, broken central directories, lying sizes). */
#include "testutil.h"
#include "ckpt/zipfile.h"
#include "../tools/ckptgen.h"

static const char text[] = "the quick brown fox jumps over the lazy dog, again and again";

static void build(gbuf *g, int zip64) {
    static uint8_t big[5000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i % 7);
    gzip_entry e[] = {
        {"arch/data.pkl", text, sizeof text, 0},
        {"arch/data/0", big, sizeof big, 1},
        {"arch/version", "3\n", 2, 0},
    };
    gzip_write(g, e, 3, zip64);
}

static void check_archive(int zip64) {
    gbuf g = {0};
    build(&g, zip64);
    lx_zip z;
    lx_error err = {0};
    assert_int_equal(lx_zip_open(&z, g.b, g.n, &err), 0);
    assert_int_equal(z.n, 3);
    const lx_zip_entry *e = lx_zip_find(&z, "arch/data.pkl");
    assert_non_null(e);
    assert_null(lx_zip_find(&z, "arch/data/1"));
    const void *d;
    void *own;
    assert_int_equal(lx_zip_read(&z, e, 1 << 20, 1, &d, &own, &err), 0);
    assert_null(own);                       /* stored: read in place */
    assert_true((const uint8_t *)d >= g.b && (const uint8_t *)d < g.b + g.n);
    assert_memory_equal(d, text, sizeof text);
    assert_int_equal(((uintptr_t)d - (uintptr_t)g.b) % 64, 0);
    e = lx_zip_find(&z, "arch/data/0");
    assert_non_null(e);
    assert_int_equal(e->method, 8);
    assert_int_equal(lx_zip_read(&z, e, 1 << 20, 1, &d, &own, &err), 0);
    assert_non_null(own);
    assert_int_equal(e->usize, 5000);
    for (int i = 0; i < 5000; i++) assert_int_equal(((const uint8_t *)d)[i], i % 7);
    free(own);
    /* A size cap below the entry is refused before anything is allocated. */
    assert_int_equal(lx_zip_read(&z, e, 100, 1, &d, &own, &err), -1);
    assert_non_null(strstr(err.msg, "more than the 100 accepted"));
    lx_zip_close(&z);
    g_free(&g);
}

static void test_stored_and_deflated(void **state) { check_archive(0); }
static void test_zip64(void **state) { check_archive(1); }

/* Every prefix of a valid archive is refused or, if it parses, reads safely. */
static void test_truncated_everywhere(void **state) {
    for (int zip64 = 0; zip64 < 2; zip64++) {
        gbuf g = {0};
        build(&g, zip64);
        for (size_t n = 0; n < g.n; n++) {
            uint8_t *copy = malloc(n ? n : 1);   /* exact size: ASan sees any overrun */
            memcpy(copy, g.b, n);
            lx_zip z;
            lx_error err = {0};
            int rc = lx_zip_open(&z, copy, n, &err);
            assert_int_equal(rc, -1);
            assert_true(err.msg[0] != 0);
            free(copy);
        }
        g_free(&g);
    }
}

/* Flip single bytes in the central directory and EOCD: never a crash; every entry that
 * still opens reads in bounds. */
static void test_corrupt_bytes(void **state) {
    gbuf g = {0};
    build(&g, 1);
    size_t from = g.n > 400 ? g.n - 400 : 0;
    for (size_t i = from; i < g.n; i++)
        for (int v = 0; v < 3; v++) {
            uint8_t *copy = malloc(g.n);
            memcpy(copy, g.b, g.n);
            copy[i] = v == 0 ? 0xFF : v == 1 ? 0x00 : (uint8_t)(copy[i] + 1);
            lx_zip z;
            lx_error err = {0};
            if (lx_zip_open(&z, copy, g.n, &err) == 0) {
                for (size_t k = 0; k < z.n; k++) {
                    const void *d;
                    void *own;
                    if (lx_zip_read(&z, &z.entries[k], 1 << 20, 1, &d, &own, &err) == 0)
                        free(own);
                }
                lx_zip_close(&z);
            } else {
                assert_true(err.msg[0] != 0);
            }
            free(copy);
        }
    g_free(&g);
}

/* Offset of the EOCD record in g. */
static size_t eocd_of(const gbuf *g) { return g->n - 22; }

static void test_bad_central_directory(void **state) {
    gbuf g = {0};
    build(&g, 0);
    lx_zip z;
    lx_error err = {0};
    size_t e = eocd_of(&g);
    uint8_t *b = g.b;

    /* Central directory offset beyond the file. */
    uint8_t save[4];
    memcpy(save, b + e + 16, 4);
    b[e + 16] = 0xF0; b[e + 17] = 0xFF; b[e + 18] = 0xFF; b[e + 19] = 0x7F;
    assert_int_equal(lx_zip_open(&z, b, g.n, &err), -1);
    assert_non_null(strstr(err.msg, "bad zip central directory"));
    memcpy(b + e + 16, save, 4);

    /* More entries than the directory could hold. */
    b[e + 10] = 0xFE; b[e + 11] = 0xFF;
    assert_int_equal(lx_zip_open(&z, b, g.n, &err), -1);
    assert_non_null(strstr(err.msg, "entries cannot fit"));
    b[e + 10] = 3; b[e + 11] = 0;

    /* A central header with a wrong signature. */
    uint64_t cd = b[e + 16] | b[e + 17] << 8 | b[e + 18] << 16 | (uint64_t)b[e + 19] << 24;
    b[cd] = 'X';
    assert_int_equal(lx_zip_open(&z, b, g.n, &err), -1);
    assert_non_null(strstr(err.msg, "not a central directory header"));
    b[cd] = 0x50;

    /* A local header offset past the end, and a compressed size past the end. */
    b[cd + 42] = 0xFF; b[cd + 43] = 0xFF; b[cd + 44] = 0xFF; b[cd + 45] = 0x0F;
    assert_int_equal(lx_zip_open(&z, b, g.n, &err), -1);
    assert_non_null(strstr(err.msg, "no local header"));
    memset(b + cd + 42, 0, 4);
    memcpy(save, b + cd + 20, 4);
    b[cd + 20] = b[cd + 24] = 0xF0; b[cd + 21] = b[cd + 25] = 0xFF;
    b[cd + 22] = b[cd + 26] = 0xFF; b[cd + 23] = b[cd + 27] = 0x0F;
    assert_int_equal(lx_zip_open(&z, b, g.n, &err), -1);
    assert_non_null(strstr(err.msg, "run past the end"));
    memcpy(b + cd + 20, save, 4);
    memcpy(b + cd + 24, save, 4);

    /* Unsupported method and a CRC mismatch are read errors. */
    b[cd + 10] = 12;   /* bzip2 */
    assert_int_equal(lx_zip_open(&z, b, g.n, &err), 0);
    const void *d;
    void *own;
    assert_int_equal(lx_zip_read(&z, lx_zip_find(&z, "arch/data.pkl"), 1 << 20, 1, &d, &own,
                                 &err), -1);
    assert_non_null(strstr(err.msg, "compression method 12"));
    lx_zip_close(&z);
    b[cd + 10] = 0;
    b[cd + 16] ^= 1;
    assert_int_equal(lx_zip_open(&z, b, g.n, &err), 0);
    assert_int_equal(lx_zip_read(&z, lx_zip_find(&z, "arch/data.pkl"), 1 << 20, 1, &d, &own,
                                 &err), -1);
    assert_non_null(strstr(err.msg, "CRC-32"));
    lx_zip_close(&z);
    b[cd + 16] ^= 1;

    /* Not a zip at all. */
    assert_int_equal(lx_zip_open(&z, "hello world, this is not a zip archive", 38, &err), -1);
    assert_non_null(strstr(err.msg, "not a zip file"));
    g_free(&g);
}

/* A deflated entry whose sizes lie: an inflated size far above what the data can give,
 * and one smaller than the real data. */
/* Part of a deflated entry: a buffer of what is wanted and no more; the rest of the
 * stream still checked (CRC-32, length) when asked, or not inflated at all. */
static void test_read_part(void **state) {
    gbuf g = {0};
    build(&g, 0);
    lx_zip z;
    lx_error err = {0};
    assert_int_equal(lx_zip_open(&z, g.b, g.n, &err), 0);
    lx_zip_entry *e = (lx_zip_entry *)lx_zip_find(&z, "arch/data/0");
    const void *d;
    void *own;
    for (int crc = 0; crc < 2; crc++) {
        assert_int_equal(lx_zip_read_part(&z, e, 100, crc, &d, &own, &err), 0);
        assert_non_null(own);
        assert_ptr_equal(d, own);
        for (int i = 0; i < 100; i++) assert_int_equal(((const uint8_t *)d)[i], i % 7);
        free(own);
    }
    /* More than the entry holds is the whole entry. */
    assert_int_equal(lx_zip_read_part(&z, e, UINT64_MAX, 1, &d, &own, &err), 0);
    free(own);
    /* A wrong CRC is found past the part read, when asked. */
    e->crc ^= 1;
    assert_int_equal(lx_zip_read_part(&z, e, 100, 1, &d, &own, &err), -1);
    assert_non_null(strstr(err.msg, "CRC-32"));
    assert_null(own);
    assert_int_equal(lx_zip_read_part(&z, e, 100, 0, &d, &own, &err), 0);
    free(own);
    e->crc ^= 1;
    /* A stream longer than declared: refused at one byte past the declared size. */
    e->usize -= 10;
    assert_int_equal(lx_zip_read_part(&z, e, 100, 1, &d, &own, &err), -1);
    assert_non_null(strstr(err.msg, "inflates to more than the 4990 bytes"));
    e->usize += 20;
    assert_int_equal(lx_zip_read_part(&z, e, 100, 1, &d, &own, &err), -1);
    assert_non_null(strstr(err.msg, "inflates to 5000 bytes, expected 5010"));
    e->usize -= 10;
    lx_zip_close(&z);
    g_free(&g);
}

static void test_lying_deflate(void **state) {
    gbuf g = {0};
    build(&g, 1);
    lx_zip z;
    lx_error err = {0};
    assert_int_equal(lx_zip_open(&z, g.b, g.n, &err), 0);
    lx_zip_entry *e = (lx_zip_entry *)lx_zip_find(&z, "arch/data/0");
    const void *d;
    void *own;
    uint64_t real = e->usize;
    e->usize = (uint64_t)1 << 39;
    assert_int_equal(lx_zip_read(&z, e, UINT64_MAX, 0, &d, &own, &err), -1);
    assert_non_null(strstr(err.msg, "cannot inflate to"));
    e->usize = real + 10;
    assert_int_equal(lx_zip_read(&z, e, UINT64_MAX, 0, &d, &own, &err), -1);
    assert_non_null(strstr(err.msg, "data/0"));
    e->usize = real - 10;
    assert_int_equal(lx_zip_read(&z, e, UINT64_MAX, 0, &d, &own, &err), -1);
    assert_non_null(strstr(err.msg, "data/0"));
    e->usize = real;
    lx_zip_close(&z);
    g_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stored_and_deflated),
        cmocka_unit_test(test_zip64),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_corrupt_bytes),
        cmocka_unit_test(test_bad_central_directory),
        cmocka_unit_test(test_lying_deflate),
        cmocka_unit_test(test_read_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
