/* Keyset: first id wins, growth keeps every entry, clear empties, keys that
 * differ in one byte stay apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "medallion/transform/keyset.h"

static void key_of(uint64_t n, uint8_t k[16]) {
    memset(k, 0, 16);
    for (int i = 0; i < 8; i++)
        k[15 - i] = (uint8_t)(n >> (8 * i)); /* sequential keys: a weak hash would cluster */
}

static void test_insert_or_get(void **state) {
    (void)state;
    md_keyset_t *ks = md_keyset_new(0);
    assert_non_null(ks);
    uint8_t k1[16], k2[16];
    key_of(1, k1);
    key_of(2, k2);
    struct {
        const uint8_t *key;
        int64_t id;
        int want_ret;
        int64_t want_kept;
    } steps[] = {
        {k1, 10, 1, 10}, {k1, 11, 0, 10}, {k2, 12, 1, 12}, {k2, 13, 0, 12}, {k1, 14, 0, 10},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int64_t kept = -1;
        assert_int_equal(md_keyset_insert_or_get(ks, steps[i].key, steps[i].id, &kept),
                         steps[i].want_ret);
        assert_int_equal(kept, steps[i].want_kept);
    }
    assert_int_equal(md_keyset_count(ks), 2);
    assert_int_equal(md_keyset_insert_or_get(ks, k1, 99, NULL), 0);

    int64_t got = -1;
    assert_int_equal(md_keyset_find(ks, k2, &got), 0);
    assert_int_equal(got, 12);
    uint8_t k3[16];
    key_of(3, k3);
    assert_int_equal(md_keyset_find(ks, k3, &got), -ENOENT);
    assert_int_equal(got, 12); /* untouched */
    md_keyset_free(ks);
    md_keyset_free(NULL);
}

static void test_grow_many(void **state) {
    (void)state;
    md_keyset_t *ks = md_keyset_new(4);
    const uint64_t n = 200000;
    uint8_t k[16];
    for (uint64_t i = 0; i < n; i++) {
        key_of(i, k);
        assert_int_equal(md_keyset_insert_or_get(ks, k, (int64_t)i, NULL), 1);
    }
    assert_int_equal(md_keyset_count(ks), n);
    for (uint64_t i = 0; i < n; i++) {
        key_of(i, k);
        int64_t kept = -1;
        assert_int_equal(md_keyset_insert_or_get(ks, k, -5, &kept), 0);
        assert_int_equal(kept, (int64_t)i);
    }
    /* Keys differing only in the high half. */
    memset(k, 0, 16);
    k[0] = 1;
    assert_int_equal(md_keyset_insert_or_get(ks, k, 7, NULL), 1);
    key_of(0, k);
    int64_t got;
    assert_int_equal(md_keyset_find(ks, k, &got), 0);
    assert_int_equal(got, 0);

    md_keyset_clear(ks);
    assert_int_equal(md_keyset_count(ks), 0);
    assert_int_equal(md_keyset_find(ks, k, &got), -ENOENT);
    assert_int_equal(md_keyset_insert_or_get(ks, k, 42, &got), 1);
    assert_int_equal(got, 42);
    md_keyset_free(ks);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_or_get),
        cmocka_unit_test(test_grow_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
