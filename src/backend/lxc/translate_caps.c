/* OCI process.capabilities -> lxc.cap.keep and pxcri-init's "C" records.
 *
 * LXC itself only keeps a bounding set, and a root process gets all of it.
 * So pxcri-init applies the five sets to the process, as runc does, after
 * switching to its uid/gid (init_caps.h); LXC's bounding set (what
 * pxcri-init and an exec's pxcri-init start with) is the process's plus
 * what pxcri-init needs for that switch and for passing signals on. */
#include "backend/lxc/translate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

/* Index = capability number (linux/capability.h), up to CAP_LAST_CAP of
 * Linux 6.x. */
static const char *const cap_names[] = {
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
        "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
        "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
        "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
        "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
        "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};

enum {
        CAP_NO_SETGID = 6,
        CAP_NO_SETUID = 7,
        CAP_NO_SETPCAP = 8,
        CAP_NO_KILL = 5,
};

/* Set names as config.json spells them, in enum lxc_cap_set order, and the
 * letter of each in pxcri-init's records. */
static const char *const set_names[LXC_CAP_SET_MAX] = { "bounding", "effective", "permitted", "inheritable",
                                                        "ambient" };
static const char set_letters[LXC_CAP_SET_MAX] = { 'b', 'e', 'p', 'i', 'a' };

/* "CAP_NET_ADMIN" -> 12; -1 when unknown. */
static int cap_number(const char *name)
{
        if (strncmp(name, "CAP_", 4) != 0)
                return -1;
        for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
                if (streq(name + 4, cap_names[i]))
                        return (int) i;
        return -1;
}

static int parse_set(json_t *caps, enum lxc_cap_set k, uint64_t *ret, struct pxe **err)
{
        json_t *set = json_object_get(caps, set_names[k]), *v;
        size_t i;

        *ret = 0;
        if (!set || json_is_null(set))
                return 0;
        if (!json_is_array(set))
                return pxe_set(err, EINVAL, "process.capabilities.%s: expected an array", set_names[k]);
        json_array_foreach(set, i, v) {
                int n = json_is_string(v) ? cap_number(json_string_value(v)) : -1;

                if (n < 0)
                        return pxe_set(err, EINVAL, "process.capabilities.%s[%zu]: not a capability name%s%s",
                                       set_names[k], i, json_is_string(v) ? ": " : "",
                                       json_is_string(v) ? json_string_value(v) : "");
                *ret |= UINT64_C(1) << n;
        }
        return 0;
}

int lxc_caps_parse(json_t *caps, struct lxc_caps *ret, struct pxe **err)
{
        int r;

        *ret = (struct lxc_caps) { 0 };
        if (!caps || json_is_null(caps))
                return 0;
        if (!json_is_object(caps))
                return pxe_set(err, EINVAL, "process.capabilities: expected an object");
        for (int k = 0; k < LXC_CAP_SET_MAX; k++)
                if ((r = parse_set(caps, (enum lxc_cap_set) k, &ret->mask[k], err)) < 0)
                        return r;
        ret->set = true;
        return 0;
}

void lxc_caps_write_records(FILE *f, const struct lxc_caps *c)
{
        if (!c->set)
                return;
        for (int k = 0; k < LXC_CAP_SET_MAX; k++)
                fprintf(f, "C%c%llx%c", set_letters[k], (unsigned long long) c->mask[k], 0);
}

uint64_t lxc_caps_keep_mask(const struct lxc_caps *c)
{
        uint64_t init_needs = UINT64_C(1) << CAP_NO_SETGID | UINT64_C(1) << CAP_NO_SETUID |
                              UINT64_C(1) << CAP_NO_SETPCAP | UINT64_C(1) << CAP_NO_KILL;

        return c->mask[LXC_CAP_BOUNDING] | init_needs;
}

/* lxc.cap.keep: lower-case names, space-separated. */
int lxc_translate_caps(json_t *proc, struct lxc_spec *s, struct pxe **err)
{
        _cleanup_free_ char *list = NULL;
        uint64_t keep;
        size_t len = 0;
        FILE *f;
        int r;

        if ((r = lxc_caps_parse(json_object_get(proc, "capabilities"), &s->caps, err)) < 0)
                return r;
        if (!s->caps.set)
                return 0;
        keep = lxc_caps_keep_mask(&s->caps);
        f = open_memstream(&list, &len);
        if (!f)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++) {
                if (!(keep & UINT64_C(1) << i))
                        continue;
                fprintf(f, "%s", len ? " " : "");
                for (const char *p = cap_names[i]; *p; p++)
                        fputc(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p, f);
                fflush(f);
        }
        if (fclose(f) != 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return lxc_spec_add(s, "lxc.cap.keep", "%s", list) < 0 ? pxe_set(err, ENOMEM, "Out of memory") : 0;
}
