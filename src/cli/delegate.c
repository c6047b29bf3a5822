/* pxcri image / pxcri bundle: handed to pxcri-image, the program next to
 * pxcri, with the same arguments (see table_runtime.c for why). */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/spawn.h"

static char **saved_argv;

void cli_delegate_save_argv(char **argv)
{
        saved_argv = argv;
}

int cmd_delegate_image(struct cli *c, struct cli_args *a, struct pxe **err)
{
        char self[PATH_MAX], path[PATH_MAX + 16];
        ssize_t n;

        (void) c;
        (void) a;
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n < 0)
                return pxe_set_errno(err, errno, "Finding the pxcri binary");
        self[n] = '\0';
        snprintf(path, sizeof(path), "%s/pxcri-image", dirname(self));
        if (access(path, X_OK) < 0)
                return pxe_set_errno(err, errno, "%s (installed next to pxcri, it runs the image and bundle commands)",
                                     path);
        saved_argv[0] = path;
        fflush(NULL);
        return spawn_exec((const char *const *) saved_argv, err);
}
