/* Subcommands that only need a database connection and the config:
 * `migrate` and `status`. Output is for humans; errors go to stderr. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medallion/cli.h"
#include "medallion/config.h"
#include "medallion/daemon.h"
#include "medallion/migrate.h"
#include "medallion/pg.h"
#include "medallion/runner.h"

int md_cli_load_config(const char *cli_path, md_config_t **ret_cfg) {
    bool explicit_path = false;
    const char *path = md_config_path(cli_path, &explicit_path);
    md_config_errors_t errs = {0};
    int rc = md_config_load(path, explicit_path, ret_cfg, &errs);
    if (rc != 0) {
        for (int i = 0; i < errs.count; i++)
            fprintf(stderr, "%s\n", errs.items[i]);
        if (errs.count == 0)
            fprintf(stderr, "%s: cannot load config: %s\n", path, strerror(-rc));
        md_config_errors_clear(&errs);
        return rc;
    }
    md_config_errors_clear(&errs);
    /* Every command that loads a config this way needs the database; without
     * a URL it could only retry for ever (database.* cannot change on reload). */
    if ((*ret_cfg)->database_url == NULL || (*ret_cfg)->database_url[0] == '\0') {
        fprintf(stderr,
                "%s: no database URL: set database.url in the config, MEDALLION_DATABASE_URL "
                "or POSTGRES_URL\n",
                path);
        md_config_free(*ret_cfg);
        *ret_cfg = NULL;
        return -EINVAL;
    }
    return 0;
}

int md_cli_connect(const md_config_t *cfg, PGconn **ret_conn) {
    md_error_t err = {0};
    if (md_pg_connect(cfg->database_url, ret_conn, &err) != 0) {
        fprintf(stderr, "medalliond: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int md_cli_open_checked(const char *cmd, const md_config_t *cfg, PGconn **ret_conn,
                        PGconn **ret_lock_conn) {
    PGconn *conn = NULL, *lock_conn = NULL;
    if (md_cli_connect(cfg, &conn) != 0 || md_cli_connect(cfg, &lock_conn) != 0) {
        PQfinish(conn);
        return MD_EXIT_FAILED;
    }
    md_error_t err = {0};
    if (md_daemon_preflight(conn, lock_conn, &err) != 0) {
        fprintf(stderr, "medalliond %s: %s\n", cmd, err.msg);
        PQfinish(conn);
        PQfinish(lock_conn);
        return MD_EXIT_FAILED;
    }
    *ret_conn = conn;
    *ret_lock_conn = lock_conn;
    return MD_EXIT_OK;
}

/* Parses "-c FILE" (and --config FILE) plus the extra long options given. */
static int parse_common(int argc, char **argv, const char **ret_cfg_path, int *ret_limit) {
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"limit", required_argument, NULL, 'l'}, {0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            *ret_cfg_path = optarg;
            break;
        case 'l': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (ret_limit == NULL || *end != '\0' || v < 1 || v > 100000) {
                fprintf(stderr, "medalliond %s: --limit must be 1..100000\n", argv[0]);
                return -EINVAL;
            }
            *ret_limit = (int)v;
            break;
        }
        default:
            return -EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "medalliond %s: unexpected argument '%s'\n", argv[0], argv[optind]);
        return -EINVAL;
    }
    return 0;
}

int md_cli_migrate(int argc, char **argv) {
    const char *cfg_path = NULL;
    if (parse_common(argc, argv, &cfg_path, NULL) != 0) {
        fprintf(stderr, "usage: medalliond migrate [-c FILE]\n");
        return MD_EXIT_USAGE;
    }
    md_config_t *cfg;
    if (md_cli_load_config(cfg_path, &cfg) != 0)
        return MD_EXIT_USAGE;
    PGconn *conn;
    if (md_cli_connect(cfg, &conn) != 0) {
        md_config_free(cfg);
        return MD_EXIT_FAILED;
    }
    const char *dir = md_migrate_dir();
    md_error_t err = {0};
    int applied = 0;
    int rc = md_migrate_apply(conn, dir, stdout, &applied, &err);
    PQfinish(conn);
    md_config_free(cfg);
    if (rc != 0) {
        fprintf(stderr, "medalliond migrate: %s\n", err.msg);
        return MD_EXIT_FAILED;
    }
    printf(applied ? "%d migration(s) applied from %s\n" : "%.0dschema is up to date (%s)\n",
           applied, dir);
    return MD_EXIT_OK;
}

int md_cli_status(int argc, char **argv) {
    const char *cfg_path = NULL;
    int limit = 20;
    if (parse_common(argc, argv, &cfg_path, &limit) != 0) {
        fprintf(stderr, "usage: medalliond status [-c FILE] [--limit N]\n");
        return MD_EXIT_USAGE;
    }
    md_config_t *cfg;
    if (md_cli_load_config(cfg_path, &cfg) != 0)
        return MD_EXIT_USAGE;
    PGconn *conn;
    if (md_cli_connect(cfg, &conn) != 0) {
        md_config_free(cfg);
        return MD_EXIT_FAILED;
    }
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *params[] = {lim};
    md_error_t err = {0};
    PGresult *res = md_pg_query(
        conn,
        "SELECT run_id, job_name, status, to_char(started_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), coalesce(round(extract(epoch FROM finished_at - "
        "started_at) * 1000)::bigint::text, '-'), rows_read, rows_written, instance, "
        "coalesce(message, '') FROM medallion.job_runs ORDER BY started_at DESC, run_id DESC "
        "LIMIT $1::int",
        1, params, &err);
    int code = MD_EXIT_OK;
    if (res == NULL) {
        fprintf(stderr, "medalliond status: %s\n", err.msg);
        code = MD_EXIT_FAILED;
    } else {
        printf("%-8s %-26s %-10s %-20s %9s %10s %10s %-24s %s\n", "RUN", "JOB", "STATUS", "STARTED",
               "MS", "READ", "WRITTEN", "INSTANCE", "MESSAGE");
        for (int r = 0; r < PQntuples(res); r++)
            printf("%-8s %-26s %-10s %-20s %9s %10s %10s %-24s %s\n", PQgetvalue(res, r, 0),
                   PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
                   PQgetvalue(res, r, 4), PQgetvalue(res, r, 5), PQgetvalue(res, r, 6),
                   PQgetvalue(res, r, 7), PQgetvalue(res, r, 8));
        if (PQntuples(res) == 0)
            printf("(no runs recorded yet)\n");
        PQclear(res);
    }
    PQfinish(conn);
    md_config_free(cfg);
    return code;
}

static void print_line(const char *name, const char *status, const md_run_result_t *r,
                       const char *message) {
    printf("%-26s %-10s %10lld read %10lld written %8lld ms%s%s\n", name, status,
           (long long)(r ? r->rows_read : 0), (long long)(r ? r->rows_written : 0),
           (long long)(r ? r->duration_ms : 0), message && message[0] ? "  " : "",
           message ? message : "");
}

int md_cli_run_sequence(const char *cmd, const md_config_t *cfg, const bool *wanted, PGconn *conn,
                        PGconn *lock_conn, md_cli_job_runner fn, void *arg) {
    int code = MD_EXIT_OK;
    bool failed = false;
    md_error_t err = {0};
    for (int j = 0; j < MD_JOB_COUNT; j++) {
        if (!wanted[j])
            continue;
        const char *name = md_jobdef_get((md_job_id_t)j)->name;
        if (failed) {
            /* Jobs run in dependency order: after a failure, later jobs
             * would read stale input; record them as not run. */
            md_error_clear(&err);
            const char *why = "dependency failed";
            if (md_runner_record_skip(lock_conn, (md_job_id_t)j, "manual", why, 0, &err) != 0)
                fprintf(stderr, "medalliond %s: cannot record %s as skipped: %s\n", cmd, name,
                        err.msg);
            print_line(name, "skipped", NULL, why);
            continue;
        }
        md_run_result_t r;
        fn(cfg, (md_job_id_t)j, conn, lock_conn, arg, &r);
        print_line(name, md_run_status_name(r.status), &r, r.message);
        fflush(stdout);
        if (r.status == MD_RUN_FAILED || r.status == MD_RUN_TIMED_OUT) {
            failed = true;
            code = MD_EXIT_FAILED;
        } else if (r.status == MD_RUN_SKIPPED && r.locked_elsewhere && code == MD_EXIT_OK) {
            code = MD_EXIT_LOCKED;
        }
    }
    return code;
}
