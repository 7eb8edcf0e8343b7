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
        lx_error err = {{0}};
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
        lx_error err = {{0}};
        assert_int_equal(lx_base64_decode(dec, n, enc, k, &err), (int64_t)n);
        assert_memory_equal(dec, src, n);
    }
}

static void test_rejects(void **state) {
    (void)state;
    unsigned char dec[64];
    lx_error err = {{0}};
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
