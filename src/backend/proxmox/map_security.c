/* OCI security fields -> the LXC keys of a Proxmox container's lxc.include
 * (pmx_namespaces.c writes it), with the lxc backend's own translation
 * (src/backend/lxc/translate*.c): noNewPrivileges (lxc.no_new_privs), the
 * bounding set (lxc.cap.keep), masked and read-only paths (lxc.mount.entry),
 * seccomp (lxc.seccomp.profile, a file pxcri writes).  Capabilities are
 * pxcri-init's (pmx_process_records()): it applies all five sets, the
 * bounding one too, to the process -- an lxc.cap.keep would take from
 * pxcri-init itself the CAP_SYS_ADMIN its mounts before the start need.
 *
 * pve-container writes its generated keys first and the raw ones (our
 * lxc.include) last, so in the include a single-valued key replaces
 * Proxmox's (lxc.seccomp.profile, lxc.no_new_privs) and a list adds to it
 * (lxc.mount.entry).  The seccomp profile gets Proxmox's own rules merged
 * in, so it is never weaker than the profile it replaces. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/lxc/translate.h"
#include "backend/proxmox/map.h"
#include "util/cleanup.h"

/* What common.conf drops in a privileged container (mac_admin mac_override
 * sys_time sys_module sys_rawio); userns.conf gives an unprivileged one the
 * full set of its user namespace. */
#define PVE_PRIVILEGED_DROPS                                                                                  \
        (UINT64_C(1) << 33 | UINT64_C(1) << 32 | UINT64_C(1) << 25 | UINT64_C(1) << 16 | UINT64_C(1) << 17)

uint64_t pve_map_caps_available(bool privileged)
{
        return privileged ? ~PVE_PRIVILEGED_DROPS : ~UINT64_C(0);
}

/* Proxmox's own filter (lxc's common.seccomp, plus keyctl for an
 * unprivileged container without the keyctl feature: pve-container's
 * make_seccomp_config): unconditional rules only. */
static const struct {
        const char *name, *action;
        bool unprivileged_only;
} pve_rules[] = {
        { "kexec_load", "errno 1", false },    { "open_by_handle_at", "errno 1", false },
        { "init_module", "errno 1", false },   { "finit_module", "errno 1", false },
        { "delete_module", "errno 1", false }, { "keyctl", "errno 38", true },
};

static bool rule_of(const char *line, size_t len, const char *name)
{
        size_t n = strlen(name);

        return len > n && strncmp(line, name, n) == 0 && line[n] == ' ';
}

static bool allows(const char *line, size_t len, const char *name)
{
        size_t n = strlen(name);

        return rule_of(line, len, name) && len >= n + 6 && strncmp(line + n + 1, "allow", 5) == 0 &&
               (len == n + 6 || line[n + 6] == ' ');
}

/* profile (LXC's v2 text) with Proxmox's rules merged: a syscall Proxmox
 * denies is denied -- the profile's allow rules for it dropped, its own
 * deny kept. */
static char *merge_pve_rules(const char *profile, bool unprivileged, bool keyctl)
{
        const char *nl = strchr(profile, '\n'), *deflt = nl ? nl + 1 : "";
        bool allowlist = strncmp(deflt, "allowlist", 9) == 0;
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);

        if (!f)
                return NULL;
        for (const char *p = profile; *p;) {
                const char *e = strchr(p, '\n');
                size_t n = e ? (size_t) (e - p) : strlen(p);
                bool drop = false;

                for (size_t i = 0; i < ARRAY_SIZE(pve_rules); i++)
                        drop |= allows(p, n, pve_rules[i].name);
                if (!drop)
                        fprintf(f, "%.*s\n", (int) n, p);
                p += n + (e ? 1 : 0);
        }
        for (size_t i = 0; i < ARRAY_SIZE(pve_rules); i++) {
                bool own = false;

                if (pve_rules[i].unprivileged_only && (!unprivileged || keyctl))
                        continue;
                for (const char *p = profile; *p;) {
                        const char *e = strchr(p, '\n');
                        size_t n = e ? (size_t) (e - p) : strlen(p);

                        own |= rule_of(p, n, pve_rules[i].name) && !allows(p, n, pve_rules[i].name);
                        p += n + (e ? 1 : 0);
                }
                /* An allowlist's default already denies it (errno 1);
                 * LXC refuses a rule that repeats the default. */
                if (!own && !(allowlist && strncmp(deflt + 10, pve_rules[i].action, strlen(pve_rules[i].action)) == 0 &&
                              deflt[10 + strlen(pve_rules[i].action)] == '\n'))
                        fprintf(f, "%s %s\n", pve_rules[i].name, pve_rules[i].action);
        }
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

/* pxcri-init makes its mounts (file binds, tmpfs, the read-only root) under
 * the filter LXC loaded before it ran: the profile must let it call mount.
 * A process without CAP_SYS_ADMIN in its bounding set can never mount (the
 * kernel refuses it), so an allowlist without mount gets it at no cost --
 * as RuntimeDefault grants mount exactly with CAP_SYS_ADMIN; a profile that
 * denies mount, or a process that could use it, is refused. */
static int allow_init_mount(char **profile, bool sys_admin, struct pxe **err)
{
        const char *nl = strchr(*profile, '\n'), *deflt = nl ? nl + 1 : "";
        bool allowlist = strncmp(deflt, "allowlist", 9) == 0, has_rule = false, allowed = false;
        char *out = NULL;

        for (const char *p = *profile; *p;) {
                const char *e = strchr(p, '\n');
                size_t n = e ? (size_t) (e - p) : strlen(p);

                if (rule_of(p, n, "mount")) {
                        has_rule = true;
                        allowed |= allows(p, n, "mount") && !memchr(p, '[', n);
                }
                p += n + (e ? 1 : 0);
        }
        if (allowlist ? allowed : !has_rule)
                return 0;
        if (!allowlist || has_rule || sys_admin)
                return pxe_set(err, ENOTSUP,
                               "linux.seccomp: the profile %s mount, which pxcri-init needs in a Proxmox container for "
                               "its mounts before the process starts (files such as /etc/hosts, tmpfs, a read-only "
                               "root)%s",
                               has_rule ? "restricts" : "does not allow",
                               sys_admin ? "; allowing it would let the process, which has CAP_SYS_ADMIN, mount too" : "");
        if (asprintf(&out, "%smount allow\n", *profile) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        free(*profile);
        *profile = out;
        return 0;
}

static const char *first_field(const json_t *config)
{
        const json_t *proc = json_object_get(config, "process"), *lnx = json_object_get(config, "linux");

        if (json_is_true(json_object_get(proc, "noNewPrivileges")))
                return "process.noNewPrivileges";
        if (json_array_size(json_object_get(lnx, "maskedPaths")))
                return "linux.maskedPaths";
        if (json_array_size(json_object_get(lnx, "readonlyPaths")))
                return "linux.readonlyPaths";
        if (json_is_object(json_object_get(lnx, "seccomp")))
                return "linux.seccomp";
        return NULL;
}

static int security_text(const struct lxc_spec *s, struct pve_params *p, struct pxe **err)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);

        if (!f)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (size_t i = 0; i < s->n_items; i++)
                fprintf(f, "%s = %s\n", s->items[i].key, s->items[i].value);
        if (fclose(f) != 0) {
                free(text);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        free(p->lxc_security);
        p->lxc_security = text;
        return 0;
}

int pve_map_security(const json_t *config, const struct pve_map_request *req, struct pve_params *p,
                     struct pxe **err)
{
        json_t *proc = json_object_get(config, "process"), *lnx = json_object_get(config, "linux");
        const char *root = json_string_value(json_object_get(json_object_get(config, "root"), "path"));
        const char *features = json_string_value(
                json_object_get(json_object_get(config, "annotations"), PVE_MAP_ANN_FEATURES));
        struct lxc_translate_opts o = { .seccomp_path = req->seccomp_path };
        _cleanup_lxc_spec_ struct lxc_spec *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return pxe_set(err, ENOMEM, "Out of memory");
        p->security_field = first_field(config);
        if (!p->security_field)
                return 0;
        /* Masked paths: a directory gets a tmpfs, a file /dev/null; the
         * image tells which. */
        if (root && asprintf(&s->rootfs, "%s%s%s", root[0] == '/' ? "" : req->bundle ? req->bundle : ".",
                             root[0] == '/' ? "" : "/", root) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (json_is_true(json_object_get(proc, "noNewPrivileges")) &&
            lxc_spec_add(s, "lxc.no_new_privs", "1") < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if ((r = lxc_translate_paths(lnx, s, err)) < 0)
                return r;
        if (json_is_object(json_object_get(lnx, "seccomp"))) {
                if (!req->seccomp_path)
                        return pxe_set(err, EOPNOTSUPP, "linux.seccomp: no place for the profile");
                if ((r = lxc_translate_seccomp(lnx, &o, s, err)) < 0)
                        return r;
                p->seccomp = merge_pve_rules(s->seccomp, !req->privileged, features && strstr(features, "keyctl"));
                if (!p->seccomp)
                        return pxe_set(err, ENOMEM, "Out of memory");
                if (p->n_init_binds || p->n_init_mounts || p->readonly_root) {
                        if ((r = lxc_caps_parse(json_object_get(proc, "capabilities"), &s->caps, err)) < 0)
                                return r;
                        /* No capability sets: the process keeps root's, CAP_SYS_ADMIN (21) too. */
                        r = allow_init_mount(&p->seccomp,
                                             !s->caps.set || (s->caps.mask[LXC_CAP_BOUNDING] & UINT64_C(1) << 21), err);
                        if (r < 0)
                                return r;
                }
        }
        return security_text(s, p, err);
}
