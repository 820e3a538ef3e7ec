/* systemd service notifications (sd_notify): READY, RELOADING, STOPPING,
 * STATUS and watchdog pings. Harmless no-ops when NOTIFY_SOCKET is unset (a
 * terminal, CI). Never blocks on the database: callers decide when to say it. */
#ifndef MEDALLION_NOTIFY_H
#define MEDALLION_NOTIFY_H

#include <stdint.h>

#include "medallion/error.h"

/* Each returns what sd_notify returns: > 0 sent, 0 no socket, < 0 -errno. */
int md_notify_ready(void);
/* RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC µs>, as Type=notify-reload wants. */
int md_notify_reloading(void);
int md_notify_stopping(void);
int md_notify_watchdog(void);
/* STATUS=<one line>; newlines in the text are replaced by spaces. */
int md_notify_status(const char *fmt, ...) MD_PRINTF(1, 2);

/* Watchdog interval systemd asked for (WATCHDOG_USEC, for this pid), in
 * microseconds; 0 when the watchdog is off. */
uint64_t md_notify_watchdog_usec(void);

#endif
