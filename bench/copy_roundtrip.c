/* Hand-run check of the binary COPY codec against a live server: encode rows with
 * md_copy_writer, COPY them into a temporary table through PQputCopyData, read them back with
 * COPY TO (FORMAT binary) through md_copy_reader, and compare every value. Also prints the
 * throughput of both directions (seed of the COPY-floor benchmark). Never touches real tables.
 *
 * Build (not part of CMake):
 *   gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Iinclude bench/copy_roundtrip.c src/copy.c \
 *       src/types.c $(pkg-config --cflags --libs libpq) -o /tmp/copy_roundtrip
 * Run: /tmp/copy_roundtrip 'host=/tmp/sock port=5432 dbname=postgres' [rows]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "medallion/copy.h"

#define FLUSH_BYTES (256 * 1024)
#define NCOLS 12

static const char *const numerics[] = {
    "0",
    "12.345",
    "-0.001",
    "1.50",
    "99999999999999999999.99",
    "NaN",
    "Infinity",
    "-Infinity",
    "0.00000000000000000001",
    "123456789012345678",
    "100000000",
};
#define NNUMERICS (sizeof(numerics) / sizeof(numerics[0]))

/* The values of row i, shared by the writer and the checker. */
typedef struct row {
    int64_t id;
    char text[64];
    char numeric[64];
    char json[64];
    md_uuid_t uuid;
    md_ts_t ts;
    int32_t date;
    char inet[64];
    const char *arr[3];
    int arr_n;
    bool b;
    int16_t i2;
    double f8;
} row_t;

static void make_row(int64_t i, row_t *r) {
    memset(r, 0, sizeof(*r));
    r->id = i;
    snprintf(r->text, sizeof(r->text), "row-%" PRId64 "-z\xc3\xbcrich", i);
    if (i % 3 == 0)
        snprintf(r->numeric, sizeof(r->numeric), "%s", numerics[(i / 3) % NNUMERICS]);
    else
        snprintf(r->numeric, sizeof(r->numeric), "%s%" PRId64 ".%02d", i % 2 ? "-" : "", i,
                 (int)(i % 100));
    snprintf(r->json, sizeof(r->json), "{\"i\": %" PRId64 ", \"s\": [1, \"x\"]}", i);
    r->uuid.present = i % 11 != 0;
    for (int k = 0; k < 16; k++)
        r->uuid.b[k] = (uint8_t)(i * 31 + k * 7);
    r->ts = i % 17 == 0   ? MD_TS_NULL
            : i % 19 == 0 ? MD_TS_POS_INF
            : i % 23 == 0 ? MD_TS_NEG_INF
                          : 1709210096789012LL + (i - 5000) * 1000003LL * 3600;
    r->date = (int32_t)(i % 40000) - 20000;
    if (i % 2)
        snprintf(r->inet, sizeof(r->inet), "10.%d.%d.0", (int)(i % 256), (int)(i / 256 % 256));
    else
        snprintf(r->inet, sizeof(r->inet), "2001:db8::1:%x", (unsigned)(i % 65535) + 1);
    r->arr_n = i % 5 == 0 ? 0 : 3;
    r->arr[0] = "a";
    r->arr[1] = i % 3 == 0 ? NULL : "";
    r->arr[2] = "b c";
    r->b = i % 2;
    r->i2 = (int16_t)(i % 30000);
    r->f8 = (double)i * 0.5;
}

static int add_row(md_copy_writer_t *w, const row_t *r) {
    if (md_copy_row_begin(w, NCOLS) < 0)
        return -EINVAL;
    md_copy_add_int8(w, r->id);
    md_copy_add_textn(w, r->text, strlen(r->text));
    md_copy_add_numeric_text(w, r->numeric);
    md_copy_add_jsonb(w, (md_str_t){r->json, strlen(r->json)});
    md_copy_add_uuid(w, &r->uuid);
    md_copy_add_timestamptz(w, r->ts);
    md_copy_add_date(w, r->date);
    md_copy_add_inet_text(w, r->inet);
    md_copy_add_text_array(w, r->arr, r->arr_n);
    md_copy_add_bool(w, r->b);
    md_copy_add_int2(w, r->i2);
    md_copy_add_float8(w, r->f8);
    return md_copy_row_end(w);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool exec_ok(PGconn *c, const char *sql) {
    PGresult *res = PQexec(c, sql);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(res);
    return ok;
}

static int mismatches;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (mismatches++ < 20) {                                                               \
                fprintf(stderr, "row %" PRId64 ": ", want.id);                                     \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fputc('\n', stderr);                                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void check_row(const md_copy_field_t *f, int64_t expect_id, uint64_t xid_min) {
    row_t want;
    make_row(expect_id, &want);
    int64_t id = -1;
    CHECK(md_copy_get_int8(&f[0], &id) == 0 && id == want.id, "id %" PRId64, id);
    md_str_t s;
    CHECK(md_copy_get_text(&f[1], &s) == 0 && s.len == strlen(want.text) &&
              memcmp(s.ptr, want.text, s.len) == 0,
          "text");
    char buf[MD_COPY_NUMERIC_TEXT_MAX];
    size_t n = 0;
    int rc = md_copy_get_numeric(&f[2], buf, sizeof(buf), &n);
    CHECK(rc == 0 && strcmp(buf, want.numeric) == 0, "numeric rc %d got %s want %s", rc,
          rc == 0 ? buf : "-", want.numeric);
    CHECK(md_copy_get_jsonb(&f[3], &s) == 0 && s.len == strlen(want.json) &&
              memcmp(s.ptr, want.json, s.len) == 0,
          "jsonb %.*s", (int)s.len, s.ptr);
    md_uuid_t u;
    CHECK(md_copy_get_uuid(&f[4], &u) == 0 && u.present == want.uuid.present &&
              (!u.present || memcmp(u.b, want.uuid.b, 16) == 0),
          "uuid");
    md_ts_t ts = 0;
    CHECK(md_copy_get_timestamptz(&f[5], &ts) == 0 && ts == want.ts, "ts %" PRId64, ts);
    int32_t d = 0;
    CHECK(md_copy_get_date(&f[6], &d) == 0 && d == want.date, "date %d", d);
    rc = md_copy_get_inet(&f[7], buf, sizeof(buf), &n);
    CHECK(rc == 0 && strcmp(buf, want.inet) == 0, "inet %s want %s", rc == 0 ? buf : "-",
          want.inet);
    md_str_t items[3];
    int an = -1;
    rc = md_copy_get_text_array(&f[8], items, 3, &an);
    CHECK(rc == 0 && an == want.arr_n, "array rc %d n %d", rc, an);
    for (int k = 0; rc == 0 && k < an && k < 3; k++)
        CHECK(want.arr[k] ? (items[k].ptr && items[k].len == strlen(want.arr[k]) &&
                             memcmp(items[k].ptr, want.arr[k], items[k].len) == 0)
                          : items[k].ptr == NULL,
              "array item %d", k);
    bool b = !want.b;
    CHECK(md_copy_get_bool(&f[9], &b) == 0 && b == want.b, "bool");
    int16_t i2 = -1;
    CHECK(md_copy_get_int2(&f[10], &i2) == 0 && i2 == want.i2, "int2");
    double f8 = -1;
    CHECK(md_copy_get_float8(&f[11], &f8) == 0 && f8 == want.f8, "float8");
    uint64_t xid = 0;
    CHECK(md_copy_get_xid8(&f[12], &xid) == 0 && xid >= xid_min, "xid8 %" PRIu64, xid);
}

int main(int argc, char **argv) {
    const char *conninfo = argc > 1 ? argv[1] : "";
    long nrows = argc > 2 ? strtol(argv[2], NULL, 10) : 100000;
    if (nrows < 1)
        nrows = 1;
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return 2;
    }
    if (!exec_ok(c, "SET client_min_messages = warning") ||
        !exec_ok(c, "CREATE TEMP TABLE md_copy_rt (id int8, t text, n numeric, j jsonb, u uuid, "
                    "ts timestamptz, d date, ip inet, arr text[], b bool, i2 int2, f8 float8, "
                    "x xid8 DEFAULT pg_current_xact_id())")) {
        PQfinish(c);
        return 2;
    }

    /* ---- in: writer → PQputCopyData ---- */
    double t0 = now_s();
    PGresult *res = PQexec(c, "COPY md_copy_rt (id, t, n, j, u, ts, d, ip, arr, b, i2, f8) "
                              "FROM STDIN (FORMAT binary)");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        fprintf(stderr, "COPY FROM: %s", PQerrorMessage(c));
        PQclear(res);
        PQfinish(c);
        return 2;
    }
    PQclear(res);
    md_copy_writer_t w;
    md_copy_writer_init(&w);
    int rc = md_copy_writer_header(&w);
    size_t bytes_in = 0;
    for (long i = 0; i < nrows && rc == 0; i++) {
        row_t r;
        make_row(i, &r);
        rc = add_row(&w, &r);
        if (rc == 0 && (md_copy_writer_pending(&w) >= FLUSH_BYTES || i == nrows - 1)) {
            if (i == nrows - 1)
                rc = md_copy_writer_trailer(&w);
            const char *data;
            size_t len;
            if (rc == 0)
                rc = md_copy_writer_take(&w, &data, &len);
            if (rc == 0 && PQputCopyData(c, data, (int)len) != 1)
                rc = -EIO;
            bytes_in += len;
            md_copy_writer_reset(&w);
        }
    }
    md_copy_writer_free(&w);
    if (rc < 0) {
        fprintf(stderr, "encode/send failed: %s (%s)\n", strerror(-rc), PQerrorMessage(c));
        PQputCopyEnd(c, "encode failed");
    } else {
        PQputCopyEnd(c, NULL);
    }
    bool in_ok = true;
    while ((res = PQgetResult(c)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            fprintf(stderr, "COPY FROM result: %s", PQresultErrorMessage(res));
            in_ok = false;
        }
        PQclear(res);
    }
    double t1 = now_s();
    if (rc < 0 || !in_ok) {
        PQfinish(c);
        return 1;
    }
    res = PQexec(c, "SELECT pg_current_xact_id()::text");
    uint64_t xid_min = 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        xid_min = strtoull(PQgetvalue(res, 0, 0), NULL, 10) - 2;
    PQclear(res);

    /* ---- out: PQgetCopyData → reader ---- */
    res = PQexec(c, "COPY (SELECT id, t, n, j, u, ts, d, ip, arr, b, i2, f8, x FROM md_copy_rt "
                    "ORDER BY id) TO STDOUT (FORMAT binary)");
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        fprintf(stderr, "COPY TO: %s", PQerrorMessage(c));
        PQclear(res);
        PQfinish(c);
        return 2;
    }
    PQclear(res);
    md_copy_reader_t r;
    md_copy_reader_init(&r);
    int64_t expect = 0;
    size_t bytes_out = 0;
    int first_chunk = -1, trailer_seen = 0;
    char *chunk;
    int len;
    while ((len = PQgetCopyData(c, &chunk, 0)) > 0) {
        if (first_chunk < 0)
            first_chunk = len;
        bytes_out += (size_t)len;
        md_copy_field_t f[NCOLS + 1];
        int nf = 0;
        rc = md_copy_reader_row(&r, chunk, (size_t)len, f, NCOLS + 1, &nf);
        if (rc == 1 && nf == NCOLS + 1) {
            check_row(f, expect++, xid_min);
        } else if (rc == 0) {
            trailer_seen = 1;
        } else {
            fprintf(stderr, "reader: rc %d nf %d at row %" PRId64 " (chunk %d bytes)\n", rc, nf,
                    expect, len);
            mismatches++;
        }
        PQfreemem(chunk);
    }
    if (len == -2)
        fprintf(stderr, "PQgetCopyData: %s", PQerrorMessage(c));
    while ((res = PQgetResult(c)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            fprintf(stderr, "COPY TO result: %s", PQresultErrorMessage(res));
            mismatches++;
        }
        PQclear(res);
    }
    double t2 = now_s();
    PQfinish(c);

    if (expect != nrows || !trailer_seen) {
        fprintf(stderr, "read %" PRId64 " of %ld rows, trailer %s\n", expect, nrows,
                trailer_seen ? "seen" : "missing");
        mismatches++;
    }
    printf("rows %ld  first chunk %d bytes (19-byte header glued to row 0)\n", nrows, first_chunk);
    printf("in : %.3f s  %.0f rows/s  %.1f MB/s (encode + COPY FROM)\n", t1 - t0,
           (double)nrows / (t1 - t0), (double)bytes_in / 1e6 / (t1 - t0));
    printf("out: %.3f s  %.0f rows/s  %.1f MB/s (COPY TO + decode + check)\n", t2 - t1,
           (double)nrows / (t2 - t1), (double)bytes_out / 1e6 / (t2 - t1));
    printf("%s: %d mismatches\n", mismatches ? "FAIL" : "OK", mismatches);
    return mismatches ? 1 : 0;
}
