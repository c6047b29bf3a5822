/* libFuzzer target: WWW-Authenticate challenges and the base64 of `auth`.
 * Invariants: no crash or leak; a Bearer challenge that parses has a realm;
 * base64 decode(encode(x)) == x. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const uint8_t *data, size_t size)
{
        char *enc = auth_base64_encode(data, size), *dec = NULL;
        size_t n = 0;

        if (!enc)
                return;
        if (auth_base64_decode(enc, &dec, &n) != 0 || n != size || memcmp(dec, data, size) != 0)
                abort();
        free(dec);
        free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1), *dec = NULL;
        struct auth_challenge c;
        struct pxe *e = NULL;

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        if (auth_challenge_parse(s, &c, &e) == 0) {
                if (c.scheme == AUTH_SCHEME_BEARER && !c.realm)
                        abort();
                auth_challenge_done(&c);
        }
        pxe_free(e);
        if (auth_base64_decode(s, &dec, NULL) == 0)
                free(dec);
        roundtrip(data, size);
        free(s);
        return 0;
}
