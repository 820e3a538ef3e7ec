/* SHA-256 against the FIPS 180-4 / NIST example vectors, including the
 * padding edge lengths (55, 56, 64 bytes) and arbitrary update splits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "medallion/transform/sha256.h"

static char *repeat(char c, size_t n) {
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void hex_of(const void *data, size_t len, char out[65]) {
    uint8_t d[32];
    md_sha256(data, len, d);
    md_sha256_hex(d, out);
}

static void test_vectors(void **state) {
    (void)state;
    char *a55 = repeat('a', 55), *a56 = repeat('a', 56), *a64 = repeat('a', 64);
    struct {
        const char *msg;
        size_t len;
        const char *hex;
    } cases[] = {
        {"", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopq"
         "rlmnopqrsmnopqrstnopqrstu",
         112, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
        {a55, 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {a56, 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {a64, 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char hex[65];
        hex_of(cases[i].msg, cases[i].len, hex);
        assert_string_equal(hex, cases[i].hex);
    }
    free(a55);
    free(a56);
    free(a64);
}

static void test_million_a(void **state) {
    (void)state;
    const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    char *m = repeat('a', 1000000);
    char hex[65];
    hex_of(m, 1000000, hex);
    assert_string_equal(hex, want);

    /* Same message fed in odd-sized pieces must give the same digest. */
    md_sha256_t ctx;
    md_sha256_init(&ctx);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = step > 1000000 - off ? 1000000 - off : step;
        md_sha256_update(&ctx, m + off, n);
        off += n;
        step = step * 3 % 997 + 1;
    }
    uint8_t d[32];
    md_sha256_final(&ctx, d);
    md_sha256_hex(d, hex);
    assert_string_equal(hex, want);
    free(m);
}

static void test_split_updates(void **state) {
    (void)state;
    const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    for (size_t cut = 0; cut <= 56; cut++) {
        md_sha256_t ctx;
        md_sha256_init(&ctx);
        md_sha256_update(&ctx, msg, cut);
        md_sha256_update(&ctx, msg + cut, 56 - cut);
        uint8_t d[32];
        char hex[65];
        md_sha256_final(&ctx, d);
        md_sha256_hex(d, hex);
        assert_string_equal(hex,
                            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_split_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
