#include "image/auth.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"

#define AUTH_PARAM_MAX 4096

static bool set(const char *s)
{
        return s && *s;
}

bool auth_is_empty(const struct image_auth *a)
{
        return !a || !(set(a->username) || set(a->password) || set(a->auth) || set(a->identity_token) ||
                       set(a->registry_token));
}

void auth_challenge_done(struct auth_challenge *c)
{
        if (!c)
                return;
        free(c->realm);
        free(c->service);
        free(c->scope);
        *c = (struct auth_challenge) { .scheme = AUTH_SCHEME_INVALID };
}

static const char *skip_ws(const char *p)
{
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

static bool is_token_char(char c)
{
        return c && (isalnum((unsigned char) c) || strchr("!#$%&'*+-.^_`|~/:", c));
}

/* token68 / token value or quoted-string; returns malloc'ed value, advances *pp. */
static char *read_value(const char **pp)
{
        const char *p = *pp;
        char *out, *o;

        if (*p != '"') {
                const char *s = p;

                while (is_token_char(*p) || *p == '=')
                        p++;
                *pp = p;
                return strndup(s, (size_t) (p - s));
        }
        out = o = malloc(strlen(p) + 1);
        if (!out)
                return NULL;
        for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                        p++;
                *o++ = *p;
        }
        *o = '\0';
        if (*p != '"') {
                free(out);
                return NULL;
        }
        *pp = p + 1;
        return out;
}

/* One challenge: scheme, then name=value pairs separated by commas.  Stops
 * at the start of the next challenge (a token not followed by '='). */
static const char *parse_one(const char *p, struct auth_challenge *c)
{
        const char *s = p;

        while (is_token_char(*p))
                p++;
        if (p - s == 6 && strncasecmp(s, "Bearer", 6) == 0)
                c->scheme = AUTH_SCHEME_BEARER;
        else if (p - s == 5 && strncasecmp(s, "Basic", 5) == 0)
                c->scheme = AUTH_SCHEME_BASIC;
        else
                c->scheme = AUTH_SCHEME_INVALID;
        for (;;) {
                const char *name, *q;
                size_t nlen;
                char *v, **dst = NULL;

                p = skip_ws(p);
                while (*p == ',' || *p == ' ')
                        p++;
                name = p;
                while (is_token_char(*p) && *p != '/' && *p != ':')
                        p++;
                nlen = (size_t) (p - name);
                q = skip_ws(p);
                if (nlen == 0 || *q != '=')
                        return name; /* next challenge or end */
                p = skip_ws(q + 1);
                v = read_value(&p);
                if (!v)
                        return NULL;
                if (nlen == 5 && strncasecmp(name, "realm", 5) == 0)
                        dst = &c->realm;
                else if (nlen == 7 && strncasecmp(name, "service", 7) == 0)
                        dst = &c->service;
                else if (nlen == 5 && strncasecmp(name, "scope", 5) == 0)
                        dst = &c->scope;
                if (dst && !*dst && strlen(v) <= AUTH_PARAM_MAX)
                        *dst = v;
                else
                        free(v);
        }
}

int auth_challenge_parse(const char *value, struct auth_challenge *ret, struct pxe **err)
{
        struct auth_challenge basic = { .scheme = AUTH_SCHEME_INVALID };
        const char *p = value ? skip_ws(value) : NULL;

        while (p && *p) {
                struct auth_challenge c = { .scheme = AUTH_SCHEME_INVALID };
                const char *next = parse_one(p, &c);

                if (c.scheme == AUTH_SCHEME_BEARER && c.realm) {
                        auth_challenge_done(&basic);
                        *ret = c;
                        return 0;
                }
                if (c.scheme == AUTH_SCHEME_BASIC && basic.scheme == AUTH_SCHEME_INVALID)
                        basic = c;
                else
                        auth_challenge_done(&c);
                if (!next || next == p)
                        break;
                p = skip_ws(next);
        }
        if (basic.scheme == AUTH_SCHEME_BASIC) {
                *ret = basic;
                return 0;
        }
        return pxe_set(err, EPROTO, "Unsupported authentication challenge \"%.200s\"", value ? value : "");
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *auth_base64_encode(const void *data, size_t len)
{
        const unsigned char *in = data;
        char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i += 3) {
                unsigned v = (unsigned) in[i] << 16 | (i + 1 < len ? (unsigned) in[i + 1] << 8 : 0) |
                             (i + 2 < len ? in[i + 2] : 0);

                *o++ = b64[(v >> 18) & 63];
                *o++ = b64[(v >> 12) & 63];
                *o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
                *o++ = i + 2 < len ? b64[v & 63] : '=';
        }
        *o = '\0';
        return out;
}

int auth_base64_decode(const char *in, char **ret, size_t *ret_len)
{
        size_t n = strlen(in), len = 0;
        unsigned acc = 0;
        int bits = 0;
        char *out = malloc(n / 4 * 3 + 4);

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *pos;

                if (in[i] == '=') {
                        for (size_t j = i; j < n; j++)
                                if (in[j] != '=')
                                        goto bad;
                        break;
                }
                pos = strchr(b64, in[i]);
                if (!pos || !in[i])
                        goto bad;
                acc = acc << 6 | (unsigned) (pos - b64);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[len++] = (char) ((acc >> bits) & 0xff);
                }
        }
        out[len] = '\0';
        *ret = out;
        if (ret_len)
                *ret_len = len;
        return 0;
bad:
        free(out);
        return -EINVAL;
}

int auth_basic_credentials(const struct image_auth *a, char **ret_user, char **ret_pass, struct pxe **err)
{
        _cleanup_free_ char *dec = NULL;
        char *colon;

        if (!a)
                return 0;
        if (set(a->username)) {
                *ret_user = strdup(a->username);
                *ret_pass = strdup(a->password ? a->password : "");
                goto out;
        }
        if (!set(a->auth))
                return 0;
        if (auth_base64_decode(a->auth, &dec, NULL) < 0 || !(colon = strchr(dec, ':')))
                return pxe_set(err, EINVAL, "Invalid credentials: \"auth\" is not base64 of \"username:password\"");
        *ret_user = strndup(dec, (size_t) (colon - dec));
        *ret_pass = strdup(colon + 1);
        explicit_bzero(dec, strlen(dec));
out:
        if (!*ret_user || !*ret_pass) {
                free(*ret_user);
                free(*ret_pass);
                *ret_user = *ret_pass = NULL;
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        return 1;
}

int auth_token_from_json(const char *body, size_t len, char **ret, struct pxe **err)
{
        json_t *root = json_loadb(body, len, 0, NULL), *t;
        const char *s = NULL;

        if (!root)
                return pxe_set(err, EPROTO, "Token server answered with something that is not JSON");
        t = json_object_get(root, "token");
        if (!json_is_string(t) || !*json_string_value(t))
                t = json_object_get(root, "access_token");
        if (json_is_string(t))
                s = json_string_value(t);
        if (!s || !*s) {
                json_decref(root);
                return pxe_set(err, EPROTO, "Token server answer has no \"token\" nor \"access_token\"");
        }
        *ret = strdup(s);
        json_decref(root);
        return *ret ? 0 : pxe_set(err, ENOMEM, "Out of memory");
}

static void secret_free(char *p)
{
        if (p) {
                explicit_bzero(p, strlen(p));
                free(p);
        }
}

void image_auth_done(struct image_auth *a)
{
        free(a->username);
        secret_free(a->password);
        secret_free(a->auth);
        free(a->server_address);
        secret_free(a->identity_token);
        secret_free(a->registry_token);
        memset(a, 0, sizeof(*a));
}
