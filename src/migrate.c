/* `medalliond migrate`: applies migrations/NNN_name.sql in order. Each file runs
 * in its own transaction together with its bookkeeping row, under a session
 * advisory lock, so two processes migrating at once are safe. A file whose
 * checksum changed after it was applied is refused, never re-run. */
#include "medallion/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medallion/pg.h"
#include "medallion/transform/sha256.h"

/* Arbitrary but fixed: every medalliond agrees on it, nothing else uses it. */
#define MIGRATE_LOCK_KEY "7301930184617290001"

typedef struct migration_file {
    char version[256]; /* file name without .sql */
    char path[PATH_MAX];
    char *sql;
    size_t len;
    char checksum[65];
} migration_file_t;

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *md_migrate_dir(void) {
    static char buf[PATH_MAX];
    const char *env = getenv("MEDALLIOND_MIGRATIONS");
    if (env != NULL && env[0] != '\0')
        return env;
    char exe[PATH_MAX - 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(buf, sizeof(buf), "%s/../share/medalliond/migrations", exe);
            if (is_dir(buf))
                return buf;
        }
    }
    if (is_dir(MEDALLION_MIGRATIONS_DIR))
        return MEDALLION_MIGRATIONS_DIR;
    return MEDALLION_SOURCE_MIGRATIONS_DIR;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(((const migration_file_t *)a)->version, ((const migration_file_t *)b)->version);
}

static void free_files(migration_file_t *files, int n) {
    for (int i = 0; i < n; i++)
        free(files[i].sql);
    free(files);
}

static int read_file(migration_file_t *f, md_error_t *err) {
    FILE *fp = fopen(f->path, "rb");
    if (fp == NULL)
        return md_error_set(err, -errno, "cannot read %s: %s", f->path, strerror(errno));
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t r = fread(buf + len, 1, cap - len - 1, fp);
        len += r;
        if (r == 0)
            break;
        if (cap - len - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    bool failed = ferror(fp);
    fclose(fp);
    if (buf == NULL)
        return md_error_set(err, -ENOMEM, "out of memory reading %s", f->path);
    if (failed) {
        free(buf);
        return md_error_set(err, -EIO, "error reading %s", f->path);
    }
    buf[len] = '\0';
    f->sql = buf;
    f->len = len;
    uint8_t digest[MD_SHA256_DIGEST_LEN];
    md_sha256(buf, len, digest);
    md_sha256_hex(digest, f->checksum);
    return 0;
}

/* NNN_name.sql files, sorted; anything else in the directory is ignored. */
static int list_files(const char *dir, migration_file_t **ret_files, int *ret_n, md_error_t *err) {
    DIR *d = opendir(dir);
    if (d == NULL)
        return md_error_set(err, -errno, "cannot open migrations directory %s: %s", dir,
                            strerror(errno));
    migration_file_t *files = NULL;
    int n = 0, cap = 0, rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        size_t l = strlen(name);
        if (l < 8 || strcmp(name + l - 4, ".sql") != 0 || name[0] < '0' || name[0] > '9' ||
            l - 4 >= sizeof(files[0].version))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            migration_file_t *nf = realloc(files, (size_t)cap * sizeof(*files));
            if (nf == NULL) {
                rc = md_error_set(err, -ENOMEM, "out of memory");
                break;
            }
            files = nf;
        }
        memset(&files[n], 0, sizeof(files[n]));
        memcpy(files[n].version, name, l - 4);
        snprintf(files[n].path, sizeof(files[n].path), "%s/%s", dir, name);
        n++;
    }
    closedir(d);
    if (rc != 0) {
        free_files(files, n);
        return rc;
    }
    if (n == 0) {
        free(files);
        return md_error_set(err, -ENOENT, "no migrations (NNN_name.sql) found in %s", dir);
    }
    qsort(files, (size_t)n, sizeof(*files), name_cmp);
    for (int i = 0; i < n; i++) {
        if ((rc = read_file(&files[i], err)) != 0) {
            free_files(files, n);
            return rc;
        }
    }
    *ret_files = files;
    *ret_n = n;
    return 0;
}

/* Quiet: "already exists" notices on every run would only be noise. */
static const char *BOOTSTRAP_SQL = "SET client_min_messages = warning;"
                                   "CREATE SCHEMA IF NOT EXISTS medallion;"
                                   "CREATE TABLE IF NOT EXISTS medallion.schema_migrations ("
                                   "  version text PRIMARY KEY,"
                                   "  checksum text NOT NULL,"
                                   "  applied_at timestamptz NOT NULL DEFAULT now(),"
                                   "  applied_by text NOT NULL DEFAULT current_user);"
                                   "RESET client_min_messages";

/* Look up the recorded checksum of version; "" when not applied. */
static int applied_checksum(PGresult *applied, const char *version, const char **ret) {
    for (int r = 0; r < PQntuples(applied); r++)
        if (strcmp(PQgetvalue(applied, r, 0), version) == 0) {
            *ret = PQgetvalue(applied, r, 1);
            return 1;
        }
    *ret = "";
    return 0;
}

static int check_applied(PGresult *applied, migration_file_t *files, int n, int *ret_pending,
                         md_error_t *err) {
    int pending = 0;
    for (int i = 0; i < n; i++) {
        const char *sum;
        if (!applied_checksum(applied, files[i].version, &sum)) {
            pending++;
            continue;
        }
        if (strcmp(sum, files[i].checksum) != 0)
            return md_error_set(err, -EEXIST,
                                "migration %s.sql was changed after it was applied "
                                "(recorded checksum %.12s..., file now %.12s...); migrations are "
                                "forward-only: restore the file and add a new migration instead",
                                files[i].version, sum, files[i].checksum);
    }
    *ret_pending = pending;
    return 0;
}

static PGresult *fetch_applied(PGconn *conn, md_error_t *err) {
    return md_pg_query(conn, "SELECT version, checksum FROM medallion.schema_migrations", 0, NULL,
                       err);
}

int md_migrate_pending(PGconn *conn, const char *dir, int *ret_pending, md_error_t *ret_err) {
    migration_file_t *files;
    int n, rc;
    if ((rc = list_files(dir, &files, &n, ret_err)) != 0)
        return rc;
    PGresult *exists = md_pg_query(
        conn, "SELECT to_regclass('medallion.schema_migrations') IS NOT NULL", 0, NULL, ret_err);
    if (exists == NULL) {
        free_files(files, n);
        return ret_err ? ret_err->code : -EIO;
    }
    bool have_table = strcmp(PQgetvalue(exists, 0, 0), "t") == 0;
    PQclear(exists);
    if (!have_table) {
        free_files(files, n);
        *ret_pending = n;
        return 0;
    }
    PGresult *applied = fetch_applied(conn, ret_err);
    if (applied == NULL) {
        free_files(files, n);
        return ret_err ? ret_err->code : -EIO;
    }
    int pending = 0;
    rc = check_applied(applied, files, n, &pending, ret_err);
    PQclear(applied);
    free_files(files, n);
    if (rc == 0)
        *ret_pending = pending;
    return rc;
}

static int apply_one(PGconn *conn, const migration_file_t *f, md_error_t *err) {
    int rc = md_pg_exec(conn, "BEGIN", err);
    if (rc != 0)
        return rc;
    PGresult *res = PQexec(conn, f->sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        md_error_t e = {0};
        md_pg_error(conn, res, "", &e);
        PQclear(res);
        PGresult *rb = PQexec(conn, "ROLLBACK");
        PQclear(rb);
        /* The one step a non-superuser owner cannot take (PostgreSQL 15): 007
         * creating service_role WITH BYPASSRLS where it does not exist yet. */
        bool needs_superuser = strcmp(e.sqlstate, "42501") == 0 && strstr(e.msg, "bypassrls");
        rc = md_error_set(
            err, -EIO, "migration %s.sql failed and was rolled back%s%s", f->version, e.msg,
            needs_superuser ? "; have a superuser run `CREATE ROLE service_role NOLOGIN "
                              "NOINHERIT BYPASSRLS;` once (or run this migrate as a "
                              "superuser), then run migrate again"
                            : "");
        if (err != NULL)
            memcpy(err->sqlstate, e.sqlstate, sizeof(err->sqlstate));
        return rc;
    }
    PQclear(res);
    const char *params[] = {f->version, f->checksum};
    res = md_pg_query(conn,
                      "INSERT INTO medallion.schema_migrations (version, checksum) VALUES ($1, $2)",
                      2, params, err);
    if (res == NULL) {
        PGresult *rb = PQexec(conn, "ROLLBACK");
        PQclear(rb);
        return err ? err->code : -EIO;
    }
    PQclear(res);
    return md_pg_exec(conn, "COMMIT", err);
}

int md_migrate_apply(PGconn *conn, const char *dir, FILE *out, int *ret_applied,
                     md_error_t *ret_err) {
    migration_file_t *files;
    int n, rc, applied_now = 0;
    if ((rc = list_files(dir, &files, &n, ret_err)) != 0)
        return rc;
    /* Session-level lock: held across the per-file transactions, released by
     * the explicit unlock below or by the session ending on any failure. */
    if ((rc = md_pg_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", ret_err)) != 0)
        goto out;
    if ((rc = md_pg_exec(conn, BOOTSTRAP_SQL, ret_err)) != 0)
        goto unlock;
    PGresult *applied = fetch_applied(conn, ret_err);
    if (applied == NULL) {
        rc = ret_err ? ret_err->code : -EIO;
        goto unlock;
    }
    int pending = 0;
    rc = check_applied(applied, files, n, &pending, ret_err);
    for (int i = 0; rc == 0 && i < n; i++) {
        const char *sum;
        if (applied_checksum(applied, files[i].version, &sum))
            continue;
        if ((rc = apply_one(conn, &files[i], ret_err)) != 0)
            break;
        applied_now++;
        if (out != NULL)
            fprintf(out, "applied %s.sql\n", files[i].version);
    }
    PQclear(applied);
unlock:;
    md_error_t ignore = {0};
    if (md_pg_exec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", &ignore) != 0 &&
        rc == 0)
        rc = 0; /* the lock dies with the session anyway */
out:
    free_files(files, n);
    if (rc == 0)
        *ret_applied = applied_now;
    return rc;
}
