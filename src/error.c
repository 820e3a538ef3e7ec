/* md_error_t helpers. Never allocates: messages are truncated to fit. */
#include "medallion/error.h"

#include <stdio.h>
#include <string.h>

int md_error_setv(md_error_t *err, int code, const char *fmt, va_list ap) {
    if (err == NULL)
        return code;
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return code;
}

int md_error_set(md_error_t *err, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    md_error_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void md_error_clear(md_error_t *err) {
    if (err != NULL)
        memset(err, 0, sizeof(*err));
}
