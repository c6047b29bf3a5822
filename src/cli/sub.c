#include "cli/sub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

static void sub_usage(const char *cmd, const struct cli_sub *s)
{
        printf("Usage: pxcri %s %s %s\n\n%s\n", cmd, s->name, s->usage, s->summary);
        if (s->opts[0].name)
                printf("\nOptions:\n");
        for (int i = 0; s->opts[i].name; i++) {
                char sh[8] = "";

                if (s->opts[i].short_name)
                        snprintf(sh, sizeof(sh), "-%c, ", s->opts[i].short_name);
                printf("  %4s--%s%s\n", sh, s->opts[i].name, s->opts[i].has_arg ? " VALUE" : "");
        }
}

static void list_subs(const char *cmd, const struct cli_sub *subs)
{
        printf("Usage: pxcri %s COMMAND [OPTIONS] [ARGS]\n\nCommands:\n", cmd);
        for (const struct cli_sub *s = subs; s->name; s++)
                printf("  %-8s %s\n", s->name, s->summary);
        printf("\npxcri %s COMMAND --help shows a command's options.\n", cmd);
}

int cli_sub_dispatch(struct cli *c, const char *cmd, const struct cli_sub *subs, struct cli_args *a,
                     struct pxe **err)
{
        const struct cli_sub *s;
        struct cli_args sa;
        int r;

        if (a->n_pos == 0 || streq(a->pos[0], "help")) {
                list_subs(cmd, subs);
                return 0;
        }
        for (s = subs; s->name && !streq(s->name, a->pos[0]); s++)
                ;
        if (!s->name)
                return pxe_set(err, EINVAL, "Unknown command \"%s %s\" (see pxcri %s --help)", cmd, a->pos[0], cmd);
        r = cli_args_parse(s->opts, (int) a->n_pos - 1, a->pos + 1, false, &sa, err);
        if (r < 0) {
                _cleanup_free_ char *both = NULL;

                if (asprintf(&both, "%s %s", cmd, s->name) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                return cli_usage_error(err, both);
        }
        if (sa.help) {
                sub_usage(cmd, s);
                r = 0;
        } else if ((int) sa.n_pos < s->min_pos || (s->max_pos >= 0 && (int) sa.n_pos > s->max_pos)) {
                r = pxe_set(err, EINVAL, "Usage: pxcri %s %s %s (see pxcri %s %s --help)", cmd, s->name, s->usage,
                            cmd, s->name);
        } else {
                r = s->run(c, &sa, err);
        }
        cli_args_done(&sa);
        return r;
}
