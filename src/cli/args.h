/* Command-line options of one command, runc-compatible: `--name value`,
 * `--name=value`, `-n value`, and Go's single-dash `-name value`, in any
 * order before the positionals (or mixed with them, except for exec, where
 * everything after the ID is the command to run). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define CLI_MAX_OPTS 32

struct cli_opt {
        const char *name;
        char short_name; /* 0: none */
        bool has_arg;
        bool pxcri_only; /* consumed by pxcri, not handed on to the backend */
};

struct cli_args {
        const char *values[CLI_MAX_OPTS]; /* last value per option; "" for a set flag; NULL if absent */
        char **pass;                      /* the arguments for the backend, in the caller's order */
        size_t n_pass;
        char **pos; /* positionals */
        size_t n_pos;
        bool help;
};

/* opts ends with an entry whose name is NULL. */
int cli_args_parse(const struct cli_opt *opts, int argc, char **argv, bool stop_at_positional,
                   struct cli_args *ret, struct pxe **err);

void cli_args_done(struct cli_args *a);

/* A signal as `kill` takes it: a name with or without "SIG" in any case
 * ("TERM", "sigkill", "RTMIN+3", "RTMAX-1") or a number from 1 to SIGRTMAX.
 * Returns the number, or -EINVAL with a message that names the signal. */
int cli_parse_signal(const char *s, struct pxe **err);
