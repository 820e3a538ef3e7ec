/* `medalliond cron-next`: prints the next fire times of an expression so an
 * operator can check a schedule before deploying it. Reads no config and opens
 * no connection; exit 2 (with the parser's message) on any bad input. */
#include "medallion/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medallion/cron.h"
#include "medallion/timefmt.h"
#include "medallion/tz.h"

#define CRON_NEXT_MAX_COUNT 100000

static int usage(FILE *out, int code) {
    fprintf(out, "usage: medalliond cron-next EXPR [--from TS] [--count N] [--tz ZONE]\n"
                 "  EXPR   cron expression (5 or 6 fields, @daily, @every 30s, ...)\n"
                 "  --from start after TS (default now): 2026-03-08T01:00:00Z,\n"
                 "         2026-03-08T01:00:00+01:00, \"2026-03-08 01:00:00\" (UTC), 2026-03-08\n"
                 "  --count how many fire times to print (default 5)\n"
                 "  --tz   IANA zone the expression is read in (default UTC)\n");
    return code;
}

/* "--opt VALUE" or "--opt=VALUE"; advances *i past what it consumed. */
static const char *opt_value(int argc, char **argv, int *i, const char *opt) {
    size_t n = strlen(opt);
    const char *a = argv[*i];
    if (strncmp(a, opt, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0' || *i + 1 >= argc)
        return NULL;
    (*i)++;
    return argv[*i];
}

int md_cli_cron_next(int argc, char **argv) {
    const char *expr = NULL, *from = NULL, *count_s = NULL, *zone = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return usage(stdout, 0);
        if ((v = opt_value(argc, argv, &i, "--from")) != NULL)
            from = v;
        else if ((v = opt_value(argc, argv, &i, "--count")) != NULL)
            count_s = v;
        else if ((v = opt_value(argc, argv, &i, "--tz")) != NULL)
            zone = v;
        else if (strcmp(a, "--from") == 0 || strcmp(a, "--count") == 0 || strcmp(a, "--tz") == 0) {
            fprintf(stderr, "medalliond cron-next: %s needs a value\n", a);
            return usage(stderr, 2);
        } else if (strncmp(a, "--", 2) == 0 && a[2] != '\0') {
            fprintf(stderr, "medalliond cron-next: bad option \"%s\"\n", a);
            return usage(stderr, 2);
        } else if (expr == NULL)
            expr = a;
        else {
            fprintf(stderr,
                    "medalliond cron-next: unexpected argument \"%s\" "
                    "(quote the expression)\n",
                    a);
            return usage(stderr, 2);
        }
    }
    if (expr == NULL)
        return usage(stderr, 2);

    int64_t t;
    if (from != NULL) {
        if (md_time_parse_iso8601(from, &t) < 0) {
            fprintf(stderr, "medalliond cron-next: bad --from \"%s\"\n", from);
            return usage(stderr, 2);
        }
    } else {
        t = (int64_t)time(NULL);
    }
    long count = 5;
    if (count_s != NULL) {
        char *end;
        errno = 0;
        count = strtol(count_s, &end, 10);
        if (errno != 0 || end == count_s || *end != '\0' || count < 1 ||
            count > CRON_NEXT_MAX_COUNT) {
            fprintf(stderr, "medalliond cron-next: --count must be 1-%d, got \"%s\"\n",
                    CRON_NEXT_MAX_COUNT, count_s);
            return usage(stderr, 2);
        }
    }

    md_error_t err = {0};
    md_tz_t *tz = NULL;
    if (zone != NULL && md_tz_load(zone, &tz, &err) < 0) {
        fprintf(stderr, "medalliond cron-next: %s\n", err.msg);
        return 2;
    }
    md_cron_t *cron = NULL;
    if (md_cron_parse(expr, &cron, &err) < 0) {
        fprintf(stderr, "medalliond cron-next: %s\n", err.msg);
        md_tz_free(tz);
        return 2;
    }
    int rc = 0;
    for (long i = 0; i < count; i++) {
        int64_t next;
        char buf[21];
        int r = md_cron_next(cron, tz, t, &next);
        if (r < 0) {
            /* Parsing rejected expressions that never fire: this is the end
             * of the supported calendar. An error only when nothing was
             * printed. */
            fprintf(stderr,
                    "medalliond cron-next: \"%s\" does not fire after %s before the end "
                    "of year 9999\n",
                    expr, md_time_format_iso8601(t, buf));
            if (i == 0)
                rc = 2;
            break;
        }
        printf("%s\n", md_time_format_iso8601(next, buf));
        t = next;
    }
    md_cron_free(cron);
    md_tz_free(tz);
    if (fflush(stdout) != 0 && rc == 0)
        rc = 1;
    return rc;
}
