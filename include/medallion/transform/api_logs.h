/* api_logs_raw → api_logs_clean for one row: method, path/route, status,
 * response time, anonymized IP. Pure: no clock, no I/O. The raw IP address
 * must never reach the output: only its anonymized form does. */
#ifndef MEDALLION_TRANSFORM_API_LOGS_H
#define MEDALLION_TRANSFORM_API_LOGS_H

#include <stdbool.h>
#include <stdint.h>

#include "medallion/error.h"
#include "medallion/transform/arena.h"
#include "medallion/transform/codes.h"
#include "medallion/types.h"

/* Limits applied by the transform. */
#define MD_API_RESPONSE_TIME_MAX_MS 3600000 /* one hour */
#define MD_API_USER_AGENT_MAX 1024          /* bytes, cut at a UTF-8 boundary */

typedef struct md_api_log_in {
    int64_t id;
    md_str_t request_id;
    md_str_t method;
    md_str_t path;
    bool status_code_present;
    int32_t status_code;
    md_str_t response_time_ms; /* numeric as decimal text ("12.5", "NaN", "-Infinity") */
    md_uuid_t user_id;
    md_str_t ip_address;
    md_str_t user_agent;
    md_str_t properties; /* jsonb as text */
    md_str_t source;
    md_ts_t created_at;
    md_ts_t ingested_at;
} md_api_log_in_t;

/* Address families of md_api_log_out_t.ip_family. */
#define MD_IP_NONE 0
#define MD_IP_V4 4
#define MD_IP_V6 6

/* Strings borrow from the input row or the arena: valid while both are. */
typedef struct md_api_log_out {
    int64_t id;
    md_str_t request_id; /* passed through */
    md_str_t method;     /* trimmed, upper-case (kept even when invalid); NULL when missing */
    md_str_t path;       /* no query/fragment, slashes collapsed, no trailing '/';
                            when invalid: the trimmed text before the query, or NULL */
    md_str_t route;      /* path with id-like segments as ":id"; NULL when path invalid */
    bool status_code_present;
    int32_t status_code;        /* passed through, even when out of range */
    md_str_t response_time_ms;  /* trimmed input text when it parses as a number, else NULL */
    double response_time_value; /* its value (NaN when absent or unparseable) */
    bool is_error;              /* status_code 500..599 */
    md_uuid_t user_id;
    int ip_family;        /* MD_IP_NONE (NULL), MD_IP_V4 or MD_IP_V6 */
    uint8_t ip_bytes[16]; /* anonymized address: 4 or 16 bytes used */
    md_str_t ip_address;  /* anonymized canonical text ("1.2.3.0", "2001:db8:1::") */
    md_str_t user_agent;  /* trimmed, at most MD_API_USER_AGENT_MAX bytes; empty → NULL */
    md_str_t properties;  /* passed through */
    md_str_t source;      /* trimmed, lower-case; empty → NULL */
    md_ts_t created_at;
    md_ts_t ingested_at;
    bool is_valid;     /* no invalidating code in errors */
    md_codes_t errors; /* invalidating codes and warnings (ip_address_invalid,
                          user_agent_truncated) */
} md_api_log_out_t;

/* Whether a code makes an API log row invalid (false for the warning-only
 * codes and for codes this table never emits). */
bool md_api_log_code_invalidates(const char *code);

/* 0, or -ENOMEM (then *ret is untouched). */
int md_api_log_transform(const md_api_log_in_t *in, md_arena_t *arena,
                         md_api_log_out_t *ret) MD_MUST_CHECK;

/* Helpers exposed for tests and for other jobs. */

/* Path normalization: strip query/fragment, trim, collapse '//' and drop a
 * trailing '/'. Returns 0 (*ret normalized), -ENODATA when blank (path_missing),
 * -EINVAL when it does not start with '/' (path_invalid), -ENOMEM. */
int md_api_path_normalize(md_arena_t *a, md_str_t path, md_str_t *ret) MD_MUST_CHECK;
/* Route of a normalized path: all-digit, UUID and >= 16-hex-char segments → ":id". */
int md_api_route(md_arena_t *a, md_str_t normalized_path, md_str_t *ret) MD_MUST_CHECK;

/* Parse an IPv4/IPv6 address and anonymize it (IPv4: last octet zeroed;
 * IPv6: last 80 bits zeroed; IPv4-mapped ::ffff:a.b.c.d handled as IPv4).
 * Returns MD_IP_V4 or MD_IP_V6 and fills bytes/text (text: NUL-terminated,
 * 46 bytes), or -EINVAL when it is not an address. */
int md_api_ip_anonymize(const char *s, size_t len, uint8_t ret_bytes[16], char ret_text[46]);

#endif
