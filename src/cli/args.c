#include "cli/args.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"

static int find_long(const struct cli_opt *opts, const char *name, size_t len)
{
        for (int i = 0; opts[i].name; i++)
                if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
                        return i;
        return -1;
}

static int find_short(const struct cli_opt *opts, char c)
{
        for (int i = 0; opts[i].name; i++)
                if (opts[i].short_name == c)
                        return i;
        return -1;
}

static void push(char **v, size_t *n, char *s)
{
        v[(*n)++] = s;
}

/* Parse one option token at argv[*i]; consumes its value when it takes one. */
static int parse_option(const struct cli_opt *opts, int argc, char **argv, int *i, struct cli_args *a,
                        struct pxe **err)
{
        char *tok = argv[*i];
        const char *name = tok + (tok[1] == '-' ? 2 : 1), *eq = strchr(name, '=');
        size_t len = eq ? (size_t) (eq - name) : strlen(name);
        int k = -1, first = *i;

        if (streq(tok, "--help") || streq(tok, "-h")) {
                a->help = true;
                return 0;
        }
        if (tok[1] != '-' && len == 1)
                k = find_short(opts, name[0]);
        if (k < 0)
                k = find_long(opts, name, len);
        if (k < 0)
                return pxe_set(err, EINVAL, "Unknown option %.*s", (int) (name - tok + len), tok);
        if (!opts[k].has_arg) {
                if (eq)
                        return pxe_set(err, EINVAL, "Option %.*s takes no value", (int) (name - tok + len), tok);
                a->values[k] = "";
        } else if (eq) {
                a->values[k] = eq + 1;
        } else {
                if (*i + 1 >= argc)
                        return pxe_set(err, EINVAL, "Option %s needs a value", tok);
                a->values[k] = argv[++*i];
        }
        if (!opts[k].pxcri_only)
                for (int j = first; j <= *i; j++)
                        push(a->pass, &a->n_pass, argv[j]);
        return 0;
}

int cli_args_parse(const struct cli_opt *opts, int argc, char **argv, bool stop_at_positional,
                   struct cli_args *ret, struct pxe **err)
{
        struct cli_args a = { 0 };
        bool rest = false;
        int n_opts = 0;

        while (opts[n_opts].name)
                n_opts++;
        if (n_opts > CLI_MAX_OPTS)
                return pxe_set(err, E2BIG, "Option table has %d entries, more than %d", n_opts, CLI_MAX_OPTS);

        a.pass = calloc((size_t) argc + 1, sizeof(char *));
        a.pos = calloc((size_t) argc + 1, sizeof(char *));
        if (!a.pass || !a.pos) {
                cli_args_done(&a);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        for (int i = 0; i < argc; i++) {
                char *tok = argv[i];

                if (!rest && streq(tok, "--")) {
                        rest = true;
                        push(a.pass, &a.n_pass, tok);
                        continue;
                }
                if (!rest && tok[0] == '-' && tok[1] != '\0') {
                        if (parse_option(opts, argc, argv, &i, &a, err) < 0) {
                                cli_args_done(&a);
                                return -EINVAL;
                        }
                        continue;
                }
                push(a.pos, &a.n_pos, tok);
                push(a.pass, &a.n_pass, tok);
                if (stop_at_positional)
                        rest = true;
        }
        *ret = a;
        return 0;
}

void cli_args_done(struct cli_args *a)
{
        free(a->pass);
        free(a->pos);
        a->pass = a->pos = NULL;
}

/* Names glibc's sigabbrev_np() does not give (older spellings). */
static const struct {
        const char *name;
        int sig;
} signal_aliases[] = {
        { "IOT", SIGIOT },
        { "CLD", SIGCHLD },
        { "POLL", SIGPOLL },
};

static int parse_signal_number(const char *s, int *ret)
{
        char *end;
        long n;

        if (!isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        n = strtol(s, &end, 10);
        if (errno || *end || n > INT_MAX)
                return -EINVAL;
        *ret = (int) n;
        return 0;
}

/* "RTMIN", "RTMIN+n", "RTMAX", "RTMAX-n", as kill(1) spells them. */
static int parse_signal_rt(const char *s)
{
        int base, off = 0, sig;

        if (strncasecmp(s, "RTMIN", 5) == 0)
                base = SIGRTMIN;
        else if (strncasecmp(s, "RTMAX", 5) == 0)
                base = SIGRTMAX;
        else
                return -EINVAL;
        s += 5;
        if (*s) {
                if (*s != (base == SIGRTMIN ? '+' : '-') || parse_signal_number(s + 1, &off) < 0)
                        return -EINVAL;
        }
        sig = base == SIGRTMIN ? base + off : base - off;
        return sig >= SIGRTMIN && sig <= SIGRTMAX ? sig : -EINVAL;
}

int cli_parse_signal(const char *s, struct pxe **err)
{
        const char *name = s;
        int n;

        if (!s || !*s)
                return pxe_set(err, EINVAL, "Empty signal");
        if (parse_signal_number(s, &n) == 0) {
                if (n < 1 || n > SIGRTMAX)
                        return pxe_set(err, EINVAL, "Unknown signal %s (numbers go from 1 to %d)", s, SIGRTMAX);
                return n;
        }
        if (strncasecmp(name, "SIG", 3) == 0)
                name += 3;
        for (int sig = 1; sig < SIGRTMIN; sig++) {
                const char *abbrev = sigabbrev_np(sig);

                if (abbrev && strcasecmp(abbrev, name) == 0)
                        return sig;
        }
        for (size_t i = 0; i < ARRAY_SIZE(signal_aliases); i++)
                if (strcasecmp(signal_aliases[i].name, name) == 0)
                        return signal_aliases[i].sig;
        n = parse_signal_rt(name);
        if (n > 0)
                return n;
        return pxe_set(err, EINVAL, "Unknown signal \"%s\" (a name such as TERM, KILL or RTMIN+3, or a number from 1 to %d)",
                       s, SIGRTMAX);
}
