/* `medalliond check-config` and `medalliond jobs`: read the config the daemon
 * would read and show what it means, so an operator can check an edit before
 * a reload. They never connect to the database and never print a password. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medallion/cli.h"
#include "medallion/config.h"
#include "medallion/conninfo.h"
#include "medallion/cron.h"
#include "medallion/log.h"
#include "medallion/timefmt.h"

#define NEXT_FIRES 3

typedef struct cli_opts {
    const char *config; /* -c FILE */
    const char *from;   /* jobs --from TS */
} cli_opts_t;

static int usage(const char *cmd, FILE *out, int code) {
    if (strcmp(cmd, "jobs") == 0)
        fprintf(out,
                "usage: medalliond jobs [-c FILE] [--from TS]\n"
                "  -c, --config FILE  config file (default $MEDALLIOND_CONFIG, else "
                "%s)\n"
                "  --from TS          list fire times after TS instead of now\n",
                MD_CONFIG_DEFAULT_PATH);
    else
        fprintf(out,
                "usage: medalliond check-config [-c FILE]\n"
                "  -c, --config FILE  config file (default $MEDALLIOND_CONFIG, else "
                "%s)\n",
                MD_CONFIG_DEFAULT_PATH);
    return code;
}

/* 0 to go on, else the exit code to return (help printed, or bad usage). */
static int parse_opts(int argc, char **argv, bool allow_from, cli_opts_t *ret) {
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = argv[0];
    int c;
    optind = 1; /* other subcommands may have used getopt in this process */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            ret->config = optarg;
            break;
        case 'f':
            if (!allow_from)
                goto bad;
            ret->from = optarg;
            break;
        case 'h':
            usage(cmd, stdout, MD_EXIT_OK);
            return -1; /* help printed: exit 0 */
        default:
            goto bad;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "medalliond %s: unexpected argument \"%s\"\n", cmd, argv[optind]);
        return usage(cmd, stderr, MD_EXIT_USAGE);
    }
    return 0;
bad:
    fprintf(stderr, "medalliond %s: bad option \"%s\"\n", cmd, argv[optind - 1]);
    return usage(cmd, stderr, MD_EXIT_USAGE);
}

/* Loads like the daemon: a file named by -c/$MEDALLIOND_CONFIG must exist, the
 * default path may be absent. Prints every error on stderr. */
static int load(const cli_opts_t *o, const char **ret_path, md_config_t **ret_cfg) {
    bool explicit_path = false;
    const char *path = md_config_path(o->config, &explicit_path);
    md_config_errors_t errs = {0};
    int r = md_config_load(path, explicit_path, ret_cfg, &errs);
    *ret_path = path;
    if (r == 0)
        return 0;
    for (int i = 0; i < errs.count; i++)
        fprintf(stderr, "%s\n", errs.items[i]);
    if (errs.count == 0)
        fprintf(stderr, "%s: %s\n", path, strerror(-r));
    else if (r == -EINVAL)
        fprintf(stderr, "%s: invalid (%d error%s)\n", path, errs.count, errs.count == 1 ? "" : "s");
    md_config_errors_clear(&errs);
    return r;
}

int md_cli_check_config(int argc, char **argv) {
    cli_opts_t o = {0};
    int rc = parse_opts(argc, argv, false, &o);
    if (rc != 0)
        return rc < 0 ? MD_EXIT_OK : rc;
    const char *path;
    md_config_t *cfg = NULL;
    if (load(&o, &path, &cfg) < 0)
        return MD_EXIT_FAILED;

    int enabled = 0;
    for (int i = 0; i < MD_JOB_COUNT; i++)
        enabled += cfg->jobs[i].enabled;
    char db[512];
    if (cfg->database_url != NULL) {
        char redacted[400];
        md_conninfo_redact(cfg->database_url, redacted, sizeof(redacted));
        snprintf(db, sizeof(db), "%s (from %s)", redacted, cfg->database_url_source);
    } else {
        snprintf(db, sizeof(db), "not set (database.url, MEDALLION_DATABASE_URL or POSTGRES_URL)");
    }
    if (cfg->path != NULL)
        printf("%s: OK\n", path);
    else
        printf("%s: OK (no such file; built-in defaults)\n", path);
    printf("%d jobs, %d enabled; log_level %s; reporting.timezone %s; base_currency %s; "
           "database %s\n",
           MD_JOB_COUNT, enabled,
           cfg->log_level == MD_LOG_ERR    ? "err"
           : cfg->log_level == MD_LOG_WARN ? "warn"
           : cfg->log_level == MD_LOG_INFO ? "info"
                                           : "debug",
           cfg->reporting_timezone, cfg->base_currency, db);
    md_config_free(cfg);
    return fflush(stdout) == 0 ? MD_EXIT_OK : MD_EXIT_FAILED;
}

static int max_int(int a, int b) {
    return a > b ? a : b;
}

int md_cli_jobs(int argc, char **argv) {
    cli_opts_t o = {0};
    int rc = parse_opts(argc, argv, true, &o);
    if (rc != 0)
        return rc < 0 ? MD_EXIT_OK : rc;
    int64_t now = (int64_t)time(NULL);
    if (o.from != NULL && md_time_parse_iso8601(o.from, &now) < 0) {
        fprintf(stderr, "medalliond jobs: bad --from \"%s\"\n", o.from);
        return usage(argv[0], stderr, MD_EXIT_USAGE);
    }
    const char *path;
    md_config_t *cfg = NULL;
    if (load(&o, &path, &cfg) < 0)
        return MD_EXIT_USAGE; /* bad input; only check-config answers 1 for it */

    int wname = 4, wsched = 8, wtz = 8;
    for (int i = 0; i < MD_JOB_COUNT; i++) {
        wname = max_int(wname, (int)strlen(cfg->jobs[i].def->name));
        wsched = max_int(wsched, (int)strlen(cfg->jobs[i].schedule));
        wtz = max_int(wtz, (int)strlen(cfg->jobs[i].timezone));
    }
    printf("%-*s  %-*s  %-*s  %-7s  %s\n", wname, "NAME", wsched, "SCHEDULE", wtz, "TIMEZONE",
           "ENABLED", "NEXT (UTC)");
    for (int i = 0; i < MD_JOB_COUNT; i++) {
        const md_job_config_t *job = &cfg->jobs[i];
        char next[NEXT_FIRES * 22 + 1] = "";
        size_t used = 0;
        int64_t t = now;
        /* A disabled job never fires; showing times would suggest it does. */
        for (int k = 0; job->enabled && k < NEXT_FIRES; k++) {
            int64_t fire;
            char buf[21];
            if (md_cron_next(job->cron, job->tz, t, &fire) < 0) {
                snprintf(next + used, sizeof(next) - used, "%snever", k ? "  " : "");
                break;
            }
            used += (size_t)snprintf(next + used, sizeof(next) - used, "%s%s", k ? "  " : "",
                                     md_time_format_iso8601(fire, buf));
            t = fire;
        }
        printf("%-*s  %-*s  %-*s  %-7s  %s\n", wname, job->def->name, wsched, job->schedule, wtz,
               job->timezone, job->enabled ? "yes" : "no", job->enabled ? next : "-");
    }
    md_config_free(cfg);
    return fflush(stdout) == 0 ? MD_EXIT_OK : MD_EXIT_FAILED;
}
