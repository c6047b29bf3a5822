/* Registry credentials and authentication challenges.
 *
 * struct image_auth has the fields of CRI's AuthConfig, so the CRI server can
 * pass kubelet's credentials through unchanged.  Any field may be NULL.
 * Precedence: registry_token (sent as Bearer as is) > identity_token (OAuth2
 * refresh token, exchanged at the Bearer realm with POST) > username/password >
 * auth (base64 "user:pass").  Secrets are never logged nor put in errors.
 */
#pragma once

#include <stdbool.h>

#include "util/err.h"

struct image_auth {
        char *username;
        char *password;
        char *auth;           /* base64("username:password") */
        char *server_address; /* informational: the registry the credentials are for */
        char *identity_token; /* OAuth2 refresh token */
        char *registry_token; /* Bearer token to send as is */
};

enum auth_scheme {
        AUTH_SCHEME_BASIC,
        AUTH_SCHEME_BEARER,
        AUTH_SCHEME_MAX,
        AUTH_SCHEME_INVALID = -1,
};

/* A parsed WWW-Authenticate challenge. */
struct auth_challenge {
        enum auth_scheme scheme;
        char *realm;
        char *service; /* Bearer only; may be NULL */
        char *scope;   /* Bearer only; may be NULL */
};

/* Parse a WWW-Authenticate header value (without the header name), e.g.
 *   Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"
 *   Basic realm="Registry Realm"
 * Quoted strings with backslash escapes and bare tokens are accepted; parameter
 * names are case-insensitive.  When the value lists several challenges, the
 * first Bearer one wins, else the first Basic one.  -EINVAL when none is usable
 * (e.g. Bearer without realm). */
int auth_challenge_parse(const char *value, struct auth_challenge *ret, struct pxe **err);
void auth_challenge_done(struct auth_challenge *c);

/* The username and password from auth (username/password fields, or decoded
 * `auth`).  Returns 1 and sets both (malloc'ed), 0 when there are none, or a
 * negative errno when `auth` is malformed. */
int auth_basic_credentials(const struct image_auth *a, char **ret_user, char **ret_pass, struct pxe **err);

/* Whether a carries anything at all. */
bool auth_is_empty(const struct image_auth *a);

/* Free every field, the secrets wiped first (explicit_bzero); a stays valid (zeroed). */
void image_auth_done(struct image_auth *a);

/* The token (or access_token) field of a token endpoint's JSON answer, malloc'ed. */
int auth_token_from_json(const char *body, size_t len, char **ret, struct pxe **err);

/* Base64 encode/decode (standard alphabet, padding).  Decoded output is NUL-terminated. */
char *auth_base64_encode(const void *data, size_t len);
int auth_base64_decode(const char *in, char **ret, size_t *ret_len);
