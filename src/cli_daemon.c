/* Entry points of the service: `medalliond [-c FILE]` (the daemon) and
 * `medalliond run [-c FILE] JOB...|--all` (jobs once, now, through the same
 * runner the scheduler uses). Parses arguments and reports; never schedules. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medallion/cli.h"
#include "medallion/config.h"
#include "medallion/daemon.h"
#include "medallion/jobdefs.h"
#include "medallion/log.h"
#include "medallion/runner.h"

int md_cli_daemon(int argc, char **argv) {
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'}, {0}};
    const char *cfg_path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        if (c != 'c') {
            fprintf(stderr, "usage: medalliond [-c FILE]\n");
            return MD_EXIT_USAGE;
        }
        cfg_path = optarg;
    }
    if (optind < argc) {
        fprintf(stderr, "medalliond: unexpected argument '%s'\nusage: medalliond [-c FILE]\n",
                argv[optind]);
        return MD_EXIT_USAGE;
    }
    return md_daemon_main(cfg_path);
}

/* A job's timeout in `run`: a watcher thread cancels the query at the
 * deadline, the same way the daemon's timer does. */
typedef struct watcher {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int64_t timeout_ms;
    md_run_control_t *ctl;
} watcher_t;

static void *watch(void *arg) {
    watcher_t *w = arg;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(w->timeout_ms / 1000);
    deadline.tv_nsec += (long)(w->timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    while (!w->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&w->cv, &w->mu, &deadline);
    bool fire = !w->done;
    pthread_mutex_unlock(&w->mu);
    if (fire)
        md_daemon_send_cancel(md_daemon_request_cancel(w->ctl, true));
    return NULL;
}

static void run_one(const md_config_t *cfg, md_job_id_t job, PGconn *conn, PGconn *lock_conn,
                    void *arg, md_run_result_t *r) {
    (void)arg;
    md_run_control_t ctl;
    memset(&ctl, 0, sizeof(ctl));
    atomic_init(&ctl.cancel_requested, false);
    atomic_init(&ctl.timed_out, false);
    atomic_init(&ctl.cancel, (PGcancel *)NULL);
    watcher_t w = {.done = false, .timeout_ms = cfg->jobs[job].timeout_ms, .ctl = &ctl};
    pthread_condattr_t ca;
    pthread_t th;
    bool watching = false;
    if (w.timeout_ms > 0 && pthread_mutex_init(&w.mu, NULL) == 0) {
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        if (pthread_cond_init(&w.cv, &ca) == 0) {
            watching = pthread_create(&th, NULL, watch, &w) == 0;
            if (!watching)
                pthread_cond_destroy(&w.cv);
        }
        pthread_condattr_destroy(&ca);
        if (!watching)
            pthread_mutex_destroy(&w.mu);
    }
    md_runner_run(cfg, job, conn, lock_conn, "manual", &ctl, r);
    if (watching) {
        pthread_mutex_lock(&w.mu);
        w.done = true;
        pthread_cond_signal(&w.cv);
        pthread_mutex_unlock(&w.mu);
        pthread_join(th, NULL);
        pthread_cond_destroy(&w.cv);
        pthread_mutex_destroy(&w.mu);
    }
    PQfreeCancel(atomic_exchange(&ctl.cancel, (PGcancel *)NULL));
}

static void run_usage(void) {
    fprintf(stderr, "usage: medalliond run [-c FILE] JOB...|--all\n");
}

int md_cli_run(int argc, char **argv) {
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"all", no_argument, NULL, 'a'}, {0}};
    const char *cfg_path = NULL;
    bool all = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        if (c == 'c') {
            cfg_path = optarg;
        } else if (c == 'a') {
            all = true;
        } else {
            run_usage();
            return MD_EXIT_USAGE;
        }
    }
    bool wanted[MD_JOB_COUNT] = {false};
    int named = 0;
    for (int i = optind; i < argc; i++) {
        int id = md_jobdef_find(argv[i]);
        if (id < 0) {
            fprintf(stderr, "medalliond run: unknown job '%s'; jobs are:", argv[i]);
            for (int j = 0; j < MD_JOB_COUNT; j++)
                fprintf(stderr, " %s", md_jobdef_get((md_job_id_t)j)->name);
            fputc('\n', stderr);
            return MD_EXIT_USAGE;
        }
        wanted[id] = true;
        named++;
    }
    if ((named == 0) == !all) {
        fprintf(stderr, "medalliond run: name jobs or give --all (not both)\n");
        run_usage();
        return MD_EXIT_USAGE;
    }

    md_config_t *cfg;
    if (md_cli_load_config(cfg_path, &cfg) != 0)
        return MD_EXIT_USAGE;
    md_log_set_level(cfg->log_level);
    if (all) /* --all means the jobs the config runs; a named job runs even when disabled */
        for (int j = 0; j < MD_JOB_COUNT; j++)
            wanted[j] = cfg->jobs[j].enabled;

    PGconn *conn, *lock_conn;
    if (md_cli_open_checked("run", cfg, &conn, &lock_conn) != MD_EXIT_OK) {
        md_config_free(cfg);
        return MD_EXIT_FAILED;
    }

    int code = md_cli_run_sequence("run", cfg, wanted, conn, lock_conn, run_one, NULL);
    PQfinish(conn);
    PQfinish(lock_conn);
    md_config_free(cfg);
    return code;
}
