/* Terminals: see console.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/console.h"
#include "util/cleanup.h"

static int unix_addr(const char *path, struct sockaddr_un *addr)
{
        *addr = (struct sockaddr_un) { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(addr->sun_path))
                return -ENAMETOOLONG;
        strcpy(addr->sun_path, path);
        return 0;
}

int console_listen(const char *path, uid_t uid, gid_t gid, int *ret_fd, struct pxe **err)
{
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        _cleanup_close_ int dir = -EBADF;
        _cleanup_free_ char *parent = NULL;
        struct sockaddr_un addr;

        if (unix_addr(path, &addr) < 0) {
                /* A long state root: bind through the directory's descriptor
                 * (sun_path holds 108 bytes, the path may not fit). */
                char *slash;

                parent = strdup(path);
                if (!parent || !(slash = strrchr(parent, '/')) || slash == parent)
                        return pxe_set(err, ENAMETOOLONG, "%s: path too long for a socket", path);
                *slash = '\0';
                dir = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (dir < 0)
                        return pxe_set_errno(err, errno, "Opening %s", parent);
                addr = (struct sockaddr_un) { .sun_family = AF_UNIX };
                if (snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dir, slash + 1) >=
                    (int) sizeof(addr.sun_path))
                        return pxe_set(err, ENAMETOOLONG, "%s: path too long for a socket", path);
        }
        /* lchown: the directory may be the container's, which could swap
         * the socket for a symlink. */
        if (fd < 0 || bind(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0 || lchown(path, uid, gid) < 0 ||
            listen(fd, 1) < 0)
                return pxe_set_errno(err, errno, "Listening on %s", path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int send_fd(int sock, int fd, const char *name, size_t len)
{
        char buf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = { .iov_base = (void *) name, .iov_len = len };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof(buf) };
        struct cmsghdr *cm;

        memset(buf, 0, sizeof(buf));
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

/* One descriptor and its name from a connected socket. */
static int recv_fd(int sock, char *name, size_t size, int *ret_fd)
{
        char buf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = { .iov_base = name, .iov_len = size - 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof(buf) };
        struct cmsghdr *cm;
        ssize_t n;

        while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0)
                if (errno != EINTR)
                        return -errno;
        cm = CMSG_FIRSTHDR(&msg);
        if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
                return -EBADMSG;
        memcpy(ret_fd, CMSG_DATA(cm), sizeof(int));
        name[n] = '\0';
        return (int) n;
}

int console_relay(int listen_fd, const char *socket_path, struct pxe **err)
{
        _cleanup_close_ int conn = -EBADF, master = -EBADF, out = -EBADF;
        struct sockaddr_un addr;
        struct timeval tv = { .tv_sec = 5 };
        char name[128];
        int n, r;

        conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : pxe_set_errno(err, errno, "Accepting the terminal");
        setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        n = recv_fd(conn, name, sizeof(name), &master);
        if (n < 0)
                return pxe_set_errno(err, -n, "Receiving the terminal from pxcri-init");
        if (unix_addr(socket_path, &addr) < 0)
                return pxe_set(err, ENAMETOOLONG, "--console-socket %s: path too long", socket_path);
        out = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (out < 0 || connect(out, (struct sockaddr *) &addr, sizeof(addr)) < 0)
                return pxe_set_errno(err, errno, "Connecting to --console-socket %s", socket_path);
        if ((r = send_fd(out, master, name, (size_t) n)) < 0)
                return pxe_set_errno(err, -r, "Sending the terminal to --console-socket %s", socket_path);
        return 1;
}
