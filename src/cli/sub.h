/* Two-level commands (`pxcri image list`, `pxcri bundle create`): a table of
 * subcommands, each with its options, parsed from what follows the command. */
#pragma once

#include "cli/cli.h"

struct cli_sub {
        const char *name;
        const char *usage;
        const char *summary;
        const struct cli_opt *opts;
        int min_pos, max_pos; /* max -1: unbounded */
        int (*run)(struct cli *c, struct cli_args *a, struct pxe **err);
};

/* a->pos[0] names the subcommand (subs ends with a NULL name); the rest is
 * parsed with its options.  Returns what the subcommand returns. */
int cli_sub_dispatch(struct cli *c, const char *cmd, const struct cli_sub *subs, struct cli_args *a,
                     struct pxe **err);

int cmd_image(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_bundle(struct cli *c, struct cli_args *a, struct pxe **err);
