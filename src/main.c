/* medalliond: argv → command. Nothing else lives here. */
#include <stdio.h>
#include <string.h>

#include "medallion/cli.h"
#include "medallion/log.h"

static void usage(FILE *out) {
    fputs("usage: medalliond [-c FILE]                 run the daemon (systemd Type=notify)\n"
          "       medalliond run [-c FILE] JOB...|--all run jobs once, in dependency order\n"
          "       medalliond migrate [-c FILE]         apply pending SQL migrations\n"
          "       medalliond check-config [-c FILE]    validate the configuration\n"
          "       medalliond jobs [-c FILE]            list jobs and their next fire times\n"
          "       medalliond cron-next EXPR [--from TS] [--count N] [--tz ZONE]\n"
          "       medalliond status [-c FILE] [--limit N]\n"
          "       medalliond backfill [-c FILE] --from DATE --to DATE [JOB...]\n"
          "       medalliond reprocess [-c FILE] --from TS --to TS JOB...\n"
          "       medalliond --version | --help\n"
          "\n"
          "Config: -c FILE, else $MEDALLIOND_CONFIG, else /etc/medalliond/medalliond.yaml.\n"
          "Database: $MEDALLION_DATABASE_URL, else database.url, else $POSTGRES_URL.\n"
          "Exit codes: 0 ok, 1 failed, 2 bad usage/input, 69 not available, 75 locked.\n",
          out);
}

typedef int (*command_fn)(int argc, char **argv);

static const struct {
    const char *name;
    command_fn fn;
} commands[] = {
    {"migrate", md_cli_migrate},   {"check-config", md_cli_check_config},
    {"jobs", md_cli_jobs},         {"cron-next", md_cli_cron_next},
    {"status", md_cli_status},     {"run", md_cli_run},
    {"backfill", md_cli_backfill}, {"reprocess", md_cli_reprocess},
};

int main(int argc, char **argv) {
    md_log_init();
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return MD_EXIT_OK;
    }
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        printf("medalliond %s\n", MEDALLION_VERSION);
        return MD_EXIT_OK;
    }
    if (argc >= 2 && argv[1][0] != '-') {
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            if (strcmp(argv[1], commands[i].name) == 0)
                return commands[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "medalliond: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return MD_EXIT_USAGE;
    }
    /* No command: the daemon itself. */
    return md_cli_daemon(argc, argv);
}
