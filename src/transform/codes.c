/* The validation-code list and the created_at rules every silver table
 * shares. Must never consult the clock: rules are relative to ingested_at. */
#include "medallion/transform/codes.h"

#include <string.h>

void md_codes_add(md_codes_t *c, const char *code) {
    if (c->count < MD_CODES_MAX)
        c->code[c->count++] = code;
}

bool md_codes_has(const md_codes_t *c, const char *code) {
    for (int i = 0; i < c->count; i++)
        if (strcmp(c->code[i], code) == 0)
            return true;
    return false;
}

void md_codes_check_created_at(md_codes_t *c, md_ts_t created_at, md_ts_t ingested_at,
                               bool check_before_2000) {
    if (created_at == MD_TS_NULL) {
        md_codes_add(c, MD_CODE_MISSING_CREATED_AT);
        return;
    }
    bool future;
    if (created_at == MD_TS_POS_INF)
        future = true;
    else if (ingested_at == MD_TS_NULL || ingested_at == MD_TS_NEG_INF ||
             ingested_at == MD_TS_POS_INF)
        future = false;
    else if (ingested_at > INT64_MAX - MD_FUTURE_TOLERANCE_USEC)
        future = false; /* limit beyond representable time: nothing is later */
    else
        future = created_at > ingested_at + MD_FUTURE_TOLERANCE_USEC;
    if (future)
        md_codes_add(c, MD_CODE_FUTURE_TIMESTAMP);
    else if (check_before_2000 && created_at < MD_TS_2000)
        md_codes_add(c, MD_CODE_TIMESTAMP_BEFORE_2000);
}
