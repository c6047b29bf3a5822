/* liblxc, loaded on first use.
 *
 * Linked, liblxc and what it needs (libseccomp, libselinux, libapparmor,
 * libcap, libpcre2) load at every start of pxcri -- 0.8 ms on a 1.1 ms start,
 * paid by every crun and runc container too (docs/benchmarks.md).  The backend
 * needs four entry points; everything else is a function pointer in struct
 * lxc_container.  The backend's check hook loads it, so every other use comes
 * after a successful lxc_api_load(). */
#pragma once

#include <lxc/attach_options.h>
#include <lxc/lxccontainer.h>

#include "util/err.h"

#define LIBLXC_SONAME "liblxc.so.1"

struct lxc_api {
        struct lxc_container *(*container_new)(const char *name, const char *configpath);
        int (*container_put)(struct lxc_container *c);
        const char *(*get_version)(void);
        int (*attach_run_command)(void *payload);
};

/* Load liblxc (once); -ENOSYS with dlerror()'s reason when it cannot be. */
int lxc_api_load(struct pxe **err);

/* The loaded table; only valid after lxc_api_load() succeeded. */
const struct lxc_api *lxc_api(void);
