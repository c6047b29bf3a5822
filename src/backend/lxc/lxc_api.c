#include "backend/lxc/lxc_api.h"

#include <dlfcn.h>
#include <errno.h>

static struct lxc_api api;
static int loaded; /* 0: not tried, 1: loaded, < 0: failed */

int lxc_api_load(struct pxe **err)
{
        void *h;

        if (loaded > 0)
                return 0;
        h = dlopen(LIBLXC_SONAME, RTLD_NOW | RTLD_LOCAL);
        if (!h)
                return pxe_set(err, ENOSYS, "Cannot load liblxc: %s", dlerror());
        *(void **) &api.container_new = dlsym(h, "lxc_container_new");
        *(void **) &api.container_put = dlsym(h, "lxc_container_put");
        *(void **) &api.get_version = dlsym(h, "lxc_get_version");
        *(void **) &api.attach_run_command = dlsym(h, "lxc_attach_run_command");
        if (!api.container_new || !api.container_put || !api.get_version || !api.attach_run_command) {
                dlclose(h);
                return pxe_set(err, ENOSYS, "%s lacks the functions pxcri needs", LIBLXC_SONAME);
        }
        loaded = 1;
        return 0;
}

const struct lxc_api *lxc_api(void)
{
        return &api;
}
