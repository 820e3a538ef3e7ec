/* libpq conveniences: connection with our application name, statement helpers,
 * SQLSTATE-aware one-line errors. Logs only the server's notices (callers log
 * errors) and never echoes a password. */
#include "medallion/pg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "medallion/conninfo.h"

md_log_level_t md_pg_notice_level(const char *severity) {
    static const char *const quiet[] = {"NOTICE", "INFO", "LOG", "DEBUG"};
    if (severity != NULL)
        for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
            if (strcmp(severity, quiet[i]) == 0)
                return MD_LOG_DEBUG;
    return MD_LOG_WARN;
}

/* Replaces libpq's default, which prints the server's text raw on stderr,
 * several lines per notice. Also receives the FATAL an idle connection gets
 * before the server closes it (administrator command, idle-session timeout). */
static void notice_receiver(void *arg, const PGresult *res) {
    (void)arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (sev == NULL) /* a server older than 9.6 */
        sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
    md_log_level_t level = md_pg_notice_level(sev);
    if (!md_log_enabled(level))
        return;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
    char line[2048];
    if (primary == NULL) { /* no fields: libpq's own text, which starts with the severity */
        snprintf(line, sizeof(line), "PostgreSQL %s", PQresultErrorMessage(res));
    } else {
        int l = snprintf(line, sizeof(line), "PostgreSQL %s: %s%s%s%s", sev ? sev : "NOTICE",
                         state ? "[" : "", state ? state : "", state ? "] " : "", primary);
        if (detail != NULL && l >= 0 && (size_t)l < sizeof(line))
            l += snprintf(line + l, sizeof(line) - (size_t)l, " (%s)", detail);
        if (hint != NULL && l >= 0 && (size_t)l < sizeof(line))
            snprintf(line + l, sizeof(line) - (size_t)l, " hint: %s", hint);
    }
    md_log_write(level, NULL, "%s", md_log_oneline(line));
}

bool md_pg_conn_alive(PGconn *c) {
    if (c == NULL || PQstatus(c) != CONNECTION_OK)
        return false;
    /* A backend that ended on its own (idle_session_timeout, a terminate,
     * a shutdown) leaves a FATAL message and then end-of-file in the socket:
     * one PQconsumeInput reads the message, only the next one sees the EOF.
     * So read for as long as something is waiting. */
    for (int i = 0; i < 8; i++) {
        struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
        if (p.fd < 0)
            return false;
        int r = poll(&p, 1, 0);
        if (r == 0)
            break;
        if (r < 0 || PQconsumeInput(c) == 0 || PQstatus(c) != CONNECTION_OK)
            return false;
    }
    return true;
}

int md_pg_connect(const char *conninfo, PGconn **ret_conn, md_error_t *ret_err) {
    if (conninfo == NULL || conninfo[0] == '\0')
        return md_error_set(ret_err, -EINVAL,
                            "no database URL: set database.url in the config, "
                            "MEDALLION_DATABASE_URL or POSTGRES_URL");
    /* A string libpq cannot parse is reported without its quoted fragments:
     * any of them may be part of the password. */
    char where[400], msg[600];
    md_conninfo_redact(conninfo, where, sizeof(where));
    if (md_conninfo_parse_error(conninfo, msg, sizeof(msg))) {
        md_log_oneline(msg);
        return md_error_set(ret_err, -EINVAL, "the database URL (%s) cannot be parsed: %s", where,
                            msg);
    }
    /* expand_dbname lets conninfo be a URI or key=value string; our
     * application_name comes after it so that it wins unless the user set one. */
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {conninfo, "medalliond", "10", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL)
        return md_error_set(ret_err, -ENOMEM, "out of memory connecting to PostgreSQL");
    if (PQstatus(conn) != CONNECTION_OK) {
        /* libpq's message quotes pieces of the conninfo (a host, a bad port):
         * the ones that may be a password are masked. */
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
        PQfinish(conn);
        md_conninfo_scrub(conninfo, msg, sizeof(msg));
        /* "server closed the connection unexpectedly\n\tThis probably means..."
         * as one line; after scrubbing, which matches secrets as written. */
        md_log_oneline(msg);
        int rc = md_error_set(ret_err, -ECONNREFUSED, "cannot connect to PostgreSQL (%s): %s",
                              where, msg);
        if (ret_err != NULL)
            memcpy(ret_err->sqlstate, "08001", 6);
        return rc;
    }
    PQsetNoticeReceiver(conn, notice_receiver, NULL);
    *ret_conn = conn;
    return 0;
}

int md_pg_error(PGconn *conn, const PGresult *res, const char *what, md_error_t *err) {
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *text = primary ? primary : (conn ? PQerrorMessage(conn) : "unknown error");
    char clean[700];
    snprintf(clean, sizeof(clean), "%s", text);
    md_log_oneline(clean); /* PQerrorMessage: "...unexpectedly\n\tThis probably means..." */
    int rc = md_error_set(err, -EIO, "%s: %s%s%s%s%s", what, state ? "[" : "", state ? state : "",
                          state ? "] " : "", clean, detail ? "" : "");
    if (err != NULL) {
        if (state != NULL)
            snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state);
        else if (conn != NULL && PQstatus(conn) != CONNECTION_OK)
            memcpy(err->sqlstate, "08006", 6);
        else
            err->sqlstate[0] = '\0';
        if (detail != NULL) {
            size_t ml = strlen(err->msg);
            snprintf(err->msg + ml, sizeof(err->msg) - ml, " (%s)", detail);
            md_log_oneline(err->msg); /* a DETAIL may span lines */
        }
    }
    return rc;
}

int md_pg_exec(PGconn *conn, const char *sql, md_error_t *ret_err) {
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        md_pg_error(conn, res, "query failed", ret_err);
        PQclear(res);
        return ret_err ? ret_err->code : -EIO;
    }
    PQclear(res);
    return 0;
}

PGresult *md_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      md_error_t *ret_err) {
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        md_pg_error(conn, res, "query failed", ret_err);
        PQclear(res);
        return NULL;
    }
    return res;
}

bool md_pg_is_connection_error(PGconn *conn, const md_error_t *err) {
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
        return true;
    if (err != NULL && strncmp(err->sqlstate, "08", 2) == 0)
        return true;
    /* admin shutdown / crash shutdown / cannot connect now */
    if (err != NULL && (strcmp(err->sqlstate, "57P01") == 0 ||
                        strcmp(err->sqlstate, "57P02") == 0 || strcmp(err->sqlstate, "57P03") == 0))
        return true;
    return false;
}
