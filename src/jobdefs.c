/* The fixed job table (product.md §2). The array order is the `run --all` order. */
#include "medallion/jobdefs.h"

#include <string.h>

static const md_jobdef_t jobdefs[MD_JOB_COUNT] = {
    {MD_JOB_CLEAN_EVENTS, "clean_events", MD_LAYER_SILVER, "*/5 * * * *", "events_raw", 4},
    {MD_JOB_CLEAN_API_LOGS, "clean_api_logs", MD_LAYER_SILVER, "*/5 * * * *", "api_logs_raw", 1},
    {MD_JOB_CLEAN_USER_ACTIONS, "clean_user_actions", MD_LAYER_SILVER, "*/5 * * * *",
     "user_actions_raw", 1},
    {MD_JOB_VALIDATE_TRANSACTIONS, "validate_transactions", MD_LAYER_SILVER, "*/5 * * * *",
     "transactions_raw", 1},
    {MD_JOB_BUILD_USER_SESSIONS, "build_user_sessions", MD_LAYER_SESSIONS, "*/10 * * * *",
     "events_clean", 1},
    {MD_JOB_CALCULATE_DAILY_METRICS, "calculate_daily_metrics", MD_LAYER_GOLD, "0 1 * * *", NULL,
     1},
    {MD_JOB_CALCULATE_REVENUE_SUMMARY, "calculate_revenue_summary", MD_LAYER_GOLD, "0 * * * *",
     NULL, 1},
    {MD_JOB_CALCULATE_USER_COHORTS, "calculate_user_cohorts", MD_LAYER_GOLD, "0 2 * * *", NULL, 1},
    {MD_JOB_UPDATE_KPI_DASHBOARD, "update_kpi_dashboard", MD_LAYER_GOLD, "0 * * * *", NULL, 1},
};

const md_jobdef_t *md_jobdef_get(md_job_id_t id) {
    if ((int)id < 0 || id >= MD_JOB_COUNT)
        return NULL;
    return &jobdefs[id];
}

int md_jobdef_find(const char *name) {
    for (int i = 0; i < MD_JOB_COUNT; i++)
        if (strcmp(jobdefs[i].name, name) == 0)
            return i;
    return -1;
}
