/* events_raw → events_clean, one row at a time (product.md §4 "Events").
 * Must never look at the clock (rules are relative to ingested_at) and never
 * fail on a row's content: only an arena that cannot grow is an error. */
#include "medallion/transform/events.h"

#include "medallion/transform/text.h"

int md_event_transform(const md_event_in_t *in, md_arena_t *arena, md_event_out_t *ret) {
    md_event_out_t o = {0};
    int r;

    o.id = in->id;
    o.event_id = in->event_id;
    o.user_id = in->user_id;
    o.properties = in->properties;
    o.created_at = in->created_at;
    o.ingested_at = in->ingested_at;

    /* snake_case drops surrounding whitespace and separators itself; a value
     * made only of them ("  ", "--") standardizes to NULL and counts as
     * missing, so silver never holds an empty event_type. */
    r = md_text_snake_case_dup(arena, in->event_type, &o.event_type);
    if (r < 0)
        return r;
    r = md_text_clean_lower(arena, in->source, &o.source);
    if (r < 0)
        return r;
    o.session_id = md_text_nullif_empty(md_text_trim(in->session_id));
    bool session_too_long = o.session_id.ptr != NULL && o.session_id.len > MD_TEXT_INDEXED_MAX;
    if (session_too_long)
        o.session_id = MD_STR_NULL;

    if (o.event_type.ptr == NULL)
        md_codes_add(&o.errors, MD_CODE_MISSING_EVENT_TYPE);
    md_codes_check_created_at(&o.errors, in->created_at, in->ingested_at, true);

    o.is_valid = o.errors.count == 0;
    /* The seed's CASE order: no event_type → 0.00 (already invalid), then
     * user_id, then session_id; any invalid row scores 0.00. */
    if (!o.is_valid)
        o.quality_score = 0;
    else if (!o.user_id.present)
        o.quality_score = 50;
    else if (o.session_id.ptr == NULL)
        o.quality_score = 70;
    else
        o.quality_score = 100;
    /* A warning, added after validity: the spec's is_valid does not look at
     * session_id. */
    if (session_too_long)
        md_codes_add(&o.errors, MD_CODE_SESSION_ID_TOO_LONG);

    *ret = o;
    return 0;
}
