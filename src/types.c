/* Small conversions for the shared value types. */
#include "medallion/types.h"

#include <errno.h>

void md_uuid_format(const md_uuid_t *u, char buf[37]) {
    static const char hex[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf[o++] = '-';
        buf[o++] = hex[u->b[i] >> 4];
        buf[o++] = hex[u->b[i] & 15];
    }
    buf[o] = '\0';
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int md_uuid_parse(const char *s, size_t len, md_uuid_t *ret) {
    md_uuid_t u = {.present = true};
    if (len >= 2 && s[0] == '{' && s[len - 1] == '}') {
        s++;
        len -= 2;
    }
    if (len != 36)
        return -EINVAL;
    int n = 0;
    for (size_t i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -EINVAL;
            continue;
        }
        int hi = hexval(s[i]), lo = i + 1 < len ? hexval(s[i + 1]) : -1;
        if (hi < 0 || lo < 0)
            return -EINVAL;
        u.b[n++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    *ret = u;
    return 0;
}
