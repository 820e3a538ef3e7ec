/* Open-addressing hash map from a 16-byte key (an event_id UUID, the head of
 * a dedup digest) to the id of the first row seen with it, so jobs can drop
 * duplicates inside a batch and remember which copy was kept. Keys are
 * copied in; it never holds pointers into caller memory. */
#ifndef MEDALLION_TRANSFORM_KEYSET_H
#define MEDALLION_TRANSFORM_KEYSET_H

#include <stddef.h>
#include <stdint.h>

#include "medallion/error.h"

#define MD_KEYSET_KEY_LEN 16

typedef struct md_keyset md_keyset_t;

/* capacity_hint: how many keys are expected (it still grows past it).
 * NULL only on out-of-memory. */
md_keyset_t *md_keyset_new(size_t capacity_hint);
void md_keyset_free(md_keyset_t *ks);

/* Drop every key, keep the table's memory for the next batch. */
void md_keyset_clear(md_keyset_t *ks);

/* Insert key → id unless the key is present. Returns 1 when inserted, 0 when
 * it already existed, -ENOMEM when growing failed (set unchanged).
 * ret_kept_id (may be NULL) receives the id now stored for the key: id on
 * insert, the first id seen on 0; untouched on failure. */
int md_keyset_insert_or_get(md_keyset_t *ks, const uint8_t key[MD_KEYSET_KEY_LEN], int64_t id,
                            int64_t *ret_kept_id) MD_MUST_CHECK;

/* 0 and *ret_id when present, -ENOENT otherwise. */
int md_keyset_find(const md_keyset_t *ks, const uint8_t key[MD_KEYSET_KEY_LEN], int64_t *ret_id);

size_t md_keyset_count(const md_keyset_t *ks);

#endif
