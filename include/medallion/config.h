/* The YAML configuration (product.md §1) parsed and validated whole into a new
 * immutable object; a reload builds another one and swaps it, never patching a
 * live config. Pure: libyaml only, no libuv, no libpq. */
#ifndef MEDALLION_CONFIG_H
#define MEDALLION_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "medallion/cron.h"
#include "medallion/error.h"
#include "medallion/jobdefs.h"
#include "medallion/log.h"
#include "medallion/tz.h"

#define MD_CONFIG_DEFAULT_PATH "/etc/medalliond/medalliond.yaml"

typedef struct md_job_config {
    const md_jobdef_t *def;
    bool listed;    /* the file has a jobs.<name> entry */
    bool enabled;   /* default true */
    char *schedule; /* default: def->default_schedule */
    md_cron_t *cron;
    int batch_size; /* default 10000, 1..1000000 */
    /* Connections writing pages at once: 1..def->max_write_connections; default 2
     * where the job allows more than 1, else 1. */
    int write_connections;
    int64_t timeout_ms; /* default 5m for silver/sessions, 30m for gold */
    char *timezone;     /* job's zone; gold jobs default to reporting.timezone, others UTC */
    md_tz_t *tz;
} md_job_config_t;

typedef struct md_config {
    char *path;                      /* file it came from, NULL when built from defaults */
    char *database_url;              /* effective URL after env overrides; NULL if none anywhere */
    const char *database_url_source; /* "MEDALLION_DATABASE_URL", "config", "POSTGRES_URL" */
    int pool_size;                   /* default 4, 1..64 */
    md_log_level_t log_level;        /* default info */
    char *reporting_timezone;        /* default "UTC" */
    md_tz_t *reporting_tz;
    char *base_currency; /* default "USD", 3 upper-case letters */
    md_job_config_t jobs[MD_JOB_COUNT];
    int64_t history_retention_ms;     /* default 14d */
    int64_t shutdown_grace_ms;        /* default 30s */
    int64_t sessions_gap_ms;          /* default 30m */
    int64_t sessions_max_length_ms;   /* default 24h */
    int fraud_velocity_count;         /* default 5 */
    int64_t fraud_velocity_window_ms; /* default 10m */
    double fraud_velocity_add;        /* default 0.20, 0..1 */
    double kpi_flat_band;             /* default 1.0, >= 0 */
} md_config_t;

/* Every problem found in one file, each "FILE:LINE:COL: message". */
typedef struct md_config_errors {
    char **items;
    int count;
} md_config_errors_t;
void md_config_errors_clear(md_config_errors_t *errs);

/* Resolve the path to read: explicit (-c) if not NULL, else $MEDALLIOND_CONFIG,
 * else MD_CONFIG_DEFAULT_PATH. *ret_explicit says whether the user named it. */
const char *md_config_path(const char *cli_path, bool *ret_explicit);

/* Parse and validate. When `path` does not exist and `must_exist` is false,
 * the defaults are used (so the daemon can run from MEDALLION_DATABASE_URL
 * alone). On failure returns -EINVAL (or -ENOENT, -ENOMEM) with every error in
 * ret_errs and *ret_cfg untouched. */
int md_config_load(const char *path, bool must_exist, md_config_t **ret_cfg,
                   md_config_errors_t *ret_errs) MD_MUST_CHECK;
/* Same, from a string (tests). `name` is used in error positions. */
int md_config_load_string(const char *name, const char *yaml, md_config_t **ret_cfg,
                          md_config_errors_t *ret_errs) MD_MUST_CHECK;
void md_config_free(md_config_t *cfg);

/* Names of the keys that differ between old and new but cannot change at run
 * time (database.*, reporting.*), comma-separated into buf; returns how many. */
int md_config_frozen_changes(const md_config_t *old_cfg, const md_config_t *new_cfg, char *buf,
                             size_t len);

/* systemd credentials: when $PGPASSFILE is unset and $CREDENTIALS_DIRECTORY/pgpass
 * is readable, set PGPASSFILE to it so libpq finds the password there.
 * md_config_load calls it. Returns 1 when it set PGPASSFILE, 0 when it left the
 * environment alone, negative errno on failure. */
int md_config_use_credential_pgpass(void);

#endif
