/* The medalliond service: one libuv loop owning signals, the scheduler's
 * timer, the watchdog, config reload and shutdown; job database work runs on
 * the libuv thread pool with connections from the pool. Only the command-line
 * entry points include this header. */
#ifndef MEDALLION_DAEMON_H
#define MEDALLION_DAEMON_H

#include <libpq-fe.h>

#include "medallion/error.h"
#include "medallion/runner.h"

/* Run the daemon in the foreground until SIGTERM/SIGINT; cli_config_path is
 * -c FILE or NULL. Returns the process exit code: 0 on a clean stop, 1 when
 * the config is invalid or the database refuses the start-up checks. */
int md_daemon_main(const char *cli_config_path);

/* Start-up checks shared by the daemon and `medalliond run` (blocking):
 * no pending migrations, the role bypasses row-level security, and the
 * connection is not a transaction-mode pooler. `conn2` is a second
 * connection to the same database (the pooler check needs two). On failure
 * ret_err->msg says what is wrong and how to fix it; a connection error keeps
 * its 08xxx SQLSTATE so the caller can tell "retry later" from "refuse". */
int md_daemon_preflight(PGconn *conn, PGconn *conn2, md_error_t *ret_err) MD_MUST_CHECK;

/* Ask a running job to stop: sets ctl->cancel_requested (and timed_out when
 * `timed_out`), then takes ctl->cancel out of the control block (atomic
 * exchange: whoever takes it frees it) and returns it for the caller to
 * md_daemon_send_cancel() — from a thread that may block on the network. */
PGcancel *md_daemon_request_cancel(md_run_control_t *ctl, bool timed_out);
/* PQcancel then PQfreeCancel; blocking (opens a connection to the server). Accepts NULL. */
void md_daemon_send_cancel(PGcancel *cancel);

#endif
