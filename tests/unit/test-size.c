/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>

#include "size.h"

static uint64_t parse_ok(const char *s)
{
        uint64_t v = UINT64_C(0xdeadbeef);
        int r = size_parse(s, &v);

        cr_assert_eq(r, 0, "size_parse(\"%s\") failed: %d", s, r);
        return v;
}

static void parse_fails(const char *s, int expected)
{
        uint64_t v = UINT64_C(0xdeadbeef);
        int r = size_parse(s, &v);

        cr_assert_eq(r, expected, "size_parse(\"%s\") returned %d, expected %d", s, r, expected);
        cr_assert_eq(v, UINT64_C(0xdeadbeef), "size_parse(\"%s\") wrote a value although it failed", s);
}

Test(size_parse, accepts_scaled_values)
{
        cr_assert_eq(parse_ok("4G"), 4 * SIZE_G);
        cr_assert_eq(parse_ok("4g"), 4 * SIZE_G);
        cr_assert_eq(parse_ok("2048m"), 2 * SIZE_G);
        cr_assert_eq(parse_ok("2048M"), 2048 * SIZE_M);
        cr_assert_eq(parse_ok("512K"), 512 * SIZE_K);
        cr_assert_eq(parse_ok("512k"), UINT64_C(524288));
        cr_assert_eq(parse_ok("1T"), SIZE_T);
        cr_assert_eq(parse_ok("1t"), UINT64_C(1099511627776));
}

Test(size_parse, accepts_plain_bytes_and_trailing_b)
{
        cr_assert_eq(parse_ok("1073741824"), SIZE_G);
        cr_assert_eq(parse_ok("0"), 0);
        cr_assert_eq(parse_ok("4GB"), 4 * SIZE_G);
        cr_assert_eq(parse_ok("4gb"), 4 * SIZE_G);
        cr_assert_eq(parse_ok("100B"), 100);
        cr_assert_eq(parse_ok("18446744073709551615"), UINT64_MAX);
}

Test(size_parse, refuses_malformed_values)
{
        parse_fails("", -EINVAL);
        parse_fails("G", -EINVAL);
        parse_fails("4X", -EINVAL);
        parse_fails("-1", -EINVAL);
        parse_fails("4G4", -EINVAL);
        parse_fails("4 G", -EINVAL);
        parse_fails(" 4G", -EINVAL);
        parse_fails("4GG", -EINVAL);
        parse_fails("4BB", -EINVAL);
        parse_fails("0x10", -EINVAL);
        parse_fails("+4G", -EINVAL);
}

Test(size_parse, refuses_null)
{
        parse_fails(NULL, -EINVAL);
}

Test(size_parse, refuses_overflow)
{
        parse_fails("99999999999T", -ERANGE);
        parse_fails("18446744073709551616", -ERANGE);
        parse_fails("99999999999999999999999", -ERANGE);
        parse_fails("16777216T", -ERANGE); /* 2^24 T = 2^64 */
        cr_assert_eq(parse_ok("16777215T"), UINT64_C(16777215) * SIZE_T);
}

static void format_is(uint64_t bytes, const char *expected)
{
        char buf[SIZE_FORMAT_MAX];
        char *r = size_format(bytes, buf, sizeof(buf));

        cr_assert_eq(r, buf);
        cr_assert_str_eq(buf, expected, "size_format(%" PRIu64 ") gave \"%s\", expected \"%s\"", bytes, buf,
                expected);
}

Test(size_format, uses_the_largest_exact_scale)
{
        format_is(2048 * SIZE_M, "2G");
        format_is(1536 * SIZE_M, "1536M");
        format_is(0, "0");
        format_is(4 * SIZE_G, "4G");
        format_is(SIZE_T, "1T");
        format_is(3 * SIZE_T, "3T");
        format_is(512 * SIZE_K, "512K");
        format_is(1023, "1023");
        format_is(1025, "1025");
        format_is(UINT64_MAX, "18446744073709551615");
}

Test(size_format, round_trips_through_size_parse)
{
        static const char *const inputs[] = { "2048M", "1536M", "0", "4g", "512K", "1T", "3000", "16777215T" };

        for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
                char buf[SIZE_FORMAT_MAX];
                uint64_t a = parse_ok(inputs[i]);

                size_format(a, buf, sizeof(buf));
                cr_assert_eq(parse_ok(buf), a, "\"%s\" → \"%s\" does not parse back to the same size", inputs[i],
                        buf);
        }
}

Test(size_format, truncates_to_the_buffer)
{
        char buf[3] = "xx";

        size_format(1536 * SIZE_M, buf, sizeof(buf));
        cr_assert_str_eq(buf, "15");
}
