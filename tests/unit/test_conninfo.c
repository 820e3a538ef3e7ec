/* conninfo.c: passwords never survive redaction or scrubbing, whatever the
 * shape of the string (well-formed, misread by libpq, or malformed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "medallion/conninfo.h"

static const struct {
    const char *in, *want;
} redact_cases[] = {
    /* URIs */
    {"postgresql://etl:s3cret@db.example.com:5432/postgres",
     "postgresql://etl:***@db.example.com:5432/postgres"},
    {"postgres://etl@db/postgres", "postgres://etl@db/postgres"},
    {"postgresql://db/postgres", "postgresql://db/postgres"},
    {"postgresql://etl:@db/postgres", "postgresql://etl:@db/postgres"}, /* empty password */
    /* an unencoded '/' or '@' in the password: hidden whole */
    {"postgresql://etl:Xy7/Qp+Z9w==@db.example.com:5432/postgres",
     "postgresql://etl:***@db.example.com:5432/postgres"},
    {"postgresql://u:abc@def@h/db", "postgresql://u:***@h/db"},
    {"postgresql://u:S3cr3tPw@[::1:bad/db", "postgresql://u:***@[::1:bad/db"},
    {"postgresql://u:S3cr3tPw%zz@h/db", "postgresql://u:***@h/db"},
    {"postgresql://h/db?user=u&password=s3cret&sslmode=require",
     "postgresql://h/db?user=u&password=***&sslmode=require"},
    {"postgresql://h/db?password=s3cret", "postgresql://h/db?password=***"},
    {"postgresql://u:p1@h1:5432,h2:5433/db", "postgresql://u:***@h1:5432,h2:5433/db"},
    /* key/value */
    {"host=h user=u password=s3cret dbname=d", "host=h user=u password=*** dbname=d"},
    {"password=s3cret", "password=***"},
    /* the client key's password */
    {"host=h sslpassword=KeyPassPW sslkey=/k", "host=h sslpassword=*** sslkey=/k"},
    {"postgresql://etl@h:1/db?sslpassword=KeyPassPW&sslmode=verify-full",
     "postgresql://etl@h:1/db?sslpassword=***&sslmode=verify-full"},
    {"postgresql://h/db?sslmode=require&sslpassword=s3cret",
     "postgresql://h/db?sslmode=require&sslpassword=***"},
    {"host=h password = s3cret", "host=h password = ***"},
    {"host=h password='s3 cr\\'et' dbname=d", "host=h password=*** dbname=d"},
    {"host=h password=abc\\ SECRETTAIL dbname=d", "host=h password=*** dbname=d"},
    {"host=h\tpassword=s3cret", "host=h\tpassword=***"},
    /* malformed: the rest is cut */
    {"host=h password S3cr3tPw", "host=h ***"},
    {"host=h passwordS3cr3tPw", "host=h ***"},
    {"host=h user=u", "host=h user=u"},
    {"", ""},
};

static void test_redact(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(redact_cases) / sizeof(redact_cases[0]); i++) {
        char buf[256];
        md_conninfo_redact(redact_cases[i].in, buf, sizeof(buf));
        if (strcmp(buf, redact_cases[i].want) != 0)
            fail_msg("redact %zu: \"%s\" gave \"%s\", want \"%s\"", i, redact_cases[i].in, buf,
                     redact_cases[i].want);
    }
}

static void test_redact_truncates(void **state) {
    (void)state;
    char buf[12];
    md_conninfo_redact("postgresql://etl:s3cret@db/postgres", buf, sizeof(buf));
    assert_string_equal(buf, "postgresql:");
    md_conninfo_redact("password=s3cret", buf, 1);
    assert_string_equal(buf, "");
    char big[8];
    md_conninfo_redact(NULL, big, sizeof(big));
    assert_string_equal(big, "");
}

static const struct {
    const char *conninfo, *msg, *want;
} scrub_cases[] = {
    /* libpq quotes a piece of a misread password as the port */
    {"postgresql://etl:Xy7/Qp+Z9w==@db.example.com:5432/postgres",
     "invalid integer value \"Xy7\" for connection option \"port\"",
     "invalid integer value \"***\" for connection option \"port\""},
    /* the tail of a password with '@' taken for the host */
    {"postgresql://u:abc@def@h/db", "could not translate host name \"def@h\" to address",
     "could not translate host name \"***\" to address"},
    /* the whole secret anywhere */
    {"postgresql://u:S3cr3tPw@[::1:bad/db",
     "end of string reached in URI: \"postgresql://u:S3cr3tPw@[::1:bad/db\"",
     "end of string reached in URI: \"***\""},
    {"host=h password=s3cretpw", "FATAL: password s3cretpw is wrong",
     "FATAL: password *** is wrong"},
    /* unrelated quoted parts stay */
    {"host=db.example.com password=zz9qq", "connection to server at \"db.example.com\" failed",
     "connection to server at \"db.example.com\" failed"},
    /* a short password: all of it must match to mask a quoted part */
    {"host=h password=ab", "bad \"xaby\" and \"q\"", "bad \"***\" and \"q\""},
    {"host=h user=u", "nothing \"secret\" here", "nothing \"secret\" here"},
};

static void test_scrub(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(scrub_cases) / sizeof(scrub_cases[0]); i++) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", scrub_cases[i].msg);
        md_conninfo_scrub(scrub_cases[i].conninfo, msg, sizeof(msg));
        if (strcmp(msg, scrub_cases[i].want) != 0)
            fail_msg("scrub %zu: gave \"%s\", want \"%s\"", i, msg, scrub_cases[i].want);
    }
}

static void test_scrub_quoted(void **state) {
    (void)state;
    char msg[128] = "invalid percent-encoded token: \"S3cr3tPw%zz\" near \"]\"";
    md_conninfo_scrub_quoted(msg, sizeof(msg));
    assert_string_equal(msg, "invalid percent-encoded token: \"***\" near \"]\"");
    char uri[160] = "end of string reached when looking for matching \"]\" in IPv6 host address "
                    "in URI: \"postgresql://u:S3cr3tPw@[::1:bad/db\"";
    md_conninfo_scrub_quoted(uri, sizeof(uri));
    assert_string_equal(uri, "end of string reached when looking for matching \"]\" in IPv6 host "
                             "address in URI: \"***\"");
    char small[10] = "a \"bcdef\"";
    md_conninfo_scrub_quoted(small, sizeof(small));
    assert_string_equal(small, "a \"***\"");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_redact_truncates),
        cmocka_unit_test(test_scrub),
        cmocka_unit_test(test_scrub_quoted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
