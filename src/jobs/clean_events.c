/* clean_events: events_raw → events_clean. Pulls snapshot-safe pages through
 * binary COPY, validates and standardizes each row in C (transform/events.c),
 * drops retries of an event_id that already reached silver (first copy kept,
 * the rest go to medallion.duplicates), and COPYs the result back. No per-row
 * round trip. Pages may overlap (md_batch_spec_t.pipeline): the event_ids
 * kept by the pages still open before this one count as already in silver. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "medallion/batch.h"
#include "medallion/pg.h"
#include "medallion/transform/events.h"
#include "medallion/transform/keyset.h"

#define SOURCE_TABLE "events_raw"
#define SILVER_TARGET                                                                              \
    "analytics.events_clean (id, event_id, event_type, user_id, session_id, properties, source, "  \
    "created_at, ingested_at, is_valid, quality_score, validation_errors)"

enum {
    C_ID,
    C_EVENT_ID,
    C_TYPE,
    C_USER,
    C_SESSION,
    C_PROPS,
    C_SOURCE,
    C_CREATED,
    C_INGESTED,
    NCOLS
};

typedef struct events_state {
    md_event_in_t *rows;
    md_keyset_t *in_silver; /* event_id → id of its copy in silver, for this page's event_ids */
    /* event_id → id of the copy each page keeps, for this page and the
     * width - 1 before it (which may not have committed yet): a ring, this
     * page's is kept[page % width]. */
    md_keyset_t *kept[MD_BATCH_MAX_CONNECTIONS];
    int width;
    int64_t page;
    md_bin_array_t event_ids; /* the lookup's parameter */
    md_copy_writer_t silver, dups;
} events_state_t;

static int decode_row(md_job_ctx_t *ctx, const md_page_t *p, int r, md_event_in_t *e) {
    const char *bad = NULL;
    if (md_copy_get_int8(md_page_field(p, r, C_ID), &e->id) != 0)
        bad = "id";
    else if (md_copy_get_uuid(md_page_field(p, r, C_EVENT_ID), &e->event_id) != 0)
        bad = "event_id";
    else if (md_copy_get_text(md_page_field(p, r, C_TYPE), &e->event_type) != 0)
        bad = "event_type";
    else if (md_copy_get_uuid(md_page_field(p, r, C_USER), &e->user_id) != 0)
        bad = "user_id";
    else if (md_copy_get_text(md_page_field(p, r, C_SESSION), &e->session_id) != 0)
        bad = "session_id";
    else if (md_copy_get_jsonb(md_page_field(p, r, C_PROPS), &e->properties) != 0)
        bad = "properties";
    else if (md_copy_get_text(md_page_field(p, r, C_SOURCE), &e->source) != 0)
        bad = "source";
    else if (md_copy_get_timestamptz(md_page_field(p, r, C_CREATED), &e->created_at) != 0)
        bad = "created_at";
    else if (md_copy_get_timestamptz(md_page_field(p, r, C_INGESTED), &e->ingested_at) != 0)
        bad = "ingested_at";
    return bad ? md_job_decode_error(ctx, SOURCE_TABLE, bad, r) : 0;
}

/* Which of this page's event_ids already reached silver, and as which row:
 * one probe of the unique event_id index per id, the ids sent as one binary
 * uuid[] parameter. */
static int load_in_silver(md_job_ctx_t *ctx, events_state_t *st, int n) {
    md_keyset_clear(st->in_silver);
    md_bin_array_begin(&st->event_ids, MD_OID_UUID);
    for (int i = 0; i < n; i++)
        if (st->rows[i].event_id.present &&
            md_bin_array_add(&st->event_ids, st->rows[i].event_id.b, 16) != 0)
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    if (st->event_ids.count == 0)
        return 0;
    int length;
    const char *value = md_bin_array_end(&st->event_ids, &length);
    if (value == NULL)
        return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    const int format = 1;
    const Oid type = MD_OID_UUID_ARRAY;
    PGresult *res = PQexecParams(ctx->conn,
                                 "SELECT event_id::text, id FROM analytics.events_clean "
                                 "WHERE event_id = ANY($1)",
                                 1, &type, &value, &length, &format, 0);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        md_pg_error(ctx->conn, res, "looking up earlier event_ids", &ctx->err);
        PQclear(res);
        return ctx->err.code ? ctx->err.code : -EIO;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        md_uuid_t u;
        int64_t kept;
        if (md_uuid_parse(PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0), &u) != 0 ||
            md_keyset_insert_or_get(st->in_silver, u.b, strtoll(PQgetvalue(res, i, 1), NULL, 10),
                                    &kept) < 0) {
            PQclear(res);
            return md_error_set(&ctx->err, -ENOMEM, "cannot index existing event ids");
        }
    }
    PQclear(res);
    return 0;
}

static int write_silver(md_copy_writer_t *w, const md_event_out_t *o) {
    int rc = md_job_row_begin(w, 12);
    if (rc != 0)
        return rc;
    md_copy_add_int8(w, o->id);
    md_copy_add_uuid(w, &o->event_id);
    md_copy_add_text(w, o->event_type);
    md_copy_add_uuid(w, &o->user_id);
    md_copy_add_text(w, o->session_id);
    md_copy_add_jsonb(w, o->properties);
    md_copy_add_text(w, o->source);
    md_copy_add_timestamptz(w, o->created_at);
    md_copy_add_timestamptz(w, o->ingested_at);
    md_copy_add_bool(w, o->is_valid);
    md_copy_add_hundredths(w, o->quality_score);
    md_copy_add_codes(w, &o->errors);
    return md_copy_row_end(w);
}

/* Kept by one of the pages before this one that may still be open. */
static bool kept_earlier(const events_state_t *st, const md_keyset_t *kept_now,
                         const uint8_t *event_id, int64_t *ret_kept) {
    for (int i = 0; i < st->width; i++)
        if (st->kept[i] != kept_now && md_keyset_find(st->kept[i], event_id, ret_kept) == 0)
            return true;
    return false;
}

static int process_page(md_job_ctx_t *ctx, const md_page_t *page, void *state) {
    events_state_t *st = state;
    int rc;
    /* per-page rows live in the page arena, reset by the batch loop */
    st->rows = md_arena_alloc(ctx->arena, (size_t)page->nrows * sizeof(*st->rows));
    if (st->rows == NULL)
        return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    for (int r = 0; r < page->nrows; r++)
        if ((rc = decode_row(ctx, page, r, &st->rows[r])) != 0)
            return rc;
    if ((rc = load_in_silver(ctx, st, page->nrows)) != 0)
        return rc;
    md_keyset_t *kept_now = st->kept[st->page++ % st->width];
    md_keyset_clear(kept_now);

    int64_t silver_rows = 0, dup_rows = 0;
    for (int r = 0; r < page->nrows; r++) {
        const md_event_in_t *in = &st->rows[r];
        if (in->event_id.present) {
            /* An earlier copy reached silver first: in an earlier page (committed or
             * the one before, still in flight), or earlier in this page. */
            int64_t kept;
            if (md_keyset_find(st->in_silver, in->event_id.b, &kept) == 0 ||
                kept_earlier(st, kept_now, in->event_id.b, &kept))
                rc = 0;
            else
                rc = md_keyset_insert_or_get(kept_now, in->event_id.b, in->id, &kept);
            if (rc < 0)
                return md_error_set(&ctx->err, rc, "out of memory");
            if (rc == 0) {
                char u[37];
                md_uuid_format(&in->event_id, u);
                if (md_copy_add_duplicate(&st->dups, SOURCE_TABLE, in->id, kept,
                                          (md_str_t){u, 36}) != 0)
                    return md_error_set(&ctx->err, -ENOMEM, "cannot encode a duplicate row");
                dup_rows++;
                continue;
            }
        }
        md_event_out_t out;
        if ((rc = md_event_transform(in, ctx->arena, &out)) != 0)
            return md_error_set(&ctx->err, rc, "event %lld: transform failed", (long long)in->id);
        if ((rc = write_silver(&st->silver, &out)) != 0)
            return md_error_set(&ctx->err, rc, "event %lld: cannot encode the silver row",
                                (long long)in->id);
        silver_rows++;
        if (out.is_valid)
            ctx->rows_valid++;
        else
            ctx->rows_invalid++;
    }
    return md_job_flush(ctx, SILVER_TARGET, &st->silver, silver_rows, &st->dups, dup_rows);
}

int md_job_clean_events(md_job_ctx_t *ctx) {
    events_state_t st = {0};
    md_copy_writer_init(&st.silver);
    md_copy_writer_init(&st.dups);
    st.in_silver = md_keyset_new(1024);
    st.width = ctx->jcfg->write_connections;
    if (st.width < 1 || st.width > MD_BATCH_MAX_CONNECTIONS)
        st.width = st.width < 1 ? 1 : MD_BATCH_MAX_CONNECTIONS;
    bool oom = st.in_silver == NULL;
    for (int i = 0; i < st.width; i++)
        oom |= (st.kept[i] = md_keyset_new((size_t)ctx->jcfg->batch_size)) == NULL;
    int rc;
    if (oom) {
        rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
    } else {
        md_batch_spec_t spec = {
            .source = "analytics." SOURCE_TABLE,
            .xid_column = "ingest_xid",
            .columns = "id, event_id, event_type, user_id, session_id, properties, source, "
                       "created_at, ingested_at",
            .ncols = NCOLS,
            .process = process_page,
            .state = &st,
            .pipeline = true,
        };
        rc = md_batch_run(ctx, &spec);
    }
    md_keyset_free(st.in_silver);
    for (int i = 0; i < st.width; i++)
        md_keyset_free(st.kept[i]);
    md_bin_array_free(&st.event_ids);
    md_copy_writer_free(&st.silver);
    md_copy_writer_free(&st.dups);
    return rc;
}
