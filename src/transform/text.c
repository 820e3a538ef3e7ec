/* Text standardization on raw bytes for the silver transforms. Must never
 * read past len or depend on a NUL terminator: bronze text may carry any
 * bytes, and md_str_t may hold embedded NULs. */
#include "medallion/transform/text.h"

#include <errno.h>
#include <string.h>

md_str_t md_text_trim(md_str_t s) {
    if (s.ptr == NULL)
        return s;
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t b = 0, e = s.len;
    while (b < e && md_text_is_space(p[b]))
        b++;
    while (e > b && md_text_is_space(p[e - 1]))
        e--;
    return (md_str_t){s.ptr + b, e - b};
}

md_str_t md_text_nullif_empty(md_str_t s) {
    return s.len == 0 ? MD_STR_NULL : s;
}

static bool is_upper(unsigned char c) {
    return c >= 'A' && c <= 'Z';
}

static bool is_lower(unsigned char c) {
    return c >= 'a' && c <= 'z';
}

static bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

/* Copy s with bytes in [from_lo, from_hi] shifted by delta; borrow when none is. */
static int map_case(md_arena_t *a, md_str_t s, char lo, char hi, int delta, md_str_t *ret) {
    if (s.ptr == NULL) {
        *ret = s;
        return 0;
    }
    size_t first = 0;
    while (first < s.len && !(s.ptr[first] >= lo && s.ptr[first] <= hi))
        first++;
    if (first == s.len) {
        *ret = s;
        return 0;
    }
    char *d = md_arena_memdup(a, s.ptr, s.len);
    if (d == NULL)
        return -ENOMEM;
    for (size_t i = first; i < s.len; i++)
        if (d[i] >= lo && d[i] <= hi)
            d[i] = (char)(d[i] + delta);
    *ret = (md_str_t){d, s.len};
    return 0;
}

int md_text_lower(md_arena_t *a, md_str_t s, md_str_t *ret) {
    return map_case(a, s, 'A', 'Z', 'a' - 'A', ret);
}

int md_text_upper(md_arena_t *a, md_str_t s, md_str_t *ret) {
    return map_case(a, s, 'a', 'z', 'A' - 'a', ret);
}

int md_text_clean_lower(md_arena_t *a, md_str_t s, md_str_t *ret) {
    md_str_t t = md_text_nullif_empty(md_text_trim(s));
    return md_text_lower(a, t, ret);
}

size_t md_text_snake_case(const char *s, size_t len, char *out) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    bool pending = false;     /* a separator was seen since the last emitted byte */
    bool prev_lo_dig = false; /* previous byte was a lower-case letter or digit */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        bool alnum = is_upper(c) || is_lower(c) || is_digit(c);
        if (c < 0x80 && !alnum) {
            pending = true;
            prev_lo_dig = false;
            continue;
        }
        if (is_upper(c) && prev_lo_dig)
            pending = true;
        if (pending && n > 0) {
            if (out != NULL)
                out[n] = '_';
            n++;
        }
        pending = false;
        if (out != NULL)
            out[n] = (char)(is_upper(c) ? c + ('a' - 'A') : c);
        n++;
        prev_lo_dig = is_lower(c) || is_digit(c);
    }
    return n;
}

/* Already canonical: only [a-z0-9_] and non-ASCII, no leading, trailing or
 * doubled '_'. Then snake_case is the identity and the input can be borrowed. */
static bool is_snake_canonical(const char *s, size_t len) {
    if (len == 0 || s[0] == '_' || s[len - 1] == '_')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '_') {
            if (s[i - 1] == '_')
                return false;
        } else if (c < 0x80 && !is_lower(c) && !is_digit(c)) {
            return false;
        }
    }
    return true;
}

int md_text_snake_case_dup(md_arena_t *a, md_str_t s, md_str_t *ret) {
    if (s.ptr == NULL) {
        *ret = s;
        return 0;
    }
    if (is_snake_canonical(s.ptr, s.len)) {
        *ret = s;
        return 0;
    }
    size_t n = md_text_snake_case(s.ptr, s.len, NULL);
    if (n == 0) {
        *ret = MD_STR_NULL;
        return 0;
    }
    char *d = md_arena_alloc(a, n + 1);
    if (d == NULL)
        return -ENOMEM;
    md_text_snake_case(s.ptr, s.len, d);
    d[n] = '\0';
    *ret = (md_str_t){d, n};
    return 0;
}

size_t md_text_utf8_cut(const char *s, size_t len, size_t max) {
    if (len <= max)
        return len;
    size_t n = max;
    /* s[n] is the first byte dropped; if it continues a sequence, drop that
     * sequence's lead too. A sequence is at most 4 bytes, so back off at most
     * 3: garbage made of continuation bytes must not erase the whole value. */
    for (int k = 0; k < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; k++)
        n--;
    if (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        return max; /* not UTF-8 anyway: cut where asked */
    return n;
}
