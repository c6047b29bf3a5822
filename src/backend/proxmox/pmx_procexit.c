/* The exit status of a Proxmox container's PID 1, through the proc connector.
 *
 * When the container's command is PID 1 of its CT (pxcri-init exec'd it in
 * place), its parent is Proxmox's lxc-start monitor: only that process can
 * wait() for it, and nothing in the CT outlives it to write the status down.
 * The kernel's proc connector (NETLINK_CONNECTOR, CN_IDX_PROC) multicasts a
 * PROC_EVENT_EXIT for every task that exits on the host, with its pid and
 * tgid in the host's numbering and exit_code = the task's wait status.
 * Listening needs CAP_NET_ADMIN (root on the node) and must begin before
 * the process can exit; a full receive buffer drops events (recv gives
 * ENOBUFS), and then the status may be lost: never guessed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/proxmox/pmx_private.h"
#include "util/cleanup.h"

/* Root may raise the buffer past rmem_max: a busy node's fork/exit storm
 * must not drop the one event we wait for. */
#define RCVBUF_BYTES (8 << 20)
/* include/linux/sched.h: set by exit_signals() at the start of do_exit(),
 * before the exit event is sent. */
#define PF_EXITING 0x00000004u

int pmx_procexit_open(struct pxe **err)
{
        struct sockaddr_nl addr = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC, .nl_pid = 0 };
        enum proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
        char req[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(op))] __attribute__((aligned(NLMSG_ALIGNTO))) = { 0 };
        struct nlmsghdr *nl = (struct nlmsghdr *) req;
        struct cn_msg *cn = NLMSG_DATA(nl);
        int size = RCVBUF_BYTES;
        _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);

        if (fd < 0)
                return pxe_set_errno(err, errno, "Opening the proc connector (NETLINK_CONNECTOR)");
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        nl->nlmsg_len = NLMSG_LENGTH(sizeof(*cn) + sizeof(op));
        nl->nlmsg_type = NLMSG_DONE;
        cn->id.idx = CN_IDX_PROC;
        cn->id.val = CN_VAL_PROC;
        cn->len = sizeof(op);
        memcpy(cn->data, &op, sizeof(op));
        if (bind(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0)
                return pxe_set_errno(err, errno, "Binding the proc connector to CN_IDX_PROC");
        if (send(fd, req, nl->nlmsg_len, 0) != (ssize_t) nl->nlmsg_len)
                return pxe_set_errno(err, errno, "Subscribing to process events (PROC_CN_MCAST_LISTEN)");
        return TAKE_FD(fd);
}

int pmx_procexit_filter(int fd, pid_t tgid)
{
        /* Offsets in a datagram: the event follows the netlink header (16)
         * and the connector's (20).  Classic BPF loads words big-endian,
         * hence htonl() of the host's values. */
        enum {
                EV = NLMSG_HDRLEN + sizeof(struct cn_msg),
                WHAT = EV + offsetof(struct proc_event, what),
                TGID = EV + offsetof(struct proc_event, event_data.exit.process_tgid),
        };
        struct sock_filter code[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, WHAT),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(PROC_EVENT_EXIT), 0, 3),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, TGID),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl((uint32_t) tgid), 0, 1),
                BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
                BPF_STMT(BPF_RET | BPF_K, 0),
        };
        struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

        return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ? -errno : 0;
}

int pmx_procexit_parse(const void *buf, size_t len, pid_t tgid, struct pmx_exit_watch *w)
{
        const char *p = buf;
        int found = 0;

        while (len >= sizeof(struct nlmsghdr)) {
                const struct nlmsghdr *nl = (const struct nlmsghdr *) p;
                const struct cn_msg *cn = NLMSG_DATA(nl);
                struct proc_event ev = { 0 };
                size_t step = NLMSG_ALIGN(nl->nlmsg_len);

                if (nl->nlmsg_len < sizeof(*nl) || nl->nlmsg_len > len)
                        return -EBADMSG;
                p += step < len ? step : len;
                len -= step < len ? step : len;
                if (nl->nlmsg_type == NLMSG_NOOP)
                        continue;
                if (nl->nlmsg_type == NLMSG_ERROR || nl->nlmsg_type == NLMSG_OVERRUN)
                        return -EPROTO;
                if (nl->nlmsg_len < NLMSG_LENGTH(sizeof(*cn)) || cn->len > nl->nlmsg_len - NLMSG_LENGTH(sizeof(*cn)))
                        return -EBADMSG;
                if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC ||
                    cn->len < offsetof(struct proc_event, event_data) + sizeof(ev.event_data.exit))
                        continue;
                /* The event follows a 20-byte header: copied, not read in place, as it
                 * holds a 64-bit field. */
                memcpy(&ev, cn->data, cn->len < sizeof(ev) ? cn->len : sizeof(ev));
                if (ev.what != PROC_EVENT_EXIT || ev.event_data.exit.process_tgid != tgid)
                        continue;
                /* The leader's status is the process's (wait() reports the
                 * leader's exit_code, or the group's, which every thread
                 * carries); a thread that exits after a leader that left by
                 * pthread_exit() ends the process with its own. */
                if (ev.event_data.exit.process_pid == tgid) {
                        w->leader = true;
                        w->status = (int) ev.event_data.exit.exit_code;
                        w->have = true;
                } else if (w->leader) {
                        w->status = (int) ev.event_data.exit.exit_code;
                }
                found = 1;
        }
        return found;
}

/* Whether the exit of pid may have been sent already: it is gone, a zombie,
 * or in do_exit() (PF_EXITING, set before the event). */
static bool may_have_exited(pid_t pid)
{
        char path[64], buf[1024], *p;
        unsigned long flags = 0;
        char state = 0;
        ssize_t n;
        _cleanup_close_ int fd = -EBADF;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
                return true;
        buf[n] = '\0';
        /* fields after "comm)": state is 3, flags is 9 */
        if (!(p = strrchr(buf, ')')) || sscanf(p + 2, "%c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
                return true;
        return state == 'Z' || state == 'X' || (flags & PF_EXITING);
}

int pmx_procexit_read(int fd, pid_t tgid, struct pmx_exit_watch *w)
{
        /* aligned for struct nlmsghdr; one datagram is one small event */
        char buf[8192] __attribute__((aligned(__alignof__(struct nlmsghdr))));

        for (;;) {
                struct sockaddr_nl from = { 0 };
                socklen_t from_len = sizeof(from);
                ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *) &from, &from_len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return 0;
                if (n < 0 && errno == ENOBUFS) {
                        /* Events were dropped.  Ours cannot be among them
                         * while the process has not begun to exit: its event
                         * is sent from do_exit(), after PF_EXITING is set. */
                        if (may_have_exited(tgid))
                                w->lost = true;
                        continue;
                }
                if (n <= 0)
                        return n < 0 ? -errno : -EPIPE;
                /* Anyone may unicast to our port (a hostNetwork CT's root
                 * too): only the kernel's events count. */
                if (from_len == sizeof(from) && from.nl_family == AF_NETLINK && from.nl_pid == 0)
                        (void) pmx_procexit_parse(buf, (size_t) n, tgid, w);
        }
}
