/* The pxcri command line: global options, the command table, and the
 * commands themselves (one file per concern in src/cli/). */
#pragma once

#include "cli/args.h"
#include "config/config.h"
#include "container/container.h"

#define PXCRI_VERSION "0.1.0"
#define PXCRI_OCI_VERSION "1.0.2"

struct cli {
        const char *config_path; /* --config */
        const char *root;        /* --root, else runtime.root_path */
        const char *log_file;
        const char *log_format;
        bool debug;
        bool systemd_cgroup;
        struct config *cfg;
        struct container_ctx ctx;
};

struct cli_command {
        const char *name;
        const char *usage;   /* "[OPTIONS] <container-id>" */
        const char *summary; /* one line */
        const struct cli_opt *opts;
        bool stop_at_positional;
        int min_pos, max_pos; /* positional count bounds; max -1: unbounded */
        int (*run)(struct cli *c, struct cli_args *a, struct pxe **err);
};

/* A program's command table. */
struct cli_program {
        const struct cli_command *commands;
        size_t n_commands;
};

extern const struct cli_program cli_runtime; /* pxcri */
extern const struct cli_program cli_image;   /* pxcri-image */

/* Entry point of a program: returns the process exit code. */
int cli_main(const struct cli_program *prog, int argc, char **argv);

/* `pxcri image|bundle ...`: exec pxcri-image (next to pxcri) with the same
 * arguments. */
int cmd_delegate_image(struct cli *c, struct cli_args *a, struct pxe **err);
void cli_delegate_save_argv(char **argv);

/* Commands.  Each returns the exit code (>= 0) or a negative errno with err set. */
int cmd_create(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_run(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_start(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_kill(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_exec(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_ps(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_pause(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_resume(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_update(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_delete(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_state(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_list(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_spec(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_features(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_version(struct cli *c, struct cli_args *a, struct pxe **err);
/* cmd_proxmox.c */
int cmd_proxmox_templates(struct cli *c, struct cli_args *a, struct pxe **err);
int cmd_proxmox_prune(struct cli *c, struct cli_args *a, struct pxe **err);

/* Option tables, shared with the command table in cli.c.  Indexes are the
 * enum values in each command's file. */
extern const struct cli_opt cli_create_opts[];
extern const struct cli_opt cli_run_opts[];
extern const struct cli_opt cli_kill_opts[];
extern const struct cli_opt cli_exec_opts[];
extern const struct cli_opt cli_ps_opts[];
extern const struct cli_opt cli_update_opts[];
extern const struct cli_opt cli_delete_opts[];
extern const struct cli_opt cli_list_opts[];
extern const struct cli_opt cli_spec_opts[];
extern const struct cli_opt cli_features_opts[];
extern const struct cli_opt cli_proxmox_templates_opts[];
extern const struct cli_opt cli_proxmox_prune_opts[];
extern const struct cli_opt cli_no_opts[];

/* Turn the error of parsing COMMAND's arguments into "<message> (see pxcri
 * COMMAND --help)"; returns -code. */
int cli_usage_error(struct pxe **err, const char *command);

/* Print a JSON value to stdout, indented as runc does. */
int cli_print_json(json_t *j, struct pxe **err);

/* `image pull --json-stdin` (image_pull_json.c): the request on stdin, the
 * answer as JSON on stdout; how pxcrid pulls. */
int cli_image_pull_json(struct cli *c, struct pxe **err);
