/* api_logs_raw → api_logs_clean, one row at a time (product.md §4 "API
 * logs"). The raw client IP must never be copied to the output: only the
 * anonymized address is written. Never looks at the clock. */
#include "medallion/transform/api_logs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "medallion/transform/text.h"

/* The one place that says which codes make a row invalid; everything else
 * an API log can carry (ip_address_invalid, user_agent_truncated) is a
 * warning. */
static const char *const invalidating[] = {
    MD_CODE_METHOD_MISSING,
    MD_CODE_METHOD_INVALID,
    MD_CODE_PATH_MISSING,
    MD_CODE_PATH_INVALID,
    MD_CODE_STATUS_CODE_MISSING,
    MD_CODE_STATUS_CODE_OUT_OF_RANGE,
    MD_CODE_RESPONSE_TIME_MISSING,
    MD_CODE_RESPONSE_TIME_NEGATIVE,
    MD_CODE_RESPONSE_TIME_OUT_OF_RANGE,
    MD_CODE_MISSING_CREATED_AT,
    MD_CODE_FUTURE_TIMESTAMP,
};

bool md_api_log_code_invalidates(const char *code) {
    if (code == NULL)
        return false;
    for (size_t i = 0; i < sizeof(invalidating) / sizeof(invalidating[0]); i++)
        if (strcmp(code, invalidating[i]) == 0)
            return true;
    return false;
}

static const char *const methods[] = {"GET",    "HEAD",    "POST",  "PUT",    "PATCH",
                                      "DELETE", "OPTIONS", "TRACE", "CONNECT"};

static bool method_known(md_str_t m) {
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (m.len == strlen(methods[i]) && memcmp(m.ptr, methods[i], m.len) == 0)
            return true;
    return false;
}

/* ---- path and route ---------------------------------------------------- */

/* Trimmed text before the first '?' or '#'; NULL stays NULL. */
static md_str_t strip_query(md_str_t p) {
    if (p.ptr == NULL)
        return p;
    size_t n = 0;
    while (n < p.len && p.ptr[n] != '?' && p.ptr[n] != '#')
        n++;
    return md_text_trim((md_str_t){p.ptr, n});
}

int md_api_path_normalize(md_arena_t *a, md_str_t path, md_str_t *ret) {
    md_str_t t = md_text_trim(path);
    if (t.ptr == NULL || t.len == 0)
        return -ENODATA;
    md_str_t p = strip_query(t);
    if (p.len == 0 || p.ptr[0] != '/')
        return -EINVAL;

    /* Output length: '/' runs collapse to one, a trailing '/' goes unless
     * the path is just "/". Borrow when that changes nothing. */
    size_t n = 0;
    for (size_t i = 0; i < p.len; i++)
        if (!(p.ptr[i] == '/' && i > 0 && p.ptr[i - 1] == '/'))
            n++;
    bool trailing = n > 1 && p.ptr[p.len - 1] == '/';
    if (trailing)
        n--;
    if (n == p.len) {
        *ret = p;
        return 0;
    }
    char *d = md_arena_alloc(a, n + 1);
    if (d == NULL)
        return -ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < p.len && o < n; i++)
        if (!(p.ptr[i] == '/' && i > 0 && p.ptr[i - 1] == '/'))
            d[o++] = p.ptr[i];
    d[n] = '\0';
    *ret = (md_str_t){d, n};
    return 0;
}

static bool is_hex(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* An identifier rather than a route word: all digits, a UUID, or a long hex
 * string (hashes, object ids). */
static bool segment_is_id(const char *s, size_t len) {
    if (len == 0)
        return false;
    bool digits = true, hex = true;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        digits = digits && c >= '0' && c <= '9';
        hex = hex && is_hex(c);
    }
    if (digits || (hex && len >= 16))
        return true;
    if (len != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex((unsigned char)s[i]))
            return false;
    }
    return true;
}

int md_api_route(md_arena_t *a, md_str_t p, md_str_t *ret) {
    if (p.ptr == NULL) {
        *ret = p;
        return 0;
    }
    /* Two passes: size, then write; ":id" can be longer than "/7"'s "7". */
    size_t n = 0;
    bool changed = false;
    for (size_t i = 0; i < p.len;) {
        size_t j = i;
        while (j < p.len && p.ptr[j] != '/')
            j++;
        if (segment_is_id(p.ptr + i, j - i)) {
            n += 3;
            changed = true;
        } else {
            n += j - i;
        }
        if (j < p.len)
            n++; /* the '/' */
        i = j + 1;
    }
    if (!changed) {
        *ret = p;
        return 0;
    }
    char *d = md_arena_alloc(a, n + 1);
    if (d == NULL)
        return -ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < p.len;) {
        size_t j = i;
        while (j < p.len && p.ptr[j] != '/')
            j++;
        if (segment_is_id(p.ptr + i, j - i)) {
            memcpy(d + o, ":id", 3);
            o += 3;
        } else {
            memcpy(d + o, p.ptr + i, j - i);
            o += j - i;
        }
        if (j < p.len)
            d[o++] = '/';
        i = j + 1;
    }
    d[o] = '\0';
    *ret = (md_str_t){d, o};
    return 0;
}

/* ---- response time ----------------------------------------------------- */

enum rt_class { RT_OK, RT_MISSING, RT_NEGATIVE, RT_OUT_OF_RANGE, RT_GARBAGE };

static bool ieq(const char *s, size_t len, const char *lit) {
    size_t n = strlen(lit);
    if (len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (c != (unsigned char)lit[i])
            return false;
    }
    return true;
}

/* Classify numeric text exactly (no rounding near the limits) where there is
 * no exponent; an exponent form falls back to the double value. */
static enum rt_class classify_response_time(md_arena_t *a, md_str_t t, double *value, int *err) {
    *value = NAN;
    if (t.ptr == NULL || t.len == 0)
        return RT_MISSING;
    const char *s = t.ptr;
    size_t len = t.len, i = 0;
    bool neg = false;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
    }
    if (ieq(s + i, len - i, "nan"))
        return i == 0 ? RT_OUT_OF_RANGE : RT_GARBAGE;
    if (ieq(s + i, len - i, "infinity") || ieq(s + i, len - i, "inf")) {
        *value = neg ? -INFINITY : INFINITY;
        return neg ? RT_NEGATIVE : RT_OUT_OF_RANGE;
    }
    size_t int_b = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t int_e = i, frac_b = i, frac_e = i;
    if (i < len && s[i] == '.') {
        frac_b = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        frac_e = i;
    }
    if (int_e == int_b && frac_e == frac_b)
        return RT_GARBAGE;
    bool has_exp = false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        has_exp = true;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t eb = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == eb)
            return RT_GARBAGE;
    }
    if (i != len)
        return RT_GARBAGE;

    /* The syntax is now a plain decimal, which strtod reads the same in the
     * C locale (the daemon never calls setlocale). */
    char small[64];
    char *z = small;
    if (len < sizeof(small)) {
        memcpy(small, s, len);
        small[len] = '\0';
    } else if ((z = md_arena_memdup(a, s, len)) == NULL) {
        *err = -ENOMEM;
        return RT_GARBAGE;
    }
    *value = strtod(z, NULL);

    bool nonzero = false;
    for (size_t k = int_b; k < frac_e; k++)
        nonzero = nonzero || (s[k] >= '1' && s[k] <= '9');
    if (neg && nonzero)
        return RT_NEGATIVE;
    if (!nonzero) {
        *value = 0.0; /* "-0" is zero, not negative */
        return RT_OK;
    }
    if (has_exp)
        return *value > MD_API_RESPONSE_TIME_MAX_MS ? RT_OUT_OF_RANGE : RT_OK;

    static const char limit[] = "3600000"; /* MD_API_RESPONSE_TIME_MAX_MS */
    size_t lz = int_b;
    while (lz < int_e && s[lz] == '0')
        lz++;
    size_t ilen = int_e - lz;
    if (ilen != sizeof(limit) - 1)
        return ilen > sizeof(limit) - 1 ? RT_OUT_OF_RANGE : RT_OK;
    int c = memcmp(s + lz, limit, ilen);
    if (c != 0)
        return c > 0 ? RT_OUT_OF_RANGE : RT_OK;
    for (size_t k = frac_b; k < frac_e; k++)
        if (s[k] != '0')
            return RT_OUT_OF_RANGE;
    return RT_OK;
}

/* ---- IP address -------------------------------------------------------- */

int md_api_ip_anonymize(const char *s, size_t len, uint8_t ret_bytes[16], char ret_text[46]) {
    char buf[INET6_ADDRSTRLEN];
    uint8_t b[16] = {0};
    /* inet_pton wants a C string: anything longer than the longest textual
     * address, or with a NUL inside, is not an address. */
    if (s == NULL || len == 0 || len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
        return -EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';

    int family;
    if (inet_pton(AF_INET, buf, b) == 1) {
        family = MD_IP_V4;
    } else if (inet_pton(AF_INET6, buf, b) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, 12) == 0) {
            memmove(b, b + 12, 4);
            memset(b + 4, 0, 12);
            family = MD_IP_V4;
        } else {
            family = MD_IP_V6;
        }
    } else {
        return -EINVAL;
    }

    char text[INET6_ADDRSTRLEN];
    if (family == MD_IP_V4) {
        b[3] = 0;
        if (inet_ntop(AF_INET, b, text, sizeof(text)) == NULL)
            return -EINVAL;
    } else {
        memset(b + 6, 0, 10); /* keep the first 48 bits */
        if (inet_ntop(AF_INET6, b, text, sizeof(text)) == NULL)
            return -EINVAL;
    }
    memcpy(ret_bytes, b, 16);
    memcpy(ret_text, text, strlen(text) + 1);
    return family;
}

/* ---- the row ----------------------------------------------------------- */

int md_api_log_transform(const md_api_log_in_t *in, md_arena_t *arena, md_api_log_out_t *ret) {
    md_api_log_out_t o = {0};
    int r;

    o.id = in->id;
    o.request_id = in->request_id;
    o.user_id = in->user_id;
    o.properties = in->properties;
    o.created_at = in->created_at;
    o.ingested_at = in->ingested_at;
    o.response_time_value = NAN;

    /* method */
    md_str_t m = md_text_nullif_empty(md_text_trim(in->method));
    if (m.ptr == NULL) {
        md_codes_add(&o.errors, MD_CODE_METHOD_MISSING);
    } else {
        r = md_text_upper(arena, m, &o.method);
        if (r < 0)
            return r;
        if (!method_known(o.method))
            md_codes_add(&o.errors, MD_CODE_METHOD_INVALID);
    }

    /* path and route */
    r = md_api_path_normalize(arena, in->path, &o.path);
    if (r == -ENOMEM)
        return r;
    if (r == -ENODATA) {
        md_codes_add(&o.errors, MD_CODE_PATH_MISSING);
    } else if (r == -EINVAL) {
        md_codes_add(&o.errors, MD_CODE_PATH_INVALID);
        o.path = md_text_nullif_empty(strip_query(in->path));
    } else {
        r = md_api_route(arena, o.path, &o.route);
        if (r < 0)
            return r;
    }

    /* status */
    o.status_code_present = in->status_code_present;
    o.status_code = in->status_code_present ? in->status_code : 0;
    if (!in->status_code_present)
        md_codes_add(&o.errors, MD_CODE_STATUS_CODE_MISSING);
    else if (in->status_code < 100 || in->status_code > 599)
        md_codes_add(&o.errors, MD_CODE_STATUS_CODE_OUT_OF_RANGE);
    o.is_error = in->status_code_present && in->status_code >= 500 && in->status_code <= 599;

    /* response time: NaN and garbage are out of range, -Infinity negative */
    md_str_t rt = md_text_trim(in->response_time_ms);
    r = 0;
    enum rt_class rc = classify_response_time(arena, rt, &o.response_time_value, &r);
    if (r < 0)
        return r;
    o.response_time_ms = rc == RT_MISSING || rc == RT_GARBAGE ? MD_STR_NULL : rt;
    if (rc == RT_MISSING)
        md_codes_add(&o.errors, MD_CODE_RESPONSE_TIME_MISSING);
    else if (rc == RT_NEGATIVE)
        md_codes_add(&o.errors, MD_CODE_RESPONSE_TIME_NEGATIVE);
    else if (rc == RT_OUT_OF_RANGE || rc == RT_GARBAGE)
        md_codes_add(&o.errors, MD_CODE_RESPONSE_TIME_OUT_OF_RANGE);

    /* created_at: the API log rules have no 2000-01-01 floor */
    md_codes_check_created_at(&o.errors, in->created_at, in->ingested_at, false);

    /* ip_address: only the anonymized form leaves this block */
    md_str_t ip = md_text_trim(in->ip_address);
    if (ip.ptr != NULL && ip.len > 0) {
        char text[46];
        int fam = md_api_ip_anonymize(ip.ptr, ip.len, o.ip_bytes, text);
        if (fam < 0) {
            memset(o.ip_bytes, 0, sizeof(o.ip_bytes));
            md_codes_add(&o.errors, MD_CODE_IP_ADDRESS_INVALID);
        } else {
            size_t tl = strlen(text);
            char *d = md_arena_memdup(arena, text, tl);
            if (d == NULL)
                return -ENOMEM;
            o.ip_family = fam;
            o.ip_address = (md_str_t){d, tl};
        }
    }

    /* user_agent */
    md_str_t ua = md_text_nullif_empty(md_text_trim(in->user_agent));
    if (ua.ptr != NULL && ua.len > MD_API_USER_AGENT_MAX) {
        ua.len = md_text_utf8_cut(ua.ptr, ua.len, MD_API_USER_AGENT_MAX);
        md_codes_add(&o.errors, MD_CODE_USER_AGENT_TRUNCATED);
    }
    o.user_agent = ua;

    r = md_text_clean_lower(arena, in->source, &o.source);
    if (r < 0)
        return r;

    o.is_valid = true;
    for (int i = 0; i < o.errors.count; i++)
        if (md_api_log_code_invalidates(o.errors.code[i]))
            o.is_valid = false;

    *ret = o;
    return 0;
}
