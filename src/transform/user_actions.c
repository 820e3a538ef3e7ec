/* user_actions_raw → user_actions_clean, one row at a time, plus the digest
 * that identifies an exact retry. Must never look at the clock, and the
 * digest encoding must stay stable: changing it re-admits old retries. */
#include "medallion/transform/user_actions.h"

#include <errno.h>

#include "medallion/transform/text.h"

/* Each field: a presence byte (0 = NULL, 1 = value), then for text an 8-byte
 * big-endian length and the bytes. Length-prefixing keeps ("ab","c") apart
 * from ("a","bc"), and the presence byte keeps NULL apart from "". */
static void put_u64(md_sha256_t *h, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (56 - 8 * i));
    md_sha256_update(h, b, 8);
}

static void put_str(md_sha256_t *h, md_str_t s) {
    uint8_t tag = s.ptr != NULL;
    md_sha256_update(h, &tag, 1);
    if (s.ptr == NULL)
        return;
    put_u64(h, s.len);
    md_sha256_update(h, s.ptr, s.len);
}

static void dedup_digest(const md_user_action_out_t *o, uint8_t out[MD_SHA256_DIGEST_LEN]) {
    static const char version[] = "medallion.user_actions.v1";
    md_sha256_t h;
    md_sha256_init(&h);
    md_sha256_update(&h, version, sizeof(version)); /* includes the NUL */
    uint8_t tag = o->user_id.present;
    md_sha256_update(&h, &tag, 1);
    if (tag)
        md_sha256_update(&h, o->user_id.b, 16);
    put_str(&h, o->action);
    put_str(&h, o->entity_type);
    put_str(&h, o->entity_id);
    tag = o->created_at != MD_TS_NULL;
    md_sha256_update(&h, &tag, 1);
    if (tag)
        put_u64(&h, (uint64_t)o->created_at);
    put_str(&h, o->properties);
    md_sha256_final(&h, out);
}

int md_user_action_transform(const md_user_action_in_t *in, md_arena_t *arena,
                             md_user_action_out_t *ret) {
    md_user_action_out_t o = {0};
    int r;

    o.id = in->id;
    o.user_id = in->user_id;
    o.properties = in->properties;
    o.created_at = in->created_at;
    o.ingested_at = in->ingested_at;

    r = md_text_snake_case_dup(arena, in->action, &o.action);
    if (r < 0)
        return r;
    r = md_text_snake_case_dup(arena, in->entity_type, &o.entity_type);
    if (r < 0)
        return r;
    r = md_text_clean_lower(arena, in->source, &o.source);
    if (r < 0)
        return r;
    /* entity_id is an opaque identifier: trimmed only, and "" is kept apart
     * from NULL because a producer may mean different things by them. */
    o.entity_id = md_text_trim(in->entity_id);

    if (!o.user_id.present)
        md_codes_add(&o.errors, MD_CODE_MISSING_USER_ID);
    if (o.action.ptr == NULL)
        md_codes_add(&o.errors, MD_CODE_MISSING_ACTION);
    if (o.entity_type.ptr == NULL)
        md_codes_add(&o.errors, MD_CODE_MISSING_ENTITY_TYPE);
    md_codes_check_created_at(&o.errors, in->created_at, in->ingested_at, true);
    o.is_valid = o.errors.count == 0;

    dedup_digest(&o, o.dedup_digest);
    char *hex = md_arena_alloc(arena, MD_SHA256_HEX_LEN + 1);
    if (hex == NULL)
        return -ENOMEM;
    md_sha256_hex(o.dedup_digest, hex);
    o.dedup_key = (md_str_t){hex, MD_SHA256_HEX_LEN};

    *ret = o;
    return 0;
}
