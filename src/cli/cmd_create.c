/* create and run: route a bundle to a backend and hand it over. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/cleanup.h"
#include "util/id.h"
#include "util/log.h"

enum {
        OPT_BUNDLE,
        OPT_CONSOLE_SOCKET,
        OPT_PID_FILE,
        OPT_NO_PIVOT,
        OPT_NO_NEW_KEYRING,
        OPT_PRESERVE_FDS,
        OPT_RUNTIME,
        OPT_DETACH,
        OPT_KEEP,
        OPT_NO_SUBREAPER,
};

#define CREATE_OPTS                                   \
        [OPT_BUNDLE] = { "bundle", 'b', true, false },        \
        [OPT_CONSOLE_SOCKET] = { "console-socket", 0, true, false }, \
        [OPT_PID_FILE] = { "pid-file", 0, true, false },      \
        [OPT_NO_PIVOT] = { "no-pivot", 0, false, false },     \
        [OPT_NO_NEW_KEYRING] = { "no-new-keyring", 0, false, false }, \
        [OPT_PRESERVE_FDS] = { "preserve-fds", 0, true, false }, \
        [OPT_RUNTIME] = { "runtime", 0, true, true }

const struct cli_opt cli_create_opts[] = { CREATE_OPTS, { 0 } };
const struct cli_opt cli_run_opts[] = {
        CREATE_OPTS,
        [OPT_DETACH] = { "detach", 'd', false, false },
        [OPT_KEEP] = { "keep", 0, false, false },
        [OPT_NO_SUBREAPER] = { "no-subreaper", 0, false, false },
        { 0 },
};

static int check_preserve_fds(const char *v, struct pxe **err)
{
        char *end;
        long n;

        if (!v)
                return 0;
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno || *end || end == v || n < 0 || n > 1024)
                return pxe_set(err, EINVAL, "--preserve-fds: expected a number from 0 to 1024, not \"%s\"", v);
        return 0;
}

static int create_or_run(struct cli *c, struct cli_args *a, bool run, struct pxe **err)
{
        _cleanup_free_ char *backend = NULL;
        char bundle[PATH_MAX];
        const char *given = a->values[OPT_BUNDLE] ? a->values[OPT_BUNDLE] : ".";
        struct create_request req = {
                .id = a->pos[0],
                .override = a->values[OPT_RUNTIME],
                .run = run,
        };
        int status = 0, r;

        if (check_preserve_fds(a->values[OPT_PRESERVE_FDS], err) < 0)
                return -EINVAL;
        if (id_check(req.id, err) < 0)
                return -EINVAL;
        if (!realpath(given, bundle))
                return pxe_set_errno(err, errno, "Bundle %s", given);
        req.bundle = bundle;
        req.call = (struct backend_call) {
                .id = req.id,
                .args = a->pass,
                .n_args = a->n_pass,
                .bundle = bundle,
                .pid_file = a->values[OPT_PID_FILE],
                .console_socket = a->values[OPT_CONSOLE_SOCKET],
                .detach = run ? a->values[OPT_DETACH] != NULL : true,
        };
        r = container_create(&c->ctx, &req, &status, &backend, err);
        if (r < 0) {
                if (backend)
                        pxe_wrap(err, "%s container %s on %s", run ? "Running" : "Creating", req.id, backend);
                return r;
        }
        log_debug("Container %s: %s %s exited with %d", req.id, backend, run ? "run" : "create", status);
        return status;
}

int cmd_create(struct cli *c, struct cli_args *a, struct pxe **err)
{
        return create_or_run(c, a, false, err);
}

int cmd_run(struct cli *c, struct cli_args *a, struct pxe **err)
{
        return create_or_run(c, a, true, err);
}
