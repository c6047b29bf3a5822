/* Scaffolding shared by the unit tests: cmocka, TAP output Meson accepts,
 * scratch directories, and the marker for tests that expose a known bug. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Run a group of tests with TAP output on stdout.  cmocka 1.1.5 reports a
 * skipped test as "not ok N # SKIP", which Meson counts as a failure; the
 * output goes through a filter that writes it as "ok N # SKIP". */
#define unit_run(tests) (unit_tap_init(), cmocka_run_group_tests(tests, NULL, NULL))

void unit_tap_init(void);

/* A test that exposes a bug in src/ starts with SKIP_BUG() next to a
 * BUG comment: it is skipped, so the suite stays green, unless
 * PXCRI_TEST_BUGS=1 asks to run it (and see it fail). */
#define SKIP_BUG()                               \
        do {                                     \
                if (!unit_run_bugs())            \
                        skip();                  \
        } while (0)

bool unit_run_bugs(void);

/* A fresh directory under $TMPDIR (or /tmp); unit_rm_rf() removes a tree. */
char *unit_mkdtemp(void);
void unit_rm_rf(const char *path);

/* "<dir>/<name>", asserting on allocation failure. */
char *unit_path(const char *dir, const char *name);

/* Write text to path (created 0644, truncated); read a whole file, or NULL. */
void unit_write(const char *path, const char *text);
char *unit_read(const char *path);

/* Entries of a directory besides "." and "..". */
size_t unit_count_entries(const char *dir);

/* Open descriptors of this process. */
int unit_count_fds(void);

/* Seconds on the monotonic clock. */
double unit_now(void);

/* Whether haystack contains needle; fails the test with both when not. */
#define assert_contains(haystack, needle) unit_assert_contains((haystack), (needle), __FILE__, __LINE__)
void unit_assert_contains(const char *haystack, const char *needle, const char *file, int line);
