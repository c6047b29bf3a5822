/* One upgraded connection: writes with accounting (a client that does not
 * read stops the container's output, not pxcrid's memory), channels, and the
 * ordered end (handler released + connection closed -> freed). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "stream/session.h"
#include "stream/server_int.h"
#include "stream/tls.h"
#include "util/log.h"

#define LINGER_MS 2000

static void sess_linger(struct stream_sess *s);

struct sess_write {
        uv_write_t req;
        struct stream_sess *sess;
        size_t len;
        char data[];
};

static void on_timer_closed(uv_handle_t *h)
{
        struct stream_sess *s = h->data;

        if (s->t && s->t->free)
                s->t->free(s);
        while (s->chans) {
                struct stream_chan *c = s->chans;

                s->chans = c->next;
                free(c);
        }
        stream_request_free(s->req);
        stream_tls_free(s->tls);
        free(s->hbuf);
        stream_server_forget(s->srv, s);
        free(s);
}

static void sess_finalize(struct stream_sess *s)
{
        if (!s->tcp_closed || !s->released || uv_is_closing((uv_handle_t *) &s->timer))
                return;
        uv_timer_stop(&s->timer);
        /* The timer is the last handle: its close callback frees. */
        uv_close((uv_handle_t *) &s->timer, on_timer_closed);
}

static void on_tcp_closed(uv_handle_t *h)
{
        struct stream_sess *s = h->data;

        s->tcp_closed = true;
        sess_finalize(s);
}

static void close_tcp(struct stream_sess *s)
{
        if (!uv_is_closing((uv_handle_t *) &s->tcp))
                uv_close((uv_handle_t *) &s->tcp, on_tcp_closed);
}

static void on_written(uv_write_t *req, int status)
{
        struct sess_write *w = (struct sess_write *) req;
        struct stream_sess *s = w->sess;
        bool was_high = s->queued > STREAM_QUEUE_LOW;

        s->queued -= w->len;
        free(w);
        if (status < 0 && !s->closing) {
                log_debug("Stream session for %s: write failed: %s", s->req ? s->req->target : "?",
                          uv_strerror(status));
                stream_sess_close(s);
                return;
        }
        if (s->closing) {
                if (s->queued == 0)
                        sess_linger(s);
                return;
        }
        if (was_high && s->queued <= STREAM_QUEUE_LOW && s->h && s->h->drained)
                s->h->drained(s);
}

static struct sess_write *sess_write_new(struct stream_sess *s, size_t len)
{
        struct sess_write *w = malloc(sizeof(*w) + len);

        if (!w)
                return NULL;
        w->sess = s;
        w->len = len;
        return w;
}

/* Hand w to libuv (or free it). */
static int sess_write_submit(struct stream_sess *s, struct sess_write *w)
{
        uv_buf_t b = uv_buf_init(w->data, (unsigned) w->len);
        int r;

        r = uv_write(&w->req, (uv_stream_t *) &s->tcp, &b, 1, on_written);
        if (r < 0) {
                free(w);
                return r;
        }
        s->queued += w->len;
        return 0;
}

int stream_sess_tls_flush(struct stream_sess *s)
{
        size_t len = stream_tls_pending(s->tls);
        struct sess_write *w;

        if (len == 0)
                return 0;
        if (uv_is_closing((uv_handle_t *) &s->tcp))
                return -EPIPE;
        w = sess_write_new(s, len);
        if (!w)
                return -ENOMEM;
        w->len = stream_tls_take(s->tls, w->data, len);
        return sess_write_submit(s, w);
}

int stream_sess_write(struct stream_sess *s, const void *buf, size_t len)
{
        struct sess_write *w;
        int r;

        if (s->closing || uv_is_closing((uv_handle_t *) &s->tcp))
                return -EPIPE;
        if (len == 0)
                return 0;
        if (s->tls) {
                r = stream_tls_write(s->tls, buf, len);
                return r < 0 ? r : stream_sess_tls_flush(s);
        }
        w = sess_write_new(s, len);
        if (!w)
                return -ENOMEM;
        memcpy(w->data, buf, len);
        return sess_write_submit(s, w);
}

/* Everything queued went out: send our FIN, then read (and drop) what the
 * client still sends until its own FIN or a short while: closing a socket
 * with unread input makes the kernel answer with a reset, which can take the
 * last output and the status away from a client that had not read them. */
static void on_shutdown(uv_shutdown_t *req, int status)
{
        (void) req;
        (void) status;
}

static void sess_linger(struct stream_sess *s)
{
        if (s->lingering || uv_is_closing((uv_handle_t *) &s->tcp))
                return;
        s->lingering = true;
        if (uv_shutdown(&s->shutdown, (uv_stream_t *) &s->tcp, on_shutdown) < 0) {
                close_tcp(s);
                return;
        }
        stream_sess_read_start(s);
        stream_sess_deadline(s, LINGER_MS);
}

void stream_sess_close(struct stream_sess *s)
{
        if (!s->closing) {
                s->closing = true;
                uv_timer_stop(&s->timer);
                if (s->h && !s->gone_called) {
                        s->gone_called = true;
                        s->h->gone(s);
                } else if (!s->h) {
                        s->released = true;
                }
        }
        /* TLS: our close_notify goes after the last record, before our FIN. */
        if (s->tls && !uv_is_closing((uv_handle_t *) &s->tcp) && stream_tls_close_notify(s->tls))
                stream_sess_tls_flush(s);
        /* What is queued still goes out (the status on the error channel),
         * unless the client is gone or does not read: then a bounded wait. */
        if (s->queued == 0)
                sess_linger(s);
        else if (!s->lingering)
                stream_sess_deadline(s, 5000);
        sess_finalize(s);
}

void stream_sess_input_ended(struct stream_sess *s)
{
        if (s->closing)
                close_tcp(s);
        else
                stream_sess_close(s);
}

void stream_sess_release(struct stream_sess *s)
{
        s->released = true;
        sess_finalize(s);
}

static void on_deadline(uv_timer_t *t)
{
        struct stream_sess *s = t->data;

        if (s->closing) {
                close_tcp(s);
                return;
        }
        log_debug("Stream session for %s: deadline passed", s->req ? s->req->target : "?");
        stream_sess_close(s);
}

void stream_sess_deadline(struct stream_sess *s, unsigned ms)
{
        if (uv_is_closing((uv_handle_t *) &s->timer))
                return;
        if (!ms)
                uv_timer_stop(&s->timer);
        else
                uv_timer_start(&s->timer, on_deadline, ms, 0);
}

struct stream_chan *stream_chan_new(struct stream_sess *s, enum stream_ch type, uint32_t id)
{
        struct stream_chan *c = calloc(1, sizeof(*c)), **p = &s->chans;

        if (!c)
                return NULL;
        c->sess = s;
        c->type = type;
        c->id = id;
        while (*p)
                p = &(*p)->next;
        *p = c;
        return c;
}

struct stream_chan *stream_chan_find(struct stream_sess *s, enum stream_ch type)
{
        for (struct stream_chan *c = s->chans; c; c = c->next)
                if (c->type == type)
                        return c;
        return NULL;
}

struct stream_chan *stream_chan_by_id(struct stream_sess *s, uint32_t id)
{
        for (struct stream_chan *c = s->chans; c; c = c->next)
                if (c->id == id)
                        return c;
        return NULL;
}

void stream_chan_drop(struct stream_sess *s, struct stream_chan *ch)
{
        for (struct stream_chan **p = &s->chans; *p; p = &(*p)->next)
                if (*p == ch) {
                        *p = ch->next;
                        free(ch);
                        return;
                }
}

unsigned stream_expected_chans(const struct stream_request *r)
{
        return 1 + r->in + r->out + (r->err && !r->tty);
}

char *stream_status_json(int exit_code, const char *error)
{
        json_t *st;
        char *text, code[16];

        if (error)
                st = json_pack("{s:{},s:s,s:s,s:s,s:i}", "metadata", "status", "Failure", "message", error,
                               "reason", "InternalError", "code", 500);
        else if (exit_code == 0)
                st = json_pack("{s:{},s:s}", "metadata", "status", "Success");
        else {
                char msg[96];

                snprintf(code, sizeof(code), "%d", exit_code);
                snprintf(msg, sizeof(msg), "command terminated with non-zero exit code: exit status %d", exit_code);
                st = json_pack("{s:{},s:s,s:s,s:s,s:{s:[{s:s,s:s}]}}", "metadata", "status", "Failure", "message",
                               msg, "reason", "NonZeroExitCode", "details", "causes", "reason", "ExitCode",
                               "message", code);
        }
        text = st ? json_dumps(st, JSON_COMPACT) : NULL;
        json_decref(st);
        return text;
}

const struct stream_handler_ops *stream_handler_for(enum stream_kind k)
{
        return k == STREAM_EXEC ? &stream_exec_ops : k == STREAM_ATTACH ? &stream_attach_ops : &stream_portforward_ops;
}
