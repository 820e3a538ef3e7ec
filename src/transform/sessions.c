/* Session state machine (sessions.h): walks one key's sorted events once and
 * closes a session on a gap >= rules->gap_us or when the next event would be
 * rules->max_length_us or more after the session's start. Pure; never sorts. */
#include "medallion/transform/sessions.h"

#include <errno.h>
#include <string.h>

#include "medallion/transform/sha256.h"

void md_session_id(md_session_key_kind_t kind, md_str_t key, md_ts_t started_at,
                   char out[MD_SESSION_ID_LEN + 1]) {
    static const char hex[] = "0123456789abcdef";
    md_sha256_t h;
    uint8_t b[8], digest[MD_SHA256_DIGEST_LEN];
    md_sha256_init(&h);
    b[0] = (uint8_t)kind;
    md_sha256_update(&h, b, 1);
    /* Length prefix: keys are free text, so "ab"+ts and "a"+"b..." must differ. */
    uint32_t len = (uint32_t)key.len;
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(len >> (24 - 8 * i));
    md_sha256_update(&h, b, 4);
    md_sha256_update(&h, key.ptr, key.len);
    uint64_t ts = (uint64_t)started_at;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(ts >> (56 - 8 * i));
    md_sha256_update(&h, b, 8);
    md_sha256_final(&h, digest);
    for (int i = 0; i < MD_SESSION_ID_LEN / 2; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[MD_SESSION_ID_LEN] = '\0';
}

static void open_session(md_session_t *s, const md_session_event_t *e) {
    memset(s, 0, sizeof(*s));
    s->started_at = s->ended_at = e->created_at;
    s->event_count = 1;
    s->entry_event_type = s->exit_event_type = e->event_type;
    s->entry_page = s->exit_page = e->page;
}

static void close_session(md_session_t *s, md_session_key_kind_t kind, md_str_t key) {
    /* ended_at >= started_at, so integer division is the floor. */
    s->duration_seconds = (s->ended_at - s->started_at) / MD_USEC_PER_SEC;
    md_session_id(kind, key, s->started_at, s->session_id);
}

static bool bad_ts(md_ts_t t) {
    return t == MD_TS_NULL || t == MD_TS_NEG_INF || t == MD_TS_POS_INF;
}

int md_sessionize(md_session_key_kind_t kind, md_str_t key, const md_session_event_t *events,
                  size_t n, const md_session_rules_t *rules, md_session_t *out, size_t out_cap,
                  size_t *ret_count) {
    if (key.ptr == NULL || rules == NULL || rules->gap_us <= 0 || rules->max_length_us <= 0 ||
        (kind != MD_SESSION_KEY_USER && kind != MD_SESSION_KEY_CLIENT))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (bad_ts(events[i].created_at))
            return -EINVAL;
        if (i > 0 && (events[i].created_at < events[i - 1].created_at ||
                      (events[i].created_at == events[i - 1].created_at &&
                       events[i].id <= events[i - 1].id)))
            return -EINVAL;
    }
    size_t count = 0;
    md_session_t *cur = NULL;
    for (size_t i = 0; i < n; i++) {
        const md_session_event_t *e = &events[i];
        if (cur != NULL && e->created_at - cur->ended_at < rules->gap_us &&
            e->created_at - cur->started_at < rules->max_length_us) {
            cur->ended_at = e->created_at;
            cur->event_count++;
            cur->exit_event_type = e->event_type;
            cur->exit_page = e->page;
            continue;
        }
        if (cur != NULL)
            close_session(cur, kind, key);
        if (count >= out_cap)
            return -ENOSPC;
        cur = &out[count++];
        open_session(cur, e);
    }
    if (cur != NULL)
        close_session(cur, kind, key);
    *ret_count = count;
    return 0;
}
