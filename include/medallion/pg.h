/* Thin helpers over libpq shared by every module that talks to PostgreSQL:
 * connect with our application_name, run a statement, turn a failed result into
 * an md_error_t (SQLSTATE + message, one line). Logs nothing of its own but the
 * server's notices, which libpq would otherwise print raw on stderr; never
 * prints a conninfo. */
#ifndef MEDALLION_PG_H
#define MEDALLION_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "medallion/error.h"
#include "medallion/log.h"

/* Whether the server still holds this idle connection, without a round trip:
 * reads whatever is waiting on its socket (a FATAL, end-of-file). For the
 * thread using the connection. */
bool md_pg_conn_alive(PGconn *c);

/* Connect (blocking) to a conninfo string or URI with application_name=medalliond.
 * The error message names the target by its redacted URL, never the password. Notices and
 * warnings the server sends on the connection afterwards (including the FATAL
 * that precedes an administrator's or an idle timeout's disconnect) go to the
 * log as one line, at md_pg_notice_level(). */
int md_pg_connect(const char *conninfo, PGconn **ret_conn, md_error_t *ret_err) MD_MUST_CHECK;

/* Run a command with no result rows (or whose rows are ignored). */
int md_pg_exec(PGconn *conn, const char *sql, md_error_t *ret_err) MD_MUST_CHECK;

/* Run a parameterized statement (text params, unnamed statement so that a
 * session-mode pooler works). Returns the PGresult on success (caller clears),
 * NULL on failure with ret_err filled. */
PGresult *md_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      md_error_t *ret_err) MD_MUST_CHECK;

/* Fill err from a failed result or, when res is NULL, from the connection. */
int md_pg_error(PGconn *conn, const PGresult *res, const char *what, md_error_t *err);

/* Log level of a server notice by its (non-localized) severity: WARNING and
 * worse (ERROR, FATAL, PANIC) and anything unrecognised at warn, NOTICE, INFO,
 * LOG and DEBUG at debug. */
md_log_level_t md_pg_notice_level(const char *severity);

/* True when err carries a SQLSTATE of class 08 (connection exception) or the
 * connection is bad: the caller should reconnect and retry later. */
bool md_pg_is_connection_error(PGconn *conn, const md_error_t *err);

#endif
