/*
 * test_values.c — values that are not finite never become answers, and floats become
 * integers only where they fit: the JSON encoder given floats far outside int32's range,
 * floats converted to i64.
 */
#include <float.h>
#include <math.h>
#include <sys/stat.h>
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------------ */

/* Float to i64: truncation, and INT64_MIN (never a valid id) for NaN and values outside
 * the range, whose cast C leaves undefined. */
static void test_convert_to_i64(void **st) {
    (void)st;
    const float f[] = {5.9f, -5.9f, 1e30f, -1e30f, NAN, INFINITY, 0x1p63f, -0x1p63f};
    int64_t out[8];
    lx_convert_to_i64(out, f, LX_F32, 8);
    assert_true(out[0] == 5 && out[1] == -5);
    for (int i = 2; i < 6; i++) assert_true(out[i] == INT64_MIN);
    assert_true(out[6] == INT64_MIN); /* 2^63: just out of range */
    assert_true(out[7] == INT64_MIN); /* -2^63 itself, in range */
    uint16_t h[2] = {lx_f32_to_bf16(1e30f), lx_f32_to_bf16(7.0f)};
    lx_convert_to_i64(out, h, LX_BF16, 2);
    assert_true(out[0] == INT64_MIN && out[1] == 7);
}

/* ---- JSON ------------------------------------------------------------------------- */

/* Shortest round-trip text of floats far outside int32's range (the whole-number fast
 * path cast them to int32 first: undefined behaviour, found by clang's UBSan). */
static void test_format_float_large(void **st) {
    (void)st;
    const float f[] = {7.1e22f, -7.1e22f, 1e30f, FLT_MAX, -FLT_MAX, 2147483648.0f,
                       -2147483904.0f, 16777216.0f, 16777215.0f, -16777215.0f, 4294967296.0f};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        char b[32];
        int n = lx_format_float(b, f[i]);
        assert_int_equal(n, (int)strlen(b));
        assert_true(strtof(b, NULL) == f[i]);
        assert_true(strpbrk(b, ".e") != NULL);
    }
    char b[32];
    lx_format_float(b, 16777215.0f);
    assert_string_equal(b, "16777215.0");
    lx_format_float(b, 7.1e22f);
    assert_string_equal(b, "7.1e+22");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_to_i64),
        cmocka_unit_test(test_format_float_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
