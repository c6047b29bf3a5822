/* proxmox-templates and proxmox-prune: the templates the proxmox backend
 * keeps for images (src/backend/proxmox/proxmox.h, docs/proxmox.md).
 *
 * proxmox-prune exits 0 when it ran, also when templates were kept (each
 * line says why), and 1 with a message when it could not run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/proxmox/proxmox.h"
#include "cli/cli.h"
#include "util/cleanup.h"

enum {
        TEMPLATES_OPT_FORMAT,
        TEMPLATES_OPT_QUIET,
};

const struct cli_opt cli_proxmox_templates_opts[] = {
        [TEMPLATES_OPT_FORMAT] = { "format", 'f', true, false },
        [TEMPLATES_OPT_QUIET] = { "quiet", 'q', false, false },
        { 0 },
};

enum {
        PRUNE_OPT_IMAGE,
        PRUNE_OPT_FORMAT,
};

const struct cli_opt cli_proxmox_prune_opts[] = {
        [PRUNE_OPT_IMAGE] = { "image", 0, true, false },
        [PRUNE_OPT_FORMAT] = { "format", 'f', true, false },
        { 0 },
};

static int check_format(const char *format, struct pxe **err)
{
        if (!streq(format, "table") && !streq(format, "json"))
                return pxe_set(err, EINVAL, "Unknown format \"%s\" (table or json)", format);
        return 0;
}

/* The proxmox backend, or *ret NULL when it is not available here and the
 * root has no templates: nothing to list or prune then. */
static int open_proxmox(struct cli *c, struct backend **ret, struct pxe **err)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        *ret = NULL;
        if (backend_open(c->cfg, &c->ctx.env, BACKEND_PROXMOX, ret, &e) == 0 || !pmx_templates_recorded(c->root))
                return 0;
        *err = TAKE_PTR(e);
        return -pxe_code(err, EINVAL);
}

static json_t *strv_json(char **v, size_t n)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static void print_cts(const struct pmx_template_info *t, char *buf, size_t size)
{
        if (t->ct_unprivileged && t->ct_privileged)
                snprintf(buf, size, "%u,%u(priv)", t->ct_unprivileged, t->ct_privileged);
        else if (t->ct_unprivileged || t->ct_privileged)
                snprintf(buf, size, "%u%s", t->ct_unprivileged ? t->ct_unprivileged : t->ct_privileged,
                         t->ct_unprivileged ? "" : "(priv)");
        else
                snprintf(buf, size, "%s", t->linked ? "-" : "none(full)");
}

static void templates_table(const struct pmx_template_info *v, size_t n)
{
        printf("%-24s %-71s %-38s %-16s %s\n", "KEY", "IMAGE", "FILE", "TEMPLATE-CTS", "CONTAINERS");
        for (size_t i = 0; i < n; i++) {
                char cts[64];

                print_cts(&v[i], cts, sizeof(cts));
                printf("%-24s %-71s %-38s %-16s ", v[i].key, v[i].image ? v[i].image : "-", v[i].file, cts);
                for (size_t k = 0; k < v[i].n_users; k++)
                        printf("%s%s", k ? "," : "", v[i].users[k]);
                printf("%s\n", v[i].n_users ? "" : "-");
        }
}

static int templates_json(const struct pmx_template_info *v, size_t n, struct pxe **err)
{
        json_auto_t *a = json_array();

        for (size_t i = 0; a && i < n; i++) {
                json_t *cts = json_object();

                if (cts && v[i].ct_unprivileged)
                        json_object_set_new(cts, "unprivileged", json_integer(v[i].ct_unprivileged));
                if (cts && v[i].ct_privileged)
                        json_object_set_new(cts, "privileged", json_integer(v[i].ct_privileged));
                if (json_array_append_new(a, json_pack("{s:s, s:s?, s:s, s:o, s:b, s:o}", "key", v[i].key, "image",
                                                       v[i].image, "file", v[i].file, "ct", cts, "linked",
                                                       v[i].linked, "containers",
                                                       strv_json(v[i].users, v[i].n_users))) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
        }
        if (!a)
                return pxe_set(err, ENOMEM, "Out of memory");
        return cli_print_json(a, err);
}

int cmd_proxmox_templates(struct cli *c, struct cli_args *a, struct pxe **err)
{
        const char *format = a->values[TEMPLATES_OPT_FORMAT] ? a->values[TEMPLATES_OPT_FORMAT] : "table";
        _cleanup_backend_ struct backend *b = NULL;
        struct pmx_template_info *v = NULL;
        size_t n = 0;
        int r = 0;

        if (check_format(format, err) < 0 || open_proxmox(c, &b, err) < 0)
                return -pxe_code(err, EINVAL);
        if (b && pmx_templates_list(b, &v, &n, err) < 0)
                return pxe_wrap(err, "Listing the Proxmox templates");
        if (a->values[TEMPLATES_OPT_QUIET])
                for (size_t i = 0; i < n; i++)
                        printf("%s\n", v[i].key);
        else if (streq(format, "json"))
                r = templates_json(v, n, err);
        else
                templates_table(v, n);
        pmx_templates_list_free(v, n);
        return r;
}

static int prune_json(const struct pmx_prune_result *res, struct pxe **err)
{
        json_auto_t *o = json_pack("{s:I, s:I, s:[]}", "removed", (json_int_t) res->n_removed, "kept",
                                   (json_int_t) res->n_kept, "templates");
        json_t *list = json_object_get(o, "templates");

        for (size_t i = 0; list && i < res->n_entries; i++) {
                const struct pmx_prune_entry *e = &res->entries[i];
                _cleanup_free_ char *reason = pmx_prune_reason(e);

                if (!reason || json_array_append_new(list, json_pack("{s:s, s:s?, s:s, s:s, s:s, s:o}", "key", e->key,
                                                                     "image", e->image, "action",
                                                                     e->why == PMX_PRUNE_UNUSED ? "removed" : "kept",
                                                                     "why", pmx_prune_why_to_string(e->why),
                                                                     "reason", reason, "containers",
                                                                     strv_json(e->users, e->n_users))) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
        }
        if (!list)
                return pxe_set(err, ENOMEM, "Out of memory");
        return cli_print_json(o, err);
}

int cmd_proxmox_prune(struct cli *c, struct cli_args *a, struct pxe **err)
{
        const char *format = a->values[PRUNE_OPT_FORMAT] ? a->values[PRUNE_OPT_FORMAT] : "table";
        const char *image = a->values[PRUNE_OPT_IMAGE];
        _cleanup_backend_ struct backend *b = NULL;
        struct pmx_prune_result res = { 0 };
        int r = 0;

        if (image && !image[0])
                return pxe_set(err, EINVAL, "--image needs an image ID");
        if (check_format(format, err) < 0 || open_proxmox(c, &b, err) < 0)
                return -pxe_code(err, EINVAL);
        if (b && pmx_templates_prune(b, image, &res, err) < 0)
                return pxe_wrap(err, "Pruning the Proxmox templates%s%s", image ? " of image " : "",
                                image ? image : "");
        if (streq(format, "json"))
                r = prune_json(&res, err);
        for (size_t i = 0; streq(format, "table") && i < res.n_entries; i++) {
                const struct pmx_prune_entry *e = &res.entries[i];
                _cleanup_free_ char *reason = pmx_prune_reason(e);

                printf("%s %s %s\n", e->key, e->why == PMX_PRUNE_UNUSED ? "removed" : "kept",
                       reason ? reason : pmx_prune_why_to_string(e->why));
        }
        pmx_prune_result_done(&res);
        return r;
}
