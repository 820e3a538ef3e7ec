/* `medalliond reprocess --from TS --to TS JOB...`: re-derive silver from the
 * immutable bronze rows of a time range after a rule or rate change, through
 * the same runner (job lock, job_runs row) as a normal run. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "medallion/cli.h"
#include "medallion/config.h"
#include "medallion/jobdefs.h"
#include "medallion/runner.h"
#include "medallion/timefmt.h"

static void usage(void) {
    fprintf(stderr,
            "usage: medalliond reprocess [-c FILE] --from TS --to TS JOB...\n"
            "  re-derives the already processed bronze rows with created_at in [from, to)\n"
            "  JOB: clean_events clean_api_logs clean_user_actions validate_transactions\n");
}

static void run_reprocess(const md_config_t *cfg, md_job_id_t job, PGconn *conn, PGconn *lock_conn,
                          void *arg, md_run_result_t *ret) {
    const int64_t *range = arg;
    md_runner_reprocess(cfg, job, conn, lock_conn, range[0], range[1], ret);
}

int md_cli_reprocess(int argc, char **argv) {
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {0}};
    const char *cfg_path = NULL, *from_s = NULL, *to_s = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfg_path = optarg;
            break;
        case 'f':
            from_s = optarg;
            break;
        case 't':
            to_s = optarg;
            break;
        default:
            usage();
            return MD_EXIT_USAGE;
        }
    }
    int64_t from, to;
    if (from_s == NULL || to_s == NULL || optind >= argc) {
        usage();
        return MD_EXIT_USAGE;
    }
    if (md_time_parse_iso8601(from_s, &from) != 0 || md_time_parse_iso8601(to_s, &to) != 0 ||
        from >= to) {
        fprintf(stderr, "medalliond reprocess: --from and --to must be timestamps "
                        "(e.g. 2026-11-01T00:00:00Z) with from < to\n");
        return MD_EXIT_USAGE;
    }
    bool want[MD_JOB_COUNT] = {false};
    for (int i = optind; i < argc; i++) {
        int j = md_jobdef_find(argv[i]);
        if (j < 0 || md_jobdef_get((md_job_id_t)j)->layer != MD_LAYER_SILVER) {
            fprintf(stderr, "medalliond reprocess: '%s' is not a bronze → silver job\n", argv[i]);
            usage();
            return MD_EXIT_USAGE;
        }
        want[j] = true;
    }
    md_config_t *cfg;
    if (md_cli_load_config(cfg_path, &cfg) != 0)
        return MD_EXIT_USAGE;
    PGconn *conn, *lock_conn;
    if (md_cli_open_checked("reprocess", cfg, &conn, &lock_conn) != MD_EXIT_OK) {
        md_config_free(cfg);
        return MD_EXIT_FAILED;
    }
    int64_t range[2] = {from * 1000000, to * 1000000};
    int code = md_cli_run_sequence("reprocess", cfg, want, conn, lock_conn, run_reprocess, range);
    PQfinish(conn);
    PQfinish(lock_conn);
    md_config_free(cfg);
    return code;
}
