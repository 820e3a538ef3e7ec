/* clean_user_actions: user_actions_raw → user_actions_clean. Required fields
 * and standardization in C (transform/user_actions.c); exact client retries
 * (same normalized row) are dropped to medallion.duplicates, first copy kept. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "medallion/batch.h"
#include "medallion/pg.h"
#include "medallion/transform/keyset.h"
#include "medallion/transform/user_actions.h"

#define SOURCE_TABLE "user_actions_raw"
#define SILVER_TARGET                                                                              \
    "analytics.user_actions_clean (id, user_id, action, entity_type, entity_id, properties, "      \
    "source, created_at, ingested_at, is_valid, validation_errors, dedup_key)"

enum {
    C_ID,
    C_USER,
    C_ACTION,
    C_ENTITY_TYPE,
    C_ENTITY_ID,
    C_PROPS,
    C_SOURCE,
    C_CREATED,
    C_INGESTED,
    NCOLS
};

typedef struct actions_state {
    md_user_action_out_t *out;
    md_keyset_t *seen; /* first 16 bytes of dedup digest → kept id */
    md_array_lit_t keys;
    md_copy_writer_t silver, dups;
} actions_state_t;

static int decode_row(md_job_ctx_t *ctx, const md_page_t *p, int r, md_user_action_in_t *a) {
    const char *bad = NULL;
    if (md_copy_get_int8(md_page_field(p, r, C_ID), &a->id) != 0)
        bad = "id";
    else if (md_copy_get_uuid(md_page_field(p, r, C_USER), &a->user_id) != 0)
        bad = "user_id";
    else if (md_copy_get_text(md_page_field(p, r, C_ACTION), &a->action) != 0)
        bad = "action";
    else if (md_copy_get_text(md_page_field(p, r, C_ENTITY_TYPE), &a->entity_type) != 0)
        bad = "entity_type";
    else if (md_copy_get_text(md_page_field(p, r, C_ENTITY_ID), &a->entity_id) != 0)
        bad = "entity_id";
    else if (md_copy_get_jsonb(md_page_field(p, r, C_PROPS), &a->properties) != 0)
        bad = "properties";
    else if (md_copy_get_text(md_page_field(p, r, C_SOURCE), &a->source) != 0)
        bad = "source";
    else if (md_copy_get_timestamptz(md_page_field(p, r, C_CREATED), &a->created_at) != 0)
        bad = "created_at";
    else if (md_copy_get_timestamptz(md_page_field(p, r, C_INGESTED), &a->ingested_at) != 0)
        bad = "ingested_at";
    return bad ? md_job_decode_error(ctx, SOURCE_TABLE, bad, r) : 0;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int load_seen(md_job_ctx_t *ctx, actions_state_t *st, int n) {
    md_keyset_clear(st->seen);
    md_array_lit_begin(&st->keys);
    for (int i = 0; i < n; i++)
        if (md_array_lit_add(&st->keys, st->out[i].dedup_key.ptr, st->out[i].dedup_key.len) != 0)
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    if (st->keys.count == 0)
        return 0;
    const char *params[] = {md_array_lit_end(&st->keys)};
    PGresult *res = md_pg_query(ctx->conn,
                                "SELECT dedup_key, id FROM analytics.user_actions_clean "
                                "WHERE dedup_key = ANY($1::text[])",
                                1, params, &ctx->err);
    if (res == NULL)
        return ctx->err.code;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *hex = PQgetvalue(res, i, 0);
        uint8_t key[MD_KEYSET_KEY_LEN];
        bool ok = PQgetlength(res, i, 0) >= 2 * MD_KEYSET_KEY_LEN;
        for (int b = 0; ok && b < MD_KEYSET_KEY_LEN; b++) {
            int hi = hexval(hex[2 * b]), lo = hexval(hex[2 * b + 1]);
            ok = hi >= 0 && lo >= 0;
            key[b] = (uint8_t)(hi << 4 | lo);
        }
        int64_t kept;
        if (ok && md_keyset_insert_or_get(st->seen, key, strtoll(PQgetvalue(res, i, 1), NULL, 10),
                                          &kept) < 0) {
            PQclear(res);
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
        }
    }
    PQclear(res);
    return 0;
}

static int write_silver(md_copy_writer_t *w, const md_user_action_out_t *o) {
    int rc = md_job_row_begin(w, 12);
    if (rc != 0)
        return rc;
    md_copy_add_int8(w, o->id);
    md_copy_add_uuid(w, &o->user_id);
    md_copy_add_text(w, o->action);
    md_copy_add_text(w, o->entity_type);
    md_copy_add_text(w, o->entity_id);
    md_copy_add_jsonb(w, o->properties);
    md_copy_add_text(w, o->source);
    md_copy_add_timestamptz(w, o->created_at);
    md_copy_add_timestamptz(w, o->ingested_at);
    md_copy_add_bool(w, o->is_valid);
    md_copy_add_codes(w, &o->errors);
    md_copy_add_text(w, o->dedup_key);
    return md_copy_row_end(w);
}

static int process_page(md_job_ctx_t *ctx, const md_page_t *page, void *state) {
    actions_state_t *st = state;
    int rc;
    /* per-page rows live in the page arena, reset by the batch loop */
    st->out = md_arena_alloc(ctx->arena, (size_t)page->nrows * sizeof(*st->out));
    if (st->out == NULL)
        return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    for (int r = 0; r < page->nrows; r++) {
        md_user_action_in_t in;
        if ((rc = decode_row(ctx, page, r, &in)) != 0)
            return rc;
        if ((rc = md_user_action_transform(&in, ctx->arena, &st->out[r])) != 0)
            return md_error_set(&ctx->err, rc, "user action %lld: transform failed",
                                (long long)in.id);
    }
    if ((rc = load_seen(ctx, st, page->nrows)) != 0)
        return rc;
    int64_t silver_rows = 0, dup_rows = 0;
    for (int r = 0; r < page->nrows; r++) {
        const md_user_action_out_t *o = &st->out[r];
        int64_t kept;
        rc = md_keyset_insert_or_get(st->seen, o->dedup_digest, o->id, &kept);
        if (rc < 0)
            return md_error_set(&ctx->err, rc, "out of memory");
        if (rc == 0) {
            if (md_copy_add_duplicate(&st->dups, SOURCE_TABLE, o->id, kept, o->dedup_key) != 0)
                return md_error_set(&ctx->err, -ENOMEM, "cannot encode a duplicate row");
            dup_rows++;
            continue;
        }
        if ((rc = write_silver(&st->silver, o)) != 0)
            return md_error_set(&ctx->err, rc, "user action %lld: cannot encode the silver row",
                                (long long)o->id);
        silver_rows++;
        if (o->is_valid)
            ctx->rows_valid++;
        else
            ctx->rows_invalid++;
    }
    return md_job_flush(ctx, SILVER_TARGET, &st->silver, silver_rows, &st->dups, dup_rows);
}

int md_job_clean_user_actions(md_job_ctx_t *ctx) {
    actions_state_t st = {0};
    md_copy_writer_init(&st.silver);
    md_copy_writer_init(&st.dups);
    st.seen = md_keyset_new((size_t)ctx->jcfg->batch_size);
    int rc;
    if (st.seen == NULL) {
        rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
    } else {
        md_batch_spec_t spec = {
            .source = "analytics." SOURCE_TABLE,
            .xid_column = "ingest_xid",
            .columns = "id, user_id, action, entity_type, entity_id, properties, source, "
                       "created_at, ingested_at",
            .ncols = NCOLS,
            .process = process_page,
            .state = &st,
        };
        rc = md_batch_run(ctx, &spec);
    }
    md_keyset_free(st.seen);
    md_array_lit_free(&st.keys);
    md_copy_writer_free(&st.silver);
    md_copy_writer_free(&st.dups);
    return rc;
}
