/* HTTPS requests to the Proxmox API over the dlopen()ed libcurl: host
 * failover, per-request timeouts, TLS verification or pinning, the token
 * header (never logged), form-encoded parameters. */
#include "backend/proxmox/api_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

#define BODY_MAX (8u << 20)
#define CONNECT_TIMEOUT_MS_MAX 10000

struct buf {
        char *data;
        size_t len;
        bool too_big;
};

struct answer {
        struct buf body;
        char reason[256];
};

static size_t write_cb(char *p, size_t size, size_t n, void *arg)
{
        struct buf *b = arg;
        size_t add = size * n;
        char *nd;

        if (b->len + add > BODY_MAX) {
                b->too_big = true;
                return 0;
        }
        nd = realloc(b->data, b->len + add + 1);
        if (!nd)
                return 0;
        memcpy(nd + b->len, p, add);
        b->data = nd;
        b->len += add;
        b->data[b->len] = '\0';
        return add;
}

/* The status line's reason phrase: Proxmox's error text lives there. */
static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
        struct answer *a = arg;
        size_t len = size * n;

        if (len > 12 && strncmp(p, "HTTP/", 5) == 0) {
                const char *sp = memchr(p, ' ', len);

                if (sp && (size_t) (sp - p) + 5 < len) {
                        size_t rl = len - (size_t) (sp - p) - 5;

                        while (rl && (sp[4 + rl] == '\r' || sp[4 + rl] == '\n'))
                                rl--;
                        rl = rl < sizeof(a->reason) - 1 ? rl : sizeof(a->reason) - 1;
                        memcpy(a->reason, sp + 5, rl);
                        a->reason[rl] = '\0';
                }
        }
        return len;
}

/* "k=v&k2=v2", percent-encoded. */
static char *form_encode(const struct curl_api *api, CURL *h, const struct pve_kv *p, size_t n)
{
        char *out = strdup(""), *tmp;

        for (size_t i = 0; out && i < n; i++) {
                char *k = api->easy_escape(h, p[i].key, 0);
                char *v = api->easy_escape(h, p[i].value ? p[i].value : "", 0);

                tmp = NULL;
                if (k && v && asprintf(&tmp, "%s%s%s=%s", out, i ? "&" : "", k, v) < 0)
                        tmp = NULL;
                api->free(k);
                api->free(v);
                free(out);
                out = tmp;
        }
        return out;
}

static curl_mime *upload_mime(const struct curl_api *api, CURL *h, const struct api_request *r)
{
        curl_mime *m = api->mime_init(h);
        curl_mimepart *part;

        if (!m)
                return NULL;
        for (size_t i = 0; i < r->n_params; i++) {
                part = api->mime_addpart(m);
                if (!part || api->mime_name(part, r->params[i].key) != CURLE_OK ||
                    api->mime_data(part, r->params[i].value ? r->params[i].value : "", CURL_ZERO_TERMINATED) !=
                            CURLE_OK)
                        goto fail;
        }
        part = api->mime_addpart(m);
        if (!part || api->mime_name(part, "filename") != CURLE_OK ||
            api->mime_filedata(part, r->upload_path) != CURLE_OK ||
            api->mime_filename(part, r->upload_name) != CURLE_OK)
                goto fail;
        return m;
fail:
        api->mime_free(m);
        return NULL;
}

static char *host_url(const struct proxmox_config *cfg, const char *host, const char *path, const char *query)
{
        const char *colon = strrchr(host, ':');
        bool bare_v6 = colon && strchr(host, ':') != colon && host[0] != '[';
        bool has_port = colon && !bare_v6 && (host[0] != '[' || colon > strchr(host, ']'));
        const char *q = query && *query ? "?" : "";
        char *url = NULL;
        int n;

        if (has_port)
                n = asprintf(&url, "https://%s/api2/json%s%s%s", host, path, q, q[0] ? query : "");
        else
                n = asprintf(&url, "https://%s%s%s:%u/api2/json%s%s%s", bare_v6 ? "[" : "", host, bare_v6 ? "]" : "",
                             cfg->port, path, q, q[0] ? query : "");
        return n < 0 ? NULL : url;
}

static int setup_tls(struct pve_api *a, const struct proxmox_config *cfg, struct pxe **err)
{
        const struct curl_api *api = a->curl;

        if (a->pin.enabled)
                return api_pin_install(api, a->h, &a->pin, err);
        if (!cfg->tls.verify) {
                api->easy_setopt(a->h, CURLOPT_SSL_VERIFYPEER, 0L);
                api->easy_setopt(a->h, CURLOPT_SSL_VERIFYHOST, 0L);
                return 0;
        }
        api->easy_setopt(a->h, CURLOPT_SSL_VERIFYPEER, 1L);
        api->easy_setopt(a->h, CURLOPT_SSL_VERIFYHOST, 2L);
        if (cfg->tls.ca_file)
                api->easy_setopt(a->h, CURLOPT_CAINFO, cfg->tls.ca_file);
        return 0;
}

int api_http_open(struct pve_api *a, const struct proxmox_config *cfg, struct pxe **err)
{
        a->curl = curl_api_get(err);
        if (!a->curl)
                return -pxe_code(err, ELIBACC);
        a->h = a->curl->easy_init();
        if (!a->h)
                return pxe_set(err, ENOMEM, "curl_easy_init failed");
        if (cfg->tls.fingerprint && api_pin_parse(cfg->tls.fingerprint, &a->pin, err) < 0)
                return -EINVAL;
        return 0;
}

void api_http_close(struct pve_api *a)
{
        if (a->h)
                a->curl->easy_cleanup(a->h);
        a->h = NULL;
}

static void set_common(struct pve_api *a, struct answer *ans, int timeout_ms)
{
        const struct curl_api *api = a->curl;
        long t = timeout_ms;

        api->easy_reset(a->h);
        api->easy_setopt(a->h, CURLOPT_NOSIGNAL, 1L);
        api->easy_setopt(a->h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
        api->easy_setopt(a->h, CURLOPT_PROTOCOLS_STR, "https");
        api->easy_setopt(a->h, CURLOPT_TIMEOUT_MS, t);
        api->easy_setopt(a->h, CURLOPT_CONNECTTIMEOUT_MS, t < CONNECT_TIMEOUT_MS_MAX ? t : CONNECT_TIMEOUT_MS_MAX);
        api->easy_setopt(a->h, CURLOPT_WRITEFUNCTION, write_cb);
        api->easy_setopt(a->h, CURLOPT_WRITEDATA, &ans->body);
        api->easy_setopt(a->h, CURLOPT_HEADERFUNCTION, header_cb);
        api->easy_setopt(a->h, CURLOPT_HEADERDATA, ans);
        api->easy_setopt(a->h, CURLOPT_USERAGENT, "pxcri");
}

/* Whether the request surely never reached the server (safe to send again
 * elsewhere): the connection or its TLS handshake failed, or a timeout hit
 * before the transfer began (a host that drops packets). */
static bool not_sent(struct pve_api *a, CURLcode rc)
{
        curl_off_t pretransfer = 0;

        if (rc == CURLE_OPERATION_TIMEDOUT)
                return a->curl->easy_getinfo(a->h, CURLINFO_PRETRANSFER_TIME_T, &pretransfer) == CURLE_OK &&
                       pretransfer == 0;
        return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_SSL_CONNECT_ERROR ||
               rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE;
}

static int transport_error(struct pve_api *a, CURLcode rc, const char *host, int timeout_ms, char *why,
                           size_t size)
{
        char fp[100];

        if (a->pin.enabled && a->pin.checked && a->pin.mismatch) {
                api_pin_format(a->pin.got, fp, sizeof(fp));
                snprintf(why, size, "%s: TLS certificate fingerprint mismatch: the server presented SHA-256 %s, "
                         "backends.proxmox.tls.fingerprint pins another certificate", host, fp);
                return EPERM;
        }
        if (rc == CURLE_OPERATION_TIMEDOUT) {
                snprintf(why, size, "%s: no answer within %d ms", host, timeout_ms);
                return ETIMEDOUT;
        }
        if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
                snprintf(why, size, "%s: TLS certificate not verified: %s (set backends.proxmox.tls.ca_file or "
                         "tls.fingerprint)", host, a->curl->easy_strerror(rc));
                return EPERM;
        }
        snprintf(why, size, "%s: %s", host, a->curl->easy_strerror(rc));
        return EHOSTUNREACH;
}

/* One attempt on one host: 0 with an answer, or -code with why filled. */
static int attempt(struct pve_api *a, const struct proxmox_config *cfg, const struct api_request *r,
                   const char *host, const char *auth, const char *body, const char *query, struct answer *ans,
                   char *why, size_t size)
{
        const struct curl_api *api = a->curl;
        _cleanup_free_ char *url = host_url(cfg, host, r->path, query);
        struct curl_slist *hdrs = NULL;
        _cleanup_pxe_ struct pxe *e = NULL;
        int timeout_ms = r->timeout_ms > 0 ? r->timeout_ms : (int) cfg->timeout * 1000;
        curl_mime *mime = NULL;
        CURLcode rc;

        if (!url)
                return -ENOMEM;
        set_common(a, ans, timeout_ms);
        if (setup_tls(a, cfg, &e) < 0) {
                snprintf(why, size, "%s", e->msg);
                return -e->code;
        }
        api->easy_setopt(a->h, CURLOPT_URL, url);
        hdrs = api->slist_append(hdrs, auth);
        hdrs = api->slist_append(hdrs, "Accept: application/json");
        api->easy_setopt(a->h, CURLOPT_HTTPHEADER, hdrs);
        api->easy_setopt(a->h, CURLOPT_CUSTOMREQUEST, r->method);
        if (r->upload_path) {
                if (!(mime = upload_mime(api, a->h, r))) {
                        api->slist_free_all(hdrs);
                        snprintf(why, size, "%s: out of memory", host);
                        return -ENOMEM;
                }
                api->easy_setopt(a->h, CURLOPT_MIMEPOST, mime);
        } else if (body) {
                api->easy_setopt(a->h, CURLOPT_POSTFIELDS, body);
                api->easy_setopt(a->h, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
        }
        rc = api->easy_perform(a->h);
        api->slist_free_all(hdrs);
        if (mime)
                api->mime_free(mime);
        if (rc == CURLE_OK)
                return 0;
        if (ans->body.too_big) {
                snprintf(why, size, "%s: answer larger than %u bytes", host, BODY_MAX);
                return -(EPROTO | API_MAYBE_SENT);
        }
        return -(transport_error(a, rc, host, timeout_ms, why, size) | (not_sent(a, rc) ? 0 : API_MAYBE_SENT));
}

static int try_hosts(struct pve_api *a, const struct proxmox_config *cfg, const struct api_request *r,
                     const char *auth, const char *body, const char *query, struct answer *ans, struct pxe **err)
{
        char whys[1024] = "", why[400];
        bool idempotent = streq(r->method, "GET");
        int code = EHOSTUNREACH;
        size_t tried = 0;

        for (size_t i = 0; i < cfg->n_hosts; i++) {
                size_t hi = (a->good_host + i) % cfg->n_hosts;
                int rc;

                free(ans->body.data);
                memset(ans, 0, sizeof(*ans));
                snprintf(why, sizeof(why), "%s: out of memory", cfg->hosts[hi]);
                rc = attempt(a, cfg, r, cfg->hosts[hi], auth, body, query, ans, why, sizeof(why));
                if (rc == 0) {
                        a->good_host = hi; /* remembered: the next request starts here */
                        return 0;
                }
                code = (-rc) & ~API_MAYBE_SENT;
                tried++;
                snprintf(whys + strlen(whys), sizeof(whys) - strlen(whys), "%s%s", whys[0] ? "; " : "", why);
                if ((-rc) & API_MAYBE_SENT && !idempotent) {
                        /* Not resent: the server may have acted on it. */
                        if (i + 1 < cfg->n_hosts)
                                snprintf(whys + strlen(whys), sizeof(whys) - strlen(whys),
                                         " (not sent to another host: this one may have received it)");
                        break;
                }
        }
        return pxe_set(err, code, "%s %s: %s%s", r->method, r->path,
                       cfg->n_hosts > 1 && tried == cfg->n_hosts ? "no Proxmox API host answered: " : "", whys);
}

int api_http_request(struct pve_api *a, const struct proxmox_config *cfg, const char *token,
                     const struct api_request *r, json_t **ret_data, struct pxe **err)
{
        _cleanup_free_ char *auth = NULL, *params = NULL;
        struct answer ans = { 0 };
        long status = 0;
        bool in_body = streq(r->method, "POST") || streq(r->method, "PUT");
        int rc;

        params = form_encode(a->curl, a->h, r->params, r->n_params);
        if (!params || asprintf(&auth, "Authorization: PVEAPIToken=%s", token) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        rc = try_hosts(a, cfg, r, auth, in_body && !r->upload_path ? params : NULL, in_body ? NULL : params, &ans,
                       err);
        explicit_bzero(auth, strlen(auth));
        if (rc == 0) {
                a->curl->easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &status);
                rc = pve_parse_answer(ans.body.data, ans.body.len, status, ans.reason, ret_data, err);
                if (rc < 0)
                        pxe_wrap(err, "%s %s", r->method, r->path);
        }
        free(ans.body.data);
        return rc;
}
