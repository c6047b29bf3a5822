/* protobuf-c helpers: deep copies, base64 for the state database, labels. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cri.h"
#include "util/cleanup.h"

void *cri_msg_dup(const ProtobufCMessage *m)
{
        size_t len = protobuf_c_message_get_packed_size(m);
        _cleanup_free_ uint8_t *buf = malloc(len ? len : 1);

        if (!buf)
                return NULL;
        protobuf_c_message_pack(m, buf);
        return protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const uint8_t *in, size_t len)
{
        char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t) in[i] << 16;

                if (i + 1 < len)
                        v |= (uint32_t) in[i + 1] << 8;
                if (i + 2 < len)
                        v |= in[i + 2];
                *o++ = b64chars[(v >> 18) & 63];
                *o++ = b64chars[(v >> 12) & 63];
                *o++ = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
                *o++ = i + 2 < len ? b64chars[v & 63] : '=';
        }
        *o = '\0';
        return out;
}

static int b64_value(char ch)
{
        const char *p = ch ? strchr(b64chars, ch) : NULL;

        return p ? (int) (p - b64chars) : -1;
}

static uint8_t *b64_decode(const char *in, size_t *ret_len)
{
        size_t n = strlen(in), o = 0;
        uint8_t *out;

        if (n % 4)
                return NULL;
        out = malloc(n / 4 * 3 + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i += 4) {
                int a = b64_value(in[i]), b = b64_value(in[i + 1]);
                int c = in[i + 2] == '=' ? 0 : b64_value(in[i + 2]);
                int d = in[i + 3] == '=' ? 0 : b64_value(in[i + 3]);
                uint32_t v;

                if (a < 0 || b < 0 || c < 0 || d < 0) {
                        free(out);
                        return NULL;
                }
                v = (uint32_t) a << 18 | (uint32_t) b << 12 | (uint32_t) c << 6 | (uint32_t) d;
                out[o++] = (uint8_t) (v >> 16);
                if (in[i + 2] != '=')
                        out[o++] = (uint8_t) (v >> 8);
                if (in[i + 3] != '=')
                        out[o++] = (uint8_t) v;
        }
        *ret_len = o;
        return out;
}

char *cri_msg_to_b64(const ProtobufCMessage *m)
{
        size_t len = protobuf_c_message_get_packed_size(m);
        _cleanup_free_ uint8_t *buf = malloc(len ? len : 1);

        if (!buf)
                return NULL;
        protobuf_c_message_pack(m, buf);
        return b64_encode(buf, len);
}

void *cri_msg_from_b64(const ProtobufCMessageDescriptor *d, const char *b64)
{
        size_t len = 0;
        _cleanup_free_ uint8_t *buf = b64 ? b64_decode(b64, &len) : NULL;

        if (!buf)
                return NULL;
        return protobuf_c_message_unpack(d, NULL, len, buf);
}

bool cri_labels_match(struct cri_kv *const *have, size_t n_have, struct cri_kv *const *want, size_t n_want)
{
        for (size_t i = 0; i < n_want; i++) {
                bool found = false;

                for (size_t j = 0; j < n_have && !found; j++)
                        found = strcmp(have[j]->key, want[i]->key) == 0 && strcmp(have[j]->value, want[i]->value) == 0;
                if (!found)
                        return false;
        }
        return true;
}
