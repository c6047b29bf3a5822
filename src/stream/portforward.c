/* Port forwarding: each data channel (with its error channel) is one TCP
 * connection to 127.0.0.1:PORT inside the pod's network namespace.
 *
 * The socket is made by a short-lived thread that enters the namespace
 * (setns affects only the calling thread; a thread that ends there harms
 * nobody), on the worker pool so the loop never waits for a connect.  A
 * port nobody listens on gets its error on the pair's error channel and the
 * session stays usable.  Over SPDY the session lasts until the client closes
 * it; over WebSocket (one connection per port for the session) it ends when
 * every port's connection ended, as kubelet's does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream/server_int.h"
#include "util/log.h"

#define CONNECT_TIMEOUT_S 10
#define TO_POD_QUEUE_MAX (4u << 20)

struct pf;

struct pending {
        struct pending *next;
        size_t len;
        char data[];
};

struct pf_conn {
        struct pf *pf;
        struct stream_chan *data, *error;
        unsigned port;
        uv_work_t work;
        int fd, err;
        uv_tcp_t tcp;
        bool working;          /* the connect is on the worker pool */
        bool tcp_open, connected, done, client_eof;
        struct pending *pending, **pending_tail; /* client bytes that came before the connect */
        struct pf_conn *next;
};

struct pf {
        struct stream_sess *s;
        struct pf_conn *conns;
        unsigned busy;       /* works in flight + open handles */
        bool gone, input_paused;
};

static void pf_maybe_release(struct pf *pf)
{
        if (!pf->gone || pf->busy)
                return;
        while (pf->conns) {
                struct pf_conn *c = pf->conns;

                pf->conns = c->next;
                while (c->pending) {
                        struct pending *p = c->pending;

                        c->pending = p->next;
                        free(p);
                }
                free(c);
        }
        pf->s->hstate = NULL;
        stream_sess_release(pf->s);
        free(pf);
}

static void conn_free(struct pf_conn *c)
{
        struct pf *pf = c->pf;

        for (struct pf_conn **p = &pf->conns; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        while (c->pending) {
                struct pending *p = c->pending;

                c->pending = p->next;
                free(p);
        }
        if (c->data)
                c->data->user = NULL;
        if (c->error)
                c->error->user = NULL;
        free(c);
}

static void on_tcp_closed(uv_handle_t *h)
{
        struct pf_conn *c = h->data;
        struct pf *pf = c->pf;

        pf->busy--;
        conn_free(c);
        pf_maybe_release(pf);
}

static bool ws_session(const struct stream_sess *s)
{
        return s->websocket;
}

/* This connection is over: channels closed, socket closed. */
static void conn_end(struct pf_conn *c)
{
        struct pf *pf = c->pf;
        struct stream_sess *s = pf->s;

        if (c->done)
                return;
        c->done = true;
        if (!pf->gone && !s->closing) {
                if (!ws_session(s)) {
                        if (c->data)
                                s->t->close_chan(s, c->data);
                        if (c->error)
                                s->t->close_chan(s, c->error);
                }
        }
        if (c->tcp_open) {
                c->tcp_open = false;
                uv_close((uv_handle_t *) &c->tcp, on_tcp_closed);
        } else if (!c->working) {
                conn_free(c); /* no socket, no work in flight */
        }
        if (!pf->gone && !s->closing && ws_session(s)) {
                bool any = false;

                for (struct pf_conn *o = pf->conns; o; o = o->next)
                        any |= !o->done;
                if (!any)
                        s->t->finish(s);
        }
}

struct netns_connect {
        const char *netns;
        unsigned port;
        int fd, err;
};

static void *connect_thread(void *p)
{
        struct netns_connect *nc = p;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) nc->port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_S };
        int fd;

        if (nc->netns) {
                int ns = open(nc->netns, O_RDONLY | O_CLOEXEC);

                if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
                        nc->err = errno;
                        if (ns >= 0)
                                close(ns);
                        return NULL;
                }
                close(ns);
        }
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                nc->err = errno;
                return NULL;
        }
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                nc->err = errno;
                close(fd);
                return NULL;
        }
        nc->fd = fd;
        return NULL;
}

static void connect_work(uv_work_t *w)
{
        struct pf_conn *c = w->data;
        struct netns_connect nc = { .netns = c->pf->s->req->netns_path, .port = c->port, .fd = -1 };
        pthread_t t;

        if (nc.netns) {
                /* A thread of its own: it may end inside the pod's namespace. */
                if ((errno = pthread_create(&t, NULL, connect_thread, &nc)) != 0) {
                        c->err = errno;
                        c->fd = -1;
                        return;
                }
                pthread_join(t, NULL);
        } else {
                connect_thread(&nc);
        }
        c->fd = nc.fd;
        c->err = nc.err;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
        (void) h;
        buf->base = malloc(hint);
        buf->len = buf->base ? hint : 0;
}

static void pause_pods(struct pf *pf)
{
        for (struct pf_conn *c = pf->conns; c; c = c->next)
                if (c->tcp_open)
                        uv_read_stop((uv_stream_t *) &c->tcp);
}

static void on_pod_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
        struct pf_conn *c = st->data;
        struct stream_sess *s = c->pf->s;

        if (n > 0 && c->data && !c->data->out_closed)
                s->t->send(s, c->data, buf->base, (size_t) n);
        free(buf->base);
        if (n < 0) {
                conn_end(c);
                return;
        }
        if (s->queued > STREAM_QUEUE_HIGH)
                pause_pods(c->pf);
}

static void pf_drained(struct stream_sess *s)
{
        struct pf *pf = s->hstate;

        if (!pf)
                return;
        for (struct pf_conn *c = pf->conns; c; c = c->next)
                if (c->tcp_open && !c->done)
                        uv_read_start((uv_stream_t *) &c->tcp, on_alloc, on_pod_read);
}

struct to_pod {
        uv_write_t req;
        struct pf *pf;
        char data[];
};

static void on_to_pod(uv_write_t *req, int status)
{
        struct to_pod *w = (struct to_pod *) req;
        struct pf *pf = w->pf;

        (void) status;
        if (pf->input_paused && !pf->gone && uv_stream_get_write_queue_size(req->handle) < TO_POD_QUEUE_MAX / 4) {
                pf->input_paused = false;
                stream_sess_read_start(pf->s);
        }
        free(w);
}

static void to_pod(struct pf_conn *c, const void *buf, size_t n)
{
        struct to_pod *w = malloc(sizeof(*w) + n);
        uv_buf_t b;

        if (!w)
                return;
        w->pf = c->pf;
        memcpy(w->data, buf, n);
        b = uv_buf_init(w->data, (unsigned) n);
        if (uv_write(&w->req, (uv_stream_t *) &c->tcp, &b, 1, on_to_pod) < 0) {
                free(w);
                return;
        }
        if (uv_stream_get_write_queue_size((uv_stream_t *) &c->tcp) > TO_POD_QUEUE_MAX) {
                c->pf->input_paused = true;
                uv_read_stop((uv_stream_t *) &c->pf->s->tcp);
        }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
        (void) status;
        free(req);
}

static void shutdown_pod(struct pf_conn *c)
{
        uv_shutdown_t *sh = calloc(1, sizeof(*sh));

        if (sh && uv_shutdown(sh, (uv_stream_t *) &c->tcp, on_shutdown) < 0)
                free(sh);
}

static void connect_done(uv_work_t *w, int status)
{
        struct pf_conn *c = w->data;
        struct pf *pf = c->pf;
        struct stream_sess *s = pf->s;

        pf->busy--;
        c->working = false;
        if (status < 0 && c->fd < 0)
                c->err = ECANCELED;
        if (pf->gone || c->done) {
                if (c->fd >= 0)
                        close(c->fd);
                c->fd = -1;
                if (!c->done)
                        c->done = true;
                conn_free(c);
                pf_maybe_release(pf);
                return;
        }
        if (c->fd < 0) {
                char msg[256];
                int len = snprintf(msg, sizeof(msg),
                                   "error forwarding port %u to pod %s: failed to connect to localhost:%u inside "
                                   "the pod's network namespace: %s",
                                   c->port, s->req->target, c->port, strerror(c->err));

                log_debug("%s", msg);
                if (c->error && !c->error->out_closed)
                        s->t->send(s, c->error, msg, (size_t) len);
                c->fd = -1;
                conn_end(c);
                return;
        }
        uv_tcp_init(s->srv->loop, &c->tcp);
        c->tcp.data = c;
        c->tcp_open = true;
        pf->busy++;
        if (uv_tcp_open(&c->tcp, c->fd) < 0) {
                close(c->fd);
                c->fd = -1;
                conn_end(c);
                return;
        }
        c->fd = -1;
        c->connected = true;
        while (c->pending) {
                struct pending *p = c->pending;

                c->pending = p->next;
                to_pod(c, p->data, p->len);
                free(p);
        }
        if (c->client_eof)
                shutdown_pod(c);
        uv_read_start((uv_stream_t *) &c->tcp, on_alloc, on_pod_read);
}

static void conn_start(struct pf *pf, struct stream_chan *data, struct stream_chan *error)
{
        struct pf_conn *c = calloc(1, sizeof(*c));
        int r;

        if (!c) {
                stream_sess_close(pf->s);
                return;
        }
        c->pf = pf;
        c->data = data;
        c->error = error;
        c->port = data->port;
        c->fd = -1;
        c->pending_tail = &c->pending;
        data->user = error->user = c;
        c->next = pf->conns;
        pf->conns = c;
        c->work.data = c;
        r = uv_queue_work(pf->s->srv->loop, &c->work, connect_work, connect_done);
        if (r < 0) {
                c->err = -r;
                conn_end(c);
                return;
        }
        c->working = true;
        pf->busy++;
}

static struct pf *pf_get(struct stream_sess *s)
{
        struct pf *pf = s->hstate;

        if (pf)
                return pf;
        pf = calloc(1, sizeof(*pf));
        if (!pf)
                return NULL;
        pf->s = s;
        s->hstate = pf;
        return pf;
}

static void pf_start(struct stream_sess *s)
{
        struct pf *pf = pf_get(s);

        if (!pf) {
                stream_sess_close(s);
                return;
        }
        /* WebSocket: channels 2i (data) and 2i+1 (error) for the i-th port. */
        for (struct stream_chan *d = s->chans; d; d = d->next) {
                struct stream_chan *e;

                if (d->type != SCH_PF_DATA || d->user)
                        continue;
                e = stream_chan_by_id(s, d->id + 1);
                if (e && e->type == SCH_PF_ERROR)
                        conn_start(pf, d, e);
        }
}

static void pf_pair(struct stream_sess *s, struct stream_chan *data, struct stream_chan *error)
{
        struct pf *pf = pf_get(s);

        if (!pf) {
                stream_sess_close(s);
                return;
        }
        conn_start(pf, data, error);
}

static void pf_data(struct stream_sess *s, struct stream_chan *ch, const uint8_t *buf, size_t n)
{
        struct pf_conn *c = ch->user;
        struct pending *p;

        if (!c || c->done || ch->type != SCH_PF_DATA)
                return;
        if (c->connected) {
                to_pod(c, buf, n);
                return;
        }
        p = malloc(sizeof(*p) + n);
        if (!p) {
                stream_sess_close(s);
                return;
        }
        p->next = NULL;
        p->len = n;
        memcpy(p->data, buf, n);
        *c->pending_tail = p;
        c->pending_tail = &p->next;
}

static void pf_eof(struct stream_sess *s, struct stream_chan *ch)
{
        struct pf_conn *c = ch->user;

        (void) s;
        if (!c || c->done || ch->type != SCH_PF_DATA)
                return;
        if (ch->out_closed) {
                /* Reset by the client. */
                conn_end(c);
                return;
        }
        c->client_eof = true;
        if (c->connected)
                shutdown_pod(c);
}

static void pf_gone(struct stream_sess *s)
{
        struct pf *pf = s->hstate;

        if (!pf) {
                stream_sess_release(s);
                return;
        }
        pf->gone = true;
        for (struct pf_conn *c = pf->conns, *next; c; c = next) {
                next = c->next;
                if (c->tcp_open) {
                        c->tcp_open = false;
                        c->done = true;
                        uv_close((uv_handle_t *) &c->tcp, on_tcp_closed);
                }
        }
        pf_maybe_release(pf);
}

const struct stream_handler_ops stream_portforward_ops = {
        .start = pf_start,
        .pair = pf_pair,
        .data = pf_data,
        .eof = pf_eof,
        .drained = pf_drained,
        .gone = pf_gone,
};
