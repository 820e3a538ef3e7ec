/* IANA zones from compiled TZif files (RFC 8536): the transition table plus the
 * footer POSIX TZ rule for instants after it, so per-job zones need no TZ/tzset.
 * Must never touch the process-wide TZ, call tzset()/localtime(), or log. */
#include "medallion/tz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TZ_MAX_FILE (1024 * 1024)
#define TZ_MAX_NAME 255

/* One DST boundary of a POSIX TZ rule: "Jn", "n" or "Mm.w.d", then "/time". */
typedef struct tz_rule_date {
    char kind; /* 'J' (1-365, Feb 29 never counted), 'D' (0-365), 'M' */
    int a, b, c;
    int32_t secs; /* local time of day of the switch; may be < 0 or > 24h */
} tz_rule_date_t;

typedef struct tz_posix {
    int32_t std_off; /* seconds east of UTC, unlike the string's west-positive */
    int32_t dst_off;
    bool has_dst;
    tz_rule_date_t start, end;
} tz_posix_t;

struct md_tz {
    char *name;
    size_t ntrans;
    int64_t *trans; /* ascending UTC instants */
    uint8_t *idx;   /* type in force from trans[i] on */
    size_t ntypes;
    int32_t *offs; /* utoff of each type */
    bool has_footer;
    tz_posix_t footer;
};

/* ---- calendar ---------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static bool is_leap(int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int md_days_in_month(int year, int month) {
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12)
        return 0;
    if (month == 2 && is_leap(year))
        return 29;
    return dim[month - 1];
}

/* Proleptic Gregorian, counted in 400-year eras that start on March 1 so the
 * leap day is the last day of the shifted year. */
int64_t md_days_from_civil(int year, int month, int day) {
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t mp = (month + 9) % 12; /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *ret_y, int *ret_m, int *ret_d) {
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    *ret_y = (int)(yoe + era * 400 + (m <= 2));
    *ret_m = (int)m;
    *ret_d = (int)d;
}

void md_civil_from_seconds(int64_t s, md_civil_t *ret) {
    int64_t days = floor_div(s, 86400);
    int64_t rem = s - days * 86400;
    civil_from_days(days, &ret->year, &ret->month, &ret->day);
    ret->hour = (int)(rem / 3600);
    ret->min = (int)(rem / 60 % 60);
    ret->sec = (int)(rem % 60);
    int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    ret->wday = (int)(w < 0 ? w + 7 : w);
}

int64_t md_seconds_from_civil(int year, int month, int day, int hour, int min, int sec) {
    return md_days_from_civil(year, month, day) * 86400 + (int64_t)hour * 3600 + min * 60 + sec;
}

/* ---- POSIX TZ footer ----------------------------------------------------- */

static bool parse_tz_name(const char **p) {
    const char *s = *p;
    if (*s == '<') {
        s++;
        const char *b = s;
        while (*s != '\0' && *s != '>')
            s++;
        if (*s != '>' || s - b < 3)
            return false;
        *p = s + 1;
        return true;
    }
    const char *b = s;
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
        s++;
    if (s - b < 3)
        return false;
    *p = s;
    return true;
}

static bool parse_num(const char **p, int lo, int hi, int *ret) {
    const char *s = *p;
    int v = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s - '0');
        if (v > hi)
            return false;
        s++;
    }
    if (v < lo)
        return false;
    *p = s;
    *ret = v;
    return true;
}

/* [+-]hh[:mm[:ss]], hours up to 167 as RFC 8536 allows in rule times. */
static bool parse_hms(const char **p, int32_t *ret) {
    const char *s = *p;
    int sign = 1, h, m = 0, sec = 0;
    if (*s == '+' || *s == '-') {
        sign = *s == '-' ? -1 : 1;
        s++;
    }
    if (!parse_num(&s, 0, 167, &h))
        return false;
    if (*s == ':') {
        s++;
        if (!parse_num(&s, 0, 59, &m))
            return false;
        if (*s == ':') {
            s++;
            if (!parse_num(&s, 0, 59, &sec))
                return false;
        }
    }
    *p = s;
    *ret = sign * (h * 3600 + m * 60 + sec);
    return true;
}

static bool parse_rule_date(const char **p, tz_rule_date_t *ret) {
    const char *s = *p;
    tz_rule_date_t r = {.secs = 7200};
    if (*s == 'J') {
        s++;
        r.kind = 'J';
        if (!parse_num(&s, 1, 365, &r.a))
            return false;
    } else if (*s == 'M') {
        s++;
        r.kind = 'M';
        if (!parse_num(&s, 1, 12, &r.a) || *s++ != '.' || !parse_num(&s, 1, 5, &r.b) ||
            *s++ != '.' || !parse_num(&s, 0, 6, &r.c))
            return false;
    } else {
        r.kind = 'D';
        if (!parse_num(&s, 0, 365, &r.a))
            return false;
    }
    if (*s == '/') {
        s++;
        if (!parse_hms(&s, &r.secs))
            return false;
    }
    *p = s;
    *ret = r;
    return true;
}

static bool parse_posix_tz(const char *s, tz_posix_t *ret) {
    tz_posix_t z = {0};
    int32_t west;
    if (!parse_tz_name(&s) || !parse_hms(&s, &west))
        return false;
    z.std_off = -west;
    if (*s == '\0') {
        *ret = z;
        return true;
    }
    if (!parse_tz_name(&s))
        return false;
    z.has_dst = true;
    z.dst_off = z.std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (!parse_hms(&s, &west))
            return false;
        z.dst_off = -west;
    }
    if (*s == '\0') {
        /* POSIX leaves the default rule to the implementation; US rules as glibc. */
        z.start = (tz_rule_date_t){'M', 3, 2, 0, 7200};
        z.end = (tz_rule_date_t){'M', 11, 1, 0, 7200};
    } else {
        if (*s++ != ',' || !parse_rule_date(&s, &z.start) || *s++ != ',' ||
            !parse_rule_date(&s, &z.end) || *s != '\0')
            return false;
    }
    *ret = z;
    return true;
}

/* Local midnight (seconds since the local epoch) of the rule's day in `year`. */
static int64_t rule_day_start(const tz_rule_date_t *r, int year) {
    int64_t jan1 = md_days_from_civil(year, 1, 1);
    switch (r->kind) {
    case 'J': {
        int64_t d = r->a - 1;
        if (is_leap(year) && r->a >= 60)
            d++;
        return (jan1 + d) * 86400;
    }
    case 'D':
        return (jan1 + r->a) * 86400;
    default: {
        int64_t first = md_days_from_civil(year, r->a, 1);
        int64_t wd = (first + 4) % 7;
        if (wd < 0)
            wd += 7;
        int64_t day = first + ((r->c - wd + 7) % 7) + (int64_t)(r->b - 1) * 7;
        int64_t dim = md_days_in_month(year, r->a);
        while (day >= first + dim) /* week 5 means "last" */
            day -= 7;
        return day * 86400;
    }
    }
}

static int32_t posix_offset_at(const tz_posix_t *z, int64_t t) {
    if (!z->has_dst)
        return z->std_off;
    md_civil_t c;
    md_civil_from_seconds(t + z->std_off, &c);
    /* The switch into DST is at standard local time, the switch back at DST local time. */
    int64_t start = rule_day_start(&z->start, c.year) + z->start.secs - z->std_off;
    int64_t end = rule_day_start(&z->end, c.year) + z->end.secs - z->dst_off;
    bool dst;
    if (start < end)
        dst = t >= start && t < end;
    else /* southern hemisphere: DST spans the new year */
        dst = !(t >= end && t < start);
    return dst ? z->dst_off : z->std_off;
}

/* ---- TZif ---------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p) {
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_hdr {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_hdr_t;

static bool read_hdr(const unsigned char *p, size_t len, tzif_hdr_t *ret) {
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    ret->version = (char)p[4];
    ret->isutcnt = be32(p + 20);
    ret->isstdcnt = be32(p + 24);
    ret->leapcnt = be32(p + 28);
    ret->timecnt = be32(p + 32);
    ret->typecnt = be32(p + 36);
    ret->charcnt = be32(p + 40);
    /* Counts beyond the file size are caught by the length check; these caps
     * keep the size arithmetic far from overflow. */
    return ret->typecnt >= 1 && ret->typecnt <= 256 && ret->timecnt <= 1000000 &&
           ret->leapcnt <= 100000 && ret->charcnt <= 100000 &&
           (ret->isutcnt == 0 || ret->isutcnt == ret->typecnt) &&
           (ret->isstdcnt == 0 || ret->isstdcnt == ret->typecnt);
}

static size_t block_len(const tzif_hdr_t *h, size_t tsize) {
    return h->timecnt * tsize + h->timecnt + h->typecnt * 6 + h->charcnt +
           h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

static int parse_tzif(md_tz_t *tz, const unsigned char *buf, size_t len) {
    tzif_hdr_t h;
    if (!read_hdr(buf, len, &h))
        return -EINVAL;
    size_t tsize = 4;
    const unsigned char *p = buf + 44;
    size_t left = len - 44;
    if (h.version >= '2') {
        size_t skip = block_len(&h, 4);
        if (left < skip)
            return -EINVAL;
        p += skip;
        left -= skip;
        if (!read_hdr(p, left, &h))
            return -EINVAL;
        p += 44;
        left -= 44;
        tsize = 8;
    }
    size_t blen = block_len(&h, tsize);
    if (left < blen)
        return -EINVAL;

    tz->ntrans = h.timecnt;
    tz->ntypes = h.typecnt;
    tz->trans = calloc(h.timecnt ? h.timecnt : 1, sizeof(*tz->trans));
    tz->idx = calloc(h.timecnt ? h.timecnt : 1, 1);
    tz->offs = calloc(h.typecnt, sizeof(*tz->offs));
    if (tz->trans == NULL || tz->idx == NULL || tz->offs == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < h.timecnt; i++) {
        tz->trans[i] = tsize == 8 ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
        if (i > 0 && tz->trans[i] <= tz->trans[i - 1])
            return -EINVAL;
    }
    p += h.timecnt * tsize;
    for (size_t i = 0; i < h.timecnt; i++) {
        if (p[i] >= h.typecnt)
            return -EINVAL;
        tz->idx[i] = p[i];
    }
    p += h.timecnt;
    for (size_t i = 0; i < h.typecnt; i++) {
        int32_t off = (int32_t)be32(p + i * 6);
        if (off < -89999 || off > 93599) /* RFC 8536: within (-25h, 26h) */
            return -EINVAL;
        tz->offs[i] = off;
    }
    p += blen - h.timecnt * tsize - h.timecnt;
    left -= blen;

    if (tsize == 8 && left >= 2 && p[0] == '\n') {
        const unsigned char *nl = memchr(p + 1, '\n', left - 1);
        if (nl == NULL)
            return -EINVAL;
        size_t flen = (size_t)(nl - p - 1);
        if (flen > 0) {
            char footer[256];
            if (flen >= sizeof(footer))
                return -EINVAL;
            memcpy(footer, p + 1, flen);
            footer[flen] = '\0';
            if (!parse_posix_tz(footer, &tz->footer))
                return -EINVAL;
            tz->has_footer = true;
        }
    }
    return 0;
}

static bool name_ok(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > TZ_MAX_NAME || name[0] == '/' || strstr(name, "..") != NULL)
        return false;
    for (const char *s = name; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '+' || c == '-'))
            return false;
    }
    return true;
}

void md_tz_free(md_tz_t *tz) {
    if (tz == NULL)
        return;
    free(tz->name);
    free(tz->trans);
    free(tz->idx);
    free(tz->offs);
    free(tz);
}

static int read_file(const char *path, unsigned char **ret_buf, size_t *ret_len) {
    FILE *f = fopen(path, "rbe");
    if (f == NULL)
        return -errno;
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > TZ_MAX_FILE) {
        fclose(f);
        return -EINVAL;
    }
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        fclose(f);
        return -ENOMEM;
    }
    size_t len = fread(buf, 1, (size_t)st.st_size, f);
    bool err = ferror(f) != 0;
    fclose(f);
    if (err) {
        free(buf);
        return -EIO;
    }
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

int md_tz_load(const char *name, md_tz_t **ret_tz, md_error_t *ret_err) {
    if (name == NULL || !name_ok(name))
        return md_error_set(ret_err, -EINVAL, "bad time zone name \"%s\"", name ? name : "");

    md_tz_t *tz = calloc(1, sizeof(*tz));
    if (tz == NULL)
        return md_error_set(ret_err, -ENOMEM, "out of memory");
    tz->name = strdup(name);
    if (tz->name == NULL) {
        md_tz_free(tz);
        return md_error_set(ret_err, -ENOMEM, "out of memory");
    }
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0 || strcmp(name, "Z") == 0) {
        /* Built in, so UTC works on hosts without tzdata. */
        tz->ntypes = 1;
        tz->offs = calloc(1, sizeof(*tz->offs));
        if (tz->offs == NULL) {
            md_tz_free(tz);
            return md_error_set(ret_err, -ENOMEM, "out of memory");
        }
        *ret_tz = tz;
        return 0;
    }

    const char *dir = getenv("TZDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/usr/share/zoneinfo";
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        md_tz_free(tz);
        return md_error_set(ret_err, -EINVAL, "time zone path too long for \"%s\"", name);
    }
    unsigned char *buf = NULL;
    size_t len = 0;
    int r = read_file(path, &buf, &len);
    if (r < 0) {
        md_tz_free(tz);
        if (r == -ENOENT || r == -ENOTDIR)
            return md_error_set(ret_err, -ENOENT, "unknown time zone \"%s\" (no %s)", name, path);
        if (r == -EINVAL)
            return md_error_set(ret_err, -EINVAL, "time zone \"%s\": %s is not a zone file", name,
                                path);
        return md_error_set(ret_err, r, "time zone \"%s\": cannot read %s: %s", name, path,
                            strerror(-r));
    }
    r = parse_tzif(tz, buf, len);
    free(buf);
    if (r < 0) {
        md_tz_free(tz);
        if (r == -ENOMEM)
            return md_error_set(ret_err, r, "out of memory");
        return md_error_set(ret_err, r, "time zone \"%s\": %s is not a valid TZif file", name,
                            path);
    }
    *ret_tz = tz;
    return 0;
}

const char *md_tz_name(const md_tz_t *tz) {
    return tz == NULL ? "UTC" : tz->name;
}

int32_t md_tz_offset_at(const md_tz_t *tz, int64_t t_utc) {
    if (tz == NULL)
        return 0;
    if (tz->ntrans == 0)
        return tz->has_footer ? posix_offset_at(&tz->footer, t_utc) : tz->offs[0];
    if (t_utc < tz->trans[0])
        return tz->offs[0]; /* RFC 8536 3.2: type 0 before the first transition */
    if (t_utc >= tz->trans[tz->ntrans - 1] && tz->has_footer)
        return posix_offset_at(&tz->footer, t_utc);
    size_t lo = 0, hi = tz->ntrans; /* find last trans <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t_utc)
            lo = mid;
        else
            hi = mid;
    }
    return tz->offs[tz->idx[lo]];
}

int64_t md_tz_utc_to_local(const md_tz_t *tz, int64_t t_utc) {
    return t_utc + md_tz_offset_at(tz, t_utc);
}

int md_tz_local_to_utc(const md_tz_t *tz, int64_t local, int64_t ret_utc[2]) {
    /* Any instant showing `local` lies within a day of it, and real zones change
     * offset at most once in such a window; so the offsets in force a day either
     * side, and the ones they point at, are the only candidates. */
    int32_t cand[4];
    cand[0] = md_tz_offset_at(tz, local - 86400);
    cand[1] = md_tz_offset_at(tz, local + 86400);
    cand[2] = md_tz_offset_at(tz, local - cand[0]);
    cand[3] = md_tz_offset_at(tz, local - cand[1]);
    int64_t found[4];
    int n = 0;
    for (int i = 0; i < 4; i++) {
        int64_t u = local - cand[i];
        if (md_tz_offset_at(tz, u) != cand[i])
            continue;
        bool dup = false;
        for (int j = 0; j < n; j++)
            dup = dup || found[j] == u;
        if (!dup)
            found[n++] = u;
    }
    for (int i = 1; i < n; i++) /* insertion sort, n <= 4 */
        for (int j = i; j > 0 && found[j] < found[j - 1]; j--) {
            int64_t t = found[j];
            found[j] = found[j - 1];
            found[j - 1] = t;
        }
    if (n > 2)
        n = 2;
    for (int i = 0; i < n; i++)
        ret_utc[i] = found[i];
    return n;
}
