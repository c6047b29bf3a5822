/* update for the lxc backend: runc's flags or --resources, translated like
 * linux.resources at create and applied with liblxc's set_cgroup_item. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/lxc/lxc_private.h"
#include "backend/lxc/translate.h"
#include "util/cleanup.h"
#include "util/fs.h"

static json_t *load_resources(const char *path, struct pxe **err)
{
        _cleanup_free_ char *text = NULL;

        if (fs_read_file(path, 1u << 20, &text, NULL, err) < 0)
                return NULL;
        return json_loads(text, 0, NULL);
}

/* runc update flags -> a linux.resources object. */
static int update_flags(const struct backend_call *c, json_t *res, struct pxe **err)
{
        static const struct {
                const char *flag, *group, *key;
        } flags[] = {
                { "--memory", "memory", "limit" },     { "--memory-reservation", "memory", "reservation" },
                { "--memory-swap", "memory", "swap" }, { "--pids-limit", "pids", "limit" },
                { "--cpu-quota", "cpu", "quota" },     { "--cpu-period", "cpu", "period" },
                { "--cpu-share", "cpu", "shares" },    { "--cpuset-cpus", "cpu", "cpus" },
                { "--cpuset-mems", "cpu", "mems" },
        };

        for (size_t i = 0; i < c->n_args; i++) {
                const char *a = c->args[i], *eq = strchr(a, '='), *val;
                size_t len = eq ? (size_t) (eq - a) : strlen(a), k;
                json_t *g;

                for (k = 0; k < ARRAY_SIZE(flags); k++)
                        if (strlen(flags[k].flag) == len && strncmp(a, flags[k].flag, len) == 0)
                                break;
                if (k == ARRAY_SIZE(flags)) {
                        if (streq(a, "--resources") || streq(a, "-r"))
                                i++;
                        else if (a[0] == '-' && strncmp(a, "--resources=", 12) && strncmp(a, "-r=", 3))
                                return pxe_set(err, ENOSYS, "Backend lxc cannot update %s yet", a);
                        continue;
                }
                val = eq ? eq + 1 : (i + 1 < c->n_args ? c->args[++i] : "");
                if (!(g = json_object_get(res, flags[k].group)))
                        json_object_set_new(res, flags[k].group, g = json_object());
                if (streq(flags[k].key, "cpus") || streq(flags[k].key, "mems"))
                        json_object_set_new(g, flags[k].key, json_string(val));
                else
                        json_object_set_new(g, flags[k].key, json_integer(strtoll(val, NULL, 10)));
        }
        return 0;
}

static int apply_items(struct lxc_container *ct, struct lxc_spec *s, struct pxe **err)
{
        for (size_t i = 0; i < s->n_items; i++) {
                const char *k = s->items[i].key;
                const char *item = strncmp(k, "lxc.cgroup2.", 12) == 0 ? k + 12 : k + 11;

                if (!ct->set_cgroup_item(ct, item, s->items[i].value))
                        return pxe_set(err, EIO, "Setting %s = %s for container %s failed", item, s->items[i].value,
                                       ct->name);
        }
        return 0;
}

int lxcb_update(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        _cleanup_lxc_ struct lxc_container *ct = NULL;
        struct lxc_spec s = { .umask = -1 };
        struct lxc_translate_opts o = { .cgroup_v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 };
        json_auto_t *res = NULL, *lin = NULL;
        int r;

        if (c->resources && streq(c->resources, "-"))
                res = json_loadf(stdin, 0, NULL);
        else if (c->resources)
                res = load_resources(c->resources, err);
        else
                res = json_object();
        if (!json_is_object(res))
                return pxe_set(err, EINVAL, "--resources: expected a JSON object");
        if ((r = update_flags(c, res, err)) < 0 || (r = lxcb_open(b, c->id, &ct, err)) < 0)
                return r;
        lin = json_pack("{s:O}", "resources", res);
        r = lin ? lxc_translate_resources(lin, &o, &s, err) : -ENOMEM;
        if (r == 0)
                r = apply_items(ct, &s, err);
        for (size_t i = 0; i < s.n_items; i++) {
                free(s.items[i].key);
                free(s.items[i].value);
        }
        free(s.items);
        *st = 0;
        return r;
}
