/* A bump allocator for the strings a transform builds per row (standardized
 * names, routes, anonymized IPs), reset once per batch so the hot path never
 * mallocs per row. Pointers stay valid until the next reset or free; it never
 * moves memory it has handed out. */
#ifndef MEDALLION_TRANSFORM_ARENA_H
#define MEDALLION_TRANSFORM_ARENA_H

#include <stddef.h>

#include "medallion/error.h"

typedef struct md_arena md_arena_t;

/* chunk_size: size of the first chunk (0 → 64 KiB). NULL only on out-of-memory. */
md_arena_t *md_arena_new(size_t chunk_size);
void md_arena_free(md_arena_t *a);

/* Forget every allocation. If the last batch needed several chunks they are
 * merged into one (up to a cap), so a steady workload settles on one chunk
 * and zero mallocs per batch. */
void md_arena_reset(md_arena_t *a);

/* n bytes aligned to 8; NULL on out-of-memory or size overflow. n == 0 gives
 * a valid unique pointer. */
void *md_arena_alloc(md_arena_t *a, size_t n) MD_MUST_CHECK;

/* Copy n bytes and add a NUL terminator (not counted in n). */
char *md_arena_memdup(md_arena_t *a, const void *p, size_t n) MD_MUST_CHECK;

/* Bytes handed out since the last reset, and bytes held in chunks. */
size_t md_arena_used(const md_arena_t *a);
size_t md_arena_capacity(const md_arena_t *a);

#endif
