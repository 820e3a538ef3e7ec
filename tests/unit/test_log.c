/* log.c and pg.c's one-line rule: text from libpq or the server (line breaks,
 * tabs) becomes one line, a logged event is one stderr line, server notices get
 * their level from the severity, and a failed connect's message is one line
 * with the password still masked. No database: the connect goes nowhere. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "medallion/log.h"
#include "medallion/pg.h"

static const struct {
    const char *in, *want;
} oneline_cases[] = {
    {"", ""},
    {"plain", "plain"},
    {"trailing newline\n", "trailing newline"},
    {"trailing mix \n\t \n", "trailing mix"},
    {"server closed the connection unexpectedly\n\tThis probably means the server terminated "
     "abnormally\n\tbefore or while processing the request.\n",
     "server closed the connection unexpectedly This probably means the server terminated "
     "abnormally before or while processing the request."},
    {"a\r\nb", "a b"},
    {"a\tb", "a b"},
    {"a \n b", "a b"},
    {"a\v\fb", "a b"},
    {"NOTICE:  two spaces kept", "NOTICE:  two spaces kept"},
    {"\n\tleading break cut", "leading break cut"},
    {"  leading spaces kept", "  leading spaces kept"},
    {"\n", ""},
    {" \t ", ""},
    {"x\n\n\ny", "x y"},
    {"caf\xc3\xa9\n\xc2\xa0z", "caf\xc3\xa9 \xc2\xa0z"}, /* bytes >= 0x80 untouched */
};

static void test_oneline(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(oneline_cases) / sizeof(oneline_cases[0]); i++) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", oneline_cases[i].in);
        char *r = md_log_oneline(buf);
        assert_ptr_equal(r, buf);
        if (strcmp(buf, oneline_cases[i].want) != 0)
            fail_msg("oneline %zu: gave \"%s\", want \"%s\"", i, buf, oneline_cases[i].want);
    }
}

static const struct {
    const char *severity;
    md_log_level_t want;
} notice_cases[] = {
    {"PANIC", MD_LOG_WARN},   {"FATAL", MD_LOG_WARN},   {"ERROR", MD_LOG_WARN},
    {"WARNING", MD_LOG_WARN}, {"NOTICE", MD_LOG_DEBUG}, {"INFO", MD_LOG_DEBUG},
    {"LOG", MD_LOG_DEBUG},    {"DEBUG", MD_LOG_DEBUG},  {NULL, MD_LOG_WARN},
    {"HINWEIS", MD_LOG_WARN}, /* localized, unknown: shown rather than hidden */
};

static void test_notice_level(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(notice_cases) / sizeof(notice_cases[0]); i++)
        if (md_pg_notice_level(notice_cases[i].severity) != notice_cases[i].want)
            fail_msg("notice level %zu (%s): gave %d, want %d", i,
                     notice_cases[i].severity ? notice_cases[i].severity : "NULL",
                     (int)md_pg_notice_level(notice_cases[i].severity), (int)notice_cases[i].want);
}

/* md_log_write with stderr redirected to a temporary file; returns its text. */
static void capture_ctx(char *out, size_t cap, const md_log_ctx_t *ctx, const char *msg) {
    char path[] = "/tmp/md_test_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    md_log_write(MD_LOG_WARN, ctx, "query failed: %s", msg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, out, cap - 1, 0);
    close(fd);
    assert_true(n > 0);
    out[n] = '\0';
}

static void capture_log(char *out, size_t cap, const char *msg) {
    md_log_ctx_t ctx = {.job = "validate_events", .run_id = 7, .rows = -1, .duration_ms = -1};
    capture_ctx(out, cap, &ctx, msg);
}

/* A run's scope: lines without a context (a server notice) carry its job and
 * run; a line with its own context keeps it; after the run, none. */
static void test_scope(void **state) {
    (void)state;
    char text[1024];
    md_log_set_scope(&(md_log_ctx_t){"clean_events", 42, -1, -1});
    capture_ctx(text, sizeof(text), NULL, "a notice");
    assert_non_null(strstr(text, " warning: job=clean_events run=42 query failed: a notice\n"));
    capture_ctx(text, sizeof(text), &(md_log_ctx_t){"clean_api_logs", 9, 100, 5}, "own");
    assert_non_null(strstr(
        text, " warning: job=clean_api_logs run=9 rows=100 duration_ms=5 query failed: own"));
    md_log_set_scope(NULL);
    capture_ctx(text, sizeof(text), NULL, "after");
    assert_non_null(strstr(text, " warning: query failed: after\n"));
}

static void test_log_line_is_one_line(void **state) {
    (void)state;
    char text[1024];
    capture_log(text, sizeof(text),
                "server closed the connection unexpectedly\n\tThis probably means...\n");
    size_t len = strlen(text);
    assert_true(len > 0 && text[len - 1] == '\n');
    assert_null(memchr(text, '\n', len - 1));
    assert_null(strchr(text, '\t'));
    assert_non_null(strstr(text, " warning: job=validate_events run=7 query failed: server closed "
                                 "the connection unexpectedly This probably means...\n"));
}

/* Nothing listens on this socket: libpq's message ("connection to server on
 * socket ... failed: No such file or directory\n\tIs the server running...")
 * has a line break and quotes the socket path, which here holds the password. */
static void test_connect_error_one_line_scrubbed(void **state) {
    (void)state;
    PGconn *conn = NULL;
    md_error_t err = {0};
    int rc = md_pg_connect("host=/nonexistent/S3cr3tPw port=1 user=u password=S3cr3tPw "
                           "connect_timeout=2",
                           &conn, &err);
    assert_int_equal(rc, -ECONNREFUSED);
    assert_null(conn);
    assert_string_equal(err.sqlstate, "08001");
    assert_null(strchr(err.msg, '\n'));
    assert_null(strchr(err.msg, '\t'));
    assert_non_null(strstr(err.msg, "cannot connect to PostgreSQL ("));
    /* libpq's part (after the redacted conninfo, which names the host as given) */
    const char *libpq = strstr(err.msg, "): connection to server on socket \"***\" failed: ");
    assert_non_null(libpq);
    assert_null(strstr(libpq, "3cr"));
    assert_non_null(strstr(libpq, "No such file or directory Is the server running"));
}

/* md_pg_error on a connection that never came up: PQerrorMessage's lines. */
static void test_pg_error_one_line(void **state) {
    (void)state;
    PGconn *conn = PQconnectdb("host=/nonexistent port=1 connect_timeout=2");
    assert_non_null(conn);
    assert_int_not_equal(PQstatus(conn), CONNECTION_OK);
    md_error_t err = {0};
    assert_int_equal(md_pg_error(conn, NULL, "query failed", &err), -EIO);
    PQfinish(conn);
    assert_string_equal(err.sqlstate, "08006");
    assert_null(strchr(err.msg, '\n'));
    assert_null(strchr(err.msg, '\t'));
    assert_true(strncmp(err.msg, "query failed: connection to server on socket", 44) == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oneline),
        cmocka_unit_test(test_notice_level),
        cmocka_unit_test(test_log_line_is_one_line),
        cmocka_unit_test(test_scope),
        cmocka_unit_test(test_connect_error_one_line_scrubbed),
        cmocka_unit_test(test_pg_error_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
