/* Password hiding for conninfo strings and the messages libpq builds from them
 * (see conninfo.h). Works on the raw text: it must hide the secret of a
 * string libpq would reject or misread, too. */
#include "medallion/conninfo.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#define MAX_SPANS 8
#define MASK "***"

typedef struct span {
    size_t start, end; /* [start, end) of the conninfo */
} span_t;

static void add_span(span_t *spans, int *n, size_t start, size_t end) {
    if (end > start && *n < MAX_SPANS)
        spans[(*n)++] = (span_t){start, end};
}

/* "password", "sslpassword" (the client key's): any keyword that ends in
 * "password" names a secret. */
static bool is_secret_key(const char *kw, size_t n) {
    return n >= 8 && strncmp(kw + n - 8, "password", 8) == 0;
}

static bool is_uri(const char *s) {
    return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
}

static void uri_spans(const char *s, span_t *spans, int *n) {
    size_t scheme_end = (size_t)(strstr(s, "://") - s) + 3;
    size_t len = strlen(s);
    const char *qm = strchr(s + scheme_end, '?');
    size_t q = qm ? (size_t)(qm - s) : len;
    /* The userinfo ends at the last '@' before the query: a password with an
     * unencoded '/' or '@' is then hidden whole. */
    size_t at = 0;
    for (size_t i = scheme_end; i < q; i++)
        if (s[i] == '@')
            at = i;
    if (at > 0) {
        const char *colon = memchr(s + scheme_end, ':', at - scheme_end);
        if (colon != NULL)
            add_span(spans, n, (size_t)(colon - s) + 1, at);
    }
    for (size_t i = q; i < len; i++) {
        if (s[i] != '?' && s[i] != '&')
            continue;
        size_t k = i + 1, eq = k;
        while (eq < len && s[eq] != '=' && s[eq] != '&')
            eq++;
        if (eq < len && s[eq] == '=' && is_secret_key(s + k, eq - k)) {
            size_t v = eq + 1, e = v;
            while (e < len && s[e] != '&')
                e++;
            add_span(spans, n, v, e);
            i = e - 1;
        }
    }
}

/* libpq's key/value syntax: keyword = value, value quoted ('...') or not,
 * backslash escaping the next character in both. */
static void keyword_spans(const char *s, span_t *spans, int *n) {
    size_t p = 0, len = strlen(s);
    for (;;) {
        while (p < len && isspace((unsigned char)s[p]))
            p++;
        if (p >= len)
            return;
        size_t kw = p;
        while (p < len && s[p] != '=' && !isspace((unsigned char)s[p]))
            p++;
        size_t kw_end = p;
        while (p < len && isspace((unsigned char)s[p]))
            p++;
        if (p >= len || s[p] != '=') {
            add_span(spans, n, kw, len); /* malformed: hide the rest */
            return;
        }
        p++;
        while (p < len && isspace((unsigned char)s[p]))
            p++;
        size_t v = p;
        if (p < len && s[p] == '\'') {
            p++;
            while (p < len && s[p] != '\'')
                p += (s[p] == '\\' && p + 1 < len) ? 2 : 1;
            if (p < len)
                p++;
        } else {
            while (p < len && !isspace((unsigned char)s[p]))
                p += (s[p] == '\\' && p + 1 < len) ? 2 : 1;
        }
        if (is_secret_key(s + kw, kw_end - kw))
            add_span(spans, n, v, p);
    }
}

static int find_spans(const char *s, span_t *spans) {
    int n = 0;
    if (is_uri(s))
        uri_spans(s, spans, &n);
    else
        keyword_spans(s, spans, &n);
    return n;
}

/* Appends to buf[*o], always leaving room for the NUL. */
static void put(char *buf, size_t len, size_t *o, const char *s, size_t n) {
    for (size_t i = 0; i < n && *o + 1 < len; i++)
        buf[(*o)++] = s[i];
}

void md_conninfo_redact(const char *conninfo, char *buf, size_t len) {
    if (len == 0)
        return;
    buf[0] = '\0';
    if (conninfo == NULL)
        return;
    span_t spans[MAX_SPANS];
    int n = find_spans(conninfo, spans);
    size_t o = 0, i = 0, clen = strlen(conninfo);
    while (i < clen) {
        int k = 0;
        while (k < n && spans[k].start != i)
            k++;
        if (k < n) {
            put(buf, len, &o, MASK, 3);
            i = spans[k].end;
        } else {
            put(buf, len, &o, conninfo + i, 1);
            i++;
        }
    }
    buf[o] = '\0';
}

/* Whether a and b share a run of min(3, blen) characters. */
static bool shares_run(const char *a, size_t alen, const char *b, size_t blen) {
    size_t k = blen < 3 ? blen : 3;
    if (k == 0 || alen < k)
        return false;
    for (size_t i = 0; i + k <= alen; i++)
        for (size_t j = 0; j + k <= blen; j++)
            if (memcmp(a + i, b + j, k) == 0)
                return true;
    return false;
}

/* Rewrites msg: occurrences of the secrets, and quoted parts that match
 * (all of them when secrets is NULL), become MASK. */
static void scrub(const char *conninfo, const span_t *spans, int n, char *msg, size_t cap) {
    char out[1024];
    size_t o = 0, mlen = strlen(msg);
    for (size_t i = 0; i < mlen;) {
        bool masked = false;
        for (int k = 0; k < n && !masked; k++) {
            size_t sl = spans[k].end - spans[k].start;
            if (i + sl <= mlen && memcmp(msg + i, conninfo + spans[k].start, sl) == 0) {
                put(out, sizeof(out), &o, MASK, 3);
                i += sl;
                masked = true;
            }
        }
        if (masked)
            continue;
        if (msg[i] == '"') {
            const char *close = strchr(msg + i + 1, '"');
            if (close != NULL) {
                size_t ql = (size_t)(close - (msg + i + 1));
                bool hide = false;
                if (conninfo == NULL)
                    hide = ql > 1;
                for (int k = 0; k < n && !hide; k++)
                    hide = shares_run(msg + i + 1, ql, conninfo + spans[k].start,
                                      spans[k].end - spans[k].start);
                /* Kept whole when not hidden: its closing quote must not
                 * open the next part. */
                if (hide)
                    put(out, sizeof(out), &o, "\"" MASK "\"", 5);
                else
                    put(out, sizeof(out), &o, msg + i, ql + 2);
                i += ql + 2;
                continue;
            }
        }
        put(out, sizeof(out), &o, msg + i, 1);
        i++;
    }
    out[o] = '\0';
    if (cap > 0) {
        size_t l = o < cap - 1 ? o : cap - 1;
        memcpy(msg, out, l);
        msg[l] = '\0';
    }
}

void md_conninfo_scrub(const char *conninfo, char *msg, size_t cap) {
    if (conninfo == NULL || msg == NULL)
        return;
    span_t spans[MAX_SPANS];
    int n = find_spans(conninfo, spans);
    if (n > 0)
        scrub(conninfo, spans, n, msg, cap);
}

void md_conninfo_scrub_quoted(char *msg, size_t cap) {
    if (msg != NULL)
        scrub(NULL, NULL, 0, msg, cap);
}

bool md_conninfo_parse_error(const char *conninfo, char *msg, size_t cap) {
    if (conninfo == NULL)
        return false;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (opts != NULL) {
        PQconninfoFree(opts);
        return false;
    }
    if (cap > 0) {
        snprintf(msg, cap, "%s", perr ? perr : "out of memory");
        size_t l = strlen(msg);
        while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
            msg[--l] = '\0';
        md_conninfo_scrub(conninfo, msg, cap);
        md_conninfo_scrub_quoted(msg, cap);
    }
    PQfreemem(perr);
    return true;
}
