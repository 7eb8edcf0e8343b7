/* base64: round trips of every length, RFC 4648 vectors, and strict rejection. */
#include "testutil.h"

static void test_vectors(void **state) {
    (void)state;
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char enc[16], dec[16];
        size_t n = lx_base64_encode(enc, plain[i], strlen(plain[i]));
        assert_int_equal(n, strlen(coded[i]));
        assert_memory_equal(enc, coded[i], n);
        lx_error err = {0};
        int64_t m = lx_base64_decode(dec, sizeof dec, coded[i], strlen(coded[i]), &err);
        assert_int_equal(m, (int64_t)strlen(plain[i]));
        assert_memory_equal(dec, plain[i], (size_t)m);
    }
}

static void test_roundtrip(void **state) {
    (void)state;
    unsigned char src[300], dec[300];
    char enc[404];
    for (int i = 0; i < 300; i++) src[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= 300; n++) {
        size_t k = lx_base64_encode(enc, src, n);
        assert_int_equal(k, lx_base64_encoded_len(n));
        lx_error err = {0};
        assert_int_equal(lx_base64_decode(dec, n, enc, k, &err), (int64_t)n);
        assert_memory_equal(dec, src, n);
    }
}

static void test_rejects(void **state) {
    (void)state;
    unsigned char dec[64];
    lx_error err = {0};
    static const char *bad[] = {"Zm9", "Zm9v!mFy", "Zm=v", "Z===", "Zm9vYmF\n", "Zm 9",
                                "=m9v", "Zm9vYm=y"};
    for (int i = 0; i < 8; i++) {
        err.msg[0] = 0;
        assert_int_equal(lx_base64_decode(dec, sizeof dec, bad[i], strlen(bad[i]), &err), -1);
        assert_non_null(strstr(err.msg, "base64"));
    }
    assert_int_equal(lx_base64_decode(dec, sizeof dec, "Zm9v!mFy", 8, &err), -1);
    assert_non_null(strstr(err.msg, "'!' at character 5"));
    /* Too small a destination is an error, not an overflow. */
    assert_int_equal(lx_base64_decode(dec, 5, "Zm9vYmFy", 8, &err), -1);
}

/* Long inputs go through the vector path (AVX2 where the CPU has it): round trips of
 * every length up to 3000 bytes, and every one of the 256 byte values at every offset
 * within a 32-character block is accepted or rejected exactly as the alphabet says,
 * with the position of the bad character named. */
static void test_long(void **state) {
    (void)state;
    enum { N = 3000 };
    unsigned char *src = malloc(N), *dec = malloc(N);
    char *enc = malloc(lx_base64_encoded_len(N) + 1);
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) src[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 24);
    lx_error err = {0};
    for (size_t n = 0; n <= N; n += (n < 200 ? 1 : 37)) {
        size_t k = lx_base64_encode(enc, src, n);
        assert_int_equal(lx_base64_decode(dec, n, enc, k, &err), (int64_t)n);
        assert_memory_equal(dec, src, n);
    }
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k = lx_base64_encode(enc, src, 300);            /* 400 characters, no padding */
    for (int c = 0; c < 256; c++) {
        for (size_t pos = 64; pos < 64 + 32; pos++) {
            char save = enc[pos];
            enc[pos] = (char)c;
            int ok = c != 0 && strchr(alpha, c) != NULL;
            int64_t got = lx_base64_decode(dec, 300, enc, k, &err);
            if (ok) {
                assert_int_equal(got, 300);
            } else {
                assert_int_equal(got, -1);
                char want[64];
                snprintf(want, sizeof want, "at character %zu of", pos + 1);
                if (!strstr(err.msg, want)) fail_msg("byte %d at %zu: %s", c, pos, err.msg);
            }
            enc[pos] = save;
        }
    }
    free(src);
    free(dec);
    free(enc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
