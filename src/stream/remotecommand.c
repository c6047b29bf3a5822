/* Exec and attach behind the remotecommand channels.
 *
 * Exec runs `pxcri exec --process F --pid-file P [--console-socket S] ID`
 * itself (uv_spawn): without a TTY the command's stdin, stdout and stderr are
 * pipes; with one, pxcri hands the terminal's master to our console socket
 * and resizes are TIOCSWINSZ on it.  The exit status of pxcri is the
 * command's.  Attach connects to conmon's attach socket (SOCK_SEQPACKET: each
 * message from conmon starts with the pipe it came from, 2 stdout, 3
 * stderr; what we send is the container's stdin) and resizes through
 * conmon's control FIFO.
 *
 * The session ends when the command exited and its output reached EOF (or 2 s
 * after the exit: something in the background may hold the pipes), or when
 * the attach socket closed: the status goes out on the error channel, then
 * the transport finishes.  A client that goes away first gets the command
 * killed (in the container, by the pid pxcri wrote, then pxcri itself).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "stream/server_int.h"
#include "util/cleanup.h"
#include "util/log.h"

#define DRAIN_AFTER_EXIT_MS 2000
#define CONSOLE_TIMEOUT_MS 30000
#define RUNTIME_ERR_MAX 4096
#define ATTACH_CHUNK 8192
#define STDIN_QUEUE_MAX (4u << 20)

enum rc_pipe { P_IN, P_OUT, P_ERR, P_MASTER, P_ATTACH, P_MAX };

struct rc {
        struct stream_sess *s;
        bool attach;
        uv_process_t proc;
        bool proc_alive;
        uv_pipe_t pipes[P_MAX];
        bool pipe_open[P_MAX];   /* initialized and not yet closing */
        bool pipe_eof[P_MAX];
        int listen_fd, conn_fd;
        uv_poll_t listen_poll, conn_poll;
        bool listen_polling, conn_polling;
        uv_timer_t timer;        /* drain after exit, console deadline */
        bool timer_on;
        char *sock_path, *pid_path;
        unsigned handles;        /* open uv handles; released at 0 once gone */
        bool started, exited, finished, gone;
        int exit_code;
        char *error;
        char runtime_err[RUNTIME_ERR_MAX];
        size_t runtime_err_len;
        char resize_buf[512];
        size_t resize_len;
        unsigned short rows, cols; /* a resize that came before the terminal */
        bool output_paused;
        bool input_paused;       /* the command does not read its stdin */
        char *early;             /* stdin that came before the terminal did */
        size_t early_len;
};

static void rc_maybe_release(struct rc *rc)
{
        if (!rc->gone || rc->handles)
                return;
        if (rc->listen_fd >= 0)
                close(rc->listen_fd);
        if (rc->conn_fd >= 0)
                close(rc->conn_fd);
        if (rc->sock_path)
                unlink(rc->sock_path);
        if (rc->pid_path)
                unlink(rc->pid_path);
        free(rc->sock_path);
        free(rc->pid_path);
        free(rc->error);
        free(rc->early);
        rc->s->hstate = NULL;
        stream_sess_release(rc->s);
        free(rc);
}

static void on_handle_closed(uv_handle_t *h)
{
        struct rc *rc = h->data;

        rc->handles--;
        rc_maybe_release(rc);
}

static void close_handle(struct rc *rc, uv_handle_t *h)
{
        if (!uv_is_closing(h))
                uv_close(h, on_handle_closed);
}

static void close_pipe(struct rc *rc, enum rc_pipe p)
{
        if (!rc->pipe_open[p])
                return;
        rc->pipe_open[p] = false;
        close_handle(rc, (uv_handle_t *) &rc->pipes[p]);
}

static void stop_timer(struct rc *rc)
{
        if (rc->timer_on) {
                rc->timer_on = false;
                close_handle(rc, (uv_handle_t *) &rc->timer);
        }
}

static bool output_done(struct rc *rc)
{
        static const enum rc_pipe outs[] = { P_OUT, P_ERR, P_MASTER, P_ATTACH };

        for (size_t i = 0; i < sizeof(outs) / sizeof(outs[0]); i++)
                if (rc->pipe_open[outs[i]] && !rc->pipe_eof[outs[i]])
                        return false;
        return true;
}

/* The status on the error channel, the output channels closed, the end. */
static void rc_finish(struct rc *rc)
{
        struct stream_sess *s = rc->s;
        struct stream_chan *ech = stream_chan_find(s, SCH_ERROR);

        if (rc->finished || s->closing)
                return;
        rc->finished = true;
        if (ech && !ech->out_closed) {
                if (s->proto >= SPROTO_V4) {
                        _cleanup_free_ char *st = stream_status_json(rc->exit_code, rc->error);

                        if (st)
                                s->t->send(s, ech, st, strlen(st));
                } else if (rc->error || rc->exit_code) {
                        _cleanup_free_ char *text = NULL;

                        if (rc->error ? asprintf(&text, "%s", rc->error) >= 0
                                      : asprintf(&text, "command terminated with non-zero exit code: exit status %d",
                                                 rc->exit_code) >= 0)
                                s->t->send(s, ech, text, strlen(text));
                }
        }
        for (struct stream_chan *c = s->chans; c; c = c->next)
                if (c->type != SCH_STDIN && c->type != SCH_RESIZE)
                        s->t->close_chan(s, c);
        s->t->finish(s);
}

static void maybe_finish(struct rc *rc)
{
        if (rc->exited && output_done(rc))
                rc_finish(rc);
}

static void fail(struct rc *rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct rc *rc, const char *fmt, ...)
{
        va_list ap;

        if (!rc->error) {
                va_start(ap, fmt);
                if (vasprintf(&rc->error, fmt, ap) < 0)
                        rc->error = NULL;
                va_end(ap);
        }
        log_debug("Stream session for %s: %s", rc->s->req->target, rc->error ? rc->error : fmt);
        rc->exited = true;
        rc_finish(rc);
}

/* ---- output ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
        (void) h;
        buf->base = malloc(hint);
        buf->len = buf->base ? hint : 0;
}

static enum rc_pipe pipe_of(struct rc *rc, uv_stream_t *st)
{
        return (enum rc_pipe) ((uv_pipe_t *) st - rc->pipes);
}

static void pause_output(struct rc *rc)
{
        rc->output_paused = true;
        for (int p = P_OUT; p < P_MAX; p++)
                if (rc->pipe_open[p] && !rc->pipe_eof[p])
                        uv_read_stop((uv_stream_t *) &rc->pipes[p]);
}

static void forward(struct rc *rc, enum stream_ch type, const char *buf, size_t n)
{
        struct stream_sess *s = rc->s;
        struct stream_chan *ch;

        if (rc->s->req->tty && type == SCH_STDERR)
                type = SCH_STDOUT;
        ch = stream_chan_find(s, type);
        if (!ch || ch->out_closed || n == 0)
                return;
        s->t->send(s, ch, buf, n);
        if (s->queued > STREAM_QUEUE_HIGH && !rc->output_paused)
                pause_output(rc);
}

static void on_output(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
        struct rc *rc = st->data;
        enum rc_pipe p = pipe_of(rc, st);

        if (n > 0) {
                if (p == P_ATTACH) {
                        /* One message per read: [pipe][data]. */
                        if (n > 1 && (buf->base[0] == 2 || buf->base[0] == 3))
                                forward(rc, buf->base[0] == 2 ? SCH_STDOUT : SCH_STDERR, buf->base + 1,
                                        (size_t) n - 1);
                } else if (p == P_ERR && !rc->s->req->err) {
                        size_t room = RUNTIME_ERR_MAX - 1 - rc->runtime_err_len;
                        size_t k = (size_t) n < room ? (size_t) n : room;

                        memcpy(rc->runtime_err + rc->runtime_err_len, buf->base, k);
                        rc->runtime_err_len += k;
                        rc->runtime_err[rc->runtime_err_len] = '\0';
                } else {
                        forward(rc, p == P_ERR ? SCH_STDERR : SCH_STDOUT, buf->base, (size_t) n);
                }
        }
        free(buf->base);
        if (n >= 0)
                return;
        /* EOF; EIO is a terminal's master once every slave is closed. */
        rc->pipe_eof[p] = true;
        uv_read_stop(st);
        if (p == P_ATTACH) {
                rc->exited = true;
                rc_finish(rc);
                return;
        }
        maybe_finish(rc);
}

static void start_output(struct rc *rc, enum rc_pipe p)
{
        rc->pipes[p].data = rc;
        if (uv_read_start((uv_stream_t *) &rc->pipes[p], on_alloc, on_output) < 0)
                rc->pipe_eof[p] = true;
}

static void rc_drained(struct stream_sess *s)
{
        struct rc *rc = s->hstate;

        if (!rc || !rc->output_paused)
                return;
        rc->output_paused = false;
        for (int p = P_OUT; p < P_MAX; p++)
                if (rc->pipe_open[p] && !rc->pipe_eof[p])
                        uv_read_start((uv_stream_t *) &rc->pipes[p], on_alloc, on_output);
}

/* ---- input ---- */

struct in_write {
        uv_write_t req;
        struct rc *rc;
        char data[];
};

static void on_in_written(uv_write_t *req, int status)
{
        struct in_write *w = (struct in_write *) req;
        struct rc *rc = w->rc;

        (void) status;
        if (rc->input_paused && !rc->gone && !rc->s->closing &&
            uv_stream_get_write_queue_size(req->handle) < STDIN_QUEUE_MAX / 4) {
                rc->input_paused = false;
                stream_sess_read_start(rc->s);
        }
        free(w);
}

static enum rc_pipe input_pipe(struct rc *rc)
{
        return rc->attach ? P_ATTACH : rc->s->req->tty ? P_MASTER : P_IN;
}

static void write_input(struct rc *rc, const uint8_t *buf, size_t n)
{
        enum rc_pipe p = input_pipe(rc);

        if (p == P_MASTER && !rc->pipe_open[p] && !rc->exited) {
                /* Kept until the runtime hands over the terminal. */
                char *e = rc->early_len + n <= STDIN_QUEUE_MAX ? realloc(rc->early, rc->early_len + n) : NULL;

                if (e) {
                        memcpy(e + rc->early_len, buf, n);
                        rc->early = e;
                        rc->early_len += n;
                }
                return;
        }
        if (!rc->pipe_open[p] || (p == P_IN && rc->pipe_eof[P_IN]))
                return;
        while (n) {
                size_t k = rc->attach && n > ATTACH_CHUNK ? ATTACH_CHUNK : n;
                struct in_write *w = malloc(sizeof(*w) + k);
                uv_buf_t b;

                if (!w)
                        return;
                w->rc = rc;
                memcpy(w->data, buf, k);
                b = uv_buf_init(w->data, (unsigned) k);
                if (uv_write(&w->req, (uv_stream_t *) &rc->pipes[p], &b, 1, on_in_written) < 0) {
                        free(w);
                        return;
                }
                buf += k;
                n -= k;
        }
}

static void apply_size(struct rc *rc)
{
        struct winsize ws = { .ws_row = rc->rows, .ws_col = rc->cols };
        int fd;

        if (!rc->rows && !rc->cols)
                return;
        if (rc->attach) {
                char line[48];
                int len = snprintf(line, sizeof(line), "1 %u %u\n", rc->rows, rc->cols);

                fd = open(rc->s->req->ctl_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
                if (fd >= 0) {
                        if (write(fd, line, (size_t) len) != len)
                                log_debug("Resizing %s: %m", rc->s->req->target);
                        close(fd);
                }
                return;
        }
        if (rc->pipe_open[P_MASTER] && uv_fileno((uv_handle_t *) &rc->pipes[P_MASTER], &fd) == 0)
                ioctl(fd, TIOCSWINSZ, &ws);
}

/* Resize events: JSON objects {"Width":W,"Height":H} one after another. */
static void on_resize(struct rc *rc, const uint8_t *buf, size_t n)
{
        size_t off = 0;

        if (rc->resize_len + n > sizeof(rc->resize_buf)) {
                rc->resize_len = 0; /* garbage: start over */
                return;
        }
        memcpy(rc->resize_buf + rc->resize_len, buf, n);
        rc->resize_len += n;
        while (off < rc->resize_len) {
                json_error_t e;
                json_t *j = json_loadb(rc->resize_buf + off, rc->resize_len - off, JSON_DISABLE_EOF_CHECK, &e);
                json_int_t w, h;

                if (!j)
                        break;
                off += (size_t) e.position;
                w = json_integer_value(json_object_get(j, "Width"));
                h = json_integer_value(json_object_get(j, "Height"));
                json_decref(j);
                if (w >= 0 && h >= 0 && w <= 65535 && h <= 65535) {
                        rc->cols = (unsigned short) w;
                        rc->rows = (unsigned short) h;
                        apply_size(rc);
                }
        }
        memmove(rc->resize_buf, rc->resize_buf + off, rc->resize_len - off);
        rc->resize_len -= off;
}

static void rc_data(struct stream_sess *s, struct stream_chan *ch, const uint8_t *buf, size_t n)
{
        struct rc *rc = s->hstate;

        if (!rc || rc->gone)
                return;
        if (ch->type == SCH_STDIN && s->req->in) {
                write_input(rc, buf, n);
                if (rc->pipe_open[input_pipe(rc)] &&
                    uv_stream_get_write_queue_size((uv_stream_t *) &rc->pipes[input_pipe(rc)]) > STDIN_QUEUE_MAX) {
                        rc->input_paused = true;
                        uv_read_stop((uv_stream_t *) &s->tcp);
                }
        } else if (ch->type == SCH_RESIZE) {
                on_resize(rc, buf, n);
        }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
        (void) status;
        free(req);
}

static void rc_eof(struct stream_sess *s, struct stream_chan *ch)
{
        struct rc *rc = s->hstate;
        uv_shutdown_t *sh;

        if (!rc || rc->gone || ch->type != SCH_STDIN)
                return;
        if (rc->attach) {
                /* conmon closes the container's stdin when the client does
                 * (StdinOnce); with a terminal stdin goes through the tty. */
                if (s->req->stdin_once && !s->req->tty && rc->pipe_open[P_ATTACH] && (sh = calloc(1, sizeof(*sh))) &&
                    uv_shutdown(sh, (uv_stream_t *) &rc->pipes[P_ATTACH], on_shutdown) < 0)
                        free(sh);
                return;
        }
        if (!s->req->tty && rc->pipe_open[P_IN]) {
                rc->pipe_eof[P_IN] = true;
                /* After what is queued: closing the pipe is the command's EOF. */
                if ((sh = calloc(1, sizeof(*sh))) &&
                    uv_shutdown(sh, (uv_stream_t *) &rc->pipes[P_IN], on_shutdown) < 0)
                        free(sh);
        }
}

/* ---- exec: the process ---- */

static void on_timer(uv_timer_t *t)
{
        struct rc *rc = t->data;

        if (rc->exited) {
                rc_finish(rc); /* output still held open by something else */
                return;
        }
        fail(rc, "The runtime did not hand over the terminal within %d s", CONSOLE_TIMEOUT_MS / 1000);
        if (rc->proc_alive)
                uv_process_kill(&rc->proc, SIGKILL);
}

static void start_timer(struct rc *rc, unsigned ms)
{
        if (!rc->timer_on) {
                uv_timer_init(rc->s->srv->loop, &rc->timer);
                rc->timer.data = rc;
                rc->timer_on = true;
                rc->handles++;
        }
        uv_timer_start(&rc->timer, on_timer, ms, 0);
}

static void on_proc_exit(uv_process_t *p, int64_t status, int sig)
{
        struct rc *rc = p->data;

        rc->proc_alive = false;
        close_handle(rc, (uv_handle_t *) p);
        if (rc->gone)
                return;
        rc->exit_code = sig ? 128 + sig : (int) status;
        rc->exited = true;
        /* pxcri failed before the command ran: no terminal ever came. */
        if (rc->s->req->tty && !rc->pipe_open[P_MASTER] && rc->exit_code) {
                fail(rc, "Executing in container %s: %s", rc->s->req->target,
                     rc->runtime_err_len ? rc->runtime_err : "the runtime failed");
                return;
        }
        if (output_done(rc))
                rc_finish(rc);
        else
                start_timer(rc, DRAIN_AFTER_EXIT_MS);
}

static int recv_master(int conn)
{
        char data[256], ctrl[CMSG_SPACE(sizeof(int))];
        struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl, .msg_controllen = sizeof(ctrl) };
        struct cmsghdr *c;
        int fd = -1;
        ssize_t n = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

        if (n < 0)
                return errno == EAGAIN ? -EAGAIN : -errno;
        for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                        memcpy(&fd, CMSG_DATA(c), sizeof(int));
        return fd >= 0 ? fd : -EBADMSG;
}

static void on_console_conn(uv_poll_t *h, int status, int events)
{
        struct rc *rc = h->data;
        int fd;

        (void) events;
        if (rc->gone)
                return;
        fd = status < 0 ? -EIO : recv_master(rc->conn_fd);
        if (fd == -EAGAIN)
                return;
        uv_poll_stop(h);
        if (fd < 0) {
                fail(rc, "Receiving the terminal from the runtime: %s", strerror(-fd));
                return;
        }
        uv_pipe_init(rc->s->srv->loop, &rc->pipes[P_MASTER], 0);
        rc->handles++;
        rc->pipe_open[P_MASTER] = true;
        rc->pipes[P_MASTER].data = rc;
        if (uv_pipe_open(&rc->pipes[P_MASTER], fd) < 0) {
                close(fd);
                fail(rc, "Using the terminal of the exec");
                return;
        }
        if (!rc->exited)
                uv_timer_stop(&rc->timer);
        apply_size(rc);
        if (rc->early_len)
                write_input(rc, (const uint8_t *) rc->early, rc->early_len);
        free(rc->early);
        rc->early = NULL;
        rc->early_len = 0;
        start_output(rc, P_MASTER);
}

static void on_console_listen(uv_poll_t *h, int status, int events)
{
        struct rc *rc = h->data;

        (void) events;
        if (rc->gone || rc->conn_fd >= 0)
                return;
        rc->conn_fd = status < 0 ? -1 : accept4(rc->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (rc->conn_fd < 0) {
                if (errno == EAGAIN)
                        return;
                fail(rc, "Accepting the exec's terminal: %m");
                return;
        }
        uv_poll_stop(h);
        uv_poll_init(rc->s->srv->loop, &rc->conn_poll, rc->conn_fd);
        rc->conn_poll.data = rc;
        rc->handles++;
        rc->conn_polling = true;
        uv_poll_start(&rc->conn_poll, UV_READABLE, on_console_conn);
}

static char *private_path(struct rc *rc, const char *suffix)
{
        uint8_t raw[8];
        char *p = NULL;

        if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
                return NULL;
        if (asprintf(&p, "%s/x%02x%02x%02x%02x%02x%02x%02x%02x%s", rc->s->srv->run_dir, raw[0], raw[1], raw[2],
                     raw[3], raw[4], raw[5], raw[6], raw[7], suffix) < 0)
                return NULL;
        return p;
}

static int console_socket(struct rc *rc)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        rc->sock_path = private_path(rc, ".sock");
        if (!rc->sock_path || strlen(rc->sock_path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, rc->sock_path);
        rc->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (rc->listen_fd < 0 || bind(rc->listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            listen(rc->listen_fd, 1) < 0)
                return -errno;
        uv_poll_init(rc->s->srv->loop, &rc->listen_poll, rc->listen_fd);
        rc->listen_poll.data = rc;
        rc->handles++;
        rc->listen_polling = true;
        uv_poll_start(&rc->listen_poll, UV_READABLE, on_console_listen);
        return 0;
}

static void exec_start(struct rc *rc)
{
        struct stream_sess *s = rc->s;
        const struct stream_request *req = s->req;
        uv_process_options_t o = { 0 };
        uv_stdio_container_t stdio[3];
        _cleanup_free_ char **argv = NULL;
        size_t n = 0, k = 0;
        int r;

        while (req->argv && req->argv[n])
                n++;
        rc->pid_path = private_path(rc, ".pid");
        argv = calloc(n + 5, sizeof(char *));
        if (!n || !argv || !rc->pid_path) {
                fail(rc, "Executing in container %s: out of memory", req->target);
                return;
        }
        if (req->tty && (r = console_socket(rc)) < 0) {
                fail(rc, "Executing in container %s: console socket: %s", req->target, strerror(-r));
                return;
        }
        for (size_t i = 0; i < n; i++) {
                argv[k++] = req->argv[i];
                if (strcmp(req->argv[i], "exec") == 0 && k == i + 1) {
                        argv[k++] = "--pid-file";
                        argv[k++] = rc->pid_path;
                        if (req->tty) {
                                argv[k++] = "--console-socket";
                                argv[k++] = rc->sock_path;
                        }
                }
        }
        for (int p = P_IN; p <= P_ERR; p++) {
                bool want = p == P_ERR || (!req->tty && (p == P_IN ? req->in : req->out));

                if (want) {
                        uv_pipe_init(s->srv->loop, &rc->pipes[p], 0);
                        rc->pipes[p].data = rc;
                        rc->handles++;
                        rc->pipe_open[p] = true;
                        stdio[p].flags = UV_CREATE_PIPE | (p == P_IN ? UV_READABLE_PIPE : UV_WRITABLE_PIPE);
                        stdio[p].data.stream = (uv_stream_t *) &rc->pipes[p];
                } else {
                        stdio[p].flags = UV_IGNORE;
                }
        }
        o.file = argv[0];
        o.args = argv;
        o.env = (char **) req->envp;
        o.stdio = stdio;
        o.stdio_count = 3;
        o.exit_cb = on_proc_exit;
        rc->proc.data = rc;
        r = uv_spawn(s->srv->loop, &rc->proc, &o);
        if (r < 0) {
                /* The handle is initialized either way: it must be closed. */
                rc->handles++;
                close_handle(rc, (uv_handle_t *) &rc->proc);
                fail(rc, "Executing in container %s: running %s: %s", req->target, argv[0], uv_strerror(r));
                return;
        }
        rc->handles++;
        rc->proc_alive = true;
        if (rc->pipe_open[P_OUT])
                start_output(rc, P_OUT);
        start_output(rc, P_ERR);
        if (req->tty)
                start_timer(rc, CONSOLE_TIMEOUT_MS);
}

/* ---- attach ---- */

static int attach_connect(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int dir = -EBADF;
        _cleanup_free_ char *parent = NULL;
        int fd, r;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                /* Long state directories: reach it through the directory's fd. */
                char *slash;

                parent = strdup(path);
                if (!parent || !(slash = strrchr(parent, '/')))
                        return -ENAMETOOLONG;
                *slash = '\0';
                dir = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (dir < 0)
                        return -errno;
                snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dir, slash + 1);
        } else {
                strcpy(sa.sun_path, path);
        }
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static void attach_start(struct rc *rc)
{
        struct stream_sess *s = rc->s;
        int fd = attach_connect(s->req->attach_socket);

        if (fd < 0) {
                fail(rc, "Attaching to container %s: %s (is it running?)", s->req->target, strerror(-fd));
                return;
        }
        uv_pipe_init(s->srv->loop, &rc->pipes[P_ATTACH], 0);
        rc->pipes[P_ATTACH].data = rc;
        rc->handles++;
        rc->pipe_open[P_ATTACH] = true;
        if (uv_pipe_open(&rc->pipes[P_ATTACH], fd) < 0) {
                close(fd);
                fail(rc, "Attaching to container %s: using conmon's socket", s->req->target);
                return;
        }
        start_output(rc, P_ATTACH);
}

/* ---- the handler ---- */

static void rc_start(struct stream_sess *s)
{
        struct rc *rc = calloc(1, sizeof(*rc));

        if (!rc) {
                stream_sess_close(s);
                return;
        }
        rc->s = s;
        rc->attach = s->req->kind == STREAM_ATTACH;
        rc->listen_fd = rc->conn_fd = -1;
        rc->started = true;
        s->hstate = rc;
        if (rc->attach)
                attach_start(rc);
        else
                exec_start(rc);
}

static void kill_command(struct rc *rc)
{
        char buf[32] = "";
        int fd;
        long pid;

        if (!rc->proc_alive)
                return;
        fd = rc->pid_path ? open(rc->pid_path, O_RDONLY | O_CLOEXEC) : -1;
        if (fd >= 0) {
                ssize_t n = read(fd, buf, sizeof(buf) - 1);

                close(fd);
                buf[n > 0 ? n : 0] = '\0';
                pid = strtol(buf, NULL, 10);
                if (pid > 1)
                        kill((pid_t) pid, SIGKILL);
        }
        uv_process_kill(&rc->proc, SIGKILL);
}

static void rc_gone(struct stream_sess *s)
{
        struct rc *rc = s->hstate;

        if (!rc) {
                stream_sess_release(s);
                return;
        }
        rc->gone = true;
        kill_command(rc);
        for (int p = 0; p < P_MAX; p++)
                close_pipe(rc, p);
        if (rc->listen_polling) {
                rc->listen_polling = false;
                close_handle(rc, (uv_handle_t *) &rc->listen_poll);
        }
        if (rc->conn_polling) {
                rc->conn_polling = false;
                close_handle(rc, (uv_handle_t *) &rc->conn_poll);
        }
        stop_timer(rc);
        /* The process handle closes in on_proc_exit. */
        rc_maybe_release(rc);
}

const struct stream_handler_ops stream_exec_ops = {
        .start = rc_start,
        .data = rc_data,
        .eof = rc_eof,
        .drained = rc_drained,
        .gone = rc_gone,
};

const struct stream_handler_ops stream_attach_ops = {
        .start = rc_start,
        .data = rc_data,
        .eof = rc_eof,
        .drained = rc_drained,
        .gone = rc_gone,
};
