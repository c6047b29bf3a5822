/* Capabilities, privileged mode, no_new_privs, masked and read-only paths.
 *
 * Capabilities as containerd applies them: "ALL" in add sets every known
 * capability and "ALL" in drop clears them first, then the named ones are
 * added and dropped, so add ALL + drop CHOWN is everything but CAP_CHOWN.
 * Adds and drops touch the bounding, effective and permitted sets; ambient
 * ones go to the ambient and inheritable sets (the kernel wants both).
 * "ALL" and privileged mean all capabilities pxcrid's bounding set holds
 * (containerd's "current" set), see current_caps(). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cri/spec/spec_internal.h"
#include "util/cleanup.h"

/* In kernel order: index = capability number. */
static const char *const known_caps[] = {
        "CAP_CHOWN",           "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",          "CAP_FSETID",
        "CAP_KILL",            "CAP_SETGID",       "CAP_SETUID",          "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",     "CAP_NET_RAW",         "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",       "CAP_SYS_MODULE",   "CAP_SYS_RAWIO",       "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",    "CAP_SYS_BOOT",        "CAP_SYS_NICE",        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",         "CAP_LEASE",           "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",      "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",       "CAP_SYSLOG",
        "CAP_WAKE_ALARM",      "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",     "CAP_PERFMON",         "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
};

static const char *const cap_sets[] = { "bounding", "effective", "permitted" };

/* The capabilities this process may hand on: its bounding set (pxcrid on
 * these hosts runs without CAP_SYS_RESOURCE, and asking the runtime for a
 * capability outside it fails the create), as containerd's "current"
 * capabilities; the kernel's last capability when that cannot be read. */
static uint64_t current_caps(void)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
        _cleanup_free_ char *line = NULL;
        size_t n = 0;
        unsigned long long mask;
        int last = (int) ARRAY_SIZE(known_caps) - 1;

        while (f && getline(&line, &n, f) > 0)
                if (sscanf(line, "CapBnd: %llx", &mask) == 1)
                        return (uint64_t) mask;
        if (f)
                fclose(TAKE_PTR(f));
        f = fopen("/proc/sys/kernel/cap_last_cap", "re");
        if (!f || fscanf(f, "%d", &last) != 1 || last < 0 || last >= 63)
                last = (int) ARRAY_SIZE(known_caps) - 1;
        return (UINT64_C(1) << (last + 1)) - 1;
}

/* "sys_admin", "CAP_SYS_ADMIN" -> "CAP_SYS_ADMIN"; NULL when unknown. */
static const char *cap_name(const char *s)
{
        const char *n = strncasecmp(s, "CAP_", 4) == 0 ? s + 4 : s;

        for (size_t i = 0; i < ARRAY_SIZE(known_caps); i++)
                if (strcasecmp(n, known_caps[i] + 4) == 0)
                        return known_caps[i];
        return NULL;
}

static json_t *all_caps(void)
{
        json_t *a = json_array();
        uint64_t mask = current_caps();

        for (size_t i = 0; i < ARRAY_SIZE(known_caps); i++)
                if (mask & (UINT64_C(1) << i))
                        json_array_append_new(a, json_string(known_caps[i]));
        return a;
}

static void caps_set_all(json_t *caps, bool all)
{
        for (size_t i = 0; i < ARRAY_SIZE(cap_sets); i++)
                json_object_set_new(caps, cap_sets[i], all ? all_caps() : json_array());
}

static bool has_all(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (strcasecmp(v[i], "ALL") == 0)
                        return true;
        return false;
}

/* Add (add) or drop the named capabilities in the given sets. */
static int caps_edit(json_t *caps, char **v, size_t n, const char *field, const char *const *sets, size_t n_sets,
                     bool add, struct pxe **err)
{
        for (size_t i = 0; i < n; i++) {
                const char *c;

                if (strcasecmp(v[i], "ALL") == 0)
                        continue;
                c = cap_name(v[i]);
                if (!c)
                        return pxe_set(err, EINVAL, "security_context.capabilities.%s[%zu] \"%s\" is not a known "
                                       "capability", field, i, v[i]);
                for (size_t s = 0; s < n_sets; s++) {
                        if (add)
                                spec_strv_add(spec_array(caps, sets[s]), c);
                        else
                                spec_strv_del(json_object_get(caps, sets[s]), c);
                }
        }
        return 0;
}

static int apply_caps(json_t *caps, const Runtime__V1__Capability *c, struct pxe **err)
{
        static const char *const ambient_sets[] = { "ambient", "inheritable" };

        if (!c)
                return 0;
        if (has_all(c->add_capabilities, c->n_add_capabilities))
                caps_set_all(caps, true);
        if (has_all(c->drop_capabilities, c->n_drop_capabilities))
                caps_set_all(caps, false);
        if (caps_edit(caps, c->add_capabilities, c->n_add_capabilities, "add_capabilities", cap_sets,
                      ARRAY_SIZE(cap_sets), true, err) < 0 ||
            caps_edit(caps, c->drop_capabilities, c->n_drop_capabilities, "drop_capabilities", cap_sets,
                      ARRAY_SIZE(cap_sets), false, err) < 0 ||
            caps_edit(caps, c->add_ambient_capabilities, c->n_add_ambient_capabilities, "add_ambient_capabilities",
                      ambient_sets, ARRAY_SIZE(ambient_sets), true, err) < 0)
                return -EINVAL;
        return 0;
}

static int check_paths(char **v, size_t n, const char *field, struct pxe **err)
{
        for (size_t i = 0; i < n; i++)
                if (!spec_path_ok(v[i], true))
                        return pxe_set(err, EINVAL, "security_context.%s[%zu] \"%s\" must be absolute, without \"..\"",
                                       field, i, v[i] ? v[i] : "");
        return 0;
}

static void set_paths(json_t *linux_, const char *key, char **v, size_t n)
{
        json_t *a = json_array();

        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_string(v[i]));
        json_object_set_new(linux_, key, a);
}

/* The request's lists replace the defaults when given (kubelet sends the
 * defaults itself unless procMount is Unmasked). */
static int apply_paths(json_t *linux_, const Runtime__V1__LinuxContainerSecurityContext *sc, bool privileged,
                       struct pxe **err)
{
        if (privileged) {
                json_object_del(linux_, "maskedPaths");
                json_object_del(linux_, "readonlyPaths");
                return 0;
        }
        if (!sc)
                return 0;
        if (check_paths(sc->masked_paths, sc->n_masked_paths, "masked_paths", err) < 0 ||
            check_paths(sc->readonly_paths, sc->n_readonly_paths, "readonly_paths", err) < 0)
                return -EINVAL;
        if (sc->n_masked_paths)
                set_paths(linux_, "maskedPaths", sc->masked_paths, sc->n_masked_paths);
        if (sc->n_readonly_paths)
                set_paths(linux_, "readonlyPaths", sc->readonly_paths, sc->n_readonly_paths);
        return 0;
}

int spec_apply_security(json_t *spec, const Runtime__V1__LinuxContainerSecurityContext *sc, bool privileged,
                        struct pxe **err)
{
        json_t *process = spec_object(spec, "process"), *caps = spec_object(process, "capabilities");

        if (privileged)
                caps_set_all(caps, true);
        else if (sc && apply_caps(caps, sc->capabilities, err) < 0)
                return -EINVAL;
        if (sc && sc->no_new_privs)
                json_object_set_new(process, "noNewPrivileges", json_true());
        return apply_paths(spec_object(spec, "linux"), sc, privileged, err);
}
