/* The fixed job table of product.md §2: names, order, layer, default schedule.
 * Pure data; every module that needs "which jobs exist" asks here. */
#ifndef MEDALLION_JOBDEFS_H
#define MEDALLION_JOBDEFS_H

#include <stdbool.h>

typedef enum md_job_id {
    MD_JOB_CLEAN_EVENTS = 0,
    MD_JOB_CLEAN_API_LOGS,
    MD_JOB_CLEAN_USER_ACTIONS,
    MD_JOB_VALIDATE_TRANSACTIONS,
    MD_JOB_BUILD_USER_SESSIONS,
    MD_JOB_CALCULATE_DAILY_METRICS,
    MD_JOB_CALCULATE_REVENUE_SUMMARY,
    MD_JOB_CALCULATE_USER_COHORTS,
    MD_JOB_UPDATE_KPI_DASHBOARD,
    MD_JOB_COUNT
} md_job_id_t;

typedef enum md_job_layer {
    MD_LAYER_SILVER,   /* bronze -> silver */
    MD_LAYER_SESSIONS, /* silver -> silver */
    MD_LAYER_GOLD,
} md_job_layer_t;

typedef struct md_jobdef {
    md_job_id_t id;
    const char *name;
    md_job_layer_t layer;
    const char *default_schedule;
    const char *source_table; /* table the job's batches read, NULL for gold */
    /* Most connections the job can write pages on at once
     * (jobs.<name>.write_connections): MD_BATCH_MAX_CONNECTIONS where the job's
     * pages may overlap (see md_batch_spec_t.pipeline), else 1. */
    int max_write_connections;
} md_jobdef_t;

const md_jobdef_t *md_jobdef_get(md_job_id_t id);
/* Returns -1 when name is not a job. */
int md_jobdef_find(const char *name);

#endif
