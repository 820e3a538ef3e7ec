/* Forward-only SQL migrations from migrations/NNN_name.sql: applied in order,
 * each in its own transaction, under an advisory lock, recorded with a checksum
 * in medallion.schema_migrations. Never edits or re-runs an applied file. */
#ifndef MEDALLION_MIGRATE_H
#define MEDALLION_MIGRATE_H

#include <libpq-fe.h>
#include <stdio.h>

#include "medallion/error.h"

/* The directory to read: $MEDALLIOND_MIGRATIONS, else <exe dir>/../share/medalliond/migrations,
 * else the install prefix's share dir, else the source tree's migrations/. */
const char *md_migrate_dir(void);

/* Apply every pending file. Progress lines go to `out` (may be NULL).
 * ret_applied gets the number of files applied now. */
int md_migrate_apply(PGconn *conn, const char *dir, FILE *out, int *ret_applied,
                     md_error_t *ret_err) MD_MUST_CHECK;

/* Count files not yet applied (and verify applied checksums); the daemon
 * refuses to start while this is non-zero. Never writes. */
int md_migrate_pending(PGconn *conn, const char *dir, int *ret_pending,
                       md_error_t *ret_err) MD_MUST_CHECK;

#endif
