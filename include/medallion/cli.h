/* Subcommands of the medalliond binary: each takes argc/argv starting at the
 * command name and returns the process exit code (product.md §1). */
#ifndef MEDALLION_CLI_H
#define MEDALLION_CLI_H

/* medalliond cron-next EXPR [--from TS] [--count N] [--tz ZONE]; argv[0] is "cron-next". */
int md_cli_cron_next(int argc, char **argv);

/* Exit codes of product.md §1. */
enum {
    MD_EXIT_OK = 0,
    MD_EXIT_FAILED = 1,       /* a job or migration failed */
    MD_EXIT_USAGE = 2,        /* bad usage or bad input */
    MD_EXIT_UNAVAILABLE = 69, /* capability not in this build */
    MD_EXIT_LOCKED = 75,      /* another instance holds the job */
};

/* medalliond migrate [-c FILE] */
int md_cli_migrate(int argc, char **argv);
/* medalliond status [-c FILE] [--limit N] */
int md_cli_status(int argc, char **argv);

/* Shared by subcommands that use the database: load the config named by -c /
 * MEDALLIOND_CONFIG / the default path, printing every error on stderr; a
 * config that leaves the database URL unset is one of them. */
struct md_config;
int md_cli_load_config(const char *cli_path, struct md_config **ret_cfg);
/* Connect to cfg's database, printing a (password-free) error on failure. */
struct pg_conn;
int md_cli_connect(const struct md_config *cfg, struct pg_conn **ret_conn);
/* The two connections a run needs (work and job lock), checked as the daemon
 * checks them at start (pooler, role, pending migrations). On failure prints
 * "medalliond CMD: why", closes what it opened and returns MD_EXIT_FAILED. */
int md_cli_open_checked(const char *cmd, const struct md_config *cfg, struct pg_conn **ret_conn,
                        struct pg_conn **ret_lock_conn);

/* medalliond check-config [-c FILE]: "FILE: OK" and a summary line → 0; each
 * error ("FILE:LINE:COL: message") on stderr → 1; bad usage → 2. */
int md_cli_check_config(int argc, char **argv);
/* medalliond jobs [-c FILE] [--from TS]: name, schedule, timezone, enabled and
 * the next 3 fire times (ISO-8601 UTC) of every job → 0; config errors → 1. */
int md_cli_jobs(int argc, char **argv);

/* medalliond [-c FILE]: the daemon in the foreground (argv[0] is the program
 * or "daemon"); 0 on a clean stop, 1 on invalid config or refused start-up. */
int md_cli_daemon(int argc, char **argv);
/* medalliond run [-c FILE] JOB...|--all: jobs once in job-table order; 0 all
 * succeeded, 1 one failed (later ones recorded skipped), 2 bad usage or
 * unknown job, 75 one was skipped because another instance holds it. */
int md_cli_run(int argc, char **argv);

/* medalliond reprocess [-c FILE] --from TS --to TS JOB... */
int md_cli_reprocess(int argc, char **argv);
/* medalliond backfill [-c FILE] --from DATE --to DATE [JOB...]: mark the days
 * (and cohort months) of the range dirty for the named gold jobs (default: all
 * gold jobs), then run them; 0 all succeeded, 1 one failed, 2 bad usage (bad
 * or reversed dates, unknown or non-gold job), 75 locked elsewhere. */
int md_cli_backfill(int argc, char **argv);

/* How md_cli_run_sequence runs one job (md_runner_run with a timeout
 * watcher for `run`, plain for `backfill`, md_runner_reprocess, ...). */
#include <stdbool.h>

#include "medallion/runner.h"
typedef void (*md_cli_job_runner)(const md_config_t *cfg, md_job_id_t job, PGconn *conn,
                                  PGconn *lock_conn, void *arg, md_run_result_t *ret);
/* Run the wanted jobs in job-table (dependency) order, one line each on
 * stdout; after a failed job the rest are recorded skipped ("dependency
 * failed"). Returns the exit code: 0, 1 (a job failed) or 75 (locked). */
int md_cli_run_sequence(const char *cmd, const md_config_t *cfg, const bool *wanted, PGconn *conn,
                        PGconn *lock_conn, md_cli_job_runner fn, void *arg);

#endif
