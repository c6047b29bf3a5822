#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/log.h"

const struct cli_opt cli_no_opts[] = { { 0 } };


static void usage(const struct cli_program *prog, FILE *f)
{
        int width = 9;

        fprintf(f,
                "Usage: pxcri [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n\n"
                "A runc-compatible OCI runtime that routes each container to a backend\n"
                "(crun, runc, lxc, proxmox) by the rules in its configuration.\n\n"
                "Commands:\n");
        for (size_t i = 0; i < prog->n_commands; i++)
                if ((int) strlen(prog->commands[i].name) > width)
                        width = (int) strlen(prog->commands[i].name);
        for (size_t i = 0; i < prog->n_commands; i++)
                fprintf(f, "  %-*s %s\n", width, prog->commands[i].name, prog->commands[i].summary);
        fprintf(f, "\nGlobal options:\n"
                   "  --root DIR            state root (default: runtime.root_path, /run/pxcri)\n"
                   "  --config FILE         configuration file (default: $PXCRI_CONFIG, "
                   CONFIG_DEFAULT_PATH ", built-in)\n"
                   "  --log FILE            also write log records to FILE\n"
                   "  --log-format FORMAT   text or json (for --log)\n"
                   "  --debug               log debug messages\n"
                   "  --systemd-cgroup      let the backend use systemd cgroups\n"
                   "  -h, --help            show this help; COMMAND --help shows a command's\n"
                   "  -v, --version         same as the version command\n");
}

static void command_usage(const struct cli_command *cmd)
{
        printf("Usage: pxcri %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
        if (cmd->opts[0].name)
                printf("\nOptions:\n");
        for (int i = 0; cmd->opts[i].name; i++) {
                char s[8] = "";

                if (cmd->opts[i].short_name)
                        snprintf(s, sizeof(s), "-%c, ", cmd->opts[i].short_name);
                printf("  %4s--%s%s%s\n", s, cmd->opts[i].name, cmd->opts[i].has_arg ? " VALUE" : "",
                       cmd->opts[i].pxcri_only ? "   (pxcri)" : "");
        }
}

/* `--name VALUE` or `--name=VALUE` at argv[*i]; NULL if the token is not --name. */
static int global_value(int argc, char **argv, int *i, const char *name, const char **ret, struct pxe **err)
{
        const char *tok = argv[*i];
        size_t n = strlen(name);

        if (strncmp(tok, name, n) != 0)
                return 0;
        if (tok[n] == '=') {
                *ret = tok + n + 1;
                return 1;
        }
        if (tok[n] != '\0')
                return 0;
        if (*i + 1 >= argc)
                return pxe_set(err, EINVAL, "Option %s needs a value", name);
        *ret = argv[++*i];
        return 1;
}

/* Global options come before the command.  Returns the index of the command. */
static int parse_globals(struct cli *c, int argc, char **argv, struct pxe **err)
{
        int i;

        for (i = 1; i < argc && argv[i][0] == '-'; i++) {
                const char *tok = argv[i], *ignored = NULL;
                int r;

                if (streq(tok, "--debug")) {
                        c->debug = true;
                        continue;
                }
                if (streq(tok, "--systemd-cgroup")) {
                        c->systemd_cgroup = true;
                        continue;
                }
                if (streq(tok, "--help") || streq(tok, "-h"))
                        return -2;
                if (streq(tok, "--version") || streq(tok, "-v"))
                        return -3;
                if ((r = global_value(argc, argv, &i, "--root", &c->root, err)) ||
                    (r = global_value(argc, argv, &i, "--log", &c->log_file, err)) ||
                    (r = global_value(argc, argv, &i, "--log-format", &c->log_format, err)) ||
                    (r = global_value(argc, argv, &i, "--config", &c->config_path, err)) ||
                    (r = global_value(argc, argv, &i, "--criu", &ignored, err))) {
                        if (r < 0)
                                return r;
                        continue;
                }
                if ((r = global_value(argc, argv, &i, "--rootless", &ignored, err))) {
                        if (r < 0)
                                return r;
                        if (!streq(ignored, "false") && !streq(ignored, "auto"))
                                return pxe_set(err, ENOTSUP, "Rootless mode is not supported (--rootless %s)",
                                               ignored);
                        continue;
                }
                return pxe_set(err, EINVAL, "Unknown global option %s (see pxcri --help)", tok);
        }
        return i;
}

static const struct cli_command *find_command(const struct cli_program *prog, const char *name)
{
        for (size_t i = 0; i < prog->n_commands; i++)
                if (streq(prog->commands[i].name, name))
                        return &prog->commands[i];
        return NULL;
}

/* Logging, configuration and the container context, in that order, so that
 * configuration errors already reach the --log file. */
static int setup(struct cli *c, struct pxe **err)
{
        enum log_format fmt = LOG_FORMAT_TEXT;

        if (c->log_format) {
                fmt = log_format_from_string(c->log_format);
                if (fmt == LOG_FORMAT_INVALID)
                        return pxe_set(err, EINVAL, "Unknown log format \"%s\" (text or json)", c->log_format);
        }
        if (c->log_file && log_open_file(c->log_file, fmt, err) < 0)
                return -pxe_code(err, EIO);
        if (c->debug)
                log_set_level(LOG_LEVEL_DEBUG);
        if (config_load(c->config_path, &c->cfg, err) < 0)
                return -pxe_code(err, EINVAL);
        if (!c->debug)
                log_set_level(c->cfg->log_level);
        for (size_t i = 0; i < c->cfg->n_warnings; i++)
                log_warn("%s", c->cfg->warnings[i]);
        if (!c->root)
                c->root = c->cfg->root_path;
        if (c->root[0] != '/')
                return pxe_set(err, EINVAL, "--root must be an absolute path, not \"%s\"", c->root);
        c->ctx.cfg = c->cfg;
        c->ctx.env = (struct backend_env) {
                .root = c->root,
                .log_file = c->log_file,
                .log_format = c->log_format,
                .debug = c->debug,
                .systemd_cgroup = c->systemd_cgroup,
        };
        return 0;
}

static int dispatch(struct cli *c, const struct cli_command *cmd, int argc, char **argv, struct pxe **err)
{
        struct cli_args a;
        int r;

        r = cli_args_parse(cmd->opts, argc, argv, cmd->stop_at_positional, &a, err);
        if (r < 0)
                return cli_usage_error(err, cmd->name);
        if (a.help) {
                command_usage(cmd);
                cli_args_done(&a);
                return 0;
        }
        if ((int) a.n_pos < cmd->min_pos || (cmd->max_pos >= 0 && (int) a.n_pos > cmd->max_pos)) {
                cli_args_done(&a);
                return pxe_set(err, EINVAL, "Usage: pxcri %s %s (see pxcri %s --help)", cmd->name, cmd->usage,
                               cmd->name);
        }
        r = setup(c, err);
        if (r >= 0)
                r = cmd->run(c, &a, err);
        cli_args_done(&a);
        return r;
}

/* The program name is already the log prefix ("pxcri: "), so the command
 * goes into the hint instead of a second prefix. */
int cli_usage_error(struct pxe **err, const char *command)
{
        _cleanup_free_ char *msg = NULL;
        int code = pxe_code(err, EINVAL);

        if (!err || !*err)
                return -code;
        msg = TAKE_PTR((*err)->msg);
        pxe_freep(err);
        return pxe_set(err, code, "%s (see pxcri %s --help)", msg ? msg : "Bad arguments", command);
}

int cli_main(const struct cli_program *prog, int argc, char **argv)
{
        _cleanup_pxe_ struct pxe *err = NULL;
        struct cli c = { 0 };
        const struct cli_command *cmd;
        int first, r;

        log_set_program("pxcri");
        cli_delegate_save_argv(argv);
        first = parse_globals(&c, argc, argv, &err);
        if (first == -2) {
                usage(prog, stdout);
                return 0;
        }
        if (first == -3) {
                cmd = find_command(prog, "version");
                if (!cmd) {
                        printf("pxcri version %s\n", PXCRI_VERSION);
                        return 0;
                }
                r = dispatch(&c, cmd, 0, NULL, &err);
                goto out;
        }
        if (first < 0) {
                r = first;
                goto out;
        }
        if (first >= argc) {
                usage(prog, stderr);
                return 1;
        }
        cmd = find_command(prog, argv[first]);
        if (!cmd) {
                r = pxe_set(&err, EINVAL, "Unknown command \"%s\" (see pxcri --help)", argv[first]);
                goto out;
        }
        r = dispatch(&c, cmd, argc - first - 1, argv + first + 1, &err);
out:
        if (r < 0) {
                log_error("%s", err ? err->msg : strerror(-r));
                r = 1;
        }
        config_free(c.cfg);
        fflush(stdout);
        return r;
}

int cli_print_json(json_t *j, struct pxe **err)
{
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

        if (!s)
                return pxe_set(err, ENOMEM, "Out of memory");
        printf("%s\n", s);
        free(s);
        return 0;
}
