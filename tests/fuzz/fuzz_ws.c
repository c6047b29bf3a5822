/* libFuzzer target: what a WebSocket client controls before and around the
 * handshake (src/stream/ws.c): the URL query's port list, base64 payloads,
 * Sec-WebSocket-Key, and the Sec-WebSocket-Protocol / Connection lists.
 * Invariants: no crash or leak; ports come back as 1..WS_PORTS_MAX values
 * of 1..65535 (NULL when none) or a refusal with a message and the outputs
 * untouched; decoded base64 fits the bound and encodes back to bytes that
 * decode to the same; a chosen subprotocol is one the client named. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "stream/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_ports(const char *query)
{
        unsigned sentinel, *ports = &sentinel;
        struct pxe *err = NULL;
        size_t n = 12345;
        int r;

        r = ws_parse_ports(query, &ports, &n, &err);
        if (r < 0) {
                if ((r != -EINVAL && r != -ENOMEM) || !err || !err->msg || ports != &sentinel || n != 12345)
                        abort();
                pxe_free(err);
                return;
        }
        if (err || n > WS_PORTS_MAX || (n == 0) != (ports == NULL))
                abort();
        for (size_t i = 0; i < n; i++)
                if (ports[i] < 1 || ports[i] > 65535)
                        abort();
        free(ports);
}

static void check_base64(const uint8_t *data, size_t size)
{
        uint8_t *out = malloc(size / 4 * 3 + 1), *enc, *back;
        ssize_t n;

        if (!out)
                return;
        n = ws_base64_decode(data, size, out);
        if (n < 0) {
                if (n != -EINVAL)
                        abort();
                free(out);
                return;
        }
        if ((size_t) n > size / 4 * 3)
                abort();
        enc = malloc(((size_t) n + 2) / 3 * 4 + 1);
        back = malloc((size_t) n + 3);
        if (enc && back) {
                int e = EVP_EncodeBlock(enc, out, (int) n);

                if (ws_base64_decode(enc, (size_t) e, back) != n || memcmp(back, out, (size_t) n) != 0)
                        abort();
        }
        free(enc);
        free(back);
        free(out);
}

/* The input as header values: split at NUL bytes. */
static void check_lists(const char *text, size_t size)
{
        char *values[17];
        size_t n = 0;
        const struct ws_proto *p = NULL;

        for (size_t off = 0; off <= size && n < 16; off += strlen(text + off) + 1)
                values[n++] = (char *) text + off;
        values[n] = NULL;
        (void) ws_has_token(values, "upgrade");
        for (enum stream_kind k = STREAM_EXEC; k <= STREAM_PORTFORWARD; k++) {
                int r = ws_choose_proto(k, values, &p);

                if (r != 0 && r != -ENOPROTOOPT)
                        abort();
                if (r == 0 && p->name && !ws_has_token(values, p->name))
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = malloc(size + 1);

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        check_ports(text);
        check_base64(data, size);
        (void) ws_key_valid(text);
        check_lists(text, size);
        free(text);
        return 0;
}
