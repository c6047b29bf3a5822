/* Fuzzing hook, compiled only into tests/fuzz/fuzz_rpc_frames: one server
 * connection on the server's loop, over one end of a socketpair, fed from
 * memory the way on_read() feeds it (nghttp2_session_mem_recv, then a flush
 * that writes the answers to the socket), then closed as a client hang-up
 * closes it.  The peer end is drained and dropped. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc/rpc_private.h"

int rpc_fuzz_feed(struct rpc_server *s, const uint8_t *data, size_t len, size_t chunk, void (*tick)(void *),
                  void *tick_data);

static void drain(int fd)
{
        uint8_t buf[16384];

        while (read(fd, buf, sizeof(buf)) > 0)
                ;
}

static struct rpc_conn *conn_open(struct rpc_server *s, int fd)
{
        struct rpc_conn *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->srv = s;
        if (uv_pipe_init(s->loop, &c->pipe, 0) < 0) {
                free(c);
                return NULL;
        }
        c->pipe.data = c;
        c->next = s->conns;
        if (s->conns)
                s->conns->prev = c;
        s->conns = c;
        if (uv_pipe_open(&c->pipe, fd) < 0 || rpc_conn_start(s, c) < 0) {
                rpc_conn_close(c);
                return NULL;
        }
        return c;
}

static bool conn_alive(const struct rpc_server *s, const struct rpc_conn *c)
{
        for (const struct rpc_conn *o = s->conns; o; o = o->next)
                if (o == c)
                        return !o->closing;
        return false;
}

/* chunk: bytes per read (0: all at once); tick (optional) runs after each
 * read, on the loop thread, e.g. to answer calls a handler kept.  Runs the
 * loop until the connection is freed; returns -EIO when it could not be
 * made. */
int rpc_fuzz_feed(struct rpc_server *s, const uint8_t *data, size_t len, size_t chunk, void (*tick)(void *),
                  void *tick_data)
{
        struct rpc_conn *c;
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        c = conn_open(s, sv[0]);
        if (!c) {
                close(sv[1]);
                while (s->conns)
                        uv_run(s->loop, UV_RUN_ONCE);
                return -EIO;
        }
        for (size_t off = 0; c && !c->closing && off < len;) {
                size_t n = chunk && chunk < len - off ? chunk : len - off;
                ssize_t r;

                c->in_h2++;
                r = nghttp2_session_mem_recv(c->h2, data + off, n);
                c->in_h2--;
                off += n;
                rpc_conn_flush(c);
                if (r < 0 && !c->closing)
                        rpc_conn_close(c);
                drain(sv[1]);
                if (tick)
                        tick(tick_data);
                uv_run(s->loop, UV_RUN_NOWAIT);
                /* Closed (by the input, an answer or a write error): freed
                 * in its close callback, on the loop. */
                if (!conn_alive(s, c))
                        c = NULL;
        }
        if (c && !c->closing)
                rpc_conn_close(c);
        drain(sv[1]);
        close(sv[1]);
        while (s->conns)
                uv_run(s->loop, UV_RUN_ONCE);
        return 0;
}
