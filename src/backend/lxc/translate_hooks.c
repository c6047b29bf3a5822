/* OCI hooks: checked here, run by pxcri itself (lxc_hooks.c) or, for
 * startContainer, by pxcri-init inside the container.  createContainer's run
 * from LXC's mount hook (in the container's mount namespace, before
 * pivot_root), through pxcri-init's hook runner: LXC gives a hook no stdin. */
#include <errno.h>
#include <string.h>

#include "backend/lxc/translate.h"
#include "util/cleanup.h"

/* startContainer's are run by pxcri-init, inside the container. */
static const char *const supported[] = { "createRuntime", "createContainer", "prestart", "startContainer",
                                         "poststart", "poststop" };

static int check_strings(json_t *a, const char *kind, size_t i, const char *field, struct pxe **err)
{
        json_t *v;
        size_t k;

        if (!a)
                return 0;
        if (!json_is_array(a))
                return pxe_set(err, EINVAL, "hooks.%s[%zu].%s: expected an array of strings", kind, i, field);
        json_array_foreach(a, k, v)
                if (!json_is_string(v))
                        return pxe_set(err, EINVAL, "hooks.%s[%zu].%s[%zu]: expected a string", kind, i, field,
                                       k);
        return 0;
}

static int check_hook(json_t *h, const char *kind, size_t i, struct pxe **err)
{
        const char *path = json_string_value(json_object_get(h, "path"));
        json_t *timeout = json_object_get(h, "timeout");
        int r;

        if (!json_is_object(h))
                return pxe_set(err, EINVAL, "hooks.%s[%zu]: expected an object", kind, i);
        if (!path || path[0] != '/')
                return pxe_set(err, EINVAL, "hooks.%s[%zu].path: must be an absolute path", kind, i);
        if ((r = check_strings(json_object_get(h, "args"), kind, i, "args", err)) < 0 ||
            (r = check_strings(json_object_get(h, "env"), kind, i, "env", err)) < 0)
                return r;
        if (timeout && (!json_is_integer(timeout) || json_integer_value(timeout) <= 0 ||
                        json_integer_value(timeout) > 24 * 3600))
                return pxe_set(err, EINVAL, "hooks.%s[%zu].timeout: must be a positive number of seconds", kind,
                               i);
        return 0;
}

static bool is_supported(const char *kind)
{
        for (size_t i = 0; i < ARRAY_SIZE(supported); i++)
                if (streq(kind, supported[i]))
                        return true;
        return false;
}

/* liblxc runs a hook as `sh -c "exec <lxc.hook.mount> <name> lxc mount"`:
 * only paths that need no quoting can go there. */
bool lxc_shell_safe(const char *path)
{
        static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+,:@%=";

        return path && *path && strspn(path, safe) == strlen(path);
}

/* lxc.hook.mount = pxcri-init --create-container-hooks <run dir>/create-hooks:
 * the records lxc_create.c writes there (src/init/init_hooks.h). */
static int add_mount_hook(const struct lxc_translate_opts *o, struct lxc_spec *s, struct pxe **err)
{
        if (!lxc_shell_safe(o->init_path) || !lxc_shell_safe(o->run_dir))
                return pxe_set(err, EINVAL,
                               "hooks.createContainer: LXC runs hooks through a shell, and the paths of "
                               "pxcri-init (%s) and of the container directory (%s) are not shell-safe words",
                               o->init_path ? o->init_path : "(none)", o->run_dir ? o->run_dir : "(none)");
        if (lxc_spec_add(s, "lxc.hook.mount", "%s --create-container-hooks %s/" LXC_CREATE_HOOKS, o->init_path,
                         o->run_dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

json_t *lxc_supported_hooks(void)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < ARRAY_SIZE(supported); i++)
                if (json_array_append_new(a, json_string(supported[i])) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

int lxc_translate_hooks(json_t *config, const struct lxc_translate_opts *o, struct lxc_spec *s, struct pxe **err)
{
        json_t *hooks = json_object_get(config, "hooks"), *list, *h;
        const char *kind;
        size_t i;
        int r;

        if (!hooks)
                return 0;
        if (!json_is_object(hooks))
                return pxe_set(err, EINVAL, "hooks: expected an object");
        json_object_foreach(hooks, kind, list) {
                if (!json_is_array(list))
                        return pxe_set(err, EINVAL, "hooks.%s: expected an array", kind);
                if (json_array_size(list) == 0)
                        continue;
                if (!is_supported(kind))
                        return pxe_set(err, EINVAL, "hooks.%s: unknown hook", kind);
                json_array_foreach(list, i, h)
                        if ((r = check_hook(h, kind, i, err)) < 0)
                                return r;
                if (streq(kind, "createContainer") && (r = add_mount_hook(o, s, err)) < 0)
                        return r;
        }
        s->hooks = json_incref(hooks);
        return 0;
}
