/* Error details for calls whose caller needs more than an errno-style code:
 * a PostgreSQL SQLSTATE, a config file position, a human message.
 * Functions still return 0 or a negative errno code; this only carries text. */
#ifndef MEDALLION_ERROR_H
#define MEDALLION_ERROR_H

#include <stdarg.h>

#if defined(__GNUC__)
#define MD_MUST_CHECK __attribute__((warn_unused_result))
#define MD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MD_MUST_CHECK
#define MD_PRINTF(a, b)
#endif

typedef struct md_error {
    int code;         /* negative errno-style code, 0 when unset */
    char sqlstate[6]; /* PostgreSQL SQLSTATE, "" when not from the server */
    int line;         /* 1-based position in a config file, 0 when none */
    int col;
    char msg[1024];
} md_error_t;

/* Fill err (if not NULL) and return code, so callers can `return md_error_set(...)`. */
int md_error_set(md_error_t *err, int code, const char *fmt, ...) MD_PRINTF(3, 4);
int md_error_setv(md_error_t *err, int code, const char *fmt, va_list ap);
void md_error_clear(md_error_t *err);

#endif
