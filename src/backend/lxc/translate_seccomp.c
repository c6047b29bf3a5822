/* linux.seccomp -> an LXC seccomp profile (version 2, lxc.container.conf(5)):
 *
 *   2
 *   denylist                  defaultAction SCMP_ACT_ALLOW
 *   allowlist errno 1         any other defaultAction
 *   <syscall> <action> [index,value,op(,mask)]...
 *
 * LXC applies it to the native and compat architectures of the host and
 * skips syscall names the host does not know, as runc does.  Actions LXC has
 * no word for (log, trace, notify, kill_process) and seccomp flags or a
 * listener are refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/lxc/translate.h"
#include "util/cleanup.h"

#define EPERM_DEFAULT 1

static const char *const ops[] = {
        "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
};

/* "allow", "errno 1", "kill", "trap" into buf; -ENOTSUP for the others. */
static int action_word(const char *action, json_t *errno_ret, char *buf, size_t size)
{
        if (!action)
                return -EINVAL;
        if (streq(action, "SCMP_ACT_ALLOW"))
                snprintf(buf, size, "allow");
        else if (streq(action, "SCMP_ACT_ERRNO"))
                snprintf(buf, size, "errno %lld",
                         json_is_integer(errno_ret) ? json_integer_value(errno_ret) : (long long) EPERM_DEFAULT);
        else if (streq(action, "SCMP_ACT_KILL") || streq(action, "SCMP_ACT_KILL_THREAD"))
                snprintf(buf, size, "kill");
        else if (streq(action, "SCMP_ACT_TRAP"))
                snprintf(buf, size, "trap");
        else
                return -ENOTSUP;
        return 0;
}

static int arg_text(json_t *a, char *buf, size_t size)
{
        json_t *idx = json_object_get(a, "index"), *val = json_object_get(a, "value");
        json_t *two = json_object_get(a, "valueTwo");
        const char *op = json_string_value(json_object_get(a, "op"));
        unsigned long long v = (unsigned long long) json_integer_value(val);
        size_t k;

        for (k = 0; k < ARRAY_SIZE(ops); k++)
                if (op && streq(op, ops[k]))
                        break;
        if (k == ARRAY_SIZE(ops) || !json_is_integer(idx) || json_integer_value(idx) < 0 ||
            json_integer_value(idx) > 5 || !json_is_integer(val))
                return -EINVAL;
        /* OCI (as libseccomp): (arg & value) == valueTwo; LXC: [i,datum,op,mask] */
        if (k == ARRAY_SIZE(ops) - 1)
                snprintf(buf, size, "[%lld,%llu,%s,%llu]", json_integer_value(idx),
                         (unsigned long long) json_integer_value(two), op, v);
        else
                snprintf(buf, size, "[%lld,%llu,%s]", json_integer_value(idx), v, op);
        return 0;
}

/* Conditions on distinct arguments are ANDed in one rule; several on the
 * same argument cannot be, so (as runc) each becomes a rule of its own. */
static bool same_index_twice(json_t *args)
{
        bool seen[6] = { false };
        size_t i;
        json_t *a;

        json_array_foreach(args, i, a) {
                long long idx = json_integer_value(json_object_get(a, "index"));

                if (idx >= 0 && idx < 6 && seen[idx])
                        return true;
                if (idx >= 0 && idx < 6)
                        seen[idx] = true;
        }
        return false;
}

static int write_rule(FILE *f, json_t *rule, size_t idx, const char *deflt, struct pxe **err)
{
        json_t *names = json_object_get(rule, "names"), *args = json_object_get(rule, "args"), *n, *a;
        char action[32], cond[96];
        bool split = same_index_twice(args);
        size_t i, k;

        if (action_word(json_string_value(json_object_get(rule, "action")), json_object_get(rule, "errnoRet"), action,
                        sizeof(action)) < 0)
                return pxe_set(err, ENOTSUP, "linux.seccomp.syscalls[%zu].action: \"%s\" is not supported by the lxc "
                               "backend", idx, json_string_value(json_object_get(rule, "action")));
        /* libseccomp refuses rules that repeat the default action. */
        if (streq(action, deflt))
                return 0;
        json_array_foreach(names, i, n) {
                const char *name = json_string_value(n);

                if (!name || !*name || strpbrk(name, " \t\n[]#"))
                        return pxe_set(err, EINVAL, "linux.seccomp.syscalls[%zu].names[%zu]: invalid", idx, i);
                if (json_array_size(args) == 0) {
                        fprintf(f, "%s %s\n", name, action);
                        continue;
                }
                if (!split)
                        fprintf(f, "%s %s", name, action);
                json_array_foreach(args, k, a) {
                        if (arg_text(a, cond, sizeof(cond)) < 0)
                                return pxe_set(err, EINVAL, "linux.seccomp.syscalls[%zu].args[%zu]: invalid", idx, k);
                        if (split)
                                fprintf(f, "%s %s %s\n", name, action, cond);
                        else
                                fprintf(f, " %s", cond);
                }
                if (!split)
                        fputc('\n', f);
        }
        return 0;
}

static int seccomp_header(json_t *sc, FILE *f, char *deflt, size_t size, struct pxe **err)
{
        const char *def = json_string_value(json_object_get(sc, "defaultAction"));
        json_t *flags = json_object_get(sc, "flags");
        const char *listener = json_string_value(json_object_get(sc, "listenerPath"));

        if (json_array_size(flags) > 0)
                return pxe_set(err, ENOTSUP, "linux.seccomp.flags: not supported by the lxc backend");
        if (listener && *listener)
                return pxe_set(err, ENOTSUP, "linux.seccomp.listenerPath: not supported by the lxc backend");
        if (action_word(def, json_object_get(sc, "defaultErrnoRet"), deflt, size) < 0)
                return pxe_set(err, ENOTSUP, "linux.seccomp.defaultAction: \"%s\" is not supported by the lxc backend",
                               def ? def : "");
        if (streq(deflt, "allow"))
                fprintf(f, "2\ndenylist\n");
        else
                fprintf(f, "2\nallowlist %s\n", deflt);
        return 0;
}

int lxc_translate_seccomp(json_t *lin, const struct lxc_translate_opts *o, struct lxc_spec *s, struct pxe **err)
{
        json_t *sc = json_object_get(lin, "seccomp"), *rule;
        char *text = NULL, deflt[32];
        size_t len = 0, i;
        FILE *f;
        int r;

        if (!sc || json_is_null(sc))
                return 0;
        if (!json_is_object(sc))
                return pxe_set(err, EINVAL, "linux.seccomp: expected an object");
        if (!o->seccomp_path)
                return pxe_set(err, EINVAL, "linux.seccomp: no place for the profile");
        f = open_memstream(&text, &len);
        if (!f)
                return pxe_set(err, ENOMEM, "Out of memory");
        r = seccomp_header(sc, f, deflt, sizeof(deflt), err);
        json_array_foreach(json_object_get(sc, "syscalls"), i, rule) {
                if (r < 0)
                        break;
                r = write_rule(f, rule, i, deflt, err);
        }
        fclose(f);
        if (r < 0) {
                free(text);
                return r;
        }
        free(s->seccomp);
        s->seccomp = text;
        if (lxc_spec_add(s, "lxc.seccomp.profile", "%s", o->seccomp_path) < 0)
                return pxe_set(err, EINVAL, "lxc.seccomp.profile: value cannot be expressed");
        return 0;
}
