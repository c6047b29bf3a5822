/* Inside the streaming server: one upgraded connection ("session"), the
 * transport that frames it (SPDY/3.1 in spdy_session.c, WebSocket in
 * ws_session.c) and the handler that serves it (exec and attach in
 * remotecommand.c, port forwarding in portforward.c).
 *
 * Transports turn their frames into typed channels: for exec and attach the
 * Kubernetes remotecommand channels (stdin, stdout, stderr, error, resize),
 * for port forwarding a data and an error channel per port and request.  The
 * handler reads and writes channels and never sees a frame; the transport
 * never sees a process or a socket of the container.
 *
 * Everything runs on the loop thread.  The session is freed once the
 * connection is closed and the handler said it released what it held
 * (stream_sess_release); either side may start the end.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "stream/stream.h"

/* Stop reading the container's output while more than this is queued for a
 * client that does not read; resume below the low mark. */
#define STREAM_QUEUE_HIGH (1u << 20)
#define STREAM_QUEUE_LOW (256u << 10)

enum stream_ch {
        SCH_STDIN = 0,
        SCH_STDOUT = 1,
        SCH_STDERR = 2,
        SCH_ERROR = 3,
        SCH_RESIZE = 4,
        SCH_PF_DATA,   /* port forwarding */
        SCH_PF_ERROR,
};

/* The protocol the client and the server agreed on. */
enum stream_proto {
        SPROTO_V1 = 1,  /* channel.k8s.io: errors as text, no resize */
        SPROTO_V2,      /* v2.channel.k8s.io */
        SPROTO_V3,      /* v3.channel.k8s.io: resize channel */
        SPROTO_V4,      /* v4.channel.k8s.io: the status as JSON metav1.Status */
        SPROTO_V5,      /* v5.channel.k8s.io (WebSocket): stdin close signal */
        SPROTO_PORTFORWARD,
};

struct stream_sess;
struct stream_tls;

struct stream_chan {
        struct stream_sess *sess;
        enum stream_ch type;
        uint32_t id;          /* SPDY stream id, or WebSocket channel number */
        unsigned port;        /* port forwarding */
        char request_id[24];  /* port forwarding over SPDY: pairs data and error */
        bool in_closed;       /* the client closed its side (FIN) */
        bool out_closed;      /* we closed ours */
        bool ws_port_sent;    /* WebSocket port forwarding: the 2-byte port prefix went out */
        void *user;           /* the handler's */
        struct stream_chan *next;
};

struct stream_transport_ops {
        /* Bytes read from the connection. */
        void (*input)(struct stream_sess *s, const uint8_t *buf, size_t n);
        /* Queue bytes on a channel (our side must still be open). */
        int (*send)(struct stream_sess *s, struct stream_chan *ch, const void *buf, size_t len);
        /* Close our side of a channel (SPDY: FIN; WebSocket: nothing to send). */
        void (*close_chan)(struct stream_sess *s, struct stream_chan *ch);
        /* Abort a channel (SPDY: RST_STREAM; WebSocket: nothing). */
        void (*reset_chan)(struct stream_sess *s, struct stream_chan *ch);
        /* The handler is done: flush what is queued, then close the connection. */
        void (*finish)(struct stream_sess *s);
        /* Free the transport's state (the connection is closed by then). */
        void (*free)(struct stream_sess *s);
};

struct stream_handler_ops {
        /* Exec/attach: every channel the request asked for is there.
         * Port forwarding over WebSocket: the ports' channels are there. */
        void (*start)(struct stream_sess *s);
        /* Port forwarding over SPDY: a data and an error channel with the
         * same request id are both there (data first in the pair). */
        void (*pair)(struct stream_sess *s, struct stream_chan *data, struct stream_chan *error);
        void (*data)(struct stream_sess *s, struct stream_chan *ch, const uint8_t *buf, size_t len);
        /* The client closed its side of ch (stdin: the process's stdin ends). */
        void (*eof)(struct stream_sess *s, struct stream_chan *ch);
        /* Queued output fell below STREAM_QUEUE_LOW. */
        void (*drained)(struct stream_sess *s);
        /* The connection is gone (or is being closed): stop everything, and
         * call stream_sess_release() when nothing of the handler's is left
         * (at once or later, after processes and handles are closed). */
        void (*gone)(struct stream_sess *s);
};

struct stream_sess {
        struct stream_server *srv;
        uv_tcp_t tcp;
        struct stream_request *req;   /* the token's request (owned) */
        enum stream_proto proto;
        const struct stream_transport_ops *t;
        void *tstate;                 /* the transport's */
        const struct stream_handler_ops *h;
        void *hstate;                 /* the handler's */
        struct stream_chan *chans;
        size_t queued;                /* bytes written to tcp and not yet sent */
        bool closing, tcp_closed, released, gone_called;
        bool lingering;               /* our FIN sent, waiting for the client's */
        uv_shutdown_t shutdown;
        uv_timer_t timer;             /* request / stream creation deadline */
        char *hbuf;                   /* the HTTP request until the upgrade */
        size_t hlen;
        bool upgraded;
        bool websocket;               /* the transport is WebSocket (else SPDY) */
        struct stream_tls *tls;       /* with cri.stream_tls_*: all bytes on tcp are TLS records */
        struct stream_sess *next;     /* the server's list */
};

/* ---- session.c: the connection, shared by both transports ---- */
/* Write bytes to the client (copied, or encrypted with TLS); counts what
 * goes to the socket in s->queued.  -EPIPE once closing. */
int stream_sess_write(struct stream_sess *s, const void *buf, size_t len);
/* Close the connection after what is queued went out; calls the handler's
 * gone() (once), then frees everything when the handler released. */
void stream_sess_close(struct stream_sess *s);
/* Close the session unless cancelled before ms (0: cancel). */
void stream_sess_deadline(struct stream_sess *s, unsigned ms);
/* The client's side ended (EOF or a read error). */
void stream_sess_input_ended(struct stream_sess *s);
/* The handler let go of everything it held. */
void stream_sess_release(struct stream_sess *s);
/* A new channel on the session's list; NULL on ENOMEM. */
struct stream_chan *stream_chan_new(struct stream_sess *s, enum stream_ch type, uint32_t id);
struct stream_chan *stream_chan_find(struct stream_sess *s, enum stream_ch type);
struct stream_chan *stream_chan_by_id(struct stream_sess *s, uint32_t id);
void stream_chan_drop(struct stream_sess *s, struct stream_chan *ch);
/* How many channels the request expects (error, stdin, stdout, stderr): not
 * counting resize, which a client may or may not open. */
unsigned stream_expected_chans(const struct stream_request *r);
/* The handlers (remotecommand.c, portforward.c) and the one for a kind. */
extern const struct stream_handler_ops stream_exec_ops, stream_attach_ops, stream_portforward_ops;
const struct stream_handler_ops *stream_handler_for(enum stream_kind k);

/* The HTTP request that asked for the upgrade (server.c parses it). */
struct stream_http {
        char *method, *path, *query;
        char **names, **values; /* header names lower-cased */
        size_t n_headers;
};
/* The first value of header name (lower case), or NULL. */
const char *stream_http_header(const struct stream_http *h, const char *name);
/* Every value of a header that may repeat or hold a comma-separated list,
 * in order, as a NULL-terminated list of strings (free with free()). */
char **stream_http_header_list(const struct stream_http *h, const char *name);

/* ---- transports: take over an upgraded connection.  Write their own 101
 * (or an error answer and close).  rest: bytes read after the request. ---- */
int spdy_session_accept(struct stream_sess *s, const struct stream_http *h, const uint8_t *rest, size_t n);
int ws_session_accept(struct stream_sess *s, const struct stream_http *h, const uint8_t *rest, size_t n);

/* The metav1.Status JSON for an exit code (0: Success) or an error text. */
char *stream_status_json(int exit_code, const char *error);
