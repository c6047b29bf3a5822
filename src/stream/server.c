/* The streaming server's HTTP/1.1 side: the listener, single-use expiring
 * tokens, the request that asks for an upgrade, and the hand-over to the
 * SPDY or WebSocket transport.  Anything else gets a plain answer and the
 * connection is closed: 404 for an unknown, used or expired token, 400 for a
 * request that is not an upgrade. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "stream/server_int.h"
#include "util/cleanup.h"
#include "util/log.h"

#define REQUEST_MAX (16u << 10)
#define REQUEST_TIMEOUT_MS 10000
#define HEADERS_MAX 64

void stream_request_free(struct stream_request *r)
{
        if (!r)
                return;
        if (r->process_file)
                unlink(r->process_file);
        free(r->process_file);
        for (char **p = r->argv; p && *p; p++)
                free(*p);
        free(r->argv);
        free(r->attach_socket);
        free(r->ctl_path);
        free(r->netns_path);
        free(r->ports);
        free(r);
}

/* ---- tokens ---- */

static void token_free(struct stream_token *t)
{
        stream_request_free(t->req);
        free(t);
}

static void tokens_sweep(struct stream_server *srv)
{
        uint64_t now = uv_now(srv->loop);

        for (struct stream_token **p = &srv->tokens; *p;) {
                struct stream_token *t = *p;

                if (t->expires_ms > now) {
                        p = &t->next;
                        continue;
                }
                *p = t->next;
                srv->n_tokens--;
                token_free(t);
        }
}

static void on_sweep(uv_timer_t *t)
{
        tokens_sweep(t->data);
}

struct stream_request *stream_token_take(struct stream_server *srv, const char *token)
{
        tokens_sweep(srv);
        for (struct stream_token **p = &srv->tokens; *p; p = &(*p)->next) {
                struct stream_token *t = *p;
                struct stream_request *r;

                if (strcmp(t->token, token) != 0)
                        continue;
                *p = t->next;
                srv->n_tokens--;
                r = t->req;
                free(t);
                return r;
        }
        return NULL;
}

static const char *kind_path(enum stream_kind k)
{
        return k == STREAM_EXEC ? "exec" : k == STREAM_ATTACH ? "attach" : "portforward";
}

int stream_server_register(struct stream_server *srv, struct stream_request *req, char **url, struct pxe **err)
{
        struct stream_token *t;
        uint8_t raw[16];

        if (srv->shut) {
                stream_request_free(req);
                return pxe_set(err, ESHUTDOWN, "The streaming server is shutting down");
        }
        if (getrandom(raw, sizeof(raw), 0) != sizeof(raw)) {
                stream_request_free(req);
                return pxe_set_errno(err, errno, "Making a streaming token");
        }
        t = calloc(1, sizeof(*t));
        if (!t) {
                stream_request_free(req);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(t->token + 2 * i, 3, "%02x", raw[i]);
        if (asprintf(url, "%s/%s/%s", srv->url, kind_path(req->kind), t->token) < 0) {
                free(t);
                stream_request_free(req);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        tokens_sweep(srv);
        t->req = req;
        t->expires_ms = uv_now(srv->loop) + srv->ttl_ms;
        t->next = srv->tokens;
        srv->tokens = t;
        srv->n_tokens++;
        return 0;
}

/* ---- the HTTP request ---- */

const char *stream_http_header(const struct stream_http *h, const char *name)
{
        for (size_t i = 0; i < h->n_headers; i++)
                if (strcmp(h->names[i], name) == 0)
                        return h->values[i];
        return NULL;
}

char **stream_http_header_list(const struct stream_http *h, const char *name)
{
        size_t n = 0, cap = 8;
        char **v = calloc(cap, sizeof(*v));

        for (size_t i = 0; v && i < h->n_headers; i++) {
                _cleanup_free_ char *copy = NULL;
                char *save = NULL;

                if (strcmp(h->names[i], name) != 0 || !(copy = strdup(h->values[i])))
                        continue;
                for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                        size_t len;

                        tok += strspn(tok, " \t");
                        len = strlen(tok);
                        while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
                                tok[--len] = '\0';
                        if (!len)
                                continue;
                        if (n + 1 >= cap) {
                                char **nv = reallocarray(v, cap * 2, sizeof(*v));

                                if (!nv)
                                        break;
                                v = nv;
                                cap *= 2;
                        }
                        if ((v[n] = strdup(tok)))
                                v[++n] = NULL;
                }
        }
        return v;
}

static void http_free(struct stream_http *h)
{
        free(h->names);
        free(h->values);
}

/* Parse the request in place (buf is NUL-terminated at the blank line). */
static int http_parse(char *buf, struct stream_http *h)
{
        char *line, *save = NULL, *sp1, *sp2;

        memset(h, 0, sizeof(*h));
        line = strtok_r(buf, "\r\n", &save);
        if (!line || !(sp1 = strchr(line, ' ')) || !(sp2 = strchr(sp1 + 1, ' ')))
                return -EPROTO;
        *sp1 = *sp2 = '\0';
        if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
                return -EPROTO;
        h->method = line;
        h->path = sp1 + 1;
        h->query = strchr(h->path, '?');
        if (h->query)
                *h->query++ = '\0';
        h->names = calloc(HEADERS_MAX, sizeof(char *));
        h->values = calloc(HEADERS_MAX, sizeof(char *));
        if (!h->names || !h->values)
                return -ENOMEM;
        while ((line = strtok_r(NULL, "\r\n", &save))) {
                char *colon = strchr(line, ':'), *v;

                if (!colon || colon == line || h->n_headers == HEADERS_MAX)
                        return -EPROTO;
                *colon = '\0';
                for (char *p = line; *p; p++) {
                        if (*p == ' ' || *p == '\t')
                                return -EPROTO;
                        *p = (char) tolower((unsigned char) *p);
                }
                v = colon + 1 + strspn(colon + 1, " \t");
                for (size_t len = strlen(v); len && (v[len - 1] == ' ' || v[len - 1] == '\t'); len--)
                        v[len - 1] = '\0';
                h->names[h->n_headers] = line;
                h->values[h->n_headers++] = v;
        }
        return 0;
}

static void answer(struct stream_sess *s, int code, const char *reason, const char *body)
{
        _cleanup_free_ char *text = NULL;
        int n;

        n = asprintf(&text,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s\n",
                     code, reason, strlen(body) + 1, body);
        if (n > 0)
                stream_sess_write(s, text, (size_t) n);
        stream_sess_close(s);
}

static bool header_has_token(const char *value, const char *token)
{
        size_t n = strlen(token);

        for (const char *p = value; p && *p;) {
                p += strspn(p, " \t,");
                if (strncasecmp(p, token, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
                        return true;
                p = strchr(p, ',');
        }
        return false;
}

static void dispatch(struct stream_sess *s, char *head, const uint8_t *rest, size_t n_rest)
{
        struct stream_http h;
        const char *upgrade, *conn, *token;
        enum stream_kind kind;
        int r;

        r = http_parse(head, &h);
        if (r < 0) {
                http_free(&h);
                answer(s, 400, "Bad Request", "Malformed HTTP request");
                return;
        }
        if (strncmp(h.path, "/exec/", 6) == 0) {
                kind = STREAM_EXEC;
                token = h.path + 6;
        } else if (strncmp(h.path, "/attach/", 8) == 0) {
                kind = STREAM_ATTACH;
                token = h.path + 8;
        } else if (strncmp(h.path, "/portforward/", 13) == 0) {
                kind = STREAM_PORTFORWARD;
                token = h.path + 13;
        } else {
                http_free(&h);
                answer(s, 404, "Not Found", "Not found");
                return;
        }
        /* Consumed whatever follows: a token is good for one try. */
        s->req = stream_token_take(s->srv, token);
        if (!s->req || s->req->kind != kind) {
                log_debug("Streaming request for an unknown, used or expired token");
                http_free(&h);
                answer(s, 404, "Not Found", "Unknown, used or expired streaming URL");
                return;
        }
        upgrade = stream_http_header(&h, "upgrade");
        conn = stream_http_header(&h, "connection");
        if (!upgrade || !conn || !header_has_token(conn, "upgrade")) {
                http_free(&h);
                answer(s, 400, "Bad Request", "This URL needs a SPDY/3.1 or WebSocket upgrade");
                return;
        }
        s->h = stream_handler_for(kind);
        s->upgraded = true;
        stream_sess_deadline(s, 0);
        if (strcasecmp(upgrade, "websocket") == 0) {
                s->websocket = true;
                r = ws_session_accept(s, &h, rest, n_rest);
        } else if (strcasecmp(upgrade, "SPDY/3.1") == 0)
                r = spdy_session_accept(s, &h, rest, n_rest);
        else {
                s->h = NULL;
                http_free(&h);
                answer(s, 400, "Bad Request", "Unsupported upgrade: SPDY/3.1 or websocket");
                return;
        }
        http_free(&h);
        if (r < 0)
                log_debug("Streaming session for %s refused: %s", s->req->target, strerror(-r));
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
        (void) h;
        buf->base = malloc(hint);
        buf->len = buf->base ? hint : 0;
}

/* Plain bytes from the client: the HTTP request until the upgrade, the
 * transport's input after it. */
static void sess_input(struct stream_sess *s, const char *buf, size_t n)
{
        char *end;

        if (s->upgraded) {
                s->t->input(s, (const uint8_t *) buf, n);
                return;
        }
        if (s->hlen + n > REQUEST_MAX) {
                answer(s, 431, "Request Header Fields Too Large", "Request too large");
                return;
        }
        memcpy(s->hbuf + s->hlen, buf, n);
        s->hlen += n;
        s->hbuf[s->hlen] = '\0';
        end = memmem(s->hbuf, s->hlen, "\r\n\r\n", 4);
        if (!end)
                return;
        *end = '\0';
        dispatch(s, s->hbuf, (const uint8_t *) end + 4, s->hlen - (size_t) (end + 4 - s->hbuf));
}

/* TLS records from the client: buf (cap bytes) is reused for the plain
 * text, the records being in the TLS state once fed.  Everything fed is
 * decrypted now, as a plain read is handed over whole, also when the
 * handler pauses reading on the way. */
static void sess_input_tls(struct stream_sess *s, char *buf, size_t n, size_t cap)
{
        ssize_t r = 0;

        if (stream_tls_feed(s->tls, buf, n) < 0)
                r = -ENOMEM;
        else
                while (!s->closing && (r = stream_tls_read(s->tls, buf, cap)) > 0)
                        sess_input(s, buf, (size_t) r);
        /* Handshake messages, alerts. */
        if (!s->closing && stream_sess_tls_flush(s) < 0 && r >= 0)
                r = -EIO;
        if (r == -EPIPE) {
                stream_sess_input_ended(s);
        } else if (r < 0 && !s->closing) {
                /* Not a warning: anyone who can connect can cause these. */
                if (s->req)
                        log_debug("Streaming session for %s: TLS: %s", s->req->target,
                                  r == -EPROTO ? stream_tls_error(s->tls) : strerror((int) -r));
                else
                        log_debug("Streaming server: TLS with a client failed: %s",
                                  r == -EPROTO ? stream_tls_error(s->tls) : strerror((int) -r));
                stream_sess_close(s);
        }
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
        struct stream_sess *s = st->data;

        if (n < 0) {
                free(buf->base);
                stream_sess_input_ended(s);
                return;
        }
        if (n > 0 && !s->closing) {
                if (s->tls)
                        sess_input_tls(s, buf->base, (size_t) n, buf->len);
                else
                        sess_input(s, buf->base, (size_t) n);
        }
        free(buf->base);
}

void stream_sess_read_start(struct stream_sess *s)
{
        if (!uv_is_closing((uv_handle_t *) &s->tcp))
                uv_read_start((uv_stream_t *) &s->tcp, on_alloc, on_read);
}

static void on_connection(uv_stream_t *l, int status)
{
        struct stream_server *srv = l->data;
        struct stream_sess *s;

        if (status < 0) {
                log_warn("Streaming server: accepting: %s", uv_strerror(status));
                return;
        }
        s = calloc(1, sizeof(*s));
        if (s)
                s->hbuf = malloc(REQUEST_MAX + 1);
        if (!s || !s->hbuf) {
                if (s)
                        free(s);
                log_warn("Streaming server: out of memory, connection left waiting");
                return;
        }
        s->srv = srv;
        uv_tcp_init(srv->loop, &s->tcp);
        uv_timer_init(srv->loop, &s->timer);
        s->tcp.data = s->timer.data = s;
        s->next = srv->sessions;
        srv->sessions = s;
        srv->n_sessions++;
        if (uv_accept(l, (uv_stream_t *) &s->tcp) < 0 || (srv->tls && !(s->tls = stream_tls_new(srv->tls)))) {
                s->released = true;
                stream_sess_close(s);
                return;
        }
        uv_tcp_nodelay(&s->tcp, 1);
        stream_sess_deadline(s, REQUEST_TIMEOUT_MS);
        uv_read_start((uv_stream_t *) &s->tcp, on_alloc, on_read);
}

void stream_server_forget(struct stream_server *srv, struct stream_sess *s)
{
        for (struct stream_sess **p = &srv->sessions; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        srv->n_sessions--;
                        return;
                }
}

/* ---- the server ---- */

static bool is_loopback(const struct sockaddr_storage *ss)
{
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *) ss)->sin6_addr;

        if (ss->ss_family == AF_INET)
                return (ntohl(((const struct sockaddr_in *) ss)->sin_addr.s_addr) >> 24) == 127;
        if (IN6_IS_ADDR_V4MAPPED(a6))
                return a6->s6_addr[12] == 127;
        return IN6_IS_ADDR_LOOPBACK(a6);
}

static int bind_address(struct stream_server *srv, const char *address, unsigned port, struct pxe **err)
{
        struct sockaddr_storage ss;
        int len = sizeof(ss), r;
        char host[64];
        bool v6 = strchr(address, ':') != NULL;

        r = v6 ? uv_ip6_addr(address, (int) port, (struct sockaddr_in6 *) &ss)
               : uv_ip4_addr(address, (int) port, (struct sockaddr_in *) &ss);
        if (r < 0)
                return pxe_set(err, EINVAL, "cri.stream_address \"%s\" is not an IP address", address);
        if ((r = uv_tcp_bind(&srv->listener, (struct sockaddr *) &ss, 0)) < 0 ||
            (r = uv_listen((uv_stream_t *) &srv->listener, 128, on_connection)) < 0)
                return pxe_set(err, -r, "Streaming server: listening on %s port %u: %s", address, port,
                               uv_strerror(r));
        uv_tcp_getsockname(&srv->listener, (struct sockaddr *) &ss, &len);
        if (v6) {
                uv_ip6_name((struct sockaddr_in6 *) &ss, host, sizeof(host));
                port = ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
        } else {
                uv_ip4_name((struct sockaddr_in *) &ss, host, sizeof(host));
                port = ntohs(((struct sockaddr_in *) &ss)->sin_port);
        }
        if (asprintf(&srv->url, v6 ? "%s://[%s]:%u" : "%s://%s:%u", srv->tls ? "https" : "http", host, port) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (!srv->tls && !is_loopback(&ss))
                log_warn("Streaming server on %s without TLS: exec, attach and port-forward streams cross the "
                         "network in plain text (set cri.stream_tls_cert and cri.stream_tls_key)", srv->url);
        return 0;
}

int stream_server_new(uv_loop_t *loop, const struct stream_server_opts *o, struct stream_server **ret,
                      struct pxe **err)
{
        struct stream_server *srv = calloc(1, sizeof(*srv));
        int r;

        if (!srv)
                return pxe_set(err, ENOMEM, "Out of memory");
        srv->loop = loop;
        srv->ttl_ms = o->token_ttl_ms ? o->token_ttl_ms : STREAM_TOKEN_TTL_MS_DEFAULT;
        srv->run_dir = strdup(o->run_dir ? o->run_dir : "/run");
        uv_tcp_init(loop, &srv->listener);
        uv_timer_init(loop, &srv->sweep);
        srv->listener.data = srv->sweep.data = srv;
        srv->handles_open = 2;
        if (!srv->run_dir) {
                r = pxe_set(err, ENOMEM, "Out of memory");
                goto fail;
        }
        if (!o->tls_cert != !o->tls_key) {
                r = pxe_set(err, EINVAL, "Streaming server: TLS needs both a certificate and a key");
                goto fail;
        }
        if (o->tls_cert && (r = stream_tls_ctx_new(o->tls_cert, o->tls_key, o->tls_ca, &srv->tls, err)) < 0)
                goto fail;
        if ((r = bind_address(srv, o->address ? o->address : "127.0.0.1", o->port, err)) < 0)
                goto fail;
        uv_timer_start(&srv->sweep, on_sweep, 30000, 30000);
        uv_unref((uv_handle_t *) &srv->sweep);
        *ret = srv;
        return 0;
fail:
        stream_server_shutdown(srv);
        stream_server_free(srv);
        return r;
}

const char *stream_server_url(const struct stream_server *s)
{
        return s->url;
}

size_t stream_server_sessions(const struct stream_server *s)
{
        return s->n_sessions;
}

size_t stream_server_tokens(const struct stream_server *s)
{
        return s->n_tokens;
}

static void on_server_handle_closed(uv_handle_t *h)
{
        struct stream_server *srv = h->data;

        srv->handles_open--;
}

void stream_server_shutdown(struct stream_server *srv)
{
        if (!srv || srv->shut)
                return;
        srv->shut = true;
        uv_close((uv_handle_t *) &srv->listener, on_server_handle_closed);
        uv_close((uv_handle_t *) &srv->sweep, on_server_handle_closed);
        while (srv->tokens) {
                struct stream_token *t = srv->tokens;

                srv->tokens = t->next;
                token_free(t);
        }
        srv->n_tokens = 0;
        for (struct stream_sess *s = srv->sessions; s; s = s->next)
                if (!s->closing)
                        stream_sess_close(s);
}

/* After shutdown and after the loop ran the close callbacks. */
void stream_server_free(struct stream_server *srv)
{
        if (!srv)
                return;
        free(srv->url);
        free(srv->run_dir);
        stream_tls_ctx_free(srv->tls);
        free(srv);
}
