/* Keeping the database password out of every message (product.md §1: "A
 * password never appears in a log line or an error message"). A conninfo is a
 * libpq key/value string or a postgresql:// URI, possibly malformed: the rules
 * err on the side of hiding too much. String functions; only
 * md_conninfo_parse_error asks libpq. */
#ifndef MEDALLION_CONNINFO_H
#define MEDALLION_CONNINFO_H

#include <stdbool.h>
#include <stddef.h>

/* conninfo with every secret replaced by "***", into buf (always
 * NUL-terminated, truncated to len). Secrets:
 * - a URI's password: everything between the first ':' of the userinfo and
 *   the last '@' before the query, so that a password with an unencoded '/'
 *   or '@' is hidden whole (libpq itself would misread such a URI);
 * - the value of a `password=` query parameter;
 * - the value of a key/value `password` (quoted or not, backslash escapes
 *   honoured), and everything after a keyword that has no '=' (a malformed
 *   string is cut rather than echoed). */
void md_conninfo_redact(const char *conninfo, char *buf, size_t len);

/* Scrubs a message produced from conninfo (libpq's errors quote pieces of it):
 * every occurrence of a secret is replaced by "***", and so is every quoted
 * "..." part that shares 3 or more consecutive characters with a secret (or
 * all of a shorter secret), e.g. the "Xy7" libpq names as a bad port when a
 * password holds a '/'. In place; msg stays NUL-terminated within cap. */
void md_conninfo_scrub(const char *conninfo, char *msg, size_t cap);

/* Replaces every quoted "..." part longer than one character by "***": for
 * messages about a conninfo that cannot be parsed at all, where any quoted
 * fragment may be part of a secret. In place, within cap. */
void md_conninfo_scrub_quoted(char *msg, size_t cap);

/* Whether libpq can parse conninfo at all. When it cannot, true, with its
 * reason in msg (every quoted fragment masked: any may be a secret). A
 * string that cannot be parsed is a configuration error, not an unreachable
 * database to retry forever. */
bool md_conninfo_parse_error(const char *conninfo, char *msg, size_t cap);

#endif
