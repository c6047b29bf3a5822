/* WebSocket handshake and channel-protocol helpers: no I/O (see ws.h). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "stream/ws.h"
#include "util/cleanup.h"

int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
        _cleanup_free_ char *buf = NULL;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        size_t n;

        n = strlen(key) + strlen(WS_GUID);
        buf = malloc(n + 1);
        if (!buf)
                return -ENOMEM;
        strcpy(buf, key);
        strcat(buf, WS_GUID);
        if (!EVP_Digest(buf, n, md, &md_len, EVP_sha1(), NULL) || md_len != 20)
                return -EIO;
        if (EVP_EncodeBlock((unsigned char *) out, md, (int) md_len) != WS_ACCEPT_LEN)
                return -EIO;
        return 0;
}

static bool b64_char(uint8_t c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

ssize_t ws_base64_decode(const uint8_t *in, size_t n, uint8_t *out)
{
        size_t pad = 0;
        int r;

        if (n % 4 != 0 || n > INT_MAX)
                return -EINVAL;
        if (n == 0)
                return 0;
        while (pad < 2 && in[n - 1 - pad] == '=')
                pad++;
        for (size_t i = 0; i < n - pad; i++)
                if (!b64_char(in[i]))
                        return -EINVAL;
        r = EVP_DecodeBlock(out, in, (int) n);
        if (r < 0 || (size_t) r != n / 4 * 3)
                return -EINVAL;
        return (ssize_t) (n / 4 * 3 - pad);
}

bool ws_key_valid(const char *key)
{
        uint8_t raw[24 / 4 * 3];

        if (strlen(key) != 24)
                return false;
        return ws_base64_decode((const uint8_t *) key, 24, raw) == 16;
}

/* Call fn on every comma-separated, whitespace-trimmed, non-empty token of
 * values (a value may hold a list even when the HTTP parser split some);
 * stop at the first fn that returns true. */
static bool tokens_any(char *const *values, bool (*fn)(const char *tok, size_t len, const void *arg),
                       const void *arg)
{
        for (size_t i = 0; values && values[i]; i++) {
                const char *p = values[i];

                while (*p) {
                        const char *end;
                        size_t len;

                        while (*p == ' ' || *p == '\t')
                                p++;
                        end = strchrnul(p, ',');
                        len = (size_t) (end - p);
                        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
                                len--;
                        if (len && fn(p, len, arg))
                                return true;
                        p = *end ? end + 1 : end;
                }
        }
        return false;
}

static bool tok_equal_icase(const char *tok, size_t len, const void *arg)
{
        const char *want = arg;

        return len == strlen(want) && strncasecmp(tok, want, len) == 0;
}

static bool tok_equal(const char *tok, size_t len, const void *arg)
{
        const char *want = arg;

        return len == strlen(want) && memcmp(tok, want, len) == 0;
}

static bool tok_any(const char *tok, size_t len, const void *arg)
{
        return true;
}

bool ws_has_token(char *const *values, const char *token)
{
        return tokens_any(values, tok_equal_icase, token);
}

/* In the server's order of preference; the last entry of each is what a
 * client that names no subprotocol gets (kubelet: binary, v1 or v4 framing). */
static const struct ws_proto remotecommand_protos[] = {
        { "v5.channel.k8s.io", SPROTO_V5, false },
        { "v4.channel.k8s.io", SPROTO_V4, false },
        { "v4.base64.channel.k8s.io", SPROTO_V4, true },
        { "v3.channel.k8s.io", SPROTO_V3, false },
        { "v2.channel.k8s.io", SPROTO_V2, false },
        { "channel.k8s.io", SPROTO_V1, false },
        { "base64.channel.k8s.io", SPROTO_V1, true },
        { NULL, SPROTO_V1, false },
};

static const struct ws_proto portforward_protos[] = {
        { "v4.channel.k8s.io", SPROTO_PORTFORWARD, false },
        { "v4.base64.channel.k8s.io", SPROTO_PORTFORWARD, true },
        { NULL, SPROTO_PORTFORWARD, false },
};

int ws_choose_proto(enum stream_kind k, char *const *offered, const struct ws_proto **ret)
{
        const struct ws_proto *t = k == STREAM_PORTFORWARD ? portforward_protos : remotecommand_protos;

        if (!tokens_any(offered, tok_any, NULL)) {
                while (t->name)
                        t++;
                *ret = t;
                return 0;
        }
        for (; t->name; t++)
                if (tokens_any(offered, tok_equal, t->name)) {
                        *ret = t;
                        return 0;
                }
        return -ENOPROTOOPT;
}

const char *ws_supported_protos(enum stream_kind k)
{
        if (k == STREAM_PORTFORWARD)
                return "v4.channel.k8s.io, v4.base64.channel.k8s.io";
        return "v5.channel.k8s.io, v4.channel.k8s.io, v4.base64.channel.k8s.io, v3.channel.k8s.io, "
               "v2.channel.k8s.io, channel.k8s.io, base64.channel.k8s.io";
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* URL query unescaping: "+" is a space, %XX a byte (%00 refused). */
static int query_unescape(const char *s, size_t n, char **ret)
{
        char *out = malloc(n + 1), *o = out;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '+') {
                        *o++ = ' ';
                } else if (s[i] != '%') {
                        *o++ = s[i];
                } else {
                        int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
                        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;

                        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                                free(out);
                                return -EINVAL;
                        }
                        *o++ = (char) (hi << 4 | lo);
                        i += 2;
                }
        }
        *o = '\0';
        *ret = out;
        return 0;
}

/* A strict port: decimal digits only, 1..65535. */
static int port_parse(const char *s, size_t n, unsigned *ret)
{
        unsigned long v = 0;

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned long) (s[i] - '0');
                if (v > 65535)
                        return -EINVAL;
        }
        if (v == 0)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

/* Append the comma-separated ports of one `port` value. */
static int ports_add(const char *value, unsigned *ports, size_t *n, struct pxe **err)
{
        const char *p = value;

        if (!*value)
                return pxe_set(err, EINVAL, "Query parameter \"port\" cannot be empty");
        for (;;) {
                const char *end = strchrnul(p, ',');
                unsigned port;

                if (port_parse(p, (size_t) (end - p), &port) < 0)
                        return pxe_set(err, EINVAL, "Port \"%.*s\" in \"%s\" is not a number from 1 to 65535",
                                       (int) (end - p), p, value);
                if (*n == WS_PORTS_MAX)
                        return pxe_set(err, EINVAL, "More than %d ports", WS_PORTS_MAX);
                ports[(*n)++] = port;
                if (!*end)
                        return 0;
                p = end + 1;
        }
}

int ws_parse_ports(const char *query, unsigned **ret, size_t *n_ret, struct pxe **err)
{
        _cleanup_free_ unsigned *ports = NULL;
        const char *p = query;
        size_t n = 0;
        int r;

        if (p && *p == '?')
                p++;
        while (p && *p) {
                const char *end = strchrnul(p, '&');
                const char *eq = memchr(p, '=', (size_t) (end - p));
                _cleanup_free_ char *key = NULL, *value = NULL;

                if (end == p) {
                        p++;
                        continue;
                }
                r = query_unescape(p, (size_t) ((eq ? eq : end) - p), &key);
                if (r == 0 && streq(key, "port"))
                        r = eq ? query_unescape(eq + 1, (size_t) (end - eq - 1), &value)
                               : query_unescape("", 0, &value);
                if (r == -ENOMEM)
                        return pxe_set(err, ENOMEM, "Parsing the URL query");
                if (r < 0)
                        return pxe_set(err, EINVAL, "Malformed URL query \"%.*s\"", (int) (end - p), p);
                if (value) {
                        if (!ports && !(ports = calloc(WS_PORTS_MAX, sizeof(*ports))))
                                return pxe_set(err, ENOMEM, "Parsing the URL query");
                        r = ports_add(value, ports, &n, err);
                        if (r < 0)
                                return r;
                }
                p = *end ? end + 1 : end;
        }
        *ret = n ? TAKE_PTR(ports) : NULL;
        *n_ret = n;
        return 0;
}
