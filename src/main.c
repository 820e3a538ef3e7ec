/* medalliond: argv → command. Nothing else lives here. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "medallion/cli.h"
#include "medallion/log.h"

/* One line per command, as `--help` prints them. */
static const char *const synopsis[][2] = {
    {"", "medalliond [-c FILE]                 run the daemon (systemd Type=notify)"},
    {"run", "medalliond run [-c FILE] JOB...|--all run jobs once, in dependency order"},
    {"migrate", "medalliond migrate [-c FILE]         apply pending SQL migrations"},
    {"check-config", "medalliond check-config [-c FILE]    validate the configuration"},
    {"jobs", "medalliond jobs [-c FILE]            list jobs and their next fire times"},
    {"cron-next", "medalliond cron-next EXPR [--from TS] [--count N] [--tz ZONE]"},
    {"status", "medalliond status [-c FILE] [--limit N]"},
    {"backfill", "medalliond backfill [-c FILE] --from DATE --to DATE [JOB...]"},
    {"reprocess", "medalliond reprocess [-c FILE] --from TS --to TS JOB..."},
    {"--version", "medalliond --version | --help"},
};

static const char FOOTER[] =
    "\n"
    "Config: -c FILE, else $MEDALLIOND_CONFIG, else /etc/medalliond/medalliond.yaml.\n"
    "Database: $MEDALLION_DATABASE_URL, else database.url, else $POSTGRES_URL.\n"
    "Exit codes: 0 ok, 1 failed, 2 bad usage/input, 69 not available, 75 locked.\n";

/* Every command's line, or only `command`'s when it is not NULL. */
static void usage(FILE *out, const char *command) {
    bool first = true;
    for (size_t i = 0; i < sizeof(synopsis) / sizeof(synopsis[0]); i++) {
        if (command != NULL && strcmp(command, synopsis[i][0]) != 0)
            continue;
        fprintf(out, "%s %s\n", first ? "usage:" : "      ", synopsis[i][1]);
        first = false;
    }
    fputs(FOOTER, out);
}

typedef int (*command_fn)(int argc, char **argv);

static const struct {
    const char *name;
    command_fn fn;
    bool own_help; /* prints its own, longer --help */
} commands[] = {
    {"migrate", md_cli_migrate, false},   {"check-config", md_cli_check_config, true},
    {"jobs", md_cli_jobs, true},          {"cron-next", md_cli_cron_next, true},
    {"status", md_cli_status, false},     {"run", md_cli_run, false},
    {"backfill", md_cli_backfill, false}, {"reprocess", md_cli_reprocess, false},
};

/* `medalliond CMD ... --help` (before any "--"). */
static bool wants_help(int argc, char **argv) {
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

int main(int argc, char **argv) {
    md_log_init();
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout, NULL);
        return MD_EXIT_OK;
    }
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        printf("medalliond %s\n", MEDALLION_VERSION);
        return MD_EXIT_OK;
    }
    if (argc >= 2 && argv[1][0] != '-') {
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            if (strcmp(argv[1], commands[i].name) == 0) {
                if (!commands[i].own_help && wants_help(argc, argv)) {
                    usage(stdout, commands[i].name);
                    return MD_EXIT_OK;
                }
                return commands[i].fn(argc - 1, argv + 1);
            }
        fprintf(stderr, "medalliond: unknown command '%s'\n\n", argv[1]);
        usage(stderr, NULL);
        return MD_EXIT_USAGE;
    }
    /* No command: the daemon itself. */
    return md_cli_daemon(argc, argv);
}
