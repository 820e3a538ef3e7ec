/* The YAML configuration: libyaml's document API → a NEW md_config_t, validated
 * whole, with every problem reported as "FILE:LINE:COL: message". It never
 * patches a live config, never logs (callers do), and never echoes the value of
 * database.url, which may carry a password. */
#include "medallion/config.h"

#include "medallion/conninfo.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "medallion/duration.h"

/* A config file is a few KiB; refuse anything absurd instead of parsing it. */
#define MAX_CONFIG_BYTES (16 * 1024 * 1024)
/* Values echoed in error messages are cut here so one bad line stays one line. */
#define ECHO_MAX 80

/* ---------------------------------------------------------------- errors */

void md_config_errors_clear(md_config_errors_t *errs) {
    if (errs == NULL)
        return;
    for (int i = 0; i < errs->count; i++)
        free(errs->items[i]);
    free(errs->items);
    errs->items = NULL;
    errs->count = 0;
}

static int errors_push(md_config_errors_t *errs, char *msg) {
    char **items = realloc(errs->items, sizeof(*items) * (size_t)(errs->count + 1));
    if (items == NULL) {
        free(msg);
        return -ENOMEM;
    }
    errs->items = items;
    errs->items[errs->count++] = msg;
    return 0;
}

/* Move every item of src to the end of dst (src ends empty). */
static int errors_move(md_config_errors_t *dst, md_config_errors_t *src) {
    int ret = 0;
    for (int i = 0; i < src->count; i++) {
        if (ret == 0)
            ret = errors_push(dst, src->items[i]);
        else
            free(src->items[i]);
    }
    free(src->items);
    src->items = NULL;
    src->count = 0;
    return ret;
}

/* ---------------------------------------------------------------- parse context */

typedef struct parse_ctx {
    const char *name; /* file name used in positions */
    yaml_document_t *doc;
    md_config_t *cfg;
    md_config_errors_t errs;
    uint64_t *err_pos; /* per error: line << 32 | col, for document order; 0 = none */
    bool oom;
} parse_ctx_t;

static void add_errorv(parse_ctx_t *c, size_t line, size_t col, const char *fmt, va_list ap) {
    char *msg = NULL, *out = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) {
        c->oom = true;
        return;
    }
    int n;
    if (line > 0)
        n = asprintf(&out, "%s:%zu:%zu: %s", c->name, line, col, msg);
    else
        n = asprintf(&out, "%s: %s", c->name, msg);
    free(msg);
    uint64_t *pos = realloc(c->err_pos, sizeof(*pos) * (size_t)(c->errs.count + 1));
    if (pos == NULL) {
        free(out);
        c->oom = true;
        return;
    }
    c->err_pos = pos;
    pos[c->errs.count] = line > 0 ? ((uint64_t)line << 32 | (uint64_t)col) : UINT64_MAX;
    if (n < 0 || errors_push(&c->errs, out) < 0)
        c->oom = true;
}

/* Cross-key checks run after the walk; present everything in file order.
 * Stable, and the lists are short. */
static void sort_errors(parse_ctx_t *c) {
    for (int i = 1; i < c->errs.count; i++) {
        uint64_t key = c->err_pos[i];
        char *item = c->errs.items[i];
        int j = i - 1;
        while (j >= 0 && c->err_pos[j] > key) {
            c->err_pos[j + 1] = c->err_pos[j];
            c->errs.items[j + 1] = c->errs.items[j];
            j--;
        }
        c->err_pos[j + 1] = key;
        c->errs.items[j + 1] = item;
    }
}

/* libyaml marks are 0-based; users and editors count from 1. */
static void MD_PRINTF(3, 4) err_at(parse_ctx_t *c, yaml_mark_t m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    add_errorv(c, m.line + 1, m.column + 1, fmt, ap);
    va_end(ap);
}

static void MD_PRINTF(2, 3) err_nopos(parse_ctx_t *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    add_errorv(c, 0, 0, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- node helpers */

static const char *scalar(const yaml_node_t *n) {
    return (const char *)n->data.scalar.value;
}

static bool is_plain(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* YAML's null: an empty value, "~" or "null" written plain. */
static bool is_null(const yaml_node_t *n) {
    if (!is_plain(n))
        return false;
    const char *s = scalar(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static const char *node_kind(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return is_null(n) ? "nothing" : "a scalar";
    }
}

/* ---------------------------------------------------------------- key tables */

typedef enum key_kind {
    K_SECTION,  /* mapping of further keys (children) */
    K_JOBS,     /* mapping job name -> job keys */
    K_DBURL,    /* secret-bearing string; null = unset */
    K_INT,      /* int in [min, max] */
    K_BOOL,     /* true/false/yes/no/on/off */
    K_DURATION, /* md_duration_parse_ms -> int64_t ms */
    K_FLOAT,    /* finite double in [min, max] */
    K_LOGLEVEL, /* err | warn | info | debug */
    K_TZ,       /* IANA name (char *) + loaded md_tz_t * at off2 */
    K_CURRENCY, /* three upper-case letters */
    K_CRON,     /* expression (char *) + parsed md_cron_t * at off2 */
} key_kind_t;

typedef struct key_spec {
    const char *name;
    key_kind_t kind;
    size_t off;  /* field inside the base struct (md_config_t or md_job_config_t) */
    size_t off2; /* companion object of K_TZ / K_CRON */
    double min, max;
    const struct key_spec *children;
} key_spec_t;

#define CFG(f) offsetof(md_config_t, f)
#define JOB(f) offsetof(md_job_config_t, f)

static const key_spec_t database_keys[] = {
    {"url", K_DBURL, CFG(database_url), 0, 0, 0, NULL},
    {"pool_size", K_INT, CFG(pool_size), 0, 1, 64, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
static const key_spec_t reporting_keys[] = {
    {"timezone", K_TZ, CFG(reporting_timezone), CFG(reporting_tz), 0, 0, NULL},
    {"base_currency", K_CURRENCY, CFG(base_currency), 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
static const key_spec_t history_keys[] = {
    {"retention", K_DURATION, CFG(history_retention_ms), 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
static const key_spec_t shutdown_keys[] = {
    {"grace", K_DURATION, CFG(shutdown_grace_ms), 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
static const key_spec_t sessions_keys[] = {
    {"gap", K_DURATION, CFG(sessions_gap_ms), 0, 0, 0, NULL},
    {"max_length", K_DURATION, CFG(sessions_max_length_ms), 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
static const key_spec_t velocity_keys[] = {
    {"count", K_INT, CFG(fraud_velocity_count), 0, 1, 1000000, NULL},
    {"window", K_DURATION, CFG(fraud_velocity_window_ms), 0, 0, 0, NULL},
    {"add", K_FLOAT, CFG(fraud_velocity_add), 0, 0.0, 1.0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
static const key_spec_t fraud_keys[] = {
    {"velocity", K_SECTION, 0, 0, 0, 0, velocity_keys},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
static const key_spec_t kpi_keys[] = {
    {"flat_band", K_FLOAT, CFG(kpi_flat_band), 0, 0.0, 1e9, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
static const key_spec_t root_keys[] = {
    {"database", K_SECTION, 0, 0, 0, 0, database_keys},
    {"log_level", K_LOGLEVEL, CFG(log_level), 0, 0, 0, NULL},
    {"reporting", K_SECTION, 0, 0, 0, 0, reporting_keys},
    {"jobs", K_JOBS, 0, 0, 0, 0, NULL},
    {"history", K_SECTION, 0, 0, 0, 0, history_keys},
    {"shutdown", K_SECTION, 0, 0, 0, 0, shutdown_keys},
    {"sessions", K_SECTION, 0, 0, 0, 0, sessions_keys},
    {"fraud", K_SECTION, 0, 0, 0, 0, fraud_keys},
    {"kpi", K_SECTION, 0, 0, 0, 0, kpi_keys},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
static const key_spec_t job_keys[] = {
    {"schedule", K_CRON, JOB(schedule), JOB(cron), 0, 0, NULL},
    {"enabled", K_BOOL, JOB(enabled), 0, 0, 0, NULL},
    {"batch_size", K_INT, JOB(batch_size), 0, 1, 1000000, NULL},
    {"write_connections", K_INT, JOB(write_connections), 0, 1, 4,
     NULL}, /* MD_BATCH_MAX_CONNECTIONS */
    {"timeout", K_DURATION, JOB(timeout_ms), 0, 0, 0, NULL},
    {"timezone", K_TZ, JOB(timezone), JOB(tz), 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

#define FIELD(base, off, type) ((type *)(void *)((char *)(base) + (off)))

/* ---------------------------------------------------------------- scalar parsers */

static bool parse_int_strict(const char *s, long long *ret) {
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (*p == '\0')
        return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *ret = v;
    return true;
}

static bool parse_float_strict(const char *s, double *ret) {
    /* Only decimal notation: strtod alone would also take "nan", "inf", hex. */
    if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
        return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        return false;
    *ret = v;
    return true;
}

static int parse_bool_word(const char *s) {
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* ---------------------------------------------------------------- value setters */

static void replace_str(char **field, const char *value, parse_ctx_t *c) {
    char *dup = strdup(value);
    if (dup == NULL) {
        c->oom = true;
        return;
    }
    free(*field);
    *field = dup;
}

/* Require a non-null scalar; report the type problem otherwise. */
static bool want_scalar(parse_ctx_t *c, const char *key, const yaml_node_t *k, const yaml_node_t *v,
                        const char *what) {
    if (v->type == YAML_SCALAR_NODE && !is_null(v))
        return true;
    if (v->type == YAML_SCALAR_NODE)
        err_at(c, k->start_mark, "%s: missing value (expected %s)", key, what);
    else
        err_at(c, v->start_mark, "%s: expected %s, got %s", key, what, node_kind(v));
    return false;
}

static void set_value(parse_ctx_t *c, const key_spec_t *spec, const char *key, const yaml_node_t *k,
                      const yaml_node_t *v, void *base) {
    const char *s;
    switch (spec->kind) {
    case K_DBURL:
        /* "" and null both mean "not set here", so the env fallbacks apply. */
        if (v->type == YAML_SCALAR_NODE && (is_null(v) || scalar(v)[0] == '\0')) {
            free(*FIELD(base, spec->off, char *));
            *FIELD(base, spec->off, char *) = NULL;
            return;
        }
        if (!want_scalar(c, key, k, v, "a connection string"))
            return;
        replace_str(FIELD(base, spec->off, char *), scalar(v), c);
        return;

    case K_INT: {
        if (!want_scalar(c, key, k, v, "an integer"))
            return;
        s = scalar(v);
        long long n;
        if (!is_plain(v) || !parse_int_strict(s, &n)) {
            err_at(c, v->start_mark, "%s: expected an integer, got %s\"%.*s\"", key,
                   is_plain(v) ? "" : "the string ", ECHO_MAX, s);
            return;
        }
        if (n < (long long)spec->min || n > (long long)spec->max) {
            err_at(c, v->start_mark, "%s: %lld is out of range (%lld..%lld)", key, n,
                   (long long)spec->min, (long long)spec->max);
            return;
        }
        *FIELD(base, spec->off, int) = (int)n;
        return;
    }

    case K_FLOAT: {
        if (!want_scalar(c, key, k, v, "a number"))
            return;
        s = scalar(v);
        double d;
        if (!is_plain(v) || !parse_float_strict(s, &d)) {
            err_at(c, v->start_mark, "%s: expected a number, got %s\"%.*s\"", key,
                   is_plain(v) ? "" : "the string ", ECHO_MAX, s);
            return;
        }
        if (d < spec->min || d > spec->max) {
            if (spec->max >= 1e9)
                err_at(c, v->start_mark, "%s: %s must be >= %g", key, s, spec->min);
            else
                err_at(c, v->start_mark, "%s: %s is out of range (%g..%g)", key, s, spec->min,
                       spec->max);
            return;
        }
        *FIELD(base, spec->off, double) = d;
        return;
    }

    case K_BOOL: {
        if (!want_scalar(c, key, k, v, "a boolean"))
            return;
        s = scalar(v);
        int b = is_plain(v) ? parse_bool_word(s) : -1;
        if (b < 0) {
            err_at(c, v->start_mark,
                   "%s: expected a boolean (true/false, yes/no, on/off), got %s\"%.*s\"", key,
                   is_plain(v) ? "" : "the string ", ECHO_MAX, s);
            return;
        }
        *FIELD(base, spec->off, bool) = b == 1;
        return;
    }

    case K_DURATION: {
        if (!want_scalar(c, key, k, v, "a duration"))
            return;
        s = scalar(v);
        int64_t ms;
        int r = md_duration_parse_ms(s, &ms);
        if (r == -ERANGE) {
            err_at(c, v->start_mark, "%s: duration \"%.*s\" is too large", key, ECHO_MAX, s);
            return;
        }
        if (r < 0) {
            err_at(c, v->start_mark,
                   "%s: bad duration \"%.*s\" (expected a positive number with a unit ms, s, m, "
                   "h, d or w, e.g. 30s, 5m, 1h30m)",
                   key, ECHO_MAX, s);
            return;
        }
        *FIELD(base, spec->off, int64_t) = ms;
        return;
    }

    case K_LOGLEVEL: {
        static const struct {
            const char *name;
            md_log_level_t level;
        } levels[] = {{"err", MD_LOG_ERR},
                      {"warn", MD_LOG_WARN},
                      {"info", MD_LOG_INFO},
                      {"debug", MD_LOG_DEBUG}};
        if (!want_scalar(c, key, k, v, "a log level"))
            return;
        s = scalar(v);
        for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
            if (strcmp(s, levels[i].name) == 0) {
                *FIELD(base, spec->off, md_log_level_t) = levels[i].level;
                return;
            }
        }
        err_at(c, v->start_mark, "%s: unknown log level \"%.*s\" (valid: err, warn, info, debug)",
               key, ECHO_MAX, s);
        return;
    }

    case K_CURRENCY:
        if (!want_scalar(c, key, k, v, "a currency code"))
            return;
        s = scalar(v);
        if (strlen(s) != 3 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3) {
            err_at(c, v->start_mark,
                   "%s: \"%.*s\" is not an ISO 4217 code (three upper-case letters, e.g. USD)", key,
                   ECHO_MAX, s);
            return;
        }
        replace_str(FIELD(base, spec->off, char *), s, c);
        return;

    case K_TZ: {
        if (!want_scalar(c, key, k, v, "a time zone name"))
            return;
        s = scalar(v);
        md_tz_t *tz = NULL;
        md_error_t e = {0};
        int r = md_tz_load(s, &tz, &e);
        if (r < 0) {
            if (e.msg[0] != '\0')
                err_at(c, v->start_mark, "%s: %s", key, e.msg);
            else
                err_at(c, v->start_mark, "%s: unknown time zone \"%.*s\"", key, ECHO_MAX, s);
            return;
        }
        char *dup = strdup(s);
        if (dup == NULL) {
            md_tz_free(tz);
            c->oom = true;
            return;
        }
        free(*FIELD(base, spec->off, char *));
        md_tz_free(*FIELD(base, spec->off2, md_tz_t *));
        *FIELD(base, spec->off, char *) = dup;
        *FIELD(base, spec->off2, md_tz_t *) = tz;
        return;
    }

    case K_CRON: {
        if (!want_scalar(c, key, k, v, "a cron expression"))
            return;
        s = scalar(v);
        md_cron_t *cron = NULL;
        md_error_t e = {0};
        int r = md_cron_parse(s, &cron, &e);
        if (r < 0) {
            if (e.msg[0] != '\0')
                err_at(c, v->start_mark, "%s: %s", key, e.msg);
            else
                err_at(c, v->start_mark, "%s: bad cron expression \"%.*s\"", key, ECHO_MAX, s);
            return;
        }
        char *dup = strdup(s);
        if (dup == NULL) {
            md_cron_free(cron);
            c->oom = true;
            return;
        }
        free(*FIELD(base, spec->off, char *));
        md_cron_free(*FIELD(base, spec->off2, md_cron_t *));
        *FIELD(base, spec->off, char *) = dup;
        *FIELD(base, spec->off2, md_cron_t *) = cron;
        return;
    }

    case K_SECTION:
    case K_JOBS:
        break; /* handled by the walker */
    }
}

/* ---------------------------------------------------------------- walker */

static void walk_mapping(parse_ctx_t *c, const yaml_node_t *map, const key_spec_t *specs,
                         void *base, const char *prefix);

/* A later pair whose key equals an earlier one in the same mapping. */
static const yaml_node_t *find_earlier_key(parse_ctx_t *c, const yaml_node_t *map,
                                           const yaml_node_pair_t *pair, const char *ks) {
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
        const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE && strcmp(scalar(k), ks) == 0)
            return k;
    }
    return NULL;
}

/* Scalar key of a pair, or NULL after reporting why it is not usable. */
static const char *pair_key(parse_ctx_t *c, const yaml_node_t *map, const yaml_node_pair_t *pair,
                            const yaml_node_t *k, const char *prefix) {
    if (k->type != YAML_SCALAR_NODE) {
        err_at(c, k->start_mark, "%s%skeys must be plain names, got %s", prefix ? prefix : "",
               prefix ? ": " : "", node_kind(k));
        return NULL;
    }
    const char *ks = scalar(k);
    const yaml_node_t *first = find_earlier_key(c, map, pair, ks);
    if (first != NULL) {
        err_at(c, k->start_mark,
               "duplicate key \"%s%s%.*s\" (first defined at line %zu, column %zu)",
               prefix ? prefix : "", prefix ? "." : "", ECHO_MAX, ks, first->start_mark.line + 1,
               first->start_mark.column + 1);
        return NULL;
    }
    return ks;
}

static char *valid_names(const key_spec_t *specs, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (const key_spec_t *s = specs; s->name != NULL; s++) {
        int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", s->name);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

static void walk_jobs(parse_ctx_t *c, const yaml_node_t *map) {
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
         pair++) {
        const yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
        const yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);
        const char *ks = pair_key(c, map, pair, k, "jobs");
        if (ks == NULL)
            continue;
        int id = md_jobdef_find(ks);
        if (id < 0) {
            char valid[512];
            size_t used = 0;
            valid[0] = '\0';
            for (int i = 0; i < MD_JOB_COUNT; i++)
                used += (size_t)snprintf(valid + used, sizeof(valid) - used, "%s%s", i ? ", " : "",
                                         md_jobdef_get((md_job_id_t)i)->name);
            err_at(c, k->start_mark, "unknown job \"%.*s\" (valid jobs: %s)", ECHO_MAX, ks, valid);
            continue;
        }
        md_job_config_t *job = &c->cfg->jobs[id];
        char prefix[128];
        snprintf(prefix, sizeof(prefix), "jobs.%s", ks);
        if (v->type == YAML_MAPPING_NODE) {
            job->listed = true;
            walk_mapping(c, v, job_keys, job, prefix);
        } else if (is_null(v)) {
            job->listed = true; /* "clean_events:" alone keeps every default */
        } else {
            err_at(c, v->start_mark, "%s: expected a mapping of job settings, got %s", prefix,
                   node_kind(v));
        }
    }
}

static void walk_mapping(parse_ctx_t *c, const yaml_node_t *map, const key_spec_t *specs,
                         void *base, const char *prefix) {
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
         pair++) {
        const yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
        const yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);
        const char *ks = pair_key(c, map, pair, k, prefix);
        if (ks == NULL)
            continue;
        const key_spec_t *spec = specs;
        while (spec->name != NULL && strcmp(spec->name, ks) != 0)
            spec++;
        if (spec->name == NULL) {
            char valid[256];
            if (prefix != NULL)
                err_at(c, k->start_mark, "unknown key \"%.*s\" in %s (valid keys: %s)", ECHO_MAX,
                       ks, prefix, valid_names(specs, valid, sizeof(valid)));
            else
                err_at(c, k->start_mark, "unknown key \"%.*s\" (valid keys: %s)", ECHO_MAX, ks,
                       valid_names(specs, valid, sizeof(valid)));
            continue;
        }
        char key[160];
        snprintf(key, sizeof(key), "%s%s%s", prefix ? prefix : "", prefix ? "." : "", spec->name);

        if (spec->kind == K_SECTION || spec->kind == K_JOBS) {
            if (is_null(v))
                continue; /* an empty section keeps its defaults */
            if (v->type != YAML_MAPPING_NODE) {
                err_at(c, v->start_mark, "%s: expected a mapping, got %s", key, node_kind(v));
                continue;
            }
            if (spec->kind == K_JOBS)
                walk_jobs(c, v);
            else
                walk_mapping(c, v, spec->children, base, key);
            continue;
        }
        set_value(c, spec, key, k, v, base);
    }
}

/* The node at a dotted path of keys (first occurrence), for cross-key checks. */
static const yaml_node_t *lookup(yaml_document_t *doc, const yaml_node_t *n, const char *a,
                                 const char *b) {
    const char *path[2] = {a, b};
    for (int i = 0; i < 2 && n != NULL && path[i] != NULL; i++) {
        if (n->type != YAML_MAPPING_NODE)
            return NULL;
        const yaml_node_t *found = NULL;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            const yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (k->type == YAML_SCALAR_NODE && strcmp(scalar(k), path[i]) == 0) {
                found = yaml_document_get_node(doc, p->value);
                break;
            }
        }
        n = found;
    }
    return n;
}

/* ---------------------------------------------------------------- defaults */

static md_config_t *config_new_defaults(void) {
    md_config_t *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return NULL;
    cfg->pool_size = 4;
    cfg->log_level = MD_LOG_INFO;
    cfg->reporting_timezone = strdup("UTC");
    cfg->base_currency = strdup("USD");
    cfg->history_retention_ms = 14LL * 24 * 3600 * 1000;
    cfg->shutdown_grace_ms = 30LL * 1000;
    cfg->sessions_gap_ms = 30LL * 60 * 1000;
    cfg->sessions_max_length_ms = 24LL * 3600 * 1000;
    cfg->fraud_velocity_count = 5;
    cfg->fraud_velocity_window_ms = 10LL * 60 * 1000;
    cfg->fraud_velocity_add = 0.20;
    cfg->kpi_flat_band = 1.0;
    for (int i = 0; i < MD_JOB_COUNT; i++) {
        md_job_config_t *job = &cfg->jobs[i];
        job->def = md_jobdef_get((md_job_id_t)i);
        job->enabled = true;
        /* The session job re-reads each touched key's events around the
         * page, so bigger pages mean fewer re-reads of the same events on a
         * backlog (1M events: 56 s at 10000, 31 s at 50000). */
        job->batch_size = job->def->layer == MD_LAYER_SESSIONS ? 50000 : 10000;
        job->timeout_ms = (job->def->layer == MD_LAYER_GOLD ? 30LL : 5LL) * 60 * 1000;
        /* Two where pages may overlap: both cores of a small database server. */
        job->write_connections = job->def->max_write_connections > 1 ? 2 : 1;
        /* schedule/cron and timezone/tz stay NULL until the file has been read:
         * their defaults depend on it (gold zones follow reporting.timezone). */
    }
    if (cfg->reporting_timezone == NULL || cfg->base_currency == NULL) {
        md_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void md_config_free(md_config_t *cfg) {
    if (cfg == NULL)
        return;
    free(cfg->path);
    free(cfg->database_url);
    free(cfg->reporting_timezone);
    md_tz_free(cfg->reporting_tz);
    free(cfg->base_currency);
    for (int i = 0; i < MD_JOB_COUNT; i++) {
        free(cfg->jobs[i].schedule);
        md_cron_free(cfg->jobs[i].cron);
        free(cfg->jobs[i].timezone);
        md_tz_free(cfg->jobs[i].tz);
    }
    free(cfg);
}

/* Fill what the file left unset and whose default depends on other keys. */
static void resolve_defaults(parse_ctx_t *c) {
    md_config_t *cfg = c->cfg;
    md_error_t e = {0};
    if (cfg->reporting_tz == NULL &&
        md_tz_load(cfg->reporting_timezone, &cfg->reporting_tz, &e) < 0)
        err_nopos(c, "reporting.timezone: %s", e.msg);

    for (int i = 0; i < MD_JOB_COUNT; i++) {
        md_job_config_t *job = &cfg->jobs[i];
        if (job->schedule == NULL) {
            job->schedule = strdup(job->def->default_schedule);
            if (job->schedule == NULL) {
                c->oom = true;
                return;
            }
            md_error_clear(&e);
            if (md_cron_parse(job->schedule, &job->cron, &e) < 0)
                err_nopos(c, "jobs.%s.schedule: default schedule rejected: %s", job->def->name,
                          e.msg);
        }
        if (job->timezone == NULL) {
            const char *zone = job->def->layer == MD_LAYER_GOLD ? cfg->reporting_timezone : "UTC";
            job->timezone = strdup(zone);
            if (job->timezone == NULL) {
                c->oom = true;
                return;
            }
            /* A bad reporting.timezone was reported above; don't repeat it per job. */
            md_error_clear(&e);
            if (cfg->reporting_tz != NULL || job->def->layer != MD_LAYER_GOLD)
                if (md_tz_load(zone, &job->tz, &e) < 0)
                    err_nopos(c, "jobs.%s.timezone: %s", job->def->name, e.msg);
        }
    }
}

static void cross_checks(parse_ctx_t *c, const yaml_node_t *root) {
    md_config_t *cfg = c->cfg;
    for (int i = 0; i < MD_JOB_COUNT; i++) {
        const md_job_config_t *job = &cfg->jobs[i];
        if (job->write_connections <= job->def->max_write_connections)
            continue;
        const yaml_node_t *job_node = root ? lookup(c->doc, root, "jobs", job->def->name) : NULL;
        const yaml_node_t *at = lookup(c->doc, job_node, "write_connections", NULL);
        if (at != NULL)
            err_at(c, at->start_mark,
                   "jobs.%s.write_connections: %s writes its pages in order on one connection "
                   "(only clean_events can use more than 1)",
                   job->def->name, job->def->name);
        else
            err_nopos(c, "jobs.%s.write_connections: at most %d", job->def->name,
                      job->def->max_write_connections);
    }
    if (cfg->sessions_max_length_ms <= cfg->sessions_gap_ms) {
        char gap[32], max[32];
        md_duration_format(cfg->sessions_gap_ms, gap, sizeof(gap));
        md_duration_format(cfg->sessions_max_length_ms, max, sizeof(max));
        const yaml_node_t *at = root ? lookup(c->doc, root, "sessions", "max_length") : NULL;
        if (at == NULL)
            at = root ? lookup(c->doc, root, "sessions", "gap") : NULL;
        if (at != NULL)
            err_at(c, at->start_mark,
                   "sessions.max_length (%s) must be greater than sessions.gap (%s)", max, gap);
        else
            err_nopos(c, "sessions.max_length (%s) must be greater than sessions.gap (%s)", max,
                      gap);
    }
}

/* The environment wins over the file for the URL (product.md §1). */
static void apply_database_env(parse_ctx_t *c) {
    md_config_t *cfg = c->cfg;
    const char *env = getenv("MEDALLION_DATABASE_URL");
    if (env != NULL && env[0] != '\0') {
        replace_str(&cfg->database_url, env, c);
        cfg->database_url_source = "MEDALLION_DATABASE_URL";
        return;
    }
    if (cfg->database_url != NULL) {
        cfg->database_url_source = "config";
        return;
    }
    env = getenv("POSTGRES_URL");
    if (env != NULL && env[0] != '\0') {
        replace_str(&cfg->database_url, env, c);
        cfg->database_url_source = "POSTGRES_URL";
        return;
    }
    cfg->database_url_source = NULL;
}

/* A URL libpq cannot parse is a config error here, not an endless "database
 * unreachable" later. The message never shows the URL itself. */
static void check_database_url(parse_ctx_t *c, const yaml_node_t *root) {
    const md_config_t *cfg = c->cfg;
    char why[300];
    if (cfg->database_url == NULL || !md_conninfo_parse_error(cfg->database_url, why, sizeof(why)))
        return;
    const yaml_node_t *at = NULL;
    if (strcmp(cfg->database_url_source, "config") == 0 && root != NULL)
        at = lookup(c->doc, root, "database", "url");
    if (at != NULL)
        err_at(c, at->start_mark, "database.url cannot be parsed: %s", why);
    else
        err_nopos(c, "the database URL from %s cannot be parsed: %s", cfg->database_url_source,
                  why);
}

/* Line and column (1-based) of a byte offset, for reader errors that carry no mark. */
static void offset_position(const char *buf, size_t len, size_t offset, size_t *line, size_t *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (buf[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static void report_parser_error(parse_ctx_t *c, yaml_parser_t *p, const char *buf, size_t len) {
    const char *problem = p->problem ? p->problem : "unknown problem";
    if (p->error == YAML_READER_ERROR) {
        size_t line, col;
        offset_position(buf, len, p->problem_offset, &line, &col);
        err_at(c, (yaml_mark_t){.line = line - 1, .column = col - 1}, "YAML syntax error: %s",
               problem);
        return;
    }
    if (p->error == YAML_MEMORY_ERROR) {
        c->oom = true;
        return;
    }
    size_t at = p->problem_mark.index;
    if (at < len && buf[at] == '\t')
        err_at(c, p->problem_mark, "YAML syntax error: a tab character; indent with spaces");
    else if (p->context != NULL)
        err_at(c, p->problem_mark, "YAML syntax error: %s (%s at line %zu, column %zu)", problem,
               p->context, p->context_mark.line + 1, p->context_mark.column + 1);
    else
        err_at(c, p->problem_mark, "YAML syntax error: %s", problem);
}

/* name: used in positions; path: stored in cfg->path (NULL for defaults). */
static int load_buffer(const char *name, const char *path, const char *buf, size_t len,
                       md_config_t **ret_cfg, md_config_errors_t *ret_errs) {
    parse_ctx_t c = {.name = name};
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    const yaml_node_t *root = NULL;

    c.cfg = config_new_defaults();
    if (c.cfg == NULL)
        return -ENOMEM;
    if (path != NULL && (c.cfg->path = strdup(path)) == NULL) {
        md_config_free(c.cfg);
        return -ENOMEM;
    }

    if (!yaml_parser_initialize(&parser)) {
        md_config_free(c.cfg);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        report_parser_error(&c, &parser, buf, len);
    } else {
        have_doc = true;
        c.doc = &doc;
        root = yaml_document_get_root_node(&doc);
        bool empty = root == NULL;
        if (root != NULL && is_null(root)) {
            root = NULL; /* "---" alone or "~": all defaults */
        } else if (root != NULL && root->type != YAML_MAPPING_NODE) {
            err_at(&c, root->start_mark, "the top level must be a mapping of keys, got %s",
                   node_kind(root));
            root = NULL;
        }
        if (root != NULL)
            walk_mapping(&c, root, root_keys, c.cfg, NULL);
        if (!empty) {
            /* One file, one document: a second one would silently be ignored. */
            yaml_document_t extra;
            if (!yaml_parser_load(&parser, &extra)) {
                report_parser_error(&c, &parser, buf, len);
            } else {
                const yaml_node_t *xroot = yaml_document_get_root_node(&extra);
                if (xroot != NULL)
                    err_at(&c, xroot->start_mark,
                           "a second YAML document is not allowed (one file, one document)");
                yaml_document_delete(&extra);
            }
        }
    }
    yaml_parser_delete(&parser);

    if (!c.oom) {
        resolve_defaults(&c);
        cross_checks(&c, root);
        apply_database_env(&c);
        check_database_url(&c, root);
    }
    if (have_doc)
        yaml_document_delete(&doc);
    if (!c.oom)
        sort_errors(&c);
    free(c.err_pos);

    if (c.oom) {
        md_config_errors_clear(&c.errs);
        md_config_free(c.cfg);
        return -ENOMEM;
    }
    if (c.errs.count > 0) {
        md_config_free(c.cfg);
        if (ret_errs == NULL) {
            md_config_errors_clear(&c.errs);
            return -EINVAL;
        }
        return errors_move(ret_errs, &c.errs) < 0 ? -ENOMEM : -EINVAL;
    }
    *ret_cfg = c.cfg;
    return 0;
}

/* ---------------------------------------------------------------- public API */

const char *md_config_path(const char *cli_path, bool *ret_explicit) {
    const char *env = getenv("MEDALLIOND_CONFIG");
    const char *path = MD_CONFIG_DEFAULT_PATH;
    bool explicit_path = true;
    if (cli_path != NULL && cli_path[0] != '\0')
        path = cli_path;
    else if (env != NULL && env[0] != '\0')
        path = env;
    else
        explicit_path = false;
    if (ret_explicit != NULL)
        *ret_explicit = explicit_path;
    return path;
}

/* systemd credentials: with LoadCredential=pgpass:/etc/medalliond/pgpass the
 * password file shows up as $CREDENTIALS_DIRECTORY/pgpass, readable only by
 * the service. libpq reads PGPASSFILE, so point it there unless the operator
 * already chose a file. This is the one place the config touches the
 * environment, and it only ever adds PGPASSFILE. */
int md_config_use_credential_pgpass(void) {
    const char *cur = getenv("PGPASSFILE");
    if (cur != NULL && cur[0] != '\0')
        return 0;
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    if (dir == NULL || dir[0] == '\0')
        return 0;
    char file[4096];
    int n = snprintf(file, sizeof(file), "%s/pgpass", dir);
    if (n < 0 || (size_t)n >= sizeof(file))
        return -ENAMETOOLONG;
    if (access(file, R_OK) != 0)
        return 0;
    if (setenv("PGPASSFILE", file, 1) != 0)
        return -errno;
    return 1;
}

static int read_file(const char *path, char **ret_buf, size_t *ret_len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -errno;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = -errno;
        fclose(f);
        return e;
    }
    if (S_ISDIR(st.st_mode)) {
        fclose(f);
        return -EISDIR;
    }
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        fclose(f);
        return -ENOMEM;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= MAX_CONFIG_BYTES) {
                free(buf);
                fclose(f);
                return -EFBIG;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                int e = errno ? -errno : -EIO;
                free(buf);
                fclose(f);
                return e;
            }
            break;
        }
    }
    fclose(f);
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

static int report_io_error(const char *path, const char *what, int code,
                           md_config_errors_t *ret_errs) {
    char *msg = NULL;
    if (ret_errs == NULL)
        return code;
    if (asprintf(&msg, "%s: %s: %s", path, what, strerror(-code)) < 0)
        return -ENOMEM;
    return errors_push(ret_errs, msg) < 0 ? -ENOMEM : code;
}

int md_config_load(const char *path, bool must_exist, md_config_t **ret_cfg,
                   md_config_errors_t *ret_errs) {
    if (path == NULL)
        path = md_config_path(NULL, NULL);
    /* Done here so every command that loads the config gets it; the result
     * (set or not) needs no reporting: libpq simply finds no password. */
    (void)md_config_use_credential_pgpass();

    char *buf = NULL;
    size_t len = 0;
    int r = read_file(path, &buf, &len);
    if (r == -ENOENT && !must_exist)
        return load_buffer(path, NULL, "", 0, ret_cfg, ret_errs);
    if (r == -EFBIG)
        return report_io_error(path, "cannot read (larger than 16 MiB)", r, ret_errs);
    if (r < 0)
        return report_io_error(path, "cannot read", r, ret_errs);
    r = load_buffer(path, path, buf, len, ret_cfg, ret_errs);
    free(buf);
    return r;
}

int md_config_load_string(const char *name, const char *yaml, md_config_t **ret_cfg,
                          md_config_errors_t *ret_errs) {
    if (yaml == NULL)
        yaml = "";
    return load_buffer(name ? name : "<string>", name, yaml, strlen(yaml), ret_cfg, ret_errs);
}

static bool str_differs(const char *a, const char *b) {
    if (a == NULL || b == NULL)
        return a != b;
    return strcmp(a, b) != 0;
}

int md_config_frozen_changes(const md_config_t *old_cfg, const md_config_t *new_cfg, char *buf,
                             size_t len) {
    const char *changed[4];
    int count = 0;
    if (str_differs(old_cfg->database_url, new_cfg->database_url))
        changed[count++] = "database.url";
    if (old_cfg->pool_size != new_cfg->pool_size)
        changed[count++] = "database.pool_size";
    if (str_differs(old_cfg->reporting_timezone, new_cfg->reporting_timezone))
        changed[count++] = "reporting.timezone";
    if (str_differs(old_cfg->base_currency, new_cfg->base_currency))
        changed[count++] = "reporting.base_currency";

    if (buf != NULL && len > 0) {
        size_t used = 0;
        buf[0] = '\0';
        for (int i = 0; i < count; i++) {
            int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", changed[i]);
            if (n < 0 || (size_t)n >= len - used)
                break; /* truncated; snprintf kept it terminated */
            used += (size_t)n;
        }
    }
    return count;
}
