/* Open-addressing (linear probing) map from 16-byte keys to the first id seen,
 * for duplicate removal in the silver jobs. It never stores caller pointers,
 * and a failed grow leaves the set exactly as it was. */
#include "medallion/transform/keyset.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    uint8_t key[MD_KEYSET_KEY_LEN];
    int64_t id;
} slot_t;

struct md_keyset {
    slot_t *slots;
    uint8_t *used; /* one byte per slot: 0 empty, 1 full (no deletes, no tombstones) */
    size_t cap;    /* power of two */
    size_t count;
};

/* Keys may be sequential or crafted (a dedup digest is uniform, an event_id
 * is whatever the client sent), so both halves are mixed with a strong
 * 64-bit finalizer (the splitmix64/murmur3 constants) before indexing. */
static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

static inline uint64_t key_hash(const uint8_t *key) {
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    return mix64(a ^ mix64(b + UINT64_C(0x9e3779b97f4a7c15)));
}

static int alloc_table(size_t cap, slot_t **ret_slots, uint8_t **ret_used) {
    slot_t *s = malloc(cap * sizeof(*s));
    uint8_t *u = calloc(cap, 1);
    if (s == NULL || u == NULL) {
        free(s);
        free(u);
        return -ENOMEM;
    }
    *ret_slots = s;
    *ret_used = u;
    return 0;
}

md_keyset_t *md_keyset_new(size_t capacity_hint) {
    /* Keep the load factor under 1/2 for the hinted count. */
    size_t want = capacity_hint > ((size_t)1 << 39) ? (size_t)1 << 40 : capacity_hint * 2;
    size_t cap = 16;
    while (cap < want)
        cap <<= 1;
    md_keyset_t *ks = calloc(1, sizeof(*ks));
    if (ks == NULL)
        return NULL;
    if (alloc_table(cap, &ks->slots, &ks->used) < 0) {
        free(ks);
        return NULL;
    }
    ks->cap = cap;
    return ks;
}

void md_keyset_free(md_keyset_t *ks) {
    if (ks == NULL)
        return;
    free(ks->slots);
    free(ks->used);
    free(ks);
}

void md_keyset_clear(md_keyset_t *ks) {
    memset(ks->used, 0, ks->cap);
    ks->count = 0;
}

static size_t probe(const md_keyset_t *ks, const uint8_t *key, bool *found) {
    size_t mask = ks->cap - 1;
    size_t i = (size_t)key_hash(key) & mask;
    while (ks->used[i]) {
        if (memcmp(ks->slots[i].key, key, MD_KEYSET_KEY_LEN) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = false;
    return i;
}

static int grow(md_keyset_t *ks) {
    if (ks->cap > SIZE_MAX / 2 / sizeof(slot_t))
        return -ENOMEM;
    size_t ncap = ks->cap * 2;
    slot_t *ns;
    uint8_t *nu;
    if (alloc_table(ncap, &ns, &nu) < 0)
        return -ENOMEM;
    for (size_t j = 0; j < ks->cap; j++) {
        if (!ks->used[j])
            continue;
        size_t i = (size_t)key_hash(ks->slots[j].key) & (ncap - 1);
        while (nu[i])
            i = (i + 1) & (ncap - 1);
        nu[i] = 1;
        ns[i] = ks->slots[j];
    }
    free(ks->slots);
    free(ks->used);
    ks->slots = ns;
    ks->used = nu;
    ks->cap = ncap;
    return 0;
}

int md_keyset_insert_or_get(md_keyset_t *ks, const uint8_t key[MD_KEYSET_KEY_LEN], int64_t id,
                            int64_t *ret_kept_id) {
    bool found;
    size_t i = probe(ks, key, &found);
    if (found) {
        if (ret_kept_id != NULL)
            *ret_kept_id = ks->slots[i].id;
        return 0;
    }
    /* Grow at 70% load so probe sequences stay short. */
    if ((ks->count + 1) * 10 > ks->cap * 7) {
        int r = grow(ks);
        if (r < 0)
            return r;
        i = probe(ks, key, &found);
    }
    memcpy(ks->slots[i].key, key, MD_KEYSET_KEY_LEN);
    ks->slots[i].id = id;
    ks->used[i] = 1;
    ks->count++;
    if (ret_kept_id != NULL)
        *ret_kept_id = id;
    return 1;
}

int md_keyset_find(const md_keyset_t *ks, const uint8_t key[MD_KEYSET_KEY_LEN], int64_t *ret_id) {
    bool found;
    size_t i = probe(ks, key, &found);
    if (!found)
        return -ENOENT;
    if (ret_id != NULL)
        *ret_id = ks->slots[i].id;
    return 0;
}

size_t md_keyset_count(const md_keyset_t *ks) {
    return ks->count;
}
