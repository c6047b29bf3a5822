/* OCI runtime config (config.json) from an image config and a plain request.
 *
 * This is what `pxcri bundle create` and the CRI server's CreateContainer
 * use: the request is a struct, not command-line flags.
 *
 * Process:
 *   args  = command ? command + args            (CRI: command replaces Entrypoint)
 *                   : Entrypoint + (args_set ? args : Cmd)
 *   env   = the image's Env, then req->env (KEY=VALUE; same KEY replaces), PATH
 *           added when missing, TERM=xterm with a terminal
 *   cwd   = req->cwd, else WorkingDir, else "/"
 *   user  = req->user, else User, else root.  Forms "uid", "name", "uid:gid",
 *           "name:group", ... resolved through the image rootfs' /etc/passwd and
 *           /etc/group (read with openat2(RESOLVE_IN_ROOT): symlinks in the
 *           image resolve inside it); supplementary groups from /etc/group.  A
 *           name that is not there is an error (ENOENT); numbers need no files.
 * The rest is a default spec like containerd's: pid, ipc, uts, mount and
 * network namespaces; /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys,
 * /sys/fs/cgroup, /run; containerd's default capabilities; masked and
 * read-only /proc paths; all devices denied; and the default seccomp profile
 * (bundle_seccomp_default()).
 * Annotations: the image's Labels, org.opencontainers.image.exposedPorts
 * (comma-separated ExposedPorts), org.opencontainers.image.stopSignal, the
 * image name under io.kubernetes.cri.image-name and
 * org.opencontainers.image.ref.name (what the router matches), io.pxcri.image-id,
 * then req->annotations (which win).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "router/router.h"
#include "util/err.h"

struct bundle_spec_request {
        const char *image_config; /* the image config JSON (with "config", "rootfs", ...) */
        const char *image_name;   /* e.g. "docker.io/library/busybox:latest"; NULL: none */
        const char *image_id;     /* config digest; NULL: none */
        int rootfs_fd;            /* the image's root filesystem; -1: numeric users only */
        const char *const *command; /* NULL: the image's Entrypoint */
        size_t n_command;
        const char *const *args;  /* used when args_set: replaces Cmd */
        size_t n_args;
        bool args_set;
        const char *const *env;   /* "KEY=VALUE" */
        size_t n_env;
        const char *user;         /* NULL: the image's User */
        const char *cwd;          /* NULL: the image's WorkingDir */
        const char *hostname;     /* NULL: "pxcri" */
        const struct annotation *annotations;
        size_t n_annotations;
        bool terminal;
        bool readonly_rootfs;
        bool no_seccomp;          /* leave linux.seccomp out */
};

int bundle_spec_generate(const struct bundle_spec_request *req, json_t **ret, struct pxe **err);

struct bundle_user {
        uid_t uid;
        gid_t gid;
        gid_t *additional_gids;
        size_t n_additional_gids;
};

/* Resolve a User string as described above.  rootfs_fd may be -1. */
int bundle_spec_resolve_user(int rootfs_fd, const char *user, struct bundle_user *ret, struct pxe **err);

void bundle_user_done(struct bundle_user *u);

/* containerd's default seccomp profile for the default capabilities, as an
 * OCI linux.seccomp object (new reference). */
json_t *bundle_seccomp_default(void);
