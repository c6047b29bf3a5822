/* Terminals as runc does them, for the backends that run pxcri-init: the pty
 * is allocated inside the container (by pxcri-init, from the container's own
 * devpts, so that ttyname() and /dev/pts agree), its master comes out through
 * a unix socket pxcri listens on in the container's run directory, and pxcri
 * relays it to the caller's --console-socket (SCM_RIGHTS, with the pty's name
 * as the data).
 */
#pragma once

#include <sys/types.h>

#include "util/err.h"

/* The socket pxcri-init sends the pty master to: non-blocking, owned by
 * uid:gid (the one pxcri-init connects as). */
int console_listen(const char *path, uid_t uid, gid_t gid, int *ret_fd, struct pxe **err);

/* One relay step from listen_fd to the caller's --console-socket: 1 done,
 * 0 pxcri-init has not connected yet. */
int console_relay(int listen_fd, const char *socket_path, struct pxe **err);
