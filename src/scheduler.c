/* Scheduling decisions: next fire per job from its cron expression in its own
 * zone, one fire per due tick, the overlap rule, retries with capped backoff,
 * the catch-up rule. Pure: the caller supplies both clocks; no libuv, no libpq. */
#include "medallion/scheduler.h"

#include <string.h>

void md_sched_init(md_sched_t *s) {
    memset(s, 0, sizeof(*s));
}

static int64_t next_after(const md_job_config_t *jc, int64_t after_s) {
    int64_t next = 0;
    if (jc->cron == NULL || md_cron_next(jc->cron, jc->tz, after_s, &next) != 0)
        return 0; /* never fires (e.g. "0 0 30 2 *") */
    return next;
}

int md_sched_configure(md_sched_t *s, const md_config_t *cfg, int64_t now_s) {
    int scheduled = 0;
    for (int i = 0; i < MD_JOB_COUNT; i++) {
        md_sched_job_t *j = &s->jobs[i];
        const md_job_config_t *jc = &cfg->jobs[i];
        j->enabled = jc->enabled;
        if (!jc->enabled) {
            j->next_fire = 0;
            j->retry_at_mono = 0;
            j->attempt = 0;
            continue;
        }
        j->next_fire = next_after(jc, now_s);
        if (j->next_fire != 0)
            scheduled++;
    }
    return scheduled;
}

static int push(md_sched_action_t *out, int n, int max, md_sched_action_kind_t kind,
                md_job_id_t job, const char *trigger) {
    if (n < max)
        out[n++] = (md_sched_action_t){kind, job, trigger};
    return n;
}

int md_sched_tick(md_sched_t *s, const md_config_t *cfg, int64_t wall_ms, int64_t mono_ms,
                  md_sched_action_t *out, int max) {
    int n = 0;
    int64_t now_s = wall_ms >= 0 ? wall_ms / 1000 : (wall_ms - 999) / 1000;
    for (int i = 0; i < MD_JOB_COUNT; i++) {
        md_sched_job_t *j = &s->jobs[i];
        const md_job_config_t *jc = &cfg->jobs[i];
        if (!j->enabled)
            continue;
        int64_t earliest = next_after(jc, now_s);
        /* A fire between now and the planned one means the wall clock went
         * back: move the tick back instead of stalling until the old time. */
        if (earliest != 0 && (j->next_fire == 0 || earliest < j->next_fire))
            j->next_fire = earliest;
        if (j->next_fire != 0 && j->next_fire * 1000 <= wall_ms) {
            if (j->active) {
                n = push(out, n, max, MD_SCHED_SKIP, (md_job_id_t)i, "schedule");
            } else {
                n = push(out, n, max, MD_SCHED_START, (md_job_id_t)i, "schedule");
                j->active = true;
            }
            /* The tick supersedes any pending retry and restarts the backoff. */
            j->retry_at_mono = 0;
            j->attempt = 0;
            /* Computed from now, not from the missed tick: after a jump
             * forward (or downtime) the job fires once, not once per tick. */
            j->next_fire = earliest;
            continue;
        }
        if (!j->active && j->retry_at_mono != 0 && j->retry_at_mono <= mono_ms) {
            n = push(out, n, max, MD_SCHED_START, (md_job_id_t)i, "retry");
            j->active = true;
            j->retry_at_mono = 0;
        }
    }
    return n;
}

int64_t md_sched_wake_delay_ms(const md_sched_t *s, int64_t wall_ms, int64_t mono_ms,
                               int64_t cap_ms) {
    int64_t best = cap_ms;
    for (int i = 0; i < MD_JOB_COUNT; i++) {
        const md_sched_job_t *j = &s->jobs[i];
        if (!j->enabled)
            continue;
        if (j->next_fire != 0 && j->next_fire * 1000 - wall_ms < best)
            best = j->next_fire * 1000 - wall_ms;
        if (!j->active && j->retry_at_mono != 0 && j->retry_at_mono - mono_ms < best)
            best = j->retry_at_mono - mono_ms;
    }
    return best < 0 ? 0 : best;
}

bool md_sched_start_manual(md_sched_t *s, md_job_id_t job) {
    md_sched_job_t *j = &s->jobs[job];
    if (j->active)
        return false;
    j->active = true;
    j->retry_at_mono = 0;
    return true;
}

int64_t md_sched_retry_backoff_ms(int attempt) {
    if (attempt < 1)
        attempt = 1;
    int64_t ms = MD_SCHED_RETRY_BASE_MS;
    for (int i = 1; i < attempt && ms < MD_SCHED_RETRY_CAP_MS; i++)
        ms *= 2;
    return ms > MD_SCHED_RETRY_CAP_MS ? MD_SCHED_RETRY_CAP_MS : ms;
}

void md_sched_finished(md_sched_t *s, md_job_id_t job, md_run_status_t status, int64_t wall_ms,
                       int64_t mono_ms) {
    md_sched_job_t *j = &s->jobs[job];
    j->active = false;
    j->retry_at_mono = 0;
    if (status != MD_RUN_FAILED || !j->enabled) {
        /* Skipped (someone else ran it) and timed out (would time out again)
         * wait for the next tick. */
        j->attempt = 0;
        return;
    }
    j->attempt++;
    int64_t delay = md_sched_retry_backoff_ms(j->attempt);
    if (j->next_fire != 0 && wall_ms + delay >= j->next_fire * 1000)
        return; /* the regular tick comes first and does the work */
    j->retry_at_mono = mono_ms + delay;
}

bool md_sched_catchup_due(const md_job_config_t *jc, int64_t last_success, int64_t now_s) {
    if (!jc->enabled || jc->def->layer != MD_LAYER_GOLD || jc->cron == NULL)
        return false;
    int64_t prev = 0;
    if (md_cron_prev(jc->cron, jc->tz, now_s, &prev) != 0)
        return false;
    return last_success < prev;
}
