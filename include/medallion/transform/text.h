/* Byte-level text standardization shared by the silver transforms: trim,
 * case, snake_case, UTF-8-safe truncation. Works on (ptr, len) only: never
 * reads past len, never assumes a terminator, keeps non-ASCII bytes as is. */
#ifndef MEDALLION_TRANSFORM_TEXT_H
#define MEDALLION_TRANSFORM_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "medallion/error.h"
#include "medallion/transform/arena.h"
#include "medallion/types.h"

/* ASCII whitespace: space \t \n \v \f \r. */
static inline bool md_text_is_space(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Borrowed sub-slice without leading/trailing ASCII whitespace; NULL stays NULL. */
md_str_t md_text_trim(md_str_t s);
/* Empty → NULL, anything else unchanged. */
md_str_t md_text_nullif_empty(md_str_t s);

/* Lower/upper-case ASCII letters. Borrows s when nothing changes, else copies
 * into the arena. NULL stays NULL. 0 or -ENOMEM. */
int md_text_lower(md_arena_t *a, md_str_t s, md_str_t *ret) MD_MUST_CHECK;
int md_text_upper(md_arena_t *a, md_str_t s, md_str_t *ret) MD_MUST_CHECK;

/* trim → lower → empty becomes NULL (how `source` columns are standardized). */
int md_text_clean_lower(md_arena_t *a, md_str_t s, md_str_t *ret) MD_MUST_CHECK;

/* snake_case: ASCII letters lower-cased; every other ASCII byte (space,
 * punctuation, control) is a separator; runs of separators become one '_',
 * leading/trailing ones are dropped; '_' is also inserted at a
 * lower-case-or-digit → upper-case boundary ("pageView" → "page_view", but
 * "PAGE_VIEW" → "page_view" and "HTTPServer" → "httpserver"). Bytes >= 0x80
 * are copied unchanged, so valid UTF-8 stays valid.
 * With out == NULL only counts; otherwise out must hold the count, which is
 * at most 2 * len. Returns the output length. */
size_t md_text_snake_case(const char *s, size_t len, char *out);

/* snake_case into the arena; NULL stays NULL and a result that is empty
 * ("  ", "--") becomes NULL. Borrows s when it is already canonical. */
int md_text_snake_case_dup(md_arena_t *a, md_str_t s, md_str_t *ret) MD_MUST_CHECK;

/* Largest n <= max such that s[0..n) does not end inside a UTF-8 sequence
 * (only continuation bytes are inspected, so invalid UTF-8 is safe). */
size_t md_text_utf8_cut(const char *s, size_t len, size_t max);

#endif
