#include "image/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "image/curl_api.h"
#include "image/registry.h"
#include "util/cleanup.h"

#define HTTP_ERROR_BODY_MAX (64u * 1024)
#define HTTP_CONNECT_TIMEOUT_S 30L
#define HTTP_LOW_SPEED_TIME_S 60L /* abort a transfer stalled for this long */

struct registry_conn {
        const struct curl_api *cu;
        CURL *curl;
        char errbuf[CURL_ERROR_SIZE];
};

struct registry_conn *registry_conn_new(void)
{
        const struct curl_api *cu = curl_api_get(NULL);
        struct registry_conn *h = cu ? calloc(1, sizeof(*h)) : NULL;

        if (h)
                h->cu = cu;
        if (h && !(h->curl = cu->easy_init())) {
                free(h);
                return NULL;
        }
        return h;
}

void registry_conn_free(struct registry_conn *h)
{
        if (!h)
                return;
        h->cu->easy_cleanup(h->curl);
        free(h);
}

char *http_escape(struct registry_conn *h, const char *s)
{
        char *e = h->cu->easy_escape(h->curl, s, 0), *r;

        if (!e)
                return NULL;
        r = strdup(e);
        h->cu->free(e);
        return r;
}

struct xfer {
        const struct http_request *r;
        struct http_response *resp;
        struct registry_conn *h;
        bool reset_done;
        struct pxe *sink_err;
        bool too_large;
};

static void set_header(char **dst, const char *v, size_t n)
{
        while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
                n--;
        while (n > 0 && (*v == ' ' || *v == '\t'))
                v++, n--;
        free(*dst);
        *dst = strndup(v, n);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
        struct xfer *x = userdata;
        struct http_response *resp = x->resp;
        size_t n = size * nitems;
        const char *colon = memchr(buf, ':', n);

        if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
                /* A new response (after a redirect or 100): forget the old headers. */
                free(resp->content_type), resp->content_type = NULL;
                free(resp->docker_digest), resp->docker_digest = NULL;
                free(resp->www_authenticate), resp->www_authenticate = NULL;
                return n;
        }
        if (!colon)
                return n;
        if ((size_t) (colon - buf) == 12 && strncasecmp(buf, "Content-Type", 12) == 0)
                set_header(&resp->content_type, colon + 1, n - 13);
        else if ((size_t) (colon - buf) == 21 && strncasecmp(buf, "Docker-Content-Digest", 21) == 0)
                set_header(&resp->docker_digest, colon + 1, n - 22);
        else if ((size_t) (colon - buf) == 16 && strncasecmp(buf, "WWW-Authenticate", 16) == 0 &&
                 !resp->www_authenticate)
                set_header(&resp->www_authenticate, colon + 1, n - 17);
        return n;
}

static size_t to_memory(struct xfer *x, const char *data, size_t n, size_t max)
{
        struct http_response *resp = x->resp;
        char *b;

        if (resp->len + n > max) {
                x->too_large = true;
                return 0;
        }
        b = realloc(resp->body, resp->len + n + 1);
        if (!b)
                return 0;
        memcpy(b + resp->len, data, n);
        resp->len += n;
        b[resp->len] = '\0';
        resp->body = b;
        return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct xfer *x = userdata;
        size_t n = size * nmemb;
        long status = 0;

        x->h->cu->easy_getinfo(x->h->curl, CURLINFO_RESPONSE_CODE, &status);
        if (!x->r->sink || (status != 200 && status != 206))
                return to_memory(x, data, n, x->r->sink || !x->r->max_body ? HTTP_ERROR_BODY_MAX : x->r->max_body);
        if (status == 200 && x->r->range_from > 0 && !x->reset_done) {
                /* The server ignored Range: start over. */
                x->reset_done = true;
                if (blobstore_ingest_reset(x->r->sink, &x->sink_err) < 0)
                        return 0;
        }
        if (blobstore_ingest_write(x->r->sink, data, n, &x->sink_err) < 0)
                return 0;
        return n;
}

static int curl_errno(CURLcode c)
{
        switch (c) {
        case CURLE_COULDNT_CONNECT:
                return ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return EHOSTUNREACH;
        case CURLE_OPERATION_TIMEDOUT:
                return ETIMEDOUT;
        case CURLE_OUT_OF_MEMORY:
                return ENOMEM;
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
                return ECONNRESET;
        default:
                return EPROTO;
        }
}

static struct curl_slist *append_fmt(const struct curl_api *cu, struct curl_slist *l, bool *ok, const char *name,
                                     const char *value)
{
        _cleanup_free_ char *line = NULL;
        struct curl_slist *n;

        if (!*ok || !value)
                return l;
        if (asprintf(&line, "%s: %s", name, value) < 0) {
                *ok = false;
                return l;
        }
        n = cu->slist_append(l, line);
        if (!n)
                *ok = false;
        explicit_bzero(line, strlen(line));
        return n ? n : l;
}

static struct curl_slist *build_headers(const struct curl_api *cu, const struct http_request *r, bool *ok)
{
        struct curl_slist *l = NULL;
        char range[48];

        *ok = true;
        l = append_fmt(cu, l, ok, "Accept", r->accept);
        l = append_fmt(cu, l, ok, "Authorization", r->authorization);
        if (r->range_from > 0) {
                snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long) r->range_from);
                l = append_fmt(cu, l, ok, "Range", range);
        }
        return l;
}

static void setup(const struct curl_api *cu, CURL *c, const struct http_request *r, struct xfer *x,
                  struct curl_slist *hdrs)
{
        cu->easy_setopt(c, CURLOPT_URL, r->url);
        cu->easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        cu->easy_setopt(c, CURLOPT_PROTOCOLS_STR, r->allow_http ? "http,https" : "https");
        cu->easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, r->allow_http ? "http,https" : "https");
        cu->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        cu->easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
        /* Custom Authorization is dropped by curl when a redirect changes host
         * (since 7.58) unless this is set: keep it off, and say so. */
        cu->easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
        cu->easy_setopt(c, CURLOPT_SSL_VERIFYPEER, r->skip_verify ? 0L : 1L);
        cu->easy_setopt(c, CURLOPT_SSL_VERIFYHOST, r->skip_verify ? 0L : 2L);
        if (r->ca_file)
                cu->easy_setopt(c, CURLOPT_CAINFO, r->ca_file);
        cu->easy_setopt(c, CURLOPT_CONNECTTIMEOUT, HTTP_CONNECT_TIMEOUT_S);
        cu->easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        cu->easy_setopt(c, CURLOPT_LOW_SPEED_TIME, HTTP_LOW_SPEED_TIME_S);
        cu->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        cu->easy_setopt(c, CURLOPT_USERAGENT, "pxcri/0.1");
        cu->easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        cu->easy_setopt(c, CURLOPT_HEADERDATA, x);
        cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        cu->easy_setopt(c, CURLOPT_WRITEDATA, x);
        cu->easy_setopt(c, CURLOPT_ERRORBUFFER, x->h->errbuf);
        cu->easy_setopt(c, CURLOPT_ACCEPT_ENCODING, NULL);
        if (r->method && streq(r->method, "HEAD"))
                cu->easy_setopt(c, CURLOPT_NOBODY, 1L);
        if (r->post_fields)
                cu->easy_setopt(c, CURLOPT_COPYPOSTFIELDS, r->post_fields);
}

/* The URL without its query (a redirect to a signed URL carries secrets). */
static void url_for_message(const char *url, char *out, size_t size)
{
        size_t n = strcspn(url, "?#");

        snprintf(out, size, "%.*s", (int) (n < 300 ? n : 300), url);
}

/* A TLS handshake answered by a plain-HTTP server: OpenSSL reads the HTTP
 * reply as a TLS record and gives up with "wrong version number" (or
 * "packet length too long" on older versions), which tells the user nothing. */
static bool plain_http_answer(CURLcode cc, const char *errbuf)
{
        return cc == CURLE_SSL_CONNECT_ERROR &&
               (strstr(errbuf, "wrong version number") || strstr(errbuf, "packet length too long"));
}

static int plain_http_error(const char *url, const char *where, const char *method, struct pxe **err)
{
        const char *host = strncmp(url, "https://", 8) == 0 ? url + 8 : url;
        int n = (int) strcspn(host, "/?#");

        if (n > 255)
                n = 255;
        return pxe_set(err, EPROTO,
                       "%s %s: the registry %.*s answered plain HTTP: mark it insecure "
                       "(image.registries.\"%.*s\".insecure = true)",
                       method, where, n, host, n, host);
}

int http_do(struct registry_conn *h, const struct http_request *r, struct http_response *resp, struct pxe **err)
{
        struct xfer x = { .r = r, .resp = resp, .h = h };
        struct curl_slist *hdrs;
        char where[320];
        char *eff = NULL;
        CURLcode cc;
        bool ok;

        *resp = (struct http_response) { 0 };
        hdrs = build_headers(h->cu, r, &ok);
        if (!ok) {
                h->cu->slist_free_all(hdrs);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        h->cu->easy_reset(h->curl);
        h->errbuf[0] = '\0';
        setup(h->cu, h->curl, r, &x, hdrs);
        cc = h->cu->easy_perform(h->curl);
        h->cu->slist_free_all(hdrs);
        h->cu->easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
        if (h->cu->easy_getinfo(h->curl, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff)
                resp->effective_url = strdup(eff);
        url_for_message(eff ? eff : r->url, where, sizeof(where));
        if (x.sink_err) {
                int code = x.sink_err->code;

                pxe_set(err, code, "%s", x.sink_err->msg);
                pxe_free(x.sink_err);
                return -code;
        }
        if (x.too_large)
                return pxe_set(err, EFBIG, "%s %s: answer larger than %zu bytes", r->method ? r->method : "GET", where,
                               r->max_body ? r->max_body : (size_t) HTTP_ERROR_BODY_MAX);
        if (cc != CURLE_OK && plain_http_answer(cc, h->errbuf))
                return plain_http_error(r->url, where, r->method ? r->method : "GET", err);
        if (cc != CURLE_OK)
                return pxe_set(err, curl_errno(cc), "%s %s: %s", r->method ? r->method : "GET", where,
                               h->errbuf[0] ? h->errbuf : h->cu->easy_strerror(cc));
        return 0;
}

void http_response_done(struct http_response *resp)
{
        if (!resp)
                return;
        free(resp->body);
        free(resp->content_type);
        free(resp->docker_digest);
        free(resp->www_authenticate);
        free(resp->effective_url);
        *resp = (struct http_response) { 0 };
}
