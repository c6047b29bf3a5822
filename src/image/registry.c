#include "image/registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/digest.h"
#include "image/http.h"
#include "image/manifest.h"
#include "util/cleanup.h"

struct endpoint {
        char *base; /* "https://host[:port][/prefix]", no trailing slash */
        char *host; /* host[:port] */
        bool allow_http;
        bool skip_verify;
        char *ca_file;
        bool origin;           /* the registry itself: credentials go only here */
        char *authorization;   /* cached "Bearer ..." / "Basic ..."; under lock */
        pthread_mutex_t lock;
};

struct registry_client {
        char *domain;
        char *repo;
        struct endpoint *eps;
        size_t n_eps;
        char *user, *pass, *identity_token, *registry_token;
        size_t preferred; /* the endpoint that served the manifest */
};

static void endpoint_done(struct endpoint *e)
{
        free(e->base);
        free(e->host);
        free(e->ca_file);
        if (e->authorization)
                explicit_bzero(e->authorization, strlen(e->authorization));
        free(e->authorization);
        pthread_mutex_destroy(&e->lock);
}

static void secret_free(char *s)
{
        if (s)
                explicit_bzero(s, strlen(s));
        free(s);
}

void registry_client_free(struct registry_client *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n_eps; i++)
                endpoint_done(&c->eps[i]);
        free(c->eps);
        free(c->domain);
        free(c->repo);
        secret_free(c->user);
        secret_free(c->pass);
        secret_free(c->identity_token);
        secret_free(c->registry_token);
        free(c);
}

static int endpoint_init(struct endpoint *e, const struct image_config *cfg, const char *url, const char *what,
                         struct pxe **err)
{
        const struct image_registry_config *rc;
        bool http = strncmp(url, "http://", 7) == 0;
        const char *host = http                                  ? url + 7
                           : strncmp(url, "https://", 8) == 0 ? url + 8
                                                               : url;
        size_t hlen = strcspn(host, "/");
        size_t len = strlen(url);

        pthread_mutex_init(&e->lock, NULL);
        while (len > 0 && url[len - 1] == '/')
                len--;
        e->base = strndup(url, len);
        e->host = strndup(host, hlen);
        if (!e->base || !e->host)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (hlen == 0)
                return pxe_set(err, EINVAL, "%s %s: no host in the URL", what, url);
        rc = image_config_registry(cfg, e->host);
        if (http && !(rc && rc->insecure))
                return pxe_set(err, EINVAL,
                               "%s %s: plain HTTP to %s needs \"insecure\": true in image.registries.\"%s\"", what, url,
                               e->host, e->host);
        e->allow_http = http;
        e->skip_verify = rc && rc->skip_verify;
        if (rc && rc->ca_file && !(e->ca_file = strdup(rc->ca_file)))
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

static int setup_endpoints(struct registry_client *c, const struct image_config *cfg, struct pxe **err)
{
        const struct image_registry_config *rc = image_config_registry(cfg, c->domain);
        size_t n = rc ? rc->n_mirrors : 0;
        _cleanup_free_ char *origin = NULL;
        const char *host = streq(c->domain, "docker.io") ? "registry-1.docker.io" : c->domain;

        c->eps = calloc(n + 1, sizeof(*c->eps));
        if (!c->eps)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (size_t i = 0; i < n; i++) {
                c->n_eps++;
                if (endpoint_init(&c->eps[i], cfg, rc->mirrors[i], "Mirror", err) < 0)
                        return pxe_wrap(err, "Registry %s", c->domain);
        }
        if (asprintf(&origin, "%s://%s", rc && rc->insecure ? "http" : "https", host) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        c->n_eps++;
        if (endpoint_init(&c->eps[n], cfg, origin, "Registry", err) < 0)
                return -EINVAL;
        /* The origin's settings come from its own name (docker.io), not registry-1. */
        c->eps[n].origin = true;
        c->eps[n].skip_verify = rc && rc->skip_verify;
        if (rc && rc->ca_file && !c->eps[n].ca_file && !(c->eps[n].ca_file = strdup(rc->ca_file)))
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

static int copy_secret(const char *s, char **dst)
{
        if (!s || !*s)
                return 0;
        *dst = strdup(s);
        return *dst ? 0 : -ENOMEM;
}

int registry_client_new(const struct image_config *cfg, const char *domain, const char *repo,
                        const struct image_auth *auth, struct registry_client **ret, struct pxe **err)
{
        struct registry_client *c = calloc(1, sizeof(*c));

        if (!c || !(c->domain = strdup(domain)) || !(c->repo = strdup(repo))) {
                registry_client_free(c);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        if (setup_endpoints(c, cfg, err) < 0 || auth_basic_credentials(auth, &c->user, &c->pass, err) < 0) {
                registry_client_free(c);
                return -pxe_code(err, EINVAL);
        }
        if (auth && (copy_secret(auth->identity_token, &c->identity_token) < 0 ||
                     copy_secret(auth->registry_token, &c->registry_token) < 0)) {
                registry_client_free(c);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        c->preferred = 0;
        *ret = c;
        return 0;
}

static char *endpoint_get_auth(struct registry_client *c, struct endpoint *e)
{
        char *a = NULL;

        pthread_mutex_lock(&e->lock);
        if (e->authorization)
                a = strdup(e->authorization);
        pthread_mutex_unlock(&e->lock);
        if (!a && e->origin && c->registry_token && asprintf(&a, "Bearer %s", c->registry_token) < 0)
                a = NULL;
        return a;
}

static void endpoint_set_auth(struct endpoint *e, char *a)
{
        pthread_mutex_lock(&e->lock);
        secret_free(e->authorization);
        e->authorization = a;
        pthread_mutex_unlock(&e->lock);
}

static char *basic_header(const char *user, const char *pass)
{
        _cleanup_free_ char *up = NULL, *b = NULL;
        char *h = NULL;

        if (asprintf(&up, "%s:%s", user, pass) < 0)
                return NULL;
        b = auth_base64_encode(up, strlen(up));
        explicit_bzero(up, strlen(up));
        if (!b || asprintf(&h, "Basic %s", b) < 0)
                h = NULL;
        if (b)
                explicit_bzero(b, strlen(b));
        return h;
}

/* The token request: POST with the refresh token, or GET (with basic
 * credentials when we have them). */
static int token_request(struct registry_client *c, struct registry_conn *h, const struct endpoint *e,
                         const struct auth_challenge *ch, const char *scope, struct http_response *resp,
                         struct pxe **err)
{
        _cleanup_free_ char *svc = http_escape(h, ch->service ? ch->service : "");
        _cleanup_free_ char *sc = http_escape(h, scope), *url = NULL, *form = NULL, *basic = NULL, *rt = NULL;
        struct http_request r = { .url = NULL, .allow_http = e->allow_http, .ca_file = e->ca_file, .max_body = 1 << 20 };
        bool creds = e->origin;
        int rc;

        if (!svc || !sc)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (creds && c->identity_token) {
                rt = http_escape(h, c->identity_token);
                if (!rt || asprintf(&form, "grant_type=refresh_token&client_id=pxcri&service=%s&scope=%s&refresh_token=%s",
                                    svc, sc, rt) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                r.url = ch->realm;
                r.method = "POST";
                r.post_fields = form;
        } else {
                if (asprintf(&url, "%s%sservice=%s&scope=%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?", svc, sc) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                r.url = url;
                if (creds && c->user && !(basic = basic_header(c->user, c->pass)))
                        return pxe_set(err, ENOMEM, "Out of memory");
                r.authorization = basic;
        }
        rc = http_do(h, &r, resp, err);
        if (form)
                explicit_bzero(form, strlen(form));
        if (basic)
                explicit_bzero(basic, strlen(basic));
        return rc;
}

static int fetch_token(struct registry_client *c, struct registry_conn *h, struct endpoint *e,
                       const struct auth_challenge *ch, char **ret, struct pxe **err)
{
        _cleanup_free_ char *scope = NULL, *token = NULL;
        struct http_response resp;
        int rc;

        if (strncmp(ch->realm, "https://", 8) != 0 && !(e->allow_http && strncmp(ch->realm, "http://", 7) == 0))
                return pxe_set(err, EACCES, "Token realm %.200s is not an https:// URL", ch->realm);
        if (asprintf(&scope, "repository:%s:pull", c->repo) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        rc = token_request(c, h, e, ch, ch->scope ? ch->scope : scope, &resp, err);
        if (rc < 0) {
                http_response_done(&resp);
                return pxe_wrap(err, "Fetching a token");
        }
        if (resp.status != 200) {
                long st = resp.status;

                http_response_done(&resp);
                return pxe_set(err, EACCES, "Token server %.200s refused%s (HTTP %ld)", ch->realm,
                               e->origin && (c->user || c->identity_token) ? " the credentials" : " anonymous access", st);
        }
        rc = auth_token_from_json(resp.body, resp.len, &token, err);
        http_response_done(&resp);
        if (rc < 0)
                return rc;
        if (asprintf(ret, "Bearer %s", token) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        explicit_bzero(token, strlen(token));
        return 0;
}

/* Answer a 401: work out the Authorization header the challenge asks for. */
static int authenticate(struct registry_client *c, struct registry_conn *h, struct endpoint *e, const char *www,
                        struct pxe **err)
{
        struct auth_challenge ch = { .scheme = AUTH_SCHEME_INVALID };
        char *a = NULL;
        int rc = 0;

        if (!www)
                return pxe_set(err, EACCES, "%s answered 401 without a WWW-Authenticate challenge", e->host);
        if (auth_challenge_parse(www, &ch, err) < 0)
                return pxe_wrap(err, "%s", e->host);
        if (ch.scheme == AUTH_SCHEME_BEARER)
                rc = fetch_token(c, h, e, &ch, &a, err);
        else if (e->origin && c->user)
                rc = (a = basic_header(c->user, c->pass)) ? 0 : pxe_set(err, ENOMEM, "Out of memory");
        else
                rc = pxe_set(err, EACCES, "%s requires authentication (Basic) and no credentials were given%s", e->host,
                             e->origin ? "" : " (credentials are only sent to the registry itself, not to mirrors)");
        auth_challenge_done(&ch);
        if (rc < 0)
                return rc;
        endpoint_set_auth(e, a);
        return 0;
}

/* One request to an endpoint, answering one 401 challenge. */
static int ep_request(struct registry_client *c, struct registry_conn *h, struct endpoint *e, struct http_request *r,
                      struct http_response *resp, struct pxe **err)
{
        for (int attempt = 0;; attempt++) {
                _cleanup_free_ char *a = endpoint_get_auth(c, e);
                int rc;

                r->authorization = a;
                r->allow_http = e->allow_http;
                r->skip_verify = e->skip_verify;
                r->ca_file = e->ca_file;
                rc = http_do(h, r, resp, err);
                r->authorization = NULL;
                if (a)
                        explicit_bzero(a, strlen(a));
                if (rc < 0 || resp->status != 401 || attempt > 0)
                        return rc;
                rc = authenticate(c, h, e, resp->www_authenticate, err);
                if (rc < 0)
                        return rc;
                http_response_done(resp);
                if (r->sink && r->sink->offset != r->range_from)
                        r->range_from = r->sink->offset;
        }
}

static int status_error(const struct endpoint *e, const char *what, const struct http_response *resp, struct pxe **err)
{
        switch (resp->status) {
        case 401:
        case 403:
                return pxe_set(err, EACCES, "%s: %s: access denied (HTTP %ld)", e->host, what, resp->status);
        case 404:
                return pxe_set(err, ENOENT, "%s: %s: not found", e->host, what);
        default:
                return pxe_set(err, EPROTO, "%s: %s: unexpected answer HTTP %ld", e->host, what, resp->status);
        }
}

/* The last endpoint's error decides the code; earlier (mirror) errors are
 * kept in the message so a failing mirror is not silent. */
static void keep_error(struct pxe **last, struct pxe *e)
{
        char *msg = NULL;

        if (*last && e && asprintf(&msg, "%s (before: %s)", e->msg, (*last)->msg) >= 0) {
                free(e->msg);
                e->msg = msg;
        }
        pxe_free(*last);
        *last = e;
}

static int check_manifest(const char *ref, struct http_response *resp, struct registry_manifest *m, struct pxe **err)
{
        char got[DIGEST_STR_LEN + 1];

        if (digest_buffer(resp->body ? resp->body : "", resp->len, got) < 0)
                return pxe_set(err, EIO, "Hashing manifest %s", ref);
        if (digest_is_valid(ref) && !streq(ref, got))
                return pxe_set(err, EBADMSG, "Manifest %s failed verification: its content hashes to %s", ref, got);
        if (resp->docker_digest && digest_is_valid(resp->docker_digest) && !streq(resp->docker_digest, got))
                return pxe_set(err, EBADMSG, "Manifest %s: Docker-Content-Digest %s does not match its content (%s)",
                               ref, resp->docker_digest, got);
        m->data = resp->body ? resp->body : strdup("");
        m->len = resp->len;
        m->content_type = resp->content_type;
        m->digest = strdup(got);
        resp->body = resp->content_type = NULL;
        if (!m->data || !m->digest)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

static int manifest_from(struct registry_client *c, struct registry_conn *h, struct endpoint *e, const char *ref,
                         struct registry_manifest *ret, struct pxe **err)
{
        _cleanup_free_ char *url = NULL, *what = NULL;
        struct http_request r = { .accept = MANIFEST_ACCEPT, .max_body = MANIFEST_MAX_SIZE };
        struct http_response resp;
        int rc;

        if (asprintf(&url, "%s/v2/%s/manifests/%s", e->base, c->repo, ref) < 0 ||
            asprintf(&what, "manifest %s:%s", c->repo, ref) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        r.url = url;
        rc = ep_request(c, h, e, &r, &resp, err);
        if (rc == 0 && resp.status != 200)
                rc = status_error(e, what, &resp, err);
        if (rc == 0)
                rc = check_manifest(ref, &resp, ret, err);
        http_response_done(&resp);
        return rc;
}

static int head_from(struct registry_client *c, struct registry_conn *h, struct endpoint *e, const char *ref,
                     char **ret, struct pxe **err)
{
        _cleanup_free_ char *url = NULL;
        struct http_request r = { .method = "HEAD", .accept = MANIFEST_ACCEPT };
        struct http_response resp;
        int rc;

        if (asprintf(&url, "%s/v2/%s/manifests/%s", e->base, c->repo, ref) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        r.url = url;
        rc = ep_request(c, h, e, &r, &resp, err);
        if (rc == 0 && resp.status != 200)
                rc = status_error(e, "manifest", &resp, err);
        if (rc == 0 && !digest_is_valid(resp.docker_digest))
                rc = pxe_set(err, EPROTO, "%s: no Docker-Content-Digest in the answer", e->host);
        if (rc == 0)
                *ret = TAKE_PTR(resp.docker_digest);
        http_response_done(&resp);
        return rc;
}

int registry_head_manifest(struct registry_client *c, struct registry_conn *h, const char *ref, char **ret,
                           struct pxe **err)
{
        struct pxe *last = NULL;

        for (size_t i = 0; i < c->n_eps; i++) {
                struct pxe *e = NULL;

                if (head_from(c, h, &c->eps[i], ref, ret, &e) == 0) {
                        pxe_free(last);
                        c->preferred = i;
                        return 0;
                }
                keep_error(&last, e);
        }
        pxe_set(err, last ? last->code : EIO, "%s", last ? last->msg : "No registry endpoint");
        pxe_free(last);
        return -pxe_code(err, EIO);
}

int registry_get_manifest(struct registry_client *c, struct registry_conn *h, const char *ref,
                          struct registry_manifest *ret, struct pxe **err)
{
        struct pxe *last = NULL;

        for (size_t i = 0; i < c->n_eps; i++) {
                struct registry_manifest m = { 0 };
                struct pxe *e = NULL;

                if (manifest_from(c, h, &c->eps[i], ref, &m, &e) == 0) {
                        pxe_free(last);
                        c->preferred = i;
                        *ret = m;
                        return 0;
                }
                registry_manifest_done(&m);
                keep_error(&last, e);
        }
        pxe_set(err, last ? last->code : EIO, "%s", last ? last->msg : "No registry endpoint");
        pxe_free(last);
        return -pxe_code(err, EIO);
}

void registry_manifest_done(struct registry_manifest *m)
{
        if (!m)
                return;
        free(m->data);
        free(m->content_type);
        free(m->digest);
        *m = (struct registry_manifest) { 0 };
}

static int blob_from(struct registry_client *c, struct registry_conn *h, struct endpoint *e, const char *digest,
                     struct blob_ingest *in, struct pxe **err)
{
        _cleanup_free_ char *url = NULL, *what = NULL;
        struct http_request r = { .sink = in };
        struct http_response resp;
        int rc;

        if (asprintf(&url, "%s/v2/%s/blobs/%s", e->base, c->repo, digest) < 0 ||
            asprintf(&what, "blob %s", digest) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        r.url = url;
        for (int attempt = 0; attempt < 2; attempt++) {
                r.range_from = in->offset;
                rc = ep_request(c, h, e, &r, &resp, err);
                if (rc == 0 && resp.status == 416 && in->offset > 0 && in->offset == in->expected_size) {
                        http_response_done(&resp);
                        return 0; /* we already have every byte */
                }
                if (rc == 0 && resp.status == 416 && attempt == 0) {
                        http_response_done(&resp);
                        if (blobstore_ingest_reset(in, err) < 0)
                                return -pxe_code(err, EIO);
                        continue;
                }
                break;
        }
        if (rc == 0 && resp.status != 200 && resp.status != 206)
                rc = status_error(e, what, &resp, err);
        http_response_done(&resp);
        return rc;
}

int registry_fetch_blob(struct registry_client *c, struct registry_conn *h, const char *digest,
                        struct blob_ingest *in, struct pxe **err)
{
        struct pxe *last = NULL;

        for (size_t k = 0; k < c->n_eps; k++) {
                /* The endpoint that served the manifest first, then the rest in order. */
                size_t i = k == 0 ? c->preferred : (k <= c->preferred ? k - 1 : k);
                struct pxe *e = NULL;

                if (blob_from(c, h, &c->eps[i], digest, in, &e) == 0) {
                        pxe_free(last);
                        return 0;
                }
                keep_error(&last, e);
                if (last && (last->code == EFBIG || last->code == ENOSPC || last->code == EIO))
                        break; /* our side failed: another endpoint will not help */
        }
        pxe_set(err, last ? last->code : EIO, "%s", last ? last->msg : "No registry endpoint");
        pxe_free(last);
        return -pxe_code(err, EIO);
}
