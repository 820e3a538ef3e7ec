/* Arena: alignment, stable pointers across growth, reset coalescing into one
 * chunk, size overflow refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "medallion/transform/arena.h"

static void test_alloc_alignment_and_memdup(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(128);
    assert_non_null(a);
    size_t sizes[] = {1, 3, 8, 9, 0, 17, 100};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        void *p = md_arena_alloc(a, sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 8, 0);
    }
    char *d = md_arena_memdup(a, "ab\0cd", 5);
    assert_non_null(d);
    assert_memory_equal(d, "ab\0cd", 5);
    assert_int_equal(d[5], '\0');
    char *e = md_arena_memdup(a, NULL, 0);
    assert_non_null(e);
    assert_int_equal(e[0], '\0');
    md_arena_free(a);
}

static void test_growth_keeps_pointers(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(64);
    unsigned char *ptrs[500];
    for (int i = 0; i < 500; i++) {
        size_t n = (size_t)(i % 37) + 1;
        ptrs[i] = md_arena_alloc(a, n);
        assert_non_null(ptrs[i]);
        memset(ptrs[i], i & 0xff, n);
    }
    for (int i = 0; i < 500; i++) {
        size_t n = (size_t)(i % 37) + 1;
        for (size_t k = 0; k < n; k++)
            assert_int_equal(ptrs[i][k], i & 0xff);
    }
    /* One allocation bigger than any chunk. */
    unsigned char *big = md_arena_alloc(a, 3 * 1024 * 1024);
    assert_non_null(big);
    memset(big, 7, 3 * 1024 * 1024);
    assert_int_equal(ptrs[499][0], 499 & 0xff);
    md_arena_free(a);
}

static void test_reset_coalesces(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(64);
    for (int i = 0; i < 100; i++)
        assert_non_null(md_arena_alloc(a, 40));
    size_t used = md_arena_used(a);
    assert_int_equal(used, 100 * 40);
    size_t cap = md_arena_capacity(a);
    assert_true(cap >= used);
    md_arena_reset(a);
    assert_int_equal(md_arena_used(a), 0);
    /* One chunk now holds what the batch needed: the same batch again needs no growth. */
    assert_int_equal(md_arena_capacity(a), cap);
    for (int i = 0; i < 100; i++)
        assert_non_null(md_arena_alloc(a, 40));
    assert_int_equal(md_arena_capacity(a), cap);
    md_arena_reset(a);
    md_arena_reset(a);
    assert_int_equal(md_arena_capacity(a), cap);
    /* A single chunk is rewound, not replaced: the next batch reuses its memory. */
    void *p1 = md_arena_alloc(a, 40);
    assert_non_null(p1);
    md_arena_reset(a);
    void *p2 = md_arena_alloc(a, 40);
    assert_ptr_equal(p1, p2);
    assert_int_equal(md_arena_used(a), 40);
    md_arena_free(a);
}

static void test_overflow_and_null(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(0);
    assert_null(md_arena_alloc(a, SIZE_MAX));
    assert_null(md_arena_alloc(a, SIZE_MAX - 3));
    assert_null(md_arena_memdup(a, "x", SIZE_MAX));
    assert_non_null(md_arena_alloc(a, 10));
    md_arena_reset(NULL);
    md_arena_free(a);
    md_arena_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_alignment_and_memdup),
        cmocka_unit_test(test_growth_keeps_pointers),
        cmocka_unit_test(test_reset_coalesces),
        cmocka_unit_test(test_overflow_and_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
