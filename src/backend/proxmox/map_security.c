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
 * in, so it is never weaker than the profile it replaces.
 *
 * A privileged container (unprivileged=0; what pxcrid makes of a pod without
 * a user namespace) also gets here what Proxmox's own keys would otherwise
 * hold back from the process: lxc.cap.drop cleared when the capabilities
 * asked for include one common.conf drops (pxcri-init bounds the process to
 * the asked sets itself), and linux.devices bound from the host with their
 * cgroup allow rules.  PVE_MAP_ANN_PRIVILEGED_CTR (a CRI privileged
 * container) clears Proxmox's seccomp and AppArmor profiles and mounts /proc,
 * /sys and the cgroups read-write, as crun does for one;
 * PVE_MAP_ANN_SECCOMP_UNCONFINED (the CRI's Unconfined) clears the seccomp
 * profile.  Binds with rslave/rshared propagation, which Proxmox mount
 * points cannot make, come here from map_mount() (pve_map_prop_bind()). */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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
        (void) privileged; /* a privileged one's drops are cleared when asked for (map_caps_drop()) */
        return ~UINT64_C(0);
}

bool pve_map_privileged_container(const json_t *config)
{
        const char *v = json_string_value(
                json_object_get(json_object_get(config, "annotations"), PVE_MAP_ANN_PRIVILEGED_CTR));

        return v && strcmp(v, "true") == 0;
}

/* Capabilities the process asks for in its bounding set that Proxmox's
 * common.conf drops from a privileged container. */
static int asked_drops(const json_t *proc, bool *ret, struct pxe **err)
{
        struct lxc_caps caps;
        int r;

        if ((r = lxc_caps_parse(json_object_get(proc, "capabilities"), &caps, err)) < 0)
                return r;
        *ret = caps.set && (caps.mask[LXC_CAP_BOUNDING] & PVE_PRIVILEGED_DROPS);
        return 0;
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
 * the filter LXC loaded before it ran: the profile must let it call mount,
 * and umount2 to detach the directories it bound files from
 * (/.pxcri/mnt/<n>).  A process without CAP_SYS_ADMIN in its bounding set
 * can never use either (the kernel refuses it), so an allowlist without
 * them gets them at no cost -- as RuntimeDefault grants them exactly with
 * CAP_SYS_ADMIN; a profile that denies one, or a process that could use
 * it, is refused.  why: what pxcri-init needs the call for. */
static int allow_init_call(char **profile, const char *call, const char *why, bool sys_admin, struct pxe **err)
{
        const char *nl = strchr(*profile, '\n'), *deflt = nl ? nl + 1 : "";
        bool allowlist = strncmp(deflt, "allowlist", 9) == 0, has_rule = false, allowed = false;
        char *out = NULL;

        for (const char *p = *profile; *p;) {
                const char *e = strchr(p, '\n');
                size_t n = e ? (size_t) (e - p) : strlen(p);

                if (rule_of(p, n, call)) {
                        has_rule = true;
                        allowed |= allows(p, n, call) && !memchr(p, '[', n);
                }
                p += n + (e ? 1 : 0);
        }
        if (allowlist ? allowed : !has_rule)
                return 0;
        if (!allowlist || has_rule || sys_admin)
                return pxe_set(err, ENOTSUP,
                               "linux.seccomp: the profile %s %s, which pxcri-init needs in a Proxmox container %s%s",
                               has_rule ? "restricts" : "does not allow", call, why,
                               sys_admin ? "; allowing it would let the process, which has CAP_SYS_ADMIN, call it too"
                                         : "");
        if (asprintf(&out, "%s%s allow\n", *profile, call) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        free(*profile);
        *profile = out;
        return 0;
}

/* The CRI's Unconfined (pxcrid's annotation), for a spec without a profile. */
static bool seccomp_unconfined(const json_t *config, bool privileged)
{
        const char *v = json_string_value(
                json_object_get(json_object_get(config, "annotations"), PVE_MAP_ANN_SECCOMP_UNCONFINED));

        return privileged && v && streq(v, "true") &&
               !json_is_object(json_object_get(json_object_get(config, "linux"), "seccomp"));
}

static const char *first_field(const json_t *config, bool privileged, bool drops)
{
        const json_t *proc = json_object_get(config, "process"), *lnx = json_object_get(config, "linux");

        if (pve_map_privileged_container(config))
                return "annotations." PVE_MAP_ANN_PRIVILEGED_CTR;
        if (seccomp_unconfined(config, privileged))
                return "annotations." PVE_MAP_ANN_SECCOMP_UNCONFINED;
        if (json_array_size(json_object_get(lnx, "devices")))
                return "linux.devices";
        if (drops)
                return "process.capabilities";
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

/* A cgroup rule of linux.resources.devices: "a", "c 1:3 rwm", "b *:* m". */
static int device_rule(const json_t *d, char *buf, size_t size)
{
        const char *type = json_string_value(json_object_get(d, "type"));
        const char *access = json_string_value(json_object_get(d, "access"));
        const json_t *maj = json_object_get(d, "major"), *min = json_object_get(d, "minor");
        char smaj[24] = "*", smin[24] = "*";

        if (!type || streq(type, "a"))
                return snprintf(buf, size, "a") < (int) size ? 0 : -1;
        if (!streq(type, "c") && !streq(type, "b"))
                return -1;
        if (json_is_integer(maj) && json_integer_value(maj) >= 0)
                snprintf(smaj, sizeof(smaj), "%lld", (long long) json_integer_value(maj));
        if (json_is_integer(min) && json_integer_value(min) >= 0)
                snprintf(smin, sizeof(smin), "%lld", (long long) json_integer_value(min));
        if (access && (!*access || strspn(access, "rwm") != strlen(access)))
                return -1;
        return snprintf(buf, size, "%s %s:%s %s", type, smaj, smin, access ? access : "rwm") < (int) size ? 0 : -1;
}

/* linux.devices in a privileged container: each host node bound at its path
 * (LXC's /dev is a tmpfs with null, zero, full, random, urandom, tty; the
 * pty ones come from the container's own devpts), as the lxc backend does,
 * and the allow rules of linux.resources.devices added to Proxmox's device
 * list (its deny rules are Proxmox's already).  An unprivileged container
 * cannot open host device nodes: refused. */
static int map_devices(const json_t *lnx, const struct pve_map_request *req, struct lxc_spec *s, struct pxe **err)
{
        json_t *devs = json_object_get(lnx, "devices"), *v;
        json_t *rules = json_object_get(json_object_get(lnx, "resources"), "devices");
        char rule[80];
        size_t i;
        int r;

        if (!json_array_size(devs))
                return 0;
        if (!req->privileged)
                return pxe_set(err, ENOTSUP, "linux.devices: an unprivileged Proxmox container (root is host uid "
                               "100000) cannot use host device nodes; it needs a privileged one");
        if ((r = lxc_translate_devices(devs, "a Proxmox container", s, err)) < 0)
                return r;
        json_array_foreach(rules, i, v) {
                if (!json_is_true(json_object_get(v, "allow")))
                        continue;
                if (device_rule(v, rule, sizeof(rule)) < 0)
                        return pxe_set(err, EINVAL, "linux.resources.devices[%zu]: invalid rule", i);
                if (lxc_spec_add(s, "lxc.cgroup.devices.allow", "%s", rule) < 0 ||
                    lxc_spec_add(s, "lxc.cgroup2.devices.allow", "%s", rule) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
        }
        return 0;
}

/* What crun gives a CRI privileged container and Proxmox's keys would
 * hold back: no seccomp filter (unless the spec has one), no AppArmor
 * profile, /proc, /sys and the cgroups read-write. */
static int map_privileged_container(const json_t *config, const struct pve_map_request *req, struct lxc_spec *s,
                                    struct pxe **err)
{
        const json_t *lnx = json_object_get(config, "linux");

        if (!pve_map_privileged_container(config)) {
                /* Unconfined: no filter, as crun; Proxmox's rules guard
                 * against what the CRI's capabilities already decide. */
                if (seccomp_unconfined(config, req->privileged) && lxc_spec_add(s, "lxc.seccomp.profile", "%s", "") < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                return 0;
        }
        if (!req->privileged)
                return pxe_set(err, EINVAL, "annotations." PVE_MAP_ANN_PRIVILEGED_CTR
                               ": needs a privileged Proxmox container (" PVE_MAP_ANN_PRIVILEGED " \"true\")");
        if ((!json_is_object(json_object_get(lnx, "seccomp")) && lxc_spec_add(s, "lxc.seccomp.profile", "%s", "") < 0) ||
            lxc_spec_add(s, "lxc.apparmor.profile", "unconfined") < 0 || lxc_spec_add(s, "lxc.mount.auto", "%s", "") < 0 ||
            lxc_spec_add(s, "lxc.mount.auto", "proc:rw sys:rw cgroup:rw") < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

/* A bind with rshared/rslave (or shared/slave) among its options, for the
 * include: its options are bind/rbind, rw/ro, nosuid, nodev, noexec. */
int pve_map_prop_bind(const struct pve_map_request *req, struct pve_params *p, size_t idx, const char *src,
                      const char *dest, const json_t *opts, const struct stat *st, bool *ret_done, struct pxe **err)
{
        static const struct {
                const char *name;
                char flag;
        } known[] = { { "bind", 0 },      { "rbind", 0 },    { "rw", 0 },        { "ro", 'o' },
                      { "nosuid", 'u' }, { "nodev", 'd' }, { "noexec", 'x' },  { "shared", 0 },
                      { "rshared", 0 },  { "slave", 0 },   { "rslave", 0 },    { "private", 0 },
                      { "rprivate", 0 } };
        struct pve_map_prop_bind b = { .idx = idx, .dir = S_ISDIR(st->st_mode) }, *n;
        const json_t *o;
        size_t i, k, nf = 0;
        int prop = 0;

        json_array_foreach (opts, i, o) {
                const char *v = json_string_value(o);

                if (v && (streq(v, "shared") || streq(v, "rshared")))
                        prop = 'S';
                else if (v && (streq(v, "slave") || streq(v, "rslave")))
                        prop = 'L';
        }
        *ret_done = prop != 0;
        if (!prop)
                return 0;
        if (!req->privileged)
                return pxe_set(err, ENOTSUP, "mounts[%zu] (%s): %s propagation needs a privileged Proxmox container; "
                               "an unprivileged one's mounts are private", idx, dest, prop == 'S' ? "shared" : "slave");
        json_array_foreach (opts, i, o) {
                const char *v = json_string_value(o);

                for (k = 0; v && k < ARRAY_SIZE(known) && !streq(v, known[k].name); k++)
                        ;
                if (!v || k == ARRAY_SIZE(known))
                        return pxe_set(err, ENOTSUP, "mounts[%zu].options[%zu]: \"%s\" is not supported with %s "
                                       "propagation on Proxmox", idx, i, v ? v : "", prop == 'S' ? "shared" : "slave");
                if (known[k].flag && !strchr(b.flags, known[k].flag) && nf < sizeof(b.flags) - 1)
                        b.flags[nf++] = known[k].flag;
                b.recursive |= streq(v, "rbind");
        }
        b.shared = prop == 'S';
        n = realloc(p->prop_binds, (p->n_prop_binds + 1) * sizeof(*n));
        if (!n)
                return pxe_set(err, ENOMEM, "Out of memory");
        p->prop_binds = n;
        b.source = strdup(src);
        b.dest = strdup(dest);
        n[p->n_prop_binds++] = b;
        if (!b.source || !b.dest)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

/* Binds with rslave/rshared propagation (map.c's prop_binds): slave as an
 * lxc.mount.entry (LXC makes the CT's copy of the host's mounts dependent,
 * so a bind from it receives the host's mounts); shared made by pxcri-init
 * --lxc-setup from LXC's mount hook, from a clone of the host's mount in
 * the monitor's mount namespace, so mounts propagate both ways -- the lxc
 * backend's way (src/init/init_setup.h). */
static int map_prop_binds(const struct pve_map_request *req, struct pve_params *p, struct lxc_spec *s, struct pxe **err)
{
        bool hook = false;

        for (size_t i = 0; i < p->n_prop_binds; i++) {
                const struct pve_map_prop_bind *b = &p->prop_binds[i];
                _cleanup_free_ char *esrc = lxc_fstab_escape(b->source), *edst = lxc_fstab_escape(b->dest + 1);
                char flags[16];

                if (!esrc || !edst)
                        return pxe_set(err, ENOMEM, "Out of memory");
                if (!b->shared) {
                        if (lxc_spec_add(s, "lxc.mount.entry", "%s %s none %s,%s%s%s%s%s,create=%s 0 0", esrc, edst,
                                         b->recursive ? "rbind" : "bind", b->recursive ? "rslave" : "slave",
                                         strchr(b->flags, 'o') ? ",ro" : "", strchr(b->flags, 'u') ? ",nosuid" : "",
                                         strchr(b->flags, 'd') ? ",nodev" : "", strchr(b->flags, 'x') ? ",noexec" : "",
                                         b->dir ? "dir" : "file") < 0)
                                return pxe_set(err, ENOMEM, "Out of memory");
                        continue;
                }
                if (!req->init_path || !req->setup_path)
                        return pxe_set(err, EOPNOTSUPP, "mounts[%zu] (%s): shared propagation needs pxcri-init as "
                                       "LXC's mount hook, which only transport \"pct\" can set", b->idx, b->dest);
                if (strpbrk(b->source, "\t\n") || strpbrk(b->dest, "\t\n"))
                        return pxe_set(err, EINVAL, "mounts[%zu]: a shared bind's paths cannot have tabs or newlines",
                                       b->idx);
                snprintf(flags, sizeof(flags), "%sS%s%s", b->recursive ? "r" : "", b->flags, b->dir ? "" : "f");
                if (lxc_spec_add_setup(s, "B%s\t%s\t%s", flags, b->source, b->dest) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                hook = true;
        }
        if (!hook)
                return 0;
        if (lxc_spec_add(s, "lxc.hook.mount", "%s --lxc-setup %s", req->init_path, req->setup_path) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        p->setup = TAKE_PTR(s->setup);
        p->setup_len = s->setup_len;
        s->setup_len = 0;
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

        bool drops = false;

        if (!s)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (req->privileged && (r = asked_drops(proc, &drops, err)) < 0)
                return r;
        p->security_field = first_field(config, req->privileged, drops);
        if (!p->security_field && p->n_prop_binds)
                p->security_field = "mounts (propagation)";
        if (!p->security_field)
                return 0;
        /* pxcri-init bounds the process to the sets asked for: the CT may
         * keep what common.conf drops. */
        if (drops && lxc_spec_add(s, "lxc.cap.drop", "%s", "") < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if ((r = map_devices(lnx, req, s, err)) < 0 || (r = map_privileged_container(config, req, s, err)) < 0 ||
            (r = map_prop_binds(req, p, s, err)) < 0)
                return r;
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
                        bool sys_admin = !s->caps.set || (s->caps.mask[LXC_CAP_BOUNDING] & UINT64_C(1) << 21);
                        bool staged = false;

                        for (size_t i = 0; i < p->n_init_binds; i++)
                                staged |= p->init_binds[i].staged;
                        r = allow_init_call(&p->seccomp, "mount",
                                            "for its mounts before the process starts (files such as /etc/hosts, "
                                            "tmpfs, a read-only root)",
                                            sys_admin, err);
                        if (r == 0 && staged)
                                r = allow_init_call(&p->seccomp, "umount2",
                                                    "to put away the directories it bound files from before the "
                                                    "process starts",
                                                    sys_admin, err);
                        if (r < 0)
                                return r;
                }
        }
        return security_text(s, p, err);
}
