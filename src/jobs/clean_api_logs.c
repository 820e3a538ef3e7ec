/* clean_api_logs: api_logs_raw → api_logs_clean. Method, path/route, status,
 * response time and IP are checked and normalized in C (transform/api_logs.c);
 * the raw IP never leaves this process: only its anonymized form is written. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "medallion/batch.h"
#include "medallion/transform/api_logs.h"

#define SOURCE_TABLE "api_logs_raw"
#define SILVER_TARGET                                                                              \
    "analytics.api_logs_clean (id, request_id, method, path, route, status_code, "                 \
    "response_time_ms, is_error, user_id, ip_address, user_agent, properties, source, "            \
    "created_at, ingested_at, is_valid, validation_errors)"

enum {
    C_ID,
    C_REQUEST,
    C_METHOD,
    C_PATH,
    C_STATUS,
    C_RT,
    C_USER,
    C_IP,
    C_UA,
    C_PROPS,
    C_SOURCE,
    C_CREATED,
    C_INGESTED,
    NCOLS
};

typedef struct api_state {
    md_copy_writer_t silver, dups;
    char numeric[MD_COPY_NUMERIC_TEXT_MAX];
} api_state_t;

static int decode_row(md_job_ctx_t *ctx, api_state_t *st, const md_page_t *p, int r,
                      md_api_log_in_t *a) {
    const char *bad = NULL;
    const md_copy_field_t *sf = md_page_field(p, r, C_STATUS);
    const md_copy_field_t *rt = md_page_field(p, r, C_RT);
    size_t rtlen = 0;
    a->status_code_present = !md_copy_field_is_null(sf);
    a->status_code = 0;
    if (md_copy_get_int8(md_page_field(p, r, C_ID), &a->id) != 0)
        bad = "id";
    else if (md_copy_get_text(md_page_field(p, r, C_REQUEST), &a->request_id) != 0)
        bad = "request_id";
    else if (md_copy_get_text(md_page_field(p, r, C_METHOD), &a->method) != 0)
        bad = "method";
    else if (md_copy_get_text(md_page_field(p, r, C_PATH), &a->path) != 0)
        bad = "path";
    else if (a->status_code_present && md_copy_get_int4(sf, &a->status_code) != 0)
        bad = "status_code";
    else if (!md_copy_field_is_null(rt) &&
             md_copy_get_numeric(rt, st->numeric, sizeof(st->numeric), &rtlen) != 0)
        bad = "response_time_ms";
    else if (md_copy_get_uuid(md_page_field(p, r, C_USER), &a->user_id) != 0)
        bad = "user_id";
    else if (md_copy_get_text(md_page_field(p, r, C_IP), &a->ip_address) != 0)
        bad = "ip_address";
    else if (md_copy_get_text(md_page_field(p, r, C_UA), &a->user_agent) != 0)
        bad = "user_agent";
    else if (md_copy_get_jsonb(md_page_field(p, r, C_PROPS), &a->properties) != 0)
        bad = "properties";
    else if (md_copy_get_text(md_page_field(p, r, C_SOURCE), &a->source) != 0)
        bad = "source";
    else if (md_copy_get_timestamptz(md_page_field(p, r, C_CREATED), &a->created_at) != 0)
        bad = "created_at";
    else if (md_copy_get_timestamptz(md_page_field(p, r, C_INGESTED), &a->ingested_at) != 0)
        bad = "ingested_at";
    if (bad)
        return md_job_decode_error(ctx, SOURCE_TABLE, bad, r);
    a->response_time_ms = md_copy_field_is_null(rt) ? MD_STR_NULL : (md_str_t){st->numeric, rtlen};
    return 0;
}

static int write_silver(md_copy_writer_t *w, const md_api_log_out_t *o) {
    int rc = md_job_row_begin(w, 17);
    if (rc != 0)
        return rc;
    md_copy_add_int8(w, o->id);
    md_copy_add_text(w, o->request_id);
    md_copy_add_text(w, o->method);
    md_copy_add_text(w, o->path);
    md_copy_add_text(w, o->route);
    if (o->status_code_present)
        md_copy_add_int4(w, o->status_code);
    else
        md_copy_add_null(w);
    if (o->response_time_ms.ptr != NULL)
        md_copy_add_numeric_textn(w, o->response_time_ms.ptr, o->response_time_ms.len);
    else
        md_copy_add_null(w);
    md_copy_add_bool(w, o->is_error);
    md_copy_add_uuid(w, &o->user_id);
    if (o->ip_address.ptr != NULL) {
        char ip[64];
        size_t n = o->ip_address.len < sizeof(ip) - 1 ? o->ip_address.len : sizeof(ip) - 1;
        memcpy(ip, o->ip_address.ptr, n);
        ip[n] = '\0';
        md_copy_add_inet_text(w, ip);
    } else {
        md_copy_add_null(w);
    }
    md_copy_add_text(w, o->user_agent);
    md_copy_add_jsonb(w, o->properties);
    md_copy_add_text(w, o->source);
    md_copy_add_timestamptz(w, o->created_at);
    md_copy_add_timestamptz(w, o->ingested_at);
    md_copy_add_bool(w, o->is_valid);
    md_copy_add_codes(w, &o->errors);
    return md_copy_row_end(w);
}

static int process_page(md_job_ctx_t *ctx, const md_page_t *page, void *state) {
    api_state_t *st = state;
    int rc;
    for (int r = 0; r < page->nrows; r++) {
        md_api_log_in_t in;
        md_api_log_out_t out;
        if ((rc = decode_row(ctx, st, page, r, &in)) != 0)
            return rc;
        if ((rc = md_api_log_transform(&in, ctx->arena, &out)) != 0)
            return md_error_set(&ctx->err, rc, "api log %lld: transform failed", (long long)in.id);
        if ((rc = write_silver(&st->silver, &out)) != 0)
            return md_error_set(&ctx->err, rc, "api log %lld: cannot encode the silver row",
                                (long long)in.id);
        if (out.is_valid)
            ctx->rows_valid++;
        else
            ctx->rows_invalid++;
    }
    return md_job_flush(ctx, SILVER_TARGET, &st->silver, page->nrows, &st->dups, 0);
}

int md_job_clean_api_logs(md_job_ctx_t *ctx) {
    api_state_t st;
    md_copy_writer_init(&st.silver);
    md_copy_writer_init(&st.dups);
    md_batch_spec_t spec = {
        .source = "analytics." SOURCE_TABLE,
        .xid_column = "ingest_xid",
        .columns = "id, request_id, method, path, status_code, response_time_ms, user_id, "
                   "ip_address, user_agent, properties, source, created_at, ingested_at",
        .ncols = NCOLS,
        .process = process_page,
        .state = &st,
    };
    int rc = md_batch_run(ctx, &spec);
    md_copy_writer_free(&st.silver);
    md_copy_writer_free(&st.dups);
    return rc;
}
