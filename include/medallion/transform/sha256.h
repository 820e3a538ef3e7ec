/* SHA-256 (FIPS 180-4) for dedup keys of silver rows. Written from the
 * standard's description; not for secrets (no constant-time claims, no
 * zeroing of state). */
#ifndef MEDALLION_TRANSFORM_SHA256_H
#define MEDALLION_TRANSFORM_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define MD_SHA256_DIGEST_LEN 32
#define MD_SHA256_HEX_LEN 64

typedef struct md_sha256 {
    uint32_t h[8];
    uint64_t total; /* bytes fed so far */
    uint8_t buf[64];
    size_t buf_len;
} md_sha256_t;

void md_sha256_init(md_sha256_t *ctx);
void md_sha256_update(md_sha256_t *ctx, const void *data, size_t len);
void md_sha256_final(md_sha256_t *ctx, uint8_t out[MD_SHA256_DIGEST_LEN]);

/* One-shot digest. */
void md_sha256(const void *data, size_t len, uint8_t out[MD_SHA256_DIGEST_LEN]);
/* Lower-case hex, NUL-terminated: out holds 65 bytes. */
void md_sha256_hex(const uint8_t digest[MD_SHA256_DIGEST_LEN], char out[MD_SHA256_HEX_LEN + 1]);

#endif
