/* PostgreSQL binary COPY encode/decode: the hot path between bronze/silver tables and the
 * transforms. Pure byte work: it never calls libpq (the caller moves bytes with
 * PQgetCopyData/PQputCopyData) and never allocates per row or per field. */
#ifndef MEDALLION_COPY_H
#define MEDALLION_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "medallion/error.h"
#include "medallion/types.h"

/* PostgreSQL's date ±infinity, kept as-is by the date codec. */
#define MD_DATE_POS_INF INT32_MAX
#define MD_DATE_NEG_INF INT32_MIN

/* Type OIDs the array codec writes or accepts as element types. */
#define MD_PG_OID_TEXT 25
#define MD_PG_OID_VARCHAR 1043

/* ---- Growable byte buffer, reused across batches ---- */

typedef struct md_buf {
    char *data;
    size_t len;
    size_t cap;
} md_buf_t;

/* Zero-initialisation ({0}) is also a valid empty buffer. */
void md_buf_init(md_buf_t *b);
/* Make room for at least `extra` more bytes; 0, -ENOMEM or -EOVERFLOW. Keeps data on failure. */
int md_buf_reserve(md_buf_t *b, size_t extra) MD_MUST_CHECK;
/* Forget the contents but keep the capacity. */
void md_buf_reset(md_buf_t *b);
/* Release the memory; accepts NULL. */
void md_buf_free(md_buf_t *b);

/* ---- Decoder ---- */

/* One field of a decoded row. Borrows the chunk passed to md_copy_reader_row: valid only as
 * long as that chunk is (PQfreemem it after the row is consumed). */
typedef struct md_copy_field {
    const char *ptr;
    int32_t len; /* -1 = SQL NULL */
} md_copy_field_t;

static inline bool md_copy_field_is_null(const md_copy_field_t *f) {
    return f->len < 0;
}

typedef struct md_copy_reader {
    int state;   /* internal: header expected / rows / trailer seen */
    int nfields; /* field count fixed by the first row, -1 before it */
    int64_t rows;
} md_copy_reader_t;

void md_copy_reader_init(md_copy_reader_t *r);

/* Decode one PQgetCopyData chunk. PostgreSQL sends exactly one row (or the trailer) per
 * CopyData message; the 19-byte file header arrives glued in front of the first one. The chunk
 * must hold exactly that: any bytes left over are -EPROTO, so framing bugs cannot pass
 * silently.
 * Returns 1 and fills fields[0..*ret_nfields) for a row, 0 for the trailer, -EPROTO for
 * malformed input (bad signature or flags, a length past the end, a row whose field count
 * differs from the first row's or exceeds max_fields, anything after the trailer).
 * Never reads outside buf[0..len). */
int md_copy_reader_row(md_copy_reader_t *r, const char *buf, size_t len, md_copy_field_t *fields,
                       int max_fields, int *ret_nfields) MD_MUST_CHECK;

/* Same, for a buffer that may hold several rows back to back (a COPY file): decodes the header
 * if due and then one row or the trailer from the front of buf, and reports in *ret_consumed
 * how many bytes that took. */
int md_copy_reader_next(md_copy_reader_t *r, const char *buf, size_t len, md_copy_field_t *fields,
                        int max_fields, int *ret_nfields, size_t *ret_consumed) MD_MUST_CHECK;

/* Typed field decoders. Each checks the field's length and layout (-EPROTO on mismatch).
 * Types whose C form can say NULL (md_str_t, md_ts_t, md_uuid_t) decode a NULL field into it;
 * the others return -ENODATA for NULL, so check md_copy_field_is_null first when the column
 * is nullable. ret_* is untouched on failure. */
int md_copy_get_bool(const md_copy_field_t *f, bool *ret) MD_MUST_CHECK;
int md_copy_get_int2(const md_copy_field_t *f, int16_t *ret) MD_MUST_CHECK;
int md_copy_get_int4(const md_copy_field_t *f, int32_t *ret) MD_MUST_CHECK;
int md_copy_get_int8(const md_copy_field_t *f, int64_t *ret) MD_MUST_CHECK;
/* xid8 (pg_current_xact_id()) is an unsigned 64-bit full transaction id. */
int md_copy_get_xid8(const md_copy_field_t *f, uint64_t *ret) MD_MUST_CHECK;
int md_copy_get_float8(const md_copy_field_t *f, double *ret) MD_MUST_CHECK;
/* text, varchar, name-like and json columns: the bytes as sent (not NUL-terminated). */
int md_copy_get_text(const md_copy_field_t *f, md_str_t *ret) MD_MUST_CHECK;
int md_copy_get_json(const md_copy_field_t *f, md_str_t *ret) MD_MUST_CHECK;
/* jsonb: checks and skips the version byte (must be 1); the rest is jsonb_out's text. */
int md_copy_get_jsonb(const md_copy_field_t *f, md_str_t *ret) MD_MUST_CHECK;
int md_copy_get_uuid(const md_copy_field_t *f, md_uuid_t *ret) MD_MUST_CHECK;
/* Microseconds since the Unix epoch; ±infinity → MD_TS_POS_INF/MD_TS_NEG_INF; -ERANGE for
 * the last ~11 days of PostgreSQL's range (294276 AD), which do not fit an int64 after the shift.
 */
int md_copy_get_timestamptz(const md_copy_field_t *f, md_ts_t *ret) MD_MUST_CHECK;
/* Days since 1970-01-01; ±infinity → MD_DATE_POS_INF/MD_DATE_NEG_INF. */
int md_copy_get_date(const md_copy_field_t *f, int32_t *ret) MD_MUST_CHECK;
/* numeric → the text numeric_out prints ("12.345", "1.50", "-0.001", "NaN", "Infinity"),
 * NUL-terminated in buf; *ret_len excludes the NUL. -ENOSPC if cap is too small
 * (MD_COPY_NUMERIC_TEXT_MAX holds any value printed in fewer than 1024 characters; numeric
 * allows far more, so check the return). */
#define MD_COPY_NUMERIC_TEXT_MAX 1024
int md_copy_get_numeric(const md_copy_field_t *f, char *buf, size_t cap,
                        size_t *ret_len) MD_MUST_CHECK;
/* inet/cidr → the text inet_out prints ("1.2.3.0", "10.0.0.0/8", "2001:db8::"): the mask is
 * shown for inet only when it is not the full width, for cidr always. buf needs
 * MD_COPY_INET_TEXT_MAX bytes at most. */
#define MD_COPY_INET_TEXT_MAX 64
int md_copy_get_inet(const md_copy_field_t *f, char *buf, size_t cap,
                     size_t *ret_len) MD_MUST_CHECK;
/* One-dimensional text[]/varchar[]: element count (0 for '{}'), then the elements as md_str_t
 * borrowing the field (NULL elements have ptr == NULL). -ENOTSUP for more than one dimension,
 * -ENOSPC if max_items is too small (call md_copy_get_text_array_len first). */
int md_copy_get_text_array_len(const md_copy_field_t *f, int *ret_n) MD_MUST_CHECK;
int md_copy_get_text_array(const md_copy_field_t *f, md_str_t *items, int max_items,
                           int *ret_n) MD_MUST_CHECK;

/* ---- Encoder ---- */

/* Appends a binary COPY stream into a reused buffer. Usage per row:
 *     md_copy_row_begin(w, n); md_copy_add_...(w, ...) x n; if (md_copy_row_end(w) < 0) ...
 * The add functions return their error too, but the first failure in a row also sticks to the
 * row: later adds are refused and md_copy_row_end reports it and removes the partial row, so
 * the buffer only ever holds whole rows. */
typedef struct md_copy_writer {
    md_buf_t buf;
    size_t row_start; /* offset of the open row */
    int row_nfields;  /* declared by md_copy_row_begin, -1 when no row is open */
    int row_added;
    int row_err;
} md_copy_writer_t;

void md_copy_writer_init(md_copy_writer_t *w);
/* Frees the buffer; accepts NULL. */
void md_copy_writer_free(md_copy_writer_t *w);
/* The 19-byte file header: once, before the first row of a COPY FROM. */
int md_copy_writer_header(md_copy_writer_t *w) MD_MUST_CHECK;
/* The end-of-data marker: once, after the last row, before PQputCopyEnd. */
int md_copy_writer_trailer(md_copy_writer_t *w) MD_MUST_CHECK;
/* Completed bytes waiting to be sent; compare against a flush threshold. */
size_t md_copy_writer_pending(const md_copy_writer_t *w);
/* Borrow the completed bytes for PQputCopyData; -EBUSY while a row is open. Follow with
 * md_copy_writer_reset, which keeps the capacity for the next batch. */
int md_copy_writer_take(const md_copy_writer_t *w, const char **ret_data,
                        size_t *ret_len) MD_MUST_CHECK;
void md_copy_writer_reset(md_copy_writer_t *w);

/* -EINVAL if a row is already open or nfields is outside 0..32767. */
int md_copy_row_begin(md_copy_writer_t *w, int nfields) MD_MUST_CHECK;
/* 0 when exactly the declared fields were added; otherwise drops the row and returns the
 * first add error or -EINVAL (wrong field count). */
int md_copy_row_end(md_copy_writer_t *w) MD_MUST_CHECK;
/* Drop the open row, if any. */
void md_copy_row_abort(md_copy_writer_t *w);

int md_copy_add_null(md_copy_writer_t *w);
int md_copy_add_bool(md_copy_writer_t *w, bool v);
int md_copy_add_int2(md_copy_writer_t *w, int16_t v);
int md_copy_add_int4(md_copy_writer_t *w, int32_t v);
int md_copy_add_int8(md_copy_writer_t *w, int64_t v);
int md_copy_add_float8(md_copy_writer_t *w, double v);
/* text/varchar; a NULL md_str_t (or s == NULL) writes SQL NULL. -E2BIG if longer than a
 * field can frame (INT32_MAX). */
int md_copy_add_text(md_copy_writer_t *w, md_str_t s);
int md_copy_add_textn(md_copy_writer_t *w, const char *s, size_t len);
/* jsonb from its text form (version byte 1 + text); the server validates the JSON. */
int md_copy_add_jsonb(md_copy_writer_t *w, md_str_t json);
/* !u->present writes NULL. */
int md_copy_add_uuid(md_copy_writer_t *w, const md_uuid_t *u);
/* MD_TS_NULL writes NULL; ±infinity map to PostgreSQL's. -ERANGE if the shift to 2000-01-01
 * overflows. */
int md_copy_add_timestamptz(md_copy_writer_t *w, md_ts_t ts);
/* Days since 1970-01-01; MD_DATE_POS_INF/MD_DATE_NEG_INF for ±infinity. */
int md_copy_add_date(md_copy_writer_t *w, int32_t days);
/* numeric from decimal text, laid out exactly as numeric_send would send the value numeric_in
 * makes of it: "12.345", "-0.001", "1.50" (dscale 2), "1e-20", "NaN", "Infinity", "-Infinity";
 * leading/trailing blanks allowed. -EINVAL on anything numeric_in would reject, -ERANGE past
 * numeric's limits. s == NULL writes NULL. */
int md_copy_add_numeric_text(md_copy_writer_t *w, const char *s);
int md_copy_add_numeric_textn(md_copy_writer_t *w, const char *s, size_t len);
/* inet from "1.2.3.0", "2001:db8::" (full-width mask) or "10.0.0.0/8"; -EINVAL on bad text.
 * s == NULL writes NULL. */
int md_copy_add_inet_text(md_copy_writer_t *w, const char *s);
/* One-dimensional text[] (element OID 25); items[i] == NULL is a NULL element; n == 0 is '{}'.
 * items == NULL with n < 0 writes a NULL array. */
int md_copy_add_text_array(md_copy_writer_t *w, const char *const *items, int n);

#endif
