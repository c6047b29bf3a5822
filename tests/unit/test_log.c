/* util/log: JSON escaping, timestamps, the log file in text and JSON form. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

#define TIME_RE "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z"

struct fixture {
        char *dir;
        char *path;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        f->dir = unit_mkdtemp();
        f->path = unit_path(f->dir, "log");
        log_set_level(LOG_LEVEL_INFO);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        log_open_file(NULL, LOG_FORMAT_TEXT, NULL);
        log_set_level(LOG_LEVEL_WARN);
        unit_rm_rf(f->dir);
        free(f->path);
        free(f->dir);
        free(f);
        return 0;
}

static bool matches(const char *re, const char *s)
{
        regex_t r;
        bool ok;

        assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
        ok = regexec(&r, s, 0, NULL, 0) == 0;
        regfree(&r);
        return ok;
}

static void escape_eq(const char *in, const char *want)
{
        char out[256];

        log_json_escape(in, out, sizeof(out));
        assert_string_equal(out, want);
}

static void test_escape_plain_text_unchanged(void **state)
{
        escape_eq("hello, world /x", "hello, world /x");
}

static void test_escape_quote_and_backslash(void **state)
{
        escape_eq("say \"hi\" \\o/", "say \\\"hi\\\" \\\\o/");
}

static void test_escape_newline_and_tab(void **state)
{
        escape_eq("a\nb\tc", "a\\nb\\tc");
}

static void test_escape_control_chars_as_u00xx(void **state)
{
        escape_eq("\x01|\x1f|\r|\x1b", "\\u0001|\\u001f|\\u000d|\\u001b");
}

static void test_escape_utf8_passes_through(void **state)
{
        escape_eq("caf\xc3\xa9", "caf\xc3\xa9");
}

/* Every size: never writes past size, always NUL-terminates, and cuts only
 * between escapes, so the result is still a valid JSON string body. */
static void test_escape_truncation_never_overruns(void **state)
{
        const char *in = "\"\\\n\x01" "abc\x1f\"\"\\\\\x02xyz\t\x7f";
        char out[96];

        for (size_t size = 1; size < 64; size++) {
                char doc[128];
                json_t *j;

                memset(out, 'Z', sizeof(out));
                log_json_escape(in, out, size);
                assert_non_null(memchr(out, '\0', size));
                for (size_t i = size; i < sizeof(out); i++)
                        assert_int_equal(out[i], 'Z');
                snprintf(doc, sizeof(doc), "\"%s\"", out);
                j = json_loads(doc, JSON_DECODE_ANY, NULL);
                assert_non_null(j);
                json_decref(j);
        }
}

static void test_escape_size_zero_writes_nothing(void **state)
{
        char out[4] = "ZZZ";

        log_json_escape("abc", out, 0);
        assert_string_equal(out, "ZZZ");
}

static void test_format_time_is_rfc3339_nanoseconds_utc(void **state)
{
        char buf[48];

        log_format_time(buf, sizeof(buf));
        assert_true(matches("^" TIME_RE "$", buf));
}

static void test_format_time_is_now(void **state)
{
        char buf[48];
        struct tm tm = { 0 };
        time_t t;

        log_format_time(buf, sizeof(buf));
        assert_non_null(strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm));
        t = timegm(&tm);
        assert_true(labs((long) (t - time(NULL))) <= 2);
}

static json_t *only_json_line(const char *path)
{
        char *text = unit_read(path);
        json_error_t jerr;
        json_t *j;
        size_t n;

        assert_non_null(text);
        n = strlen(text);
        assert_true(n > 0);
        assert_int_equal(text[n - 1], '\n');
        assert_ptr_equal(strchr(text, '\n'), text + n - 1); /* one line */
        j = json_loads(text, 0, &jerr);
        if (!j)
                print_error("not JSON (%s): %s\n", jerr.text, text);
        assert_non_null(j);
        free(text);
        return j;
}

static void test_json_file_has_level_msg_time(void **state)
{
        struct fixture *f = *state;
        json_t *j;

        assert_int_equal(log_open_file(f->path, LOG_FORMAT_JSON, NULL), 0);
        log_info("hello %s", "world");
        j = only_json_line(f->path);
        assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
        assert_string_equal(json_string_value(json_object_get(j, "msg")), "hello world");
        assert_true(matches("^" TIME_RE "$", json_string_value(json_object_get(j, "time"))));
        json_decref(j);
}

static void test_json_file_roundtrips_special_chars(void **state)
{
        struct fixture *f = *state;
        const char *msg = "a \"quoted\" \\path\\\nsecond\tline \x01\x1f";
        json_t *j;

        assert_int_equal(log_open_file(f->path, LOG_FORMAT_JSON, NULL), 0);
        log_warn("%s", msg);
        j = only_json_line(f->path);
        assert_string_equal(json_string_value(json_object_get(j, "msg")), msg);
        assert_string_equal(json_string_value(json_object_get(j, "level")), "warning");
        json_decref(j);
}

/* Regression (found by this test, fixed): log_json_escape() copies bytes >= 0x80 as they are, so a message
 * with invalid UTF-8 (a Latin-1 file name, or a multi-byte character cut by
 * truncation) makes a line strict JSON parsers reject.  Expected: invalid
 * sequences written as \ufffd. */
static void test_json_file_invalid_utf8_still_json(void **state)
{
        struct fixture *f = *state;
        json_t *j;

        assert_int_equal(log_open_file(f->path, LOG_FORMAT_JSON, NULL), 0);
        log_warn("file \xff\xfe.txt");
        j = only_json_line(f->path);
        json_decref(j);
}

static void test_text_file_is_logrus_form(void **state)
{
        struct fixture *f = *state;
        char *text;

        assert_int_equal(log_open_file(f->path, LOG_FORMAT_TEXT, NULL), 0);
        log_info("hello \"x\"");
        text = unit_read(f->path);
        assert_true(matches("^time=\"" TIME_RE "\" level=info msg=\"hello \\\\\"x\\\\\"\"\n$", text));
        free(text);
}

static void test_level_filter_drops_debug_at_info(void **state)
{
        struct fixture *f = *state;
        json_t *j;

        log_set_level(LOG_LEVEL_INFO);
        assert_int_equal(log_open_file(f->path, LOG_FORMAT_JSON, NULL), 0);
        log_debug("dropped");
        log_info("kept");
        j = only_json_line(f->path);
        assert_string_equal(json_string_value(json_object_get(j, "msg")), "kept");
        json_decref(j);
}

static void test_level_filter_keeps_debug_at_debug(void **state)
{
        struct fixture *f = *state;
        json_t *j;

        log_set_level(LOG_LEVEL_DEBUG);
        assert_int_equal(log_open_file(f->path, LOG_FORMAT_JSON, NULL), 0);
        log_debug("seen");
        j = only_json_line(f->path);
        assert_string_equal(json_string_value(json_object_get(j, "level")), "debug");
        json_decref(j);
}

static void test_file_created_0600(void **state)
{
        struct fixture *f = *state;
        mode_t old = umask(0);
        struct stat st;

        assert_int_equal(log_open_file(f->path, LOG_FORMAT_TEXT, NULL), 0);
        umask(old);
        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_file_is_appended_not_truncated(void **state)
{
        struct fixture *f = *state;
        char *text;

        unit_write(f->path, "earlier line\n");
        assert_int_equal(log_open_file(f->path, LOG_FORMAT_TEXT, NULL), 0);
        log_warn("later");
        text = unit_read(f->path);
        assert_memory_equal(text, "earlier line\n", 13);
        assert_contains(text + 13, "msg=\"later\"");
        free(text);
}

static void test_file_descriptor_is_cloexec(void **state)
{
        struct fixture *f = *state;
        char link[64], target[PATH_MAX];
        bool found = false;

        assert_int_equal(log_open_file(f->path, LOG_FORMAT_TEXT, NULL), 0);
        for (int fd = 3; fd < 1024; fd++) {
                ssize_t n;

                snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
                n = readlink(link, target, sizeof(target) - 1);
                if (n < 0)
                        continue;
                target[n] = '\0';
                if (strcmp(target, f->path) != 0)
                        continue;
                found = true;
                assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        }
        assert_true(found);
}

static void test_open_file_missing_dir_fails_naming_path(void **state)
{
        struct fixture *f = *state;
        _cleanup_pxe_ struct pxe *e = NULL;
        char *p = unit_path(f->dir, "no/such/log");

        assert_int_equal(log_open_file(p, LOG_FORMAT_TEXT, &e), -ENOENT);
        assert_contains(e->msg, p);
        free(p);
}

static void test_close_stops_writing(void **state)
{
        struct fixture *f = *state;
        char *text;

        assert_int_equal(log_open_file(f->path, LOG_FORMAT_TEXT, NULL), 0);
        assert_int_equal(log_open_file(NULL, LOG_FORMAT_TEXT, NULL), 0);
        log_warn("to stderr only");
        text = unit_read(f->path);
        assert_string_equal(text, "");
        free(text);
}

static void test_level_names(void **state)
{
        assert_int_equal(log_level_from_string("debug"), LOG_LEVEL_DEBUG);
        assert_int_equal(log_level_from_string("info"), LOG_LEVEL_INFO);
        assert_int_equal(log_level_from_string("warn"), LOG_LEVEL_WARN);
        assert_int_equal(log_level_from_string("warning"), LOG_LEVEL_WARN);
        assert_int_equal(log_level_from_string("error"), LOG_LEVEL_ERROR);
        assert_int_equal(log_level_from_string("loud"), LOG_LEVEL_INVALID);
        assert_int_equal(log_level_from_string(NULL), LOG_LEVEL_INVALID);
        assert_string_equal(log_level_to_string(LOG_LEVEL_WARN), "warning");
        assert_string_equal(log_level_to_string(LOG_LEVEL_INVALID), "unknown");
}

static void test_format_names(void **state)
{
        assert_int_equal(log_format_from_string("text"), LOG_FORMAT_TEXT);
        assert_int_equal(log_format_from_string("json"), LOG_FORMAT_JSON);
        assert_int_equal(log_format_from_string("JSON"), LOG_FORMAT_INVALID);
        assert_int_equal(log_format_from_string(NULL), LOG_FORMAT_INVALID);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_escape_plain_text_unchanged),
                cmocka_unit_test(test_escape_quote_and_backslash),
                cmocka_unit_test(test_escape_newline_and_tab),
                cmocka_unit_test(test_escape_control_chars_as_u00xx),
                cmocka_unit_test(test_escape_utf8_passes_through),
                cmocka_unit_test(test_escape_truncation_never_overruns),
                cmocka_unit_test(test_escape_size_zero_writes_nothing),
                cmocka_unit_test(test_format_time_is_rfc3339_nanoseconds_utc),
                cmocka_unit_test(test_format_time_is_now),
                T(test_json_file_has_level_msg_time),
                T(test_json_file_roundtrips_special_chars),
                T(test_json_file_invalid_utf8_still_json),
                T(test_text_file_is_logrus_form),
                T(test_level_filter_drops_debug_at_info),
                T(test_level_filter_keeps_debug_at_debug),
                T(test_file_created_0600),
                T(test_file_is_appended_not_truncated),
                T(test_file_descriptor_is_cloexec),
                T(test_open_file_missing_dir_fails_naming_path),
                T(test_close_stops_writing),
                cmocka_unit_test(test_level_names),
                cmocka_unit_test(test_format_names),
        };

        return unit_run(tests);
}
