/* One logging family for the whole daemon: journald with structured fields when
 * stderr is the journal (JOURNAL_STREAM), one readable line on stderr otherwise.
 * The level and sink are the only process-wide mutable state. Never log secrets. */
#ifndef MEDALLION_LOG_H
#define MEDALLION_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "medallion/error.h"

typedef enum md_log_level {
    MD_LOG_ERR = 3, /* syslog priorities, as journald wants them */
    MD_LOG_WARN = 4,
    MD_LOG_INFO = 6,
    MD_LOG_DEBUG = 7,
} md_log_level_t;

/* Structured context of a job-related line; any field may be empty/negative. */
typedef struct md_log_ctx {
    const char *job;     /* JOB= */
    int64_t run_id;      /* RUN_ID=, < 0 when none */
    int64_t rows;        /* ROWS=, < 0 when none */
    int64_t duration_ms; /* DURATION_MS=, < 0 when none */
} md_log_ctx_t;

void md_log_init(void); /* decides journald vs stderr from JOURNAL_STREAM */
void md_log_set_level(md_log_level_t level);
md_log_level_t md_log_get_level(void);
int md_log_level_parse(const char *s, md_log_level_t *ret);
bool md_log_enabled(md_log_level_t level);

/* Rewrites s in place as a single line: trailing whitespace is cut, and every
 * run of whitespace holding a newline, carriage return, tab, \v or \f becomes
 * one space (cut at the very start); runs of plain spaces are kept. For text
 * from elsewhere (libpq, the server) that must stay one event per line on
 * stderr. Returns s. */
char *md_log_oneline(char *s);

/* A line logged without a context of its own takes ctx's fields: libpq's
 * notices during a run, for one, then carry the run's JOB= and RUN_ID=. One
 * scope per thread (a run does all its work on one); ctx is copied, its job
 * string must outlive the scope. NULL ends it. */
void md_log_set_scope(const md_log_ctx_t *ctx);
/* This thread's scope into *ret (for a helper thread to take on); false when none. */
bool md_log_get_scope(md_log_ctx_t *ret);

void md_log_write(md_log_level_t level, const md_log_ctx_t *ctx, const char *fmt, ...)
    MD_PRINTF(3, 4);

#define md_log_at(lvl, ...)                                                                        \
    do {                                                                                           \
        if (md_log_enabled(lvl))                                                                   \
            md_log_write(lvl, NULL, __VA_ARGS__);                                                  \
    } while (0)
#define md_log_err(...) md_log_at(MD_LOG_ERR, __VA_ARGS__)
#define md_log_warn(...) md_log_at(MD_LOG_WARN, __VA_ARGS__)
#define md_log_info(...) md_log_at(MD_LOG_INFO, __VA_ARGS__)
#define md_log_debug(...) md_log_at(MD_LOG_DEBUG, __VA_ARGS__)

/* Job-scoped line with structured fields. */
#define md_log_job(lvl, ctx, ...)                                                                  \
    do {                                                                                           \
        if (md_log_enabled(lvl))                                                                   \
            md_log_write(lvl, ctx, __VA_ARGS__);                                                   \
    } while (0)

#endif
