/* sd_notify wrappers for the daemon's life cycle (product.md §5). Pure message
 * formatting over libsystemd; must never wait on anything but the local
 * notification socket, so a down database can never delay READY=1. */
#include "medallion/notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

int md_notify_ready(void) {
    return sd_notify(0, "READY=1");
}

int md_notify_reloading(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long long usec =
        (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
    return sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", usec);
}

int md_notify_stopping(void) {
    return sd_notify(0, "STOPPING=1");
}

int md_notify_watchdog(void) {
    return sd_notify(0, "WATCHDOG=1");
}

int md_notify_status(const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* STATUS= is one line: a newline would start a new (bogus) assignment. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return sd_notifyf(0, "STATUS=%s", line);
}

uint64_t md_notify_watchdog_usec(void) {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return usec;
}
