/* The listening side: the socket and its lock, accepting connections,
 * graceful shutdown, and per-method handling-time statistics. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "rpc/rpc_private.h"
#include "util/cleanup.h"
#include "util/log.h"

int rpc_server_new(uv_loop_t *loop, const struct rpc_method *methods, size_t n_methods,
                   const struct rpc_server_opts *opts, void *userdata, struct rpc_server **ret,
                   struct pxe **err)
{
        struct rpc_server *s;

        s = calloc(1, sizeof(*s));
        if (!s)
                return pxe_set(err, ENOMEM, "Allocating the gRPC server");
        s->stats = calloc(n_methods ? n_methods : 1, sizeof(*s->stats));
        if (!s->stats) {
                free(s);
                return pxe_set(err, ENOMEM, "Allocating the gRPC server");
        }
        s->loop = loop;
        s->methods = methods;
        s->n_methods = n_methods;
        s->max_message = opts && opts->max_message ? opts->max_message : RPC_MAX_MESSAGE_DEFAULT;
        s->userdata = userdata;
        s->lock_fd = -EBADF;
        *ret = s;
        return 0;
}

/* mkdir -p the directory of path; directories made here get 0700. */
static int mkdir_parents(const char *path, struct pxe **err)
{
        _cleanup_free_ char *dir = strdup(path);
        char *slash;

        if (!dir)
                return pxe_set(err, ENOMEM, "Allocating a path");
        slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return 0;
        *slash = '\0';
        for (char *p = dir + 1;; p++) {
                if (*p != '/' && *p != '\0')
                        continue;
                char saved = *p;
                *p = '\0';
                if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        return pxe_set_errno(err, errno, "Creating directory %s", dir);
                *p = saved;
                if (!saved)
                        break;
        }
        return 0;
}

/* Whether a server answers on path (connect succeeds, or its backlog is full). */
static bool socket_alive(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;

        if (strlen(path) >= sizeof(sa.sun_path))
                return false;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return false;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                return true;
        return errno == EAGAIN;
}

static int take_lock(struct rpc_server *s, const char *path, struct pxe **err)
{
        _cleanup_free_ char *lock = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (asprintf(&lock, "%s.lock", path) < 0)
                return pxe_set(err, ENOMEM, "Allocating a path");
        fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return pxe_set_errno(err, errno, "Opening lock file %s", lock);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return pxe_set(err, EADDRINUSE, "Another server is listening on %s", path);
                return pxe_set_errno(err, errno, "Locking %s", lock);
        }
        s->lock_fd = TAKE_FD(fd);
        return 0;
}

static void on_connection(uv_stream_t *listener, int status);

static int bind_listen(struct rpc_server *s, const char *path, struct pxe **err)
{
        int r;

        s->listener = calloc(1, sizeof(*s->listener));
        if (!s->listener)
                return pxe_set(err, ENOMEM, "Allocating socket %s", path);
        r = uv_pipe_init(s->loop, s->listener, 0);
        if (r < 0) {
                free(TAKE_PTR(s->listener));
                return pxe_set(err, -r, "Initializing socket %s: %s", path, uv_strerror(r));
        }
        s->listener->data = s;
        s->listener_open = true;
        r = uv_pipe_bind(s->listener, path);
        if (r < 0)
                return pxe_set(err, -r, "Binding socket %s: %s", path, uv_strerror(r));
        if (chmod(path, 0660) < 0)
                return pxe_set_errno(err, errno, "Setting the mode of socket %s", path);
        r = uv_listen((uv_stream_t *) s->listener, 128, on_connection);
        if (r < 0)
                return pxe_set(err, -r, "Listening on socket %s: %s", path, uv_strerror(r));
        return 0;
}

/* The handle is freed here: a server freed meanwhile has cleared h->data. */
static void on_listener_closed(uv_handle_t *h)
{
        struct rpc_server *s = h->data;

        free(h);
        if (!s)
                return;
        s->listener_open = false;
        s->listener = NULL;
        if (s->shutting_down && !s->conns && s->done)
                s->done(s->done_data);
}

int rpc_server_listen(struct rpc_server *s, const char *path, struct pxe **err)
{
        struct sockaddr_un sa;
        struct stat st;
        int r;

        if (s->listening || s->listener_open)
                return pxe_set(err, EALREADY, "The gRPC server already listens on %s", s->path);
        if (strlen(path) >= sizeof(sa.sun_path))
                return pxe_set(err, ENAMETOOLONG, "Socket path %s is too long", path);
        r = mkdir_parents(path, err);
        if (r < 0)
                return r;
        r = take_lock(s, path, err);
        if (r < 0)
                return r;
        if (lstat(path, &st) == 0) {
                /* A server that does not take our lock (an older one) still counts. */
                if (S_ISSOCK(st.st_mode) && socket_alive(path))
                        r = pxe_set(err, EADDRINUSE, "Another server is listening on %s", path);
                else if (unlink(path) < 0)
                        r = pxe_set_errno(err, errno, "Removing stale socket %s", path);
                if (r < 0)
                        goto fail;
        }
        s->path = strdup(path);
        if (!s->path) {
                r = pxe_set(err, ENOMEM, "Allocating a path");
                goto fail;
        }
        r = bind_listen(s, path, err);
        if (r < 0) {
                unlink(path);
                goto fail;
        }
        s->listening = true;
        return 0;
fail:
        if (s->listener_open)
                uv_close((uv_handle_t *) s->listener, on_listener_closed);
        free(s->path);
        s->path = NULL;
        close(s->lock_fd);
        s->lock_fd = -EBADF;
        return r;
}

static void on_connection(uv_stream_t *listener, int status)
{
        struct rpc_server *s = listener->data;
        struct rpc_conn *c;

        if (status < 0) {
                log_debug("Accepting a gRPC connection: %s", uv_strerror(status));
                return;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return;
        c->srv = s;
        if (uv_pipe_init(s->loop, &c->pipe, 0) < 0) {
                free(c);
                return;
        }
        c->pipe.data = c;
        /* Linked before anything can fail: the close path unlinks it. */
        c->next = s->conns;
        if (s->conns)
                s->conns->prev = c;
        s->conns = c;
        if (uv_accept(listener, (uv_stream_t *) &c->pipe) < 0 || rpc_conn_start(s, c) < 0)
                rpc_conn_close(c);
}

void rpc_server_conn_gone(struct rpc_server *s, struct rpc_conn *c)
{
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        if (s->shutting_down && !s->conns && !s->listener_open && s->done)
                s->done(s->done_data);
}

void rpc_server_shutdown(struct rpc_server *s, void (*done)(void *data), void *data)
{
        struct rpc_conn *c, *next;

        if (s->shutting_down)
                return;
        s->shutting_down = true;
        s->done = done;
        s->done_data = data;
        if (s->listening) {
                unlink(s->path);
                s->listening = false;
        }
        for (c = s->conns; c; c = next) {
                next = c->next;
                rpc_conn_goaway(c);
        }
        if (s->listener_open) {
                uv_close((uv_handle_t *) s->listener, on_listener_closed);
                return;
        }
        if (!s->conns && done)
                done(data);
}

void rpc_server_cancel_calls(struct rpc_server *s, enum rpc_code code, const char *message)
{
        struct rpc_conn *c;

        for (c = s->conns; c; c = c->next) {
                if (c->closing)
                        continue;
                /* No flush while walking the list: a flush closes streams and frees calls. */
                c->in_h2++;
                for (struct rpc_call *call = c->calls; call; call = call->next)
                        rpc_call_abort(call, code, message);
                c->in_h2--;
        }
        for (c = s->conns; c; c = c->next)
                rpc_conn_flush(c);
}

void rpc_server_free(struct rpc_server *s)
{
        if (!s)
                return;
        if (s->listener) {
                /* Never listened-and-shut-down: close it, freed in its callback. */
                s->listener->data = NULL;
                if (!uv_is_closing((uv_handle_t *) s->listener))
                        uv_close((uv_handle_t *) s->listener, on_listener_closed);
        }
        for (size_t i = 0; i < s->n_methods; i++)
                free(s->stats[i]);
        free(s->stats);
        free(s->path);
        if (s->lock_fd >= 0)
                close(s->lock_fd);
        free(s);
}

void rpc_server_record(struct rpc_server *s, size_t idx, uint64_t ns)
{
        struct rpc_stats *st = s->stats[idx];

        if (!st) {
                st = s->stats[idx] = calloc(1, sizeof(*st));
                if (!st)
                        return;
        }
        st->ns[st->calls % RPC_STATS_RING] = ns;
        st->calls++;
}

int rpc_server_method_stats(struct rpc_server *s, const char *path, double *ret_median_us,
                            uint64_t *ret_calls)
{
        uint64_t tmp[RPC_STATS_RING];

        for (size_t i = 0; i < s->n_methods; i++) {
                if (!streq(s->methods[i].path, path))
                        continue;
                const struct rpc_stats *st = s->stats[i];
                size_t n = !st ? 0 : st->calls < RPC_STATS_RING ? st->calls : RPC_STATS_RING;
                if (n)
                        memcpy(tmp, st->ns, n * sizeof(tmp[0]));
                *ret_median_us = n ? (double) rpc_median(tmp, n) / 1000.0 : 0.0;
                *ret_calls = st ? st->calls : 0;
                return 0;
        }
        return -ENOENT;
}
