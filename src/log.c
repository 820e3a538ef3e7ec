/* Logging to journald (structured fields) or stderr (one readable line).
 * The only process-wide mutable state of the daemon lives here: level and sink.
 * Must never format a line below the level, and never print a password. */
#include "medallion/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

static md_log_level_t log_level = MD_LOG_INFO;
static bool log_to_journal = false;

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected to stderr;
 * only when it matches our actual stderr do we talk to journald directly. */
static bool stderr_is_journal(void) {
    const char *js = getenv("JOURNAL_STREAM");
    if (js == NULL)
        return false;
    unsigned long long dev, ino;
    if (sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return false;
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0)
        return false;
    return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void md_log_init(void) {
    log_to_journal = stderr_is_journal();
}

void md_log_set_level(md_log_level_t level) {
    log_level = level;
}

md_log_level_t md_log_get_level(void) {
    return log_level;
}

bool md_log_enabled(md_log_level_t level) {
    return level <= log_level;
}

int md_log_level_parse(const char *s, md_log_level_t *ret) {
    static const struct {
        const char *name;
        md_log_level_t level;
    } names[] = {{"err", MD_LOG_ERR},      {"error", MD_LOG_ERR}, {"warn", MD_LOG_WARN},
                 {"warning", MD_LOG_WARN}, {"info", MD_LOG_INFO}, {"debug", MD_LOG_DEBUG}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *ret = names[i].level;
            return 0;
        }
    return -EINVAL;
}

/* Not isspace(): the locale must not decide what a line break is. */
static bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

char *md_log_oneline(char *s) {
    char *w = s;
    for (const char *r = s; *r != '\0';) {
        if (!is_blank(*r)) {
            *w++ = *r++;
            continue;
        }
        const char *run = r;
        bool breaks = false;
        for (; is_blank(*r); r++)
            if (*r != ' ')
                breaks = true;
        if (*r == '\0')
            break; /* trailing whitespace is cut */
        if (!breaks)
            while (run < r)
                *w++ = *run++;
        else if (w != s) /* a leading break is cut */
            *w++ = ' ';
    }
    *w = '\0';
    return s;
}

static const char *level_name(md_log_level_t level) {
    switch (level) {
    case MD_LOG_ERR:
        return "error";
    case MD_LOG_WARN:
        return "warning";
    case MD_LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

static _Thread_local md_log_ctx_t scope;
static _Thread_local bool scoped;

void md_log_set_scope(const md_log_ctx_t *ctx) {
    scoped = ctx != NULL;
    if (ctx != NULL)
        scope = *ctx;
}

bool md_log_get_scope(md_log_ctx_t *ret) {
    if (scoped)
        *ret = scope;
    return scoped;
}

void md_log_write(md_log_level_t level, const md_log_ctx_t *ctx, const char *fmt, ...) {
    int saved_errno = errno;
    if (ctx == NULL && scoped)
        ctx = &scope;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One event, one line: a message carrying another program's text (libpq,
     * the server) must not split into lines that lack timestamp and level. */
    md_log_oneline(msg);

    if (log_to_journal) {
        char fjob[160] = "", frun[48] = "", frows[48] = "", fdur[48] = "";
        struct iovec iov[6];
        int n = 0;
        char fmsg[4200], fprio[16];
        int ml = snprintf(fmsg, sizeof(fmsg), "MESSAGE=%s", msg);
        iov[n++] =
            (struct iovec){fmsg, (size_t)(ml < (int)sizeof(fmsg) ? ml : (int)sizeof(fmsg) - 1)};
        int pl = snprintf(fprio, sizeof(fprio), "PRIORITY=%d", (int)level);
        iov[n++] = (struct iovec){fprio, (size_t)pl};
        if (ctx != NULL && ctx->job != NULL) {
            int l = snprintf(fjob, sizeof(fjob), "JOB=%s", ctx->job);
            iov[n++] = (struct iovec){fjob, (size_t)l};
        }
        if (ctx != NULL && ctx->run_id >= 0) {
            int l = snprintf(frun, sizeof(frun), "RUN_ID=%lld", (long long)ctx->run_id);
            iov[n++] = (struct iovec){frun, (size_t)l};
        }
        if (ctx != NULL && ctx->rows >= 0) {
            int l = snprintf(frows, sizeof(frows), "ROWS=%lld", (long long)ctx->rows);
            iov[n++] = (struct iovec){frows, (size_t)l};
        }
        if (ctx != NULL && ctx->duration_ms >= 0) {
            int l = snprintf(fdur, sizeof(fdur), "DURATION_MS=%lld", (long long)ctx->duration_ms);
            iov[n++] = (struct iovec){fdur, (size_t)l};
        }
        if (sd_journal_sendv(iov, n) >= 0) {
            errno = saved_errno;
            return;
        }
        /* journald unreachable: fall through to stderr so nothing is lost */
    }

    char stamp[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    char extra[256] = "";
    if (ctx != NULL) {
        size_t o = 0;
        if (ctx->job != NULL)
            o += (size_t)snprintf(extra + o, sizeof(extra) - o, " job=%s", ctx->job);
        if (ctx->run_id >= 0 && o < sizeof(extra))
            o +=
                (size_t)snprintf(extra + o, sizeof(extra) - o, " run=%lld", (long long)ctx->run_id);
        if (ctx->rows >= 0 && o < sizeof(extra))
            o += (size_t)snprintf(extra + o, sizeof(extra) - o, " rows=%lld", (long long)ctx->rows);
        if (ctx->duration_ms >= 0 && o < sizeof(extra))
            snprintf(extra + o, sizeof(extra) - o, " duration_ms=%lld",
                     (long long)ctx->duration_ms);
    }
    fprintf(stderr, "%s medalliond[%d] %s:%s %s\n", stamp, (int)getpid(), level_name(level), extra,
            msg);
    errno = saved_errno;
}
