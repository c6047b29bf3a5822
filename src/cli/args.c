#include "cli/args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
