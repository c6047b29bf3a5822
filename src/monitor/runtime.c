/* The `pxcri` commands pxcrid runs on a container conmon holds: start, kill,
 * delete, state, update.  Each is a short process with its output captured
 * and a deadline; the runtime's stderr becomes the error message. */
#include "monitor/monitor_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/id.h"
#include "util/spawn.h"

#define RUNTIME_TIMEOUT_MS (60 * 1000)

char *const monitor_envp[] = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        NULL,
};

void runtime_argv_done(struct runtime_argv *a)
{
        free(a->root);
        free(a->config);
        a->root = a->config = NULL;
}

/* `pxcri --root=R [--config=C] [--systemd-cgroup] <args...>` */
int runtime_argv_build(const struct monitor_config *mc, const char *const *args, size_t n_args,
                       struct runtime_argv *a, struct pxe **err)
{
        size_t n = 0;

        memset(a, 0, sizeof(*a));
        if (!mc->runtime_path || !mc->runtime_root)
                return pxe_set(err, EINVAL, "Running the runtime: no runtime_path or runtime_root given");
        if (n_args + 5 > RUNTIME_ARGV_MAX)
                return pxe_set(err, E2BIG, "Running the runtime: too many arguments");
        if (asprintf(&a->root, "--root=%s", mc->runtime_root) < 0 ||
            (mc->runtime_config && asprintf(&a->config, "--config=%s", mc->runtime_config) < 0)) {
                a->root = a->config = NULL;
                return pxe_set(err, ENOMEM, "Building the runtime's command line");
        }
        a->argv[n++] = mc->runtime_path;
        a->argv[n++] = a->root;
        if (a->config)
                a->argv[n++] = a->config;
        if (mc->systemd_cgroup)
                a->argv[n++] = "--systemd-cgroup";
        for (size_t i = 0; i < n_args; i++)
                a->argv[n++] = args[i];
        a->argv[n] = NULL;
        return 0;
}

/* The runtime's message (its stderr), trimmed of the trailing newline. */
static void set_runtime_error(struct pxe **err, int code, const char *what, const char *id, const char *msg,
                              int exit_code)
{
        size_t len = msg ? strlen(msg) : 0;

        while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
                len--;
        if (len == 0)
                pxe_set(err, code, "%s container %s: the runtime failed with exit code %d", what, id, exit_code);
        else
                pxe_set(err, code, "%s container %s: %.*s", what, id, (int) len, msg);
}

/* `pxcri <globals> args...` run to its end with its output captured. */
static int runtime_spawn(const struct monitor_config *mc, const char *const *args, size_t n_args,
                         const char *stdin_data, int timeout_ms, struct spawn_result *res, struct pxe **err)
{
        struct runtime_argv a;
        struct spawn_opts o = {
                .envp = monitor_envp,
                .capture_stdout = true,
                .capture_stderr = true,
                .null_stdin = true,
                .timeout_ms = timeout_ms,
                .stdin_data = stdin_data,
                .stdin_len = stdin_data ? strlen(stdin_data) : 0,
        };
        int r;

        memset(res, 0, sizeof(*res));
        if ((r = runtime_argv_build(mc, args, n_args, &a, err)) < 0)
                return r;
        o.argv = a.argv;
        r = spawn_run(&o, res, err);
        runtime_argv_done(&a);
        if (r < 0)
                spawn_result_done(res);
        return r;
}

int runtime_run(const struct monitor_config *mc, const char *what, const char *id, const char *const *args,
                size_t n_args, const char *stdin_data, char **ret_out, struct pxe **err)
{
        struct spawn_result res;
        int r;

        if (id_check(id, err) < 0)
                return -EINVAL;
        r = runtime_spawn(mc, args, n_args, stdin_data, RUNTIME_TIMEOUT_MS, &res, err);
        if (r < 0) {
                pxe_wrap(err, "%s container %s", what, id);
                return r;
        }
        if (spawn_exit_code(res.status) != 0) {
                int code = res.errout && strstr(res.errout, "does not exist") ? ENOENT : EIO;

                set_runtime_error(err, code, what, id, res.errout, spawn_exit_code(res.status));
                spawn_result_done(&res);
                return -code;
        }
        if (ret_out) {
                *ret_out = res.out;
                res.out = NULL;
        }
        spawn_result_done(&res);
        return 0;
}

int monitor_start(const struct monitor_config *mc, const char *id, struct pxe **err)
{
        const char *args[] = { "start", id };

        return runtime_run(mc, "Starting", id, args, ARRAY_SIZE(args), NULL, NULL, err);
}

int monitor_kill(const struct monitor_config *mc, const char *id, int sig, bool all, struct pxe **err)
{
        char signum[16];
        const char *args[] = { "kill", "--all", id, signum };

        if (sig <= 0 || sig >= NSIG)
                return pxe_set(err, EINVAL, "Signalling container %s: bad signal %d", id, sig);
        snprintf(signum, sizeof(signum), "%d", sig);
        if (all)
                return runtime_run(mc, "Signalling", id, args, 4, NULL, NULL, err);
        args[1] = id;
        args[2] = signum;
        return runtime_run(mc, "Signalling", id, args, 3, NULL, NULL, err);
}

int monitor_delete(const struct monitor_config *mc, const char *id, bool force, struct pxe **err)
{
        const char *args[] = { "delete", force ? "--force" : id, id };

        return runtime_run(mc, "Deleting", id, args, force ? 3 : 2, NULL, NULL, err);
}

int monitor_state(const struct monitor_config *mc, const char *id, json_t **ret, struct pxe **err)
{
        const char *args[] = { "state", id };
        _cleanup_free_ char *out = NULL;
        json_error_t jerr;
        json_t *st;
        int r;

        if ((r = runtime_run(mc, "Reading the state of", id, args, ARRAY_SIZE(args), NULL, &out, err)) < 0)
                return r;
        st = json_loads(out, 0, &jerr);
        if (!json_is_object(st)) {
                json_decref(st);
                return pxe_set(err, EIO, "Reading the state of container %s: the runtime printed no state object",
                               id);
        }
        *ret = st;
        return 0;
}

int monitor_update(const struct monitor_config *mc, const char *id, const char *resources_json,
                   struct pxe **err)
{
        /* A file, not stdin: crun opens /dev/stdin, which a socket cannot be. */
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = resources_json ? strlen(resources_json) : 0;
        int r;

        if (!resources_json)
                return pxe_set(err, EINVAL, "Updating container %s: no resources given", id);
        if (asprintf(&path, "%s/update-%s-XXXXXX", mc->persist_dir, id) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
                return pxe_set_errno(err, errno, "Updating container %s: creating %s", id, path);
        if (write(fd, resources_json, len) != (ssize_t) len) {
                r = pxe_set_errno(err, errno ? errno : EIO, "Updating container %s: writing %s", id, path);
                unlink(path);
                return r;
        }
        const char *args[] = { "update", "--resources", path, id };
        r = runtime_run(mc, "Updating", id, args, ARRAY_SIZE(args), NULL, NULL, err);
        unlink(path);
        return r;
}

#define PRUNE_TIMEOUT_MS (300 * 1000) /* Proxmox destroys templates with tasks */

int monitor_proxmox_prune(const struct monitor_config *mc, const char *image_id, char **ret_out,
                          struct pxe **err)
{
        const char *args[] = { "proxmox-prune", "--image", image_id, "--format", "json" };
        struct spawn_result res;
        int r;

        if (!image_id || !*image_id || strspn(image_id, "abcdefghijklmnopqrstuvwxyz0123456789:") != strlen(image_id))
                return pxe_set(err, EINVAL, "Pruning Proxmox templates: \"%s\" is no image ID",
                               image_id ? image_id : "");
        r = runtime_spawn(mc, args, sizeof(args) / sizeof(args[0]), NULL, PRUNE_TIMEOUT_MS, &res, err);
        if (r < 0)
                return pxe_wrap(err, "Pruning the Proxmox templates of image %s", image_id);
        if (spawn_exit_code(res.status) != 0) {
                r = pxe_set(err, EIO, "Pruning the Proxmox templates of image %s: %.*s", image_id,
                            res.errout ? (int) strcspn(res.errout, "\n") : 0, res.errout ? res.errout : "");
                spawn_result_done(&res);
                return r;
        }
        if (ret_out) {
                *ret_out = res.out;
                res.out = NULL;
        }
        spawn_result_done(&res);
        return 0;
}

int monitor_proxmox_template_images(const struct monitor_config *mc, char ***ret, size_t *ret_n, struct pxe **err)
{
        const char *args[] = { "proxmox-templates", "--format", "json" };
        json_auto_t *list = NULL;
        struct spawn_result res;
        char **v = NULL;
        size_t n = 0, i;
        json_t *t;
        int r;

        if ((r = runtime_spawn(mc, args, ARRAY_SIZE(args), NULL, RUNTIME_TIMEOUT_MS, &res, err)) < 0)
                return pxe_wrap(err, "Listing the Proxmox templates");
        if (spawn_exit_code(res.status) != 0)
                r = pxe_set(err, EIO, "Listing the Proxmox templates: %.*s",
                            res.errout ? (int) strcspn(res.errout, "\n") : 0, res.errout ? res.errout : "");
        else if (!(list = json_loads(res.out ? res.out : "", 0, NULL)) || !json_is_array(list))
                r = pxe_set(err, EIO, "Listing the Proxmox templates: pxcri printed no JSON list");
        spawn_result_done(&res);
        if (r < 0)
                return r;
        if (!(v = calloc(json_array_size(list) + 1, sizeof(*v))))
                return pxe_set(err, ENOMEM, "Out of memory");
        json_array_foreach (list, i, t) {
                const char *image = json_string_value(json_object_get(t, "image"));
                bool seen = false;

                for (size_t k = 0; image && k < n; k++)
                        seen |= strcmp(v[k], image) == 0;
                if (image && !seen && !(v[n++] = strdup(image))) {
                        monitor_strv_free(v);
                        return pxe_set(err, ENOMEM, "Out of memory");
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}
