/* Capabilities of the process (init_caps.h), in runc's order: bounding set
 * first (it only limits what later execs gain), PR_SET_KEEPCAPS so that the
 * switch to a non-root uid keeps the permitted set, then capset and the
 * ambient raise.  Raw syscalls: pxcri-init is static, libc only. */
#include "init_caps.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char set_letters[INIT_CAP_SETS] = { 'b', 'e', 'p', 'i', 'a' };

int init_caps_parse(const char *rec, struct init_caps *c)
{
        const char *letter = rec[0] == 'C' && rec[1] ? memchr(set_letters, rec[1], sizeof(set_letters)) : NULL;
        unsigned long long v;
        char *end;

        if (!letter || !rec[2])
                return -EINVAL;
        errno = 0;
        v = strtoull(rec + 2, &end, 16);
        if (errno || *end)
                return -EINVAL;
        c->mask[letter - set_letters] = v;
        c->set = 1;
        return 0;
}

/* The kernel's highest capability; capabilities above it are not asked
 * for (a config may name one this kernel does not know). */
static int last_cap(void)
{
        char buf[16] = { 0 };
        int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC), n = -1;

        if (fd >= 0) {
                if (read(fd, buf, sizeof(buf) - 1) > 0)
                        n = atoi(buf);
                close(fd);
        }
        /* /proc may not be mounted: ask the bounding set itself. */
        if (n <= 0)
                for (n = 0; n < 63 && prctl(PR_CAPBSET_READ, n + 1, 0, 0, 0) >= 0; n++)
                        ;
        return n;
}

int init_caps_before_switch(const struct init_caps *c, char *what, size_t size)
{
        int last;

        if (!c->set)
                return 0;
        last = last_cap();
        for (int n = 0; n <= last; n++) {
                /* Dropping one that is not there needs CAP_SETPCAP too. */
                if ((c->mask[INIT_CAP_BOUNDING] & (UINT64_C(1) << n)) || prctl(PR_CAPBSET_READ, n, 0, 0, 0) == 0)
                        continue;
                if (prctl(PR_CAPBSET_DROP, n, 0, 0, 0) < 0 && errno != EINVAL) {
                        snprintf(what, size, "dropping capability %d from the bounding set", n);
                        return -errno;
                }
        }
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
                snprintf(what, size, "PR_SET_KEEPCAPS");
                return -errno;
        }
        return 0;
}

int init_caps_after_switch(const struct init_caps *c, char *what, size_t size)
{
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2] = { 0 };
        uint64_t valid;
        int last;

        if (!c->set)
                return 0;
        last = last_cap();
        valid = last >= 63 ? ~UINT64_C(0) : (UINT64_C(1) << (last + 1)) - 1;
        for (int i = 0; i < 2; i++) {
                data[i].effective = (uint32_t) ((c->mask[INIT_CAP_EFFECTIVE] & valid) >> (32 * i));
                data[i].permitted = (uint32_t) ((c->mask[INIT_CAP_PERMITTED] & valid) >> (32 * i));
                data[i].inheritable = (uint32_t) ((c->mask[INIT_CAP_INHERITABLE] & valid) >> (32 * i));
        }
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || syscall(SYS_capset, &hdr, data) < 0) {
                snprintf(what, size, "setting the capabilities (effective %llx, permitted %llx, inheritable %llx)",
                         (unsigned long long) c->mask[INIT_CAP_EFFECTIVE],
                         (unsigned long long) c->mask[INIT_CAP_PERMITTED],
                         (unsigned long long) c->mask[INIT_CAP_INHERITABLE]);
                return -errno;
        }
        /* As crun: an ambient capability that is not both permitted and
         * inheritable cannot be raised and is left out, not an error. */
        for (int n = 0; n <= last; n++) {
                if (!(c->mask[INIT_CAP_AMBIENT] & (UINT64_C(1) << n)))
                        continue;
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, 0, 0) < 0 && errno != EINVAL && errno != EPERM) {
                        snprintf(what, size, "raising ambient capability %d", n);
                        return -errno;
                }
        }
        return 0;
}
