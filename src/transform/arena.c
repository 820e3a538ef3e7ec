/* Bump allocator behind the transforms' per-row strings. It must never move
 * or free memory it handed out before md_arena_reset/md_arena_free, and
 * never malloc per allocation in the steady state. */
#include "medallion/transform/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 8
#define ARENA_DEFAULT_CHUNK ((size_t)64 * 1024)
/* A batch with a few huge rows must not pin their memory forever: reset
 * keeps at most this much. */
#define ARENA_MAX_RETAIN ((size_t)64 * 1024 * 1024)
#define ARENA_MAX_GROW ((size_t)64 * 1024 * 1024)

typedef struct chunk {
    struct chunk *next; /* older chunks */
    size_t size;
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} chunk_t;

struct md_arena {
    chunk_t *head; /* the chunk being filled; NULL until first use */
    size_t chunk_size;
    size_t used;
};

static chunk_t *chunk_new(size_t size) {
    if (size > SIZE_MAX - sizeof(chunk_t))
        return NULL;
    chunk_t *c = malloc(sizeof(chunk_t) + size);
    if (c == NULL)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

md_arena_t *md_arena_new(size_t chunk_size) {
    md_arena_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->chunk_size = chunk_size ? chunk_size : ARENA_DEFAULT_CHUNK;
    return a;
}

static void free_chunks(chunk_t *c) {
    while (c != NULL) {
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
}

void md_arena_free(md_arena_t *a) {
    if (a == NULL)
        return;
    free_chunks(a->head);
    free(a);
}

void md_arena_reset(md_arena_t *a) {
    if (a == NULL)
        return;
    a->used = 0;
    chunk_t *h = a->head;
    if (h == NULL)
        return;
    if (h->next == NULL) {
        if (h->size > ARENA_MAX_RETAIN) {
            free(h);
            a->head = NULL;
        } else {
            h->used = 0;
        }
        return;
    }
    /* Several chunks: replace them by one that would have held them all. */
    size_t total = 0;
    for (chunk_t *c = h; c != NULL; c = c->next)
        total = total > SIZE_MAX - c->size ? SIZE_MAX : total + c->size;
    if (total > ARENA_MAX_RETAIN)
        total = ARENA_MAX_RETAIN;
    if (total < a->chunk_size)
        total = a->chunk_size;
    free_chunks(h);
    a->head = chunk_new(total); /* NULL is fine: the next alloc retries */
}

void *md_arena_alloc(md_arena_t *a, size_t n) {
    if (n > SIZE_MAX - ARENA_ALIGN)
        return NULL;
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0)
        need = ARENA_ALIGN;
    chunk_t *h = a->head;
    if (h == NULL || h->size - h->used < need) {
        size_t size = a->chunk_size;
        if (h != NULL && h->size < ARENA_MAX_GROW && h->size * 2 > size)
            size = h->size * 2;
        if (size < need)
            size = need;
        chunk_t *c = chunk_new(size);
        if (c == NULL)
            return NULL;
        c->next = h;
        a->head = h = c;
    }
    void *p = h->data + h->used;
    h->used += need;
    a->used += need;
    return p;
}

char *md_arena_memdup(md_arena_t *a, const void *p, size_t n) {
    if (n == SIZE_MAX)
        return NULL;
    char *d = md_arena_alloc(a, n + 1);
    if (d == NULL)
        return NULL;
    if (n > 0)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

size_t md_arena_used(const md_arena_t *a) {
    return a->used;
}

size_t md_arena_capacity(const md_arena_t *a) {
    size_t total = 0;
    for (const chunk_t *c = a->head; c != NULL; c = c->next)
        total += c->size;
    return total;
}
