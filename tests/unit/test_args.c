/* cli/args: runc-compatible option parsing and what is handed on. */
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "cli/args.h"

enum {
        OPT_BUNDLE,
        OPT_PID_FILE,
        OPT_DETACH,
        OPT_TTY,
        OPT_CONFIG,
        OPT_RUNTIME,
        OPT_VERBOSE,
};

static const struct cli_opt opts[] = {
        [OPT_BUNDLE] = { "bundle", 'b', true, false },
        [OPT_PID_FILE] = { "pid-file", 0, true, false },
        [OPT_DETACH] = { "detach", 'd', false, false },
        [OPT_TTY] = { "tty", 't', false, false },
        [OPT_CONFIG] = { "config", 0, true, true },
        [OPT_RUNTIME] = { "runtime", 0, true, true },
        [OPT_VERBOSE] = { "verbose", 0, false, true },
        { NULL, 0, false, false },
};

#define ARGC(v) ((int) (sizeof(v) / sizeof((v)[0])))

static struct cli_args parse(int argc, char **argv, bool stop)
{
        struct cli_args a;
        struct pxe *e = NULL;

        if (cli_args_parse(opts, argc, argv, stop, &a, &e) < 0)
                fail_msg("cli_args_parse: %s", e->msg);
        return a;
}

/* Parse what must fail; returns the message (static copy). */
static const char *parse_err(int argc, char **argv, bool stop)
{
        static char msg[256];
        struct cli_args a = { .n_pos = 12345 };
        struct pxe *e = NULL;

        assert_int_equal(cli_args_parse(opts, argc, argv, stop, &a, &e), -EINVAL);
        assert_int_equal(a.n_pos, 12345); /* ret not written on failure */
        assert_non_null(e);
        assert_int_equal(e->code, EINVAL);
        strncpy(msg, e->msg, sizeof(msg) - 1);
        pxe_free(e);
        return msg;
}

static void assert_list(char **got, size_t n, const char *const *want, size_t n_want)
{
        assert_int_equal(n, n_want);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(got[i], want[i]);
        assert_null(got[n]); /* NULL-terminated: usable as an argv tail */
}

#define ASSERT_LIST(got, n, ...)                                                          \
        do {                                                                              \
                const char *const want_[] = { __VA_ARGS__ };                              \
                assert_list((got), (n), want_, sizeof(want_) / sizeof(want_[0]));         \
        } while (0)

static void test_long_space_value(void **state)
{
        char *argv[] = { "--bundle", "/b", "id" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_string_equal(a.values[OPT_BUNDLE], "/b");
        ASSERT_LIST(a.pos, a.n_pos, "id");
        cli_args_done(&a);
}

static void test_long_equals_value(void **state)
{
        char *argv[] = { "--bundle=/b", "id" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_string_equal(a.values[OPT_BUNDLE], "/b");
        ASSERT_LIST(a.pass, a.n_pass, "--bundle=/b", "id");
        cli_args_done(&a);
}

static void test_long_equals_empty_value(void **state)
{
        char *argv[] = { "--pid-file=" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_string_equal(a.values[OPT_PID_FILE], "");
        cli_args_done(&a);
}

static void test_short_value(void **state)
{
        char *argv[] = { "-b", "/b", "id" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_string_equal(a.values[OPT_BUNDLE], "/b");
        ASSERT_LIST(a.pos, a.n_pos, "id");
        cli_args_done(&a);
}

static void test_short_equals_value(void **state)
{
        char *argv[] = { "-b=/b" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_string_equal(a.values[OPT_BUNDLE], "/b");
        cli_args_done(&a);
}

static void test_single_dash_long(void **state)
{
        char *argv[] = { "-bundle", "/b", "-pid-file=/p", "id" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_string_equal(a.values[OPT_BUNDLE], "/b");
        assert_string_equal(a.values[OPT_PID_FILE], "/p");
        ASSERT_LIST(a.pos, a.n_pos, "id");
        cli_args_done(&a);
}

static void test_value_may_look_like_an_option(void **state)
{
        char *argv[] = { "--pid-file", "--detach" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_string_equal(a.values[OPT_PID_FILE], "--detach");
        assert_null(a.values[OPT_DETACH]);
        cli_args_done(&a);
}

static void test_flags(void **state)
{
        char *argv[] = { "--detach", "-t", "id" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_string_equal(a.values[OPT_DETACH], "");
        assert_string_equal(a.values[OPT_TTY], "");
        assert_null(a.values[OPT_BUNDLE]);
        ASSERT_LIST(a.pos, a.n_pos, "id");
        cli_args_done(&a);
}

static void test_single_dash_long_flag(void **state)
{
        char *argv[] = { "-detach" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_string_equal(a.values[OPT_DETACH], "");
        cli_args_done(&a);
}

static void test_last_value_wins(void **state)
{
        char *argv[] = { "--bundle", "/one", "-b", "/two" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_string_equal(a.values[OPT_BUNDLE], "/two");
        cli_args_done(&a);
}

static void test_unknown_long_option(void **state)
{
        char *argv[] = { "--bogus", "id" };

        assert_string_equal(parse_err(ARGC(argv), argv, false), "Unknown option --bogus");
}

static void test_unknown_option_with_value_names_only_option(void **state)
{
        char *argv[] = { "--bogus=secret" };

        assert_string_equal(parse_err(ARGC(argv), argv, false), "Unknown option --bogus");
}

static void test_unknown_short_option(void **state)
{
        char *argv[] = { "-x" };

        assert_string_equal(parse_err(ARGC(argv), argv, false), "Unknown option -x");
}

static void test_short_name_not_accepted_as_long(void **state)
{
        char *argv[] = { "--b", "/b" };

        assert_string_equal(parse_err(ARGC(argv), argv, false), "Unknown option --b");
}

static void test_missing_value(void **state)
{
        char *argv[] = { "id", "--bundle" };

        assert_string_equal(parse_err(ARGC(argv), argv, false), "Option --bundle needs a value");
}

static void test_flag_with_value_is_error(void **state)
{
        char *argv[] = { "--detach=x" };

        assert_string_equal(parse_err(ARGC(argv), argv, false), "Option --detach takes no value");
}

static void test_pxcri_only_not_passed(void **state)
{
        char *argv[] = { "--config", "/c.json", "--bundle", "/b", "--runtime=lxc", "--verbose", "id" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_string_equal(a.values[OPT_CONFIG], "/c.json");
        assert_string_equal(a.values[OPT_RUNTIME], "lxc");
        assert_string_equal(a.values[OPT_VERBOSE], "");
        ASSERT_LIST(a.pass, a.n_pass, "--bundle", "/b", "id");
        cli_args_done(&a);
}

static void test_pass_preserves_order(void **state)
{
        char *argv[] = { "-d", "id", "--pid-file", "/p", "-bundle=/b", "extra" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        ASSERT_LIST(a.pass, a.n_pass, "-d", "id", "--pid-file", "/p", "-bundle=/b", "extra");
        ASSERT_LIST(a.pos, a.n_pos, "id", "extra");
        cli_args_done(&a);
}

static void test_pass_is_the_callers_strings(void **state)
{
        char *argv[] = { "--bundle", "/b" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_ptr_equal(a.pass[0], argv[0]);
        assert_ptr_equal(a.values[OPT_BUNDLE], argv[1]);
        cli_args_done(&a);
}

static void test_stop_at_positional_keeps_command_options(void **state)
{
        char *argv[] = { "-t", "id", "sh", "-c", "echo hi", "--detach" };
        struct cli_args a = parse(ARGC(argv), argv, true);

        assert_string_equal(a.values[OPT_TTY], "");
        assert_null(a.values[OPT_DETACH]);
        ASSERT_LIST(a.pos, a.n_pos, "id", "sh", "-c", "echo hi", "--detach");
        ASSERT_LIST(a.pass, a.n_pass, "-t", "id", "sh", "-c", "echo hi", "--detach");
        cli_args_done(&a);
}

static void test_without_stop_options_after_id_are_parsed(void **state)
{
        char *argv[] = { "id", "sh", "-c", "x" };

        assert_string_equal(parse_err(ARGC(argv), argv, false), "Unknown option -c");
}

static void test_double_dash_ends_options(void **state)
{
        char *argv[] = { "-t", "--", "-d", "--bundle" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_null(a.values[OPT_DETACH]);
        assert_null(a.values[OPT_BUNDLE]);
        ASSERT_LIST(a.pos, a.n_pos, "-d", "--bundle");
        ASSERT_LIST(a.pass, a.n_pass, "-t", "--", "-d", "--bundle");
        cli_args_done(&a);
}

static void test_second_double_dash_is_positional(void **state)
{
        char *argv[] = { "--", "a", "--" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        ASSERT_LIST(a.pos, a.n_pos, "a", "--");
        cli_args_done(&a);
}

static void test_lone_dash_is_positional(void **state)
{
        char *argv[] = { "-", "id" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        ASSERT_LIST(a.pos, a.n_pos, "-", "id");
        cli_args_done(&a);
}

static void test_help_long(void **state)
{
        char *argv[] = { "id", "--help" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_true(a.help);
        cli_args_done(&a);
}

static void test_help_short(void **state)
{
        char *argv[] = { "-h" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_true(a.help);
        assert_int_equal(a.n_pass, 0); /* the backend is not asked for help */
        cli_args_done(&a);
}

static void test_no_help_by_default(void **state)
{
        char *argv[] = { "id" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        assert_false(a.help);
        cli_args_done(&a);
}

static void test_empty_argv(void **state)
{
        struct cli_args a = parse(0, NULL, false);

        assert_int_equal(a.n_pos, 0);
        assert_int_equal(a.n_pass, 0);
        assert_null(a.pass[0]);
        assert_null(a.pos[0]);
        for (int i = 0; opts[i].name; i++)
                assert_null(a.values[i]);
        cli_args_done(&a);
}

static void test_done_clears(void **state)
{
        char *argv[] = { "id" };
        struct cli_args a = parse(ARGC(argv), argv, false);

        cli_args_done(&a);
        assert_null(a.pass);
        assert_null(a.pos);
        cli_args_done(&a); /* twice is harmless */
}

/* --- cli_parse_signal ---------------------------------------------------- */

static int sig_ok(const char *s)
{
        struct pxe *e = NULL;
        int r = cli_parse_signal(s, &e);

        if (r < 0)
                fail_msg("cli_parse_signal(%s): %s", s, e ? e->msg : "?");
        assert_null(e);
        return r;
}

static void sig_bad(const char *s, const char *want)
{
        struct pxe *e = NULL;

        assert_int_equal(cli_parse_signal(s, &e), -EINVAL);
        assert_non_null(e);
        assert_int_equal(e->code, EINVAL);
        if (!strstr(e->msg, want))
                fail_msg("message \"%s\" lacks \"%s\"", e->msg, want);
        pxe_free(e);
}

static void test_signal_names(void **state)
{
        (void) state;
        assert_int_equal(sig_ok("KILL"), SIGKILL);
        assert_int_equal(sig_ok("SIGKILL"), SIGKILL);
        assert_int_equal(sig_ok("sigterm"), SIGTERM);
        assert_int_equal(sig_ok("term"), SIGTERM);
        assert_int_equal(sig_ok("USR1"), SIGUSR1);
        assert_int_equal(sig_ok("SIGWINCH"), SIGWINCH);
        assert_int_equal(sig_ok("HUP"), SIGHUP);
        assert_int_equal(sig_ok("IOT"), SIGABRT);
        assert_int_equal(sig_ok("SIGCLD"), SIGCHLD);
}

static void test_signal_numbers(void **state)
{
        (void) state;
        assert_int_equal(sig_ok("1"), 1);
        assert_int_equal(sig_ok("9"), 9);
        assert_int_equal(sig_ok("64"), 64);
        assert_int_equal(SIGRTMAX, 64);
        sig_bad("0", "numbers go from 1 to 64");
        sig_bad("65", "numbers go from 1 to 64");
        sig_bad("99999999999999999999", "Unknown signal");
        sig_bad("-9", "Unknown signal \"-9\"");
        sig_bad("9x", "Unknown signal \"9x\"");
}

static void test_signal_realtime(void **state)
{
        (void) state;
        assert_int_equal(sig_ok("RTMIN"), SIGRTMIN);
        assert_int_equal(sig_ok("SIGRTMIN+3"), SIGRTMIN + 3);
        assert_int_equal(sig_ok("rtmin+0"), SIGRTMIN);
        assert_int_equal(sig_ok("RTMAX"), SIGRTMAX);
        assert_int_equal(sig_ok("SIGRTMAX-2"), SIGRTMAX - 2);
        assert_int_equal(sig_ok("RTMIN+30"), SIGRTMAX);
        sig_bad("RTMIN+31", "Unknown signal");
        sig_bad("RTMIN-1", "Unknown signal");
        sig_bad("RTMAX+1", "Unknown signal");
        sig_bad("RTMIN+", "Unknown signal");
}

static void test_signal_unknown(void **state)
{
        (void) state;
        sig_bad("NOSUCHSIG", "Unknown signal \"NOSUCHSIG\" (a name such as TERM");
        sig_bad("SIG", "Unknown signal");
        sig_bad("SIGSIGKILL", "Unknown signal");
        sig_bad("", "Empty signal");
        sig_bad(NULL, "Empty signal");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_long_space_value),
                cmocka_unit_test(test_long_equals_value),
                cmocka_unit_test(test_long_equals_empty_value),
                cmocka_unit_test(test_short_value),
                cmocka_unit_test(test_short_equals_value),
                cmocka_unit_test(test_single_dash_long),
                cmocka_unit_test(test_value_may_look_like_an_option),
                cmocka_unit_test(test_flags),
                cmocka_unit_test(test_single_dash_long_flag),
                cmocka_unit_test(test_last_value_wins),
                cmocka_unit_test(test_unknown_long_option),
                cmocka_unit_test(test_unknown_option_with_value_names_only_option),
                cmocka_unit_test(test_unknown_short_option),
                cmocka_unit_test(test_short_name_not_accepted_as_long),
                cmocka_unit_test(test_missing_value),
                cmocka_unit_test(test_flag_with_value_is_error),
                cmocka_unit_test(test_pxcri_only_not_passed),
                cmocka_unit_test(test_pass_preserves_order),
                cmocka_unit_test(test_pass_is_the_callers_strings),
                cmocka_unit_test(test_stop_at_positional_keeps_command_options),
                cmocka_unit_test(test_without_stop_options_after_id_are_parsed),
                cmocka_unit_test(test_double_dash_ends_options),
                cmocka_unit_test(test_second_double_dash_is_positional),
                cmocka_unit_test(test_lone_dash_is_positional),
                cmocka_unit_test(test_help_long),
                cmocka_unit_test(test_help_short),
                cmocka_unit_test(test_no_help_by_default),
                cmocka_unit_test(test_empty_argv),
                cmocka_unit_test(test_done_clears),
                cmocka_unit_test(test_signal_names),
                cmocka_unit_test(test_signal_numbers),
                cmocka_unit_test(test_signal_realtime),
                cmocka_unit_test(test_signal_unknown),
        };

        return unit_run(tests);
}
