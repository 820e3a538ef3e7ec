/* PostgreSQL binary COPY encode/decode (the hot path). Pure byte work over caller-owned
 * buffers: no libpq, no logging, no allocation per row or field (only the writer's buffer
 * grows, amortized). Every read is bounds-checked against the chunk it came from, because the
 * bytes come from the network. */
#include "medallion/copy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* "PGCOPY\n\377\r\n\0" */
static const char copy_signature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', 0};
#define COPY_HEADER_LEN 19

/* Days between 1970-01-01 and PostgreSQL's epoch 2000-01-01. */
#define PG_EPOCH_OFFSET_DAYS 10957

/* numeric's on-the-wire sign word and limits (PostgreSQL's numeric.c). */
#define NUMERIC_POS 0x0000
#define NUMERIC_NEG 0x4000
#define NUMERIC_NAN 0xC000
#define NUMERIC_PINF 0xD000
#define NUMERIC_NINF 0xF000
#define NUMERIC_DSCALE_MAX 0x3FFF
#define NUMERIC_NBASE 10000
/* numeric_in rejects exponents beyond this (NUMERIC_MAX_PRECISION). */
#define NUMERIC_EXP_MAX 1000
/* numeric_send writes the dscale field from the short-header bits even for the special values,
 * which yields 32 for ±Infinity and 0 for NaN; matching it keeps our output byte-identical. */
#define NUMERIC_INF_WIRE_DSCALE 32

/* inet's family byte: PGSQL_AF_INET is AF_INET (2) everywhere, PGSQL_AF_INET6 is one more. */
#define PG_AF_INET 2
#define PG_AF_INET6 3

enum { READER_HEADER, READER_ROWS, READER_DONE };

/* ---- big-endian helpers ---- */

static inline uint16_t rd_u16(const char *p) {
    const unsigned char *u = (const unsigned char *)p;
    return (uint16_t)((unsigned)u[0] << 8 | u[1]);
}

static inline uint32_t rd_u32(const char *p) {
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static inline uint64_t rd_u64(const char *p) {
    return (uint64_t)rd_u32(p) << 32 | rd_u32(p + 4);
}

static inline void wr_u16(char *p, uint16_t v) {
    p[0] = (char)(v >> 8);
    p[1] = (char)v;
}

static inline void wr_u32(char *p, uint32_t v) {
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

static inline void wr_u64(char *p, uint64_t v) {
    wr_u32(p, (uint32_t)(v >> 32));
    wr_u32(p + 4, (uint32_t)v);
}

/* ---- md_buf ---- */

void md_buf_init(md_buf_t *b) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int md_buf_reserve(md_buf_t *b, size_t extra) {
    if (extra > SIZE_MAX - b->len)
        return -EOVERFLOW;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return -EOVERFLOW;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

void md_buf_reset(md_buf_t *b) {
    b->len = 0;
}

void md_buf_free(md_buf_t *b) {
    if (!b)
        return;
    free(b->data);
    md_buf_init(b);
}

/* ---- reader ---- */

void md_copy_reader_init(md_copy_reader_t *r) {
    r->state = READER_HEADER;
    r->nfields = -1;
    r->rows = 0;
}

/* Parses without touching *r, so a failed chunk leaves the reader as it was. Returns 1 (row,
 * *ret_n fields) or 0 (trailer) with *ret_end = bytes used. */
static int reader_parse(const md_copy_reader_t *r, const char *buf, size_t len,
                        md_copy_field_t *fields, int max_fields, int *ret_n, size_t *ret_end) {
    size_t p = 0;

    if (r->state == READER_DONE)
        return -EPROTO;
    if (r->state == READER_HEADER) {
        if (len < COPY_HEADER_LEN || memcmp(buf, copy_signature, sizeof(copy_signature)) != 0)
            return -EPROTO;
        /* Bits 16-31 are critical by definition (bit 16: OIDs included); we know none. */
        if (rd_u32(buf + 11) & 0xFFFF0000u)
            return -EPROTO;
        uint32_t ext = rd_u32(buf + 15);
        if (ext > len - COPY_HEADER_LEN)
            return -EPROTO;
        p = COPY_HEADER_LEN + ext;
    }

    if (len - p < 2)
        return -EPROTO;
    int n = (int16_t)rd_u16(buf + p);
    p += 2;
    if (n == -1) {
        *ret_end = p;
        return 0;
    }
    if (n < 0 || n > max_fields || (r->nfields >= 0 && n != r->nfields))
        return -EPROTO;
    for (int i = 0; i < n; i++) {
        if (len - p < 4)
            return -EPROTO;
        int32_t flen = (int32_t)rd_u32(buf + p);
        p += 4;
        if (flen == -1) {
            fields[i].ptr = NULL;
            fields[i].len = -1;
            continue;
        }
        if (flen < 0 || (size_t)flen > len - p)
            return -EPROTO;
        fields[i].ptr = buf + p;
        fields[i].len = flen;
        p += (size_t)flen;
    }
    *ret_n = n;
    *ret_end = p;
    return 1;
}

static int reader_step(md_copy_reader_t *r, const char *buf, size_t len, md_copy_field_t *fields,
                       int max_fields, bool whole_chunk, int *ret_nfields, size_t *ret_consumed) {
    int n = 0;
    size_t end = 0;
    if (!buf && len > 0)
        return -EINVAL;
    int rc = reader_parse(r, buf, len, fields, max_fields, &n, &end);
    if (rc < 0)
        return rc;
    if (whole_chunk && end != len)
        return -EPROTO;
    if (rc == 0) {
        r->state = READER_DONE;
    } else {
        r->state = READER_ROWS;
        r->nfields = n;
        r->rows++;
        *ret_nfields = n;
    }
    if (ret_consumed)
        *ret_consumed = end;
    return rc;
}

int md_copy_reader_row(md_copy_reader_t *r, const char *buf, size_t len, md_copy_field_t *fields,
                       int max_fields, int *ret_nfields) {
    return reader_step(r, buf, len, fields, max_fields, true, ret_nfields, NULL);
}

int md_copy_reader_next(md_copy_reader_t *r, const char *buf, size_t len, md_copy_field_t *fields,
                        int max_fields, int *ret_nfields, size_t *ret_consumed) {
    return reader_step(r, buf, len, fields, max_fields, false, ret_nfields, ret_consumed);
}

/* ---- typed decoders ---- */

static int need_len(const md_copy_field_t *f, int32_t want) {
    if (f->len < 0)
        return -ENODATA;
    return f->len == want ? 0 : -EPROTO;
}

int md_copy_get_bool(const md_copy_field_t *f, bool *ret) {
    int rc = need_len(f, 1);
    if (rc < 0)
        return rc;
    *ret = f->ptr[0] != 0; /* boolrecv takes any non-zero byte as true */
    return 0;
}

int md_copy_get_int2(const md_copy_field_t *f, int16_t *ret) {
    int rc = need_len(f, 2);
    if (rc < 0)
        return rc;
    *ret = (int16_t)rd_u16(f->ptr);
    return 0;
}

int md_copy_get_int4(const md_copy_field_t *f, int32_t *ret) {
    int rc = need_len(f, 4);
    if (rc < 0)
        return rc;
    *ret = (int32_t)rd_u32(f->ptr);
    return 0;
}

int md_copy_get_int8(const md_copy_field_t *f, int64_t *ret) {
    int rc = need_len(f, 8);
    if (rc < 0)
        return rc;
    *ret = (int64_t)rd_u64(f->ptr);
    return 0;
}

int md_copy_get_xid8(const md_copy_field_t *f, uint64_t *ret) {
    int rc = need_len(f, 8);
    if (rc < 0)
        return rc;
    *ret = rd_u64(f->ptr);
    return 0;
}

int md_copy_get_float8(const md_copy_field_t *f, double *ret) {
    int rc = need_len(f, 8);
    if (rc < 0)
        return rc;
    uint64_t bits = rd_u64(f->ptr);
    memcpy(ret, &bits, sizeof(*ret));
    return 0;
}

int md_copy_get_text(const md_copy_field_t *f, md_str_t *ret) {
    if (f->len < -1)
        return -EPROTO;
    *ret = f->len < 0 ? MD_STR_NULL : (md_str_t){f->ptr, (size_t)f->len};
    return 0;
}

int md_copy_get_json(const md_copy_field_t *f, md_str_t *ret) {
    return md_copy_get_text(f, ret);
}

int md_copy_get_jsonb(const md_copy_field_t *f, md_str_t *ret) {
    if (f->len == -1) {
        *ret = MD_STR_NULL;
        return 0;
    }
    if (f->len < 1 || f->ptr[0] != 1)
        return -EPROTO;
    *ret = (md_str_t){f->ptr + 1, (size_t)f->len - 1};
    return 0;
}

int md_copy_get_uuid(const md_copy_field_t *f, md_uuid_t *ret) {
    if (f->len == -1) {
        ret->present = false;
        memset(ret->b, 0, sizeof(ret->b));
        return 0;
    }
    if (f->len != 16)
        return -EPROTO;
    ret->present = true;
    memcpy(ret->b, f->ptr, 16);
    return 0;
}

int md_copy_get_timestamptz(const md_copy_field_t *f, md_ts_t *ret) {
    if (f->len == -1) {
        *ret = MD_TS_NULL;
        return 0;
    }
    if (f->len != 8)
        return -EPROTO;
    int64_t pg = (int64_t)rd_u64(f->ptr);
    if (pg == INT64_MAX) {
        *ret = MD_TS_POS_INF;
        return 0;
    }
    if (pg == INT64_MIN) {
        *ret = MD_TS_NEG_INF;
        return 0;
    }
    int64_t unix_us;
    if (__builtin_add_overflow(pg, MD_PG_EPOCH_OFFSET_USEC, &unix_us) || unix_us == MD_TS_POS_INF ||
        unix_us <= MD_TS_NEG_INF)
        return -ERANGE;
    *ret = unix_us;
    return 0;
}

int md_copy_get_date(const md_copy_field_t *f, int32_t *ret) {
    int rc = need_len(f, 4);
    if (rc < 0)
        return rc;
    int32_t pg = (int32_t)rd_u32(f->ptr);
    if (pg == INT32_MAX || pg == INT32_MIN) {
        *ret = pg; /* MD_DATE_POS_INF / MD_DATE_NEG_INF */
        return 0;
    }
    int32_t days;
    if (__builtin_add_overflow(pg, PG_EPOCH_OFFSET_DAYS, &days) || days == MD_DATE_POS_INF)
        return -ERANGE;
    *ret = days;
    return 0;
}

/* Bounded output for the text formatters: overflow is remembered, not written past. */
typedef struct outbuf {
    char *p;
    size_t cap;
    size_t len;
} outbuf_t;

static inline void out_c(outbuf_t *o, char c) {
    if (o->len < o->cap)
        o->p[o->len] = c;
    o->len++;
}

static void out_s(outbuf_t *o, const char *s) {
    while (*s)
        out_c(o, *s++);
}

static void out_uint(outbuf_t *o, unsigned v) {
    char tmp[12];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        out_c(o, tmp[--n]);
}

/* NUL-terminate and hand back, or -ENOSPC without touching *ret_len. */
static int out_finish(outbuf_t *o, size_t *ret_len) {
    if (o->len >= o->cap)
        return -ENOSPC;
    o->p[o->len] = '\0';
    *ret_len = o->len;
    return 0;
}

static const int pow10_tab[5] = {1, 10, 100, 1000, 10000};

/* numeric_recv truncates digits hidden by dscale before numeric_out sees them; this gives the
 * base-10000 digit at index i after that truncation. */
static int numeric_visible_digit(const char *digits, int i, int weight, int dscale) {
    int d = rd_u16(digits + 2 * i);
    int w = weight - i;
    if (w >= 0)
        return d;
    int keep = dscale - 4 * (-w - 1); /* decimal places of this group that survive */
    if (keep >= 4)
        return d;
    if (keep <= 0)
        return 0;
    return d - d % pow10_tab[4 - keep];
}

int md_copy_get_numeric(const md_copy_field_t *f, char *buf, size_t cap, size_t *ret_len) {
    if (f->len < 0)
        return f->len == -1 ? -ENODATA : -EPROTO;
    if (f->len < 8)
        return -EPROTO;
    int ndigits = (int16_t)rd_u16(f->ptr);
    int weight = (int16_t)rd_u16(f->ptr + 2);
    unsigned sign = rd_u16(f->ptr + 4);
    int dscale = rd_u16(f->ptr + 6);
    const char *digits = f->ptr + 8;
    if (ndigits < 0 || f->len != 8 + 2 * ndigits || dscale > NUMERIC_DSCALE_MAX)
        return -EPROTO;
    if (sign != NUMERIC_POS && sign != NUMERIC_NEG && sign != NUMERIC_NAN && sign != NUMERIC_PINF &&
        sign != NUMERIC_NINF)
        return -EPROTO;
    for (int i = 0; i < ndigits; i++)
        if (rd_u16(digits + 2 * i) >= NUMERIC_NBASE)
            return -EPROTO;

    outbuf_t o = {buf, cap, 0};
    if (sign == NUMERIC_NAN) {
        out_s(&o, "NaN");
        return out_finish(&o, ret_len);
    }
    if (sign == NUMERIC_PINF || sign == NUMERIC_NINF) {
        out_s(&o, sign == NUMERIC_NINF ? "-Infinity" : "Infinity");
        return out_finish(&o, ret_len);
    }

    /* Normalize as numeric_recv would: drop zero groups at both ends; zero is never negative. */
    int first = 0, last = ndigits - 1;
    while (first <= last && numeric_visible_digit(digits, first, weight, dscale) == 0)
        first++;
    while (last >= first && numeric_visible_digit(digits, last, weight, dscale) == 0)
        last--;
    int nd = last - first + 1; /* digits first..last, the first having weight w0 */
    int w0 = nd > 0 ? weight - first : 0;
    if (nd > 0 && sign == NUMERIC_NEG)
        out_c(&o, '-');

#define DIGIT_AT(w)                                                                                \
    ((weight - (w)) >= first && (weight - (w)) <= last                                             \
         ? numeric_visible_digit(digits, weight - (w), weight, dscale)                             \
         : 0)
    if (w0 < 0) {
        out_c(&o, '0');
    } else {
        for (int w = w0; w >= 0; w--) {
            int g = DIGIT_AT(w);
            int k = 3;
            if (w == w0) /* no leading zeros in the first group */
                while (k > 0 && g / pow10_tab[k] == 0)
                    k--;
            for (; k >= 0; k--)
                out_c(&o, (char)('0' + g / pow10_tab[k] % 10));
        }
    }
    if (dscale > 0) {
        out_c(&o, '.');
        int printed = 0;
        for (int w = -1; printed < dscale; w--) {
            int g = DIGIT_AT(w);
            for (int k = 3; k >= 0 && printed < dscale; k--, printed++)
                out_c(&o, (char)('0' + g / pow10_tab[k] % 10));
        }
    }
#undef DIGIT_AT
    return out_finish(&o, ret_len);
}

static void out_hex16(outbuf_t *o, unsigned v) {
    static const char hex[] = "0123456789abcdef";
    int k = 3;
    while (k > 0 && ((v >> (4 * k)) & 15) == 0)
        k--;
    for (; k >= 0; k--)
        out_c(o, hex[(v >> (4 * k)) & 15]);
}

static void out_ipv4(outbuf_t *o, const unsigned char *a) {
    for (int i = 0; i < 4; i++) {
        if (i)
            out_c(o, '.');
        out_uint(o, a[i]);
    }
}

/* RFC 5952 shape, as PostgreSQL prints it: the first longest run (>= 2) of zero words becomes
 * "::", and ::a.b.c.d / ::ffff:a.b.c.d keep their IPv4 tail in dotted form. */
static void out_ipv6(outbuf_t *o, const unsigned char *a) {
    unsigned words[8];
    for (int i = 0; i < 8; i++)
        words[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (words[i] != 0) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && words[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    if (best_len < 2)
        best = -1;
    bool v4tail = best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff));
    int nwords = v4tail ? 6 : 8;
    for (int i = 0; i < nwords; i++) {
        if (i == best) {
            out_s(o, "::");
            i += best_len - 1;
            continue;
        }
        if (i > 0 && i != best + best_len)
            out_c(o, ':');
        out_hex16(o, words[i]);
    }
    if (v4tail) {
        if (best + best_len < 6) /* ::ffff: needs the separator after ffff */
            out_c(o, ':');
        out_ipv4(o, a + 12);
    }
}

int md_copy_get_inet(const md_copy_field_t *f, char *buf, size_t cap, size_t *ret_len) {
    if (f->len < 0)
        return f->len == -1 ? -ENODATA : -EPROTO;
    if (f->len < 4)
        return -EPROTO;
    const unsigned char *u = (const unsigned char *)f->ptr;
    unsigned family = u[0], bits = u[1], is_cidr = u[2], alen = u[3];
    unsigned maxbits;
    if (family == PG_AF_INET && alen == 4)
        maxbits = 32;
    else if (family == PG_AF_INET6 && alen == 16)
        maxbits = 128;
    else
        return -EPROTO;
    if (bits > maxbits || is_cidr > 1 || f->len != (int32_t)(4 + alen))
        return -EPROTO;

    outbuf_t o = {buf, cap, 0};
    if (family == PG_AF_INET)
        out_ipv4(&o, u + 4);
    else
        out_ipv6(&o, u + 4);
    if (is_cidr || bits != maxbits) {
        out_c(&o, '/');
        out_uint(&o, bits);
    }
    return out_finish(&o, ret_len);
}

/* Walks a one-dimensional text array, filling items[] when given. */
static int text_array_walk(const md_copy_field_t *f, md_str_t *items, int max_items, int *ret_n) {
    if (f->len < 0)
        return f->len == -1 ? -ENODATA : -EPROTO;
    size_t len = (size_t)f->len, p = 12;
    if (len < 12)
        return -EPROTO;
    int32_t ndim = (int32_t)rd_u32(f->ptr);
    uint32_t flags = rd_u32(f->ptr + 4);
    uint32_t elemtype = rd_u32(f->ptr + 8);
    if (ndim < 0 || flags > 1 || (elemtype != MD_PG_OID_TEXT && elemtype != MD_PG_OID_VARCHAR))
        return -EPROTO;
    if (ndim > 1)
        return -ENOTSUP;
    int32_t n = 0;
    if (ndim == 1) {
        if (len - p < 8)
            return -EPROTO;
        n = (int32_t)rd_u32(f->ptr + p); /* the lower bound that follows does not matter */
        p += 8;
        if (n < 0 || (size_t)n > (len - p) / 4)
            return -EPROTO;
    }
    if (items && n > max_items)
        return -ENOSPC;
    for (int32_t i = 0; i < n; i++) {
        if (len - p < 4)
            return -EPROTO;
        int32_t elen = (int32_t)rd_u32(f->ptr + p);
        p += 4;
        md_str_t s = MD_STR_NULL;
        if (elen != -1) {
            if (elen < 0 || (size_t)elen > len - p)
                return -EPROTO;
            s = (md_str_t){f->ptr + p, (size_t)elen};
            p += (size_t)elen;
        }
        if (items)
            items[i] = s;
    }
    if (p != len)
        return -EPROTO;
    *ret_n = n;
    return 0;
}

int md_copy_get_text_array_len(const md_copy_field_t *f, int *ret_n) {
    return text_array_walk(f, NULL, 0, ret_n);
}

int md_copy_get_text_array(const md_copy_field_t *f, md_str_t *items, int max_items, int *ret_n) {
    if (!items && max_items > 0)
        return -EINVAL;
    md_str_t dummy;
    return text_array_walk(f, items ? items : &dummy, max_items, ret_n);
}

/* ---- writer ---- */

void md_copy_writer_init(md_copy_writer_t *w) {
    md_buf_init(&w->buf);
    w->row_start = 0;
    w->row_nfields = -1;
    w->row_added = 0;
    w->row_err = 0;
}

void md_copy_writer_free(md_copy_writer_t *w) {
    if (!w)
        return;
    md_buf_free(&w->buf);
    md_copy_writer_init(w);
}

static inline int buf_ensure(md_buf_t *b, size_t extra) {
    if (b->cap - b->len >= extra)
        return 0;
    return md_buf_reserve(b, extra);
}

static int append_raw(md_copy_writer_t *w, const void *p, size_t n) {
    int rc = buf_ensure(&w->buf, n);
    if (rc < 0)
        return rc;
    memcpy(w->buf.data + w->buf.len, p, n);
    w->buf.len += n;
    return 0;
}

int md_copy_writer_header(md_copy_writer_t *w) {
    if (w->row_nfields >= 0)
        return -EINVAL;
    char h[COPY_HEADER_LEN];
    memcpy(h, copy_signature, sizeof(copy_signature));
    wr_u32(h + 11, 0); /* flags: no OIDs */
    wr_u32(h + 15, 0); /* no header extension */
    return append_raw(w, h, sizeof(h));
}

int md_copy_writer_trailer(md_copy_writer_t *w) {
    if (w->row_nfields >= 0)
        return -EINVAL;
    return append_raw(w, "\xff\xff", 2);
}

size_t md_copy_writer_pending(const md_copy_writer_t *w) {
    return w->row_nfields >= 0 ? w->row_start : w->buf.len;
}

int md_copy_writer_take(const md_copy_writer_t *w, const char **ret_data, size_t *ret_len) {
    if (w->row_nfields >= 0)
        return -EBUSY;
    *ret_data = w->buf.data;
    *ret_len = w->buf.len;
    return 0;
}

void md_copy_writer_reset(md_copy_writer_t *w) {
    md_buf_reset(&w->buf);
    w->row_start = 0;
    w->row_nfields = -1;
    w->row_added = 0;
    w->row_err = 0;
}

int md_copy_row_begin(md_copy_writer_t *w, int nfields) {
    if (w->row_nfields >= 0 || nfields < 0 || nfields > INT16_MAX)
        return -EINVAL;
    int rc = buf_ensure(&w->buf, 2);
    if (rc < 0)
        return rc;
    w->row_start = w->buf.len;
    wr_u16(w->buf.data + w->buf.len, (uint16_t)nfields);
    w->buf.len += 2;
    w->row_nfields = nfields;
    w->row_added = 0;
    w->row_err = 0;
    return 0;
}

void md_copy_row_abort(md_copy_writer_t *w) {
    if (w->row_nfields < 0)
        return;
    w->buf.len = w->row_start;
    w->row_nfields = -1;
    w->row_added = 0;
    w->row_err = 0;
}

int md_copy_row_end(md_copy_writer_t *w) {
    if (w->row_nfields < 0)
        return -EINVAL;
    int rc = w->row_err ? w->row_err : (w->row_added != w->row_nfields ? -EINVAL : 0);
    if (rc < 0) {
        md_copy_row_abort(w);
        return rc;
    }
    w->row_nfields = -1;
    return 0;
}

/* Opens a field of `payload` bytes (or -1 for NULL) and returns where its payload goes. Every
 * add goes through here, so the row's sticky error and field count are enforced in one place. */
static int field_open(md_copy_writer_t *w, int64_t payload, char **ret_p) {
    if (w->row_nfields < 0)
        return -EINVAL;
    if (w->row_err)
        return w->row_err;
    int rc = 0;
    if (w->row_added >= w->row_nfields)
        rc = -EINVAL;
    else if (payload > INT32_MAX)
        rc = -E2BIG;
    else
        rc = buf_ensure(&w->buf, 4 + (size_t)(payload > 0 ? payload : 0));
    if (rc < 0) {
        w->row_err = rc;
        return rc;
    }
    char *p = w->buf.data + w->buf.len;
    wr_u32(p, (uint32_t)(int32_t)payload);
    w->buf.len += 4 + (size_t)(payload > 0 ? payload : 0);
    w->row_added++;
    *ret_p = p + 4;
    return 0;
}

/* Records an error found before the field was opened (bad input text). */
static int field_fail(md_copy_writer_t *w, int rc) {
    if (w->row_nfields >= 0 && !w->row_err)
        w->row_err = rc;
    return rc;
}

int md_copy_add_null(md_copy_writer_t *w) {
    char *p;
    return field_open(w, -1, &p);
}

int md_copy_add_bool(md_copy_writer_t *w, bool v) {
    char *p;
    int rc = field_open(w, 1, &p);
    if (rc == 0)
        p[0] = v ? 1 : 0;
    return rc;
}

int md_copy_add_int2(md_copy_writer_t *w, int16_t v) {
    char *p;
    int rc = field_open(w, 2, &p);
    if (rc == 0)
        wr_u16(p, (uint16_t)v);
    return rc;
}

int md_copy_add_int4(md_copy_writer_t *w, int32_t v) {
    char *p;
    int rc = field_open(w, 4, &p);
    if (rc == 0)
        wr_u32(p, (uint32_t)v);
    return rc;
}

int md_copy_add_int8(md_copy_writer_t *w, int64_t v) {
    char *p;
    int rc = field_open(w, 8, &p);
    if (rc == 0)
        wr_u64(p, (uint64_t)v);
    return rc;
}

int md_copy_add_float8(md_copy_writer_t *w, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    char *p;
    int rc = field_open(w, 8, &p);
    if (rc == 0)
        wr_u64(p, bits);
    return rc;
}

int md_copy_add_textn(md_copy_writer_t *w, const char *s, size_t len) {
    if (!s)
        return md_copy_add_null(w);
    if (len > INT32_MAX)
        return field_fail(w, -E2BIG);
    char *p;
    int rc = field_open(w, (int64_t)len, &p);
    if (rc == 0 && len > 0)
        memcpy(p, s, len);
    return rc;
}

int md_copy_add_text(md_copy_writer_t *w, md_str_t s) {
    return md_copy_add_textn(w, s.ptr, s.len);
}

int md_copy_add_jsonb(md_copy_writer_t *w, md_str_t json) {
    if (!json.ptr)
        return md_copy_add_null(w);
    if (json.len > INT32_MAX - 1)
        return field_fail(w, -E2BIG);
    char *p;
    int rc = field_open(w, (int64_t)json.len + 1, &p);
    if (rc == 0) {
        p[0] = 1; /* jsonb binary format version */
        if (json.len > 0)
            memcpy(p + 1, json.ptr, json.len);
    }
    return rc;
}

int md_copy_add_uuid(md_copy_writer_t *w, const md_uuid_t *u) {
    if (!u || !u->present)
        return md_copy_add_null(w);
    char *p;
    int rc = field_open(w, 16, &p);
    if (rc == 0)
        memcpy(p, u->b, 16);
    return rc;
}

int md_copy_add_timestamptz(md_copy_writer_t *w, md_ts_t ts) {
    if (ts == MD_TS_NULL)
        return md_copy_add_null(w);
    int64_t pg;
    if (ts == MD_TS_POS_INF)
        pg = INT64_MAX;
    else if (ts == MD_TS_NEG_INF)
        pg = INT64_MIN;
    else if (__builtin_sub_overflow(ts, MD_PG_EPOCH_OFFSET_USEC, &pg) || pg == INT64_MAX ||
             pg == INT64_MIN)
        return field_fail(w, -ERANGE);
    return md_copy_add_int8(w, pg);
}

int md_copy_add_date(md_copy_writer_t *w, int32_t days) {
    int32_t pg;
    if (days == MD_DATE_POS_INF || days == MD_DATE_NEG_INF)
        pg = days;
    else if (__builtin_sub_overflow(days, PG_EPOCH_OFFSET_DAYS, &pg) || pg == INT32_MIN)
        return field_fail(w, -ERANGE);
    return md_copy_add_int4(w, pg);
}

static inline bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline int64_t floor_div4(int64_t v) {
    return v >= 0 ? v / 4 : -((-v + 3) / 4);
}

/* True if s[0..len) starts with the ASCII word `lower`, ignoring case. */
static bool starts_with_ci(const char *s, size_t len, const char *lower) {
    size_t n = strlen(lower);
    if (len < n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lower[i])
            return false;
    }
    return true;
}

static int add_numeric_special(md_copy_writer_t *w, unsigned sign, unsigned dscale) {
    char *p;
    int rc = field_open(w, 8, &p);
    if (rc == 0) {
        wr_u16(p, 0);
        wr_u16(p + 2, 0);
        wr_u16(p + 4, (uint16_t)sign);
        wr_u16(p + 6, (uint16_t)dscale);
    }
    return rc;
}

int md_copy_add_numeric_textn(md_copy_writer_t *w, const char *s, size_t len) {
    if (!s)
        return md_copy_add_null(w);
    if (len > INT32_MAX)
        return field_fail(w, -EINVAL);
    size_t i = 0, end = len;
    while (i < end && is_blank(s[i]))
        i++;
    while (end > i && is_blank(s[end - 1]))
        end--;

    /* numeric_in accepts NaN unsigned only, and Infinity/inf with an optional sign. */
    if (end - i == 3 && starts_with_ci(s + i, 3, "nan"))
        return add_numeric_special(w, NUMERIC_NAN, 0);
    bool neg = false;
    if (i < end && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    if ((end - i == 8 && starts_with_ci(s + i, 8, "infinity")) ||
        (end - i == 3 && starts_with_ci(s + i, 3, "inf")))
        return add_numeric_special(w, neg ? NUMERIC_NINF : NUMERIC_PINF, NUMERIC_INF_WIRE_DSCALE);

    /* Mantissa: digits with at most one '.', at least one digit. Record the first and last
     * non-zero digit (as positions in the digit sequence) so zeros at both ends cost nothing. */
    size_t mant = i;
    int64_t ndig = 0, intdigits = -1, first_nz = -1, last_nz = -1;
    for (; i < end; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (c != '0') {
                if (first_nz < 0)
                    first_nz = ndig;
                last_nz = ndig;
            }
            ndig++;
        } else if (c == '.' && intdigits < 0) {
            intdigits = ndig;
        } else {
            break;
        }
    }
    size_t mant_end = i;
    if (ndig == 0)
        return field_fail(w, -EINVAL);
    if (intdigits < 0)
        intdigits = ndig;
    int64_t fracdigits = ndig - intdigits;

    int64_t exponent = 0;
    if (i < end && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < end && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i == end)
            return field_fail(w, -EINVAL);
        for (; i < end; i++) {
            if (s[i] < '0' || s[i] > '9')
                return field_fail(w, -EINVAL);
            exponent = exponent * 10 + (s[i] - '0');
            if (exponent > NUMERIC_EXP_MAX)
                return field_fail(w, -EINVAL); /* numeric_in: exponent out of range */
        }
        if (eneg)
            exponent = -exponent;
    }
    if (i != end)
        return field_fail(w, -EINVAL);

    int64_t dscale = fracdigits - exponent;
    if (dscale < 0)
        dscale = 0;
    if (dscale > NUMERIC_DSCALE_MAX)
        return field_fail(w, -ERANGE);
    if (first_nz < 0) /* zero: no digits, weight 0, positive, but dscale kept */
        return add_numeric_special(w, NUMERIC_POS, (unsigned)dscale);

    /* Decimal weight of digit k is intdigits - 1 - k + exponent; base-10000 groups are floor(dw/4).
     */
    int64_t dw_first = intdigits - 1 - first_nz + exponent;
    int64_t dw_last = intdigits - 1 - last_nz + exponent;
    int64_t weight = floor_div4(dw_first), last_w = floor_div4(dw_last);
    int64_t ndigits = weight - last_w + 1;
    if (weight > INT16_MAX || weight < INT16_MIN || ndigits > INT16_MAX)
        return field_fail(w, -ERANGE);

    char *p;
    int rc = field_open(w, 8 + 2 * ndigits, &p);
    if (rc < 0)
        return rc;
    wr_u16(p, (uint16_t)ndigits);
    wr_u16(p + 2, (uint16_t)(int16_t)weight);
    wr_u16(p + 4, neg ? NUMERIC_NEG : NUMERIC_POS);
    wr_u16(p + 6, (uint16_t)dscale);
    char *out = p + 8;
    int64_t cur = weight, k = 0;
    unsigned acc = 0;
    for (size_t j = mant; j < mant_end; j++) {
        if (s[j] == '.')
            continue;
        if (k >= first_nz && k <= last_nz) {
            int64_t dw = intdigits - 1 - k + exponent;
            int64_t gw = floor_div4(dw);
            while (gw < cur) { /* finished group cur (and any all-zero groups after it) */
                wr_u16(out, (uint16_t)acc);
                out += 2;
                acc = 0;
                cur--;
            }
            acc += (unsigned)(s[j] - '0') * (unsigned)pow10_tab[dw - 4 * gw];
        }
        k++;
    }
    wr_u16(out, (uint16_t)acc);
    return 0;
}

int md_copy_add_numeric_text(md_copy_writer_t *w, const char *s) {
    return md_copy_add_numeric_textn(w, s, s ? strlen(s) : 0);
}

int md_copy_add_inet_text(md_copy_writer_t *w, const char *s) {
    if (!s)
        return md_copy_add_null(w);
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof(addr))
        return field_fail(w, -EINVAL);
    memcpy(addr, s, alen);
    addr[alen] = '\0';

    unsigned char bytes[16];
    unsigned family, maxbits, nbytes;
    if (inet_pton(AF_INET, addr, bytes) == 1) {
        family = PG_AF_INET;
        maxbits = 32;
        nbytes = 4;
    } else if (inet_pton(AF_INET6, addr, bytes) == 1) {
        family = PG_AF_INET6;
        maxbits = 128;
        nbytes = 16;
    } else {
        return field_fail(w, -EINVAL);
    }
    unsigned bits = maxbits;
    if (slash) {
        const char *b = slash + 1;
        if (*b == '\0')
            return field_fail(w, -EINVAL);
        bits = 0;
        for (; *b; b++) {
            if (*b < '0' || *b > '9')
                return field_fail(w, -EINVAL);
            bits = bits * 10 + (unsigned)(*b - '0');
            if (bits > maxbits)
                return field_fail(w, -EINVAL);
        }
    }
    char *p;
    int rc = field_open(w, 4 + nbytes, &p);
    if (rc == 0) {
        p[0] = (char)family;
        p[1] = (char)bits;
        p[2] = 0; /* inet, not cidr */
        p[3] = (char)nbytes;
        memcpy(p + 4, bytes, nbytes);
    }
    return rc;
}

int md_copy_add_text_array(md_copy_writer_t *w, const char *const *items, int n) {
    if (!items && n < 0)
        return md_copy_add_null(w);
    if (n < 0 || (!items && n > 0))
        return field_fail(w, -EINVAL);
    /* Sizes first, so the field is written in one pass into reserved space. */
    int64_t payload = n > 0 ? 20 : 12;
    bool has_null = false;
    for (int i = 0; i < n; i++) {
        payload += 4;
        if (items[i])
            payload += (int64_t)strlen(items[i]);
        else
            has_null = true;
        if (payload > INT32_MAX)
            return field_fail(w, -E2BIG);
    }
    char *p;
    int rc = field_open(w, payload, &p);
    if (rc < 0)
        return rc;
    wr_u32(p, n > 0 ? 1 : 0);
    wr_u32(p + 4, has_null ? 1 : 0);
    wr_u32(p + 8, MD_PG_OID_TEXT);
    p += 12;
    if (n > 0) {
        wr_u32(p, (uint32_t)n);
        wr_u32(p + 4, 1); /* lower bound */
        p += 8;
    }
    for (int i = 0; i < n; i++) {
        if (!items[i]) {
            wr_u32(p, UINT32_MAX); /* -1: NULL element */
            p += 4;
            continue;
        }
        size_t l = strlen(items[i]);
        wr_u32(p, (uint32_t)l);
        memcpy(p + 4, items[i], l);
        p += 4 + l;
    }
    return 0;
}
