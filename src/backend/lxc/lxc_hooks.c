/* OCI hooks, run by pxcri as runc and crun do (not by LXC): createRuntime and
 * prestart once the container exists (pxcri-init's pid known, the user's
 * process not started), poststart after start, poststop at delete once the
 * container stopped.  Each gets the OCI state on stdin; timeout kills it.
 * startContainer hooks are handed to pxcri-init, which runs them inside the
 * container just before the process (src/init/init_hooks.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/lxc/lxc_private.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/spawn.h"

#define HOOK_ERR_MAX 400

static void strvp_free(const char ***p)
{
        free(*p);
}

/* NULL-terminated copy of a JSON array of strings (pointers into it). */
static const char **strv_of(json_t *a, const char *first)
{
        size_t n = json_array_size(a), k = 0;
        const char **v = calloc(n + 2, sizeof(*v));
        json_t *e;
        size_t i;

        if (!v)
                return NULL;
        if (n == 0 && first)
                v[k++] = first;
        json_array_foreach(a, i, e)
                v[k++] = json_string_value(e);
        return v;
}

static int run_hook(json_t *h, const char *kind, size_t i, const char *input, struct pxe **err)
{
        __attribute__((cleanup(strvp_free))) const char **argv = NULL, **envp = NULL;
        const char *path = json_string_value(json_object_get(h, "path"));
        json_t *env = json_object_get(h, "env");
        struct spawn_opts o = {
                .path = path,
                .capture_stdout = true,
                .capture_stderr = true,
                .stdin_data = input,
                .stdin_len = strlen(input),
                .timeout_ms = (int) json_integer_value(json_object_get(h, "timeout")) * 1000,
        };
        struct spawn_result res;
        int r, code;

        argv = strv_of(json_object_get(h, "args"), path);
        envp = env ? strv_of(env, NULL) : NULL;
        if (!argv || (env && !envp))
                return pxe_set(err, ENOMEM, "Out of memory");
        o.argv = argv;
        o.envp = (char *const *) envp;
        r = spawn_run(&o, &res, err);
        if (r < 0) {
                spawn_result_done(&res);
                return pxe_wrap(err, "hooks.%s[%zu] (%s)", kind, i, path);
        }
        code = spawn_exit_code(res.status);
        if (code != 0) {
                const char *why = res.errout && *res.errout ? res.errout : (res.out ? res.out : "");
                int len = (int) strcspn(why, "\n");

                if (len > HOOK_ERR_MAX)
                        len = HOOK_ERR_MAX;
                r = pxe_set(err, EIO, "hooks.%s[%zu] (%s) failed with exit code %d%s%.*s", kind, i, path, code,
                            len ? ": " : "", len, why);
        }
        spawn_result_done(&res);
        return r;
}

/* The OCI state a hook reads on stdin (runtime-spec "State"). */
static char *oci_state(json_t *state, const char *id, const char *status, pid_t pid)
{
        json_t *ann = json_object_get(state, "annotations");
        json_auto_t *j = json_pack("{s:s, s:s, s:s, s:O?, s:o}", "ociVersion", "1.0.2", "id", id, "status",
                                   status, "bundle", json_object_get(state, "bundle"),
                                   "annotations", json_is_object(ann) ? json_incref(ann) : json_object());

        if (!j)
                return NULL;
        if (pid > 0)
                json_object_set_new(j, "pid", json_integer(pid));
        return json_dumps(j, JSON_COMPACT);
}

int lxcb_hooks_run(json_t *state, const char *kind, const char *id, enum lxcb_status status, pid_t pid,
                   struct pxe **err)
{
        json_t *list = json_object_get(json_object_get(state, "hooks"), kind), *h;
        _cleanup_free_ char *input = NULL;
        size_t i;
        int r;

        if (json_array_size(list) == 0)
                return 0;
        if (!(input = oci_state(state, id, lxcb_status_name(status), pid)))
                return pxe_set(err, ENOMEM, "Out of memory");
        json_array_foreach(list, i, h)
                if ((r = run_hook(h, kind, i, input, err)) < 0)
                        return pxe_wrap(err, "Container %s", id);
        return 0;
}

/* The records of one hook for pxcri-init (init_hooks.h). */
static void put_hook(FILE *f, json_t *h)
{
        json_t *v;
        size_t i;

        fprintf(f, "p%s%c", json_string_value(json_object_get(h, "path")), 0);
        json_array_foreach(json_object_get(h, "args"), i, v)
                fprintf(f, "a%s%c", json_string_value(v), 0);
        json_array_foreach(json_object_get(h, "env"), i, v)
                fprintf(f, "e%s%c", json_string_value(v), 0);
        if (json_integer_value(json_object_get(h, "timeout")) > 0)
                fprintf(f, "t%lld%c", (long long) json_integer_value(json_object_get(h, "timeout")), 0);
}

int lxcb_hooks_write(json_t *state, const char *kind, const char *id, const char *status, pid_t pid,
                     const char *path, struct pxe **err)
{
        json_t *list = json_object_get(json_object_get(state, "hooks"), kind), *h;
        _cleanup_free_ char *input = NULL, *buf = NULL;
        size_t len = 0, i;
        FILE *f;

        if (json_array_size(list) == 0)
                return 0;
        if (!(input = oci_state(state, id, status, pid)) || !(f = open_memstream(&buf, &len)))
                return pxe_set(err, ENOMEM, "Out of memory");
        fprintf(f, "s%s%c", input, 0);
        json_array_foreach(list, i, h)
                put_hook(f, h);
        if (fclose(f) != 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return fs_write_atomic(path, buf, len, 0644, err);
}

void lxcb_hooks_warn(json_t *state, const char *kind, const char *id, enum lxcb_status status, pid_t pid)
{
        json_t *list = json_object_get(json_object_get(state, "hooks"), kind), *h;
        _cleanup_free_ char *input = NULL;
        size_t i;

        if (json_array_size(list) == 0)
                return;
        if (!(input = oci_state(state, id, lxcb_status_name(status), pid)))
                return;
        /* As the runtime spec says: a failing poststart/poststop hook is
         * logged, and the rest still run. */
        json_array_foreach(list, i, h) {
                struct pxe *e = NULL;

                if (run_hook(h, kind, i, input, &e) < 0)
                        log_warn("Container %s: %s", id, e ? e->msg : "hook failed");
                pxe_free(e);
        }
}
