/* libpq conveniences: connection with our application name, statement helpers,
 * SQLSTATE-aware errors. Never logs (callers do) and never echoes a password. */
#include "medallion/pg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "medallion/conninfo.h"

static void trim_end(char *s) {
    size_t l = strlen(s);
    while (l > 0 && (s[l - 1] == '\n' || s[l - 1] == ' '))
        s[--l] = '\0';
}

int md_pg_connect(const char *conninfo, PGconn **ret_conn, md_error_t *ret_err) {
    if (conninfo == NULL || conninfo[0] == '\0')
        return md_error_set(ret_err, -EINVAL,
                            "no database URL: set database.url in the config, "
                            "MEDALLION_DATABASE_URL or POSTGRES_URL");
    /* A string libpq cannot parse is reported without its quoted fragments:
     * any of them may be part of the password. */
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    char where[400], msg[600];
    md_conninfo_redact(conninfo, where, sizeof(where));
    if (opts == NULL) {
        snprintf(msg, sizeof(msg), "%s", perr ? perr : "out of memory");
        PQfreemem(perr);
        trim_end(msg);
        md_conninfo_scrub(conninfo, msg, sizeof(msg));
        md_conninfo_scrub_quoted(msg, sizeof(msg));
        return md_error_set(ret_err, -EINVAL, "the database URL (%s) cannot be parsed: %s", where,
                            msg);
    }
    PQconninfoFree(opts);
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
        trim_end(msg);
        md_conninfo_scrub(conninfo, msg, sizeof(msg));
        int rc = md_error_set(ret_err, -ECONNREFUSED, "cannot connect to PostgreSQL (%s): %s",
                              where, msg);
        if (ret_err != NULL)
            memcpy(ret_err->sqlstate, "08001", 6);
        return rc;
    }
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
    size_t l = strlen(clean);
    while (l > 0 && (clean[l - 1] == '\n' || clean[l - 1] == ' '))
        clean[--l] = '\0';
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
