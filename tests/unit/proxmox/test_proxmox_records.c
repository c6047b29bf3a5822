/* pxcri-init's process records for the proxmox backend (pmx_process_records):
 * process.rlimits and process.oomScoreAdj as "l" and "o" records, and what
 * is refused naming the field. */
#include "unit.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "backend/proxmox/pmx_private.h"

/* Whether the NUL-separated records hold rec. */
static bool has_record(const char *buf, size_t len, const char *rec)
{
        for (size_t off = 0; off < len; off += strlen(buf + off) + 1)
                if (strcmp(buf + off, rec) == 0)
                        return true;
        return false;
}

static int records(const char *process_json, char **ret, size_t *ret_len, struct pxe **err)
{
        json_t *p = json_loads(process_json, 0, NULL);
        int r;

        assert_non_null(p);
        r = pmx_process_records(p, false, ret, ret_len, err);
        json_decref(p);
        return r;
}

static void test_rlimits_and_oom(void **state)
{
        char *buf = NULL, want[64];
        size_t len = 0;
        struct pxe *err = NULL;

        assert_int_equal(records("{\"args\": [\"sh\"], \"oomScoreAdj\": -500, \"rlimits\": ["
                                 "{\"type\": \"RLIMIT_NOFILE\", \"soft\": 1024, \"hard\": 2048},"
                                 "{\"type\": \"RLIMIT_CORE\", \"soft\": 0, \"hard\": 0}]}",
                                 &buf, &len, &err),
                         0);
        snprintf(want, sizeof(want), "l%d 1024 2048 RLIMIT_NOFILE", RLIMIT_NOFILE);
        assert_true(has_record(buf, len, want));
        snprintf(want, sizeof(want), "l%d 0 0 RLIMIT_CORE", RLIMIT_CORE);
        assert_true(has_record(buf, len, want));
        assert_true(has_record(buf, len, "o-500"));
        free(buf);
}

static void test_neither_without_the_fields(void **state)
{
        char *buf = NULL;
        size_t len = 0;
        struct pxe *err = NULL;

        assert_int_equal(records("{\"args\": [\"sh\"], \"rlimits\": null}", &buf, &len, &err), 0);
        for (size_t off = 0; off < len; off += strlen(buf + off) + 1)
                assert_true(buf[off] != 'l' && buf[off] != 'o');
        free(buf);
}

static void test_refused_naming_the_field(void **state)
{
        static const struct {
                const char *json, *msg;
        } cases[] = {
                { "{\"args\": [\"sh\"], \"rlimits\": [{\"type\": \"RLIMIT_BOGUS\", \"soft\": 1, \"hard\": 1}]}",
                  "process.rlimits[0]: unknown type RLIMIT_BOGUS" },
                { "{\"args\": [\"sh\"], \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 9, \"hard\": 1}]}",
                  "process.rlimits[0] (RLIMIT_NOFILE): soft above hard" },
                { "{\"args\": [\"sh\"], \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": \"x\", \"hard\": 1}]}",
                  "process.rlimits[0] (RLIMIT_NOFILE): expected soft and hard" },
                { "{\"args\": [\"sh\"], \"rlimits\": {}}", "process.rlimits: expected an array" },
                { "{\"args\": [\"sh\"], \"oomScoreAdj\": 1001}", "process.oomScoreAdj: expected -1000 to 1000" },
                { "{\"args\": [\"sh\"], \"oomScoreAdj\": \"low\"}", "process.oomScoreAdj: expected -1000 to 1000" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *buf = NULL;
                size_t len = 0;
                struct pxe *err = NULL;

                assert_int_equal(records(cases[i].json, &buf, &len, &err), -EINVAL);
                assert_non_null(err);
                assert_int_equal(err->code, EINVAL);
                assert_string_equal(err->msg, cases[i].msg);
                assert_null(buf);
                pxe_free(err);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rlimits_and_oom),
                cmocka_unit_test(test_neither_without_the_fields),
                cmocka_unit_test(test_refused_naming_the_field),
        };

        return unit_run(tests);
}
