/* gRPC status codes, errno mapping, and the small parsers of the wire format
 * that need no connection: grpc-timeout, grpc-message encoding, the 5-byte
 * message prefix. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_private.h"
#include "util/cleanup.h"

static const char *const code_names[] = {
        [RPC_OK] = "OK",
        [RPC_CANCELLED] = "CANCELLED",
        [RPC_UNKNOWN] = "UNKNOWN",
        [RPC_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
        [RPC_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
        [RPC_NOT_FOUND] = "NOT_FOUND",
        [RPC_ALREADY_EXISTS] = "ALREADY_EXISTS",
        [RPC_PERMISSION_DENIED] = "PERMISSION_DENIED",
        [RPC_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
        [RPC_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
        [RPC_ABORTED] = "ABORTED",
        [RPC_OUT_OF_RANGE] = "OUT_OF_RANGE",
        [RPC_UNIMPLEMENTED] = "UNIMPLEMENTED",
        [RPC_INTERNAL] = "INTERNAL",
        [RPC_UNAVAILABLE] = "UNAVAILABLE",
        [RPC_DATA_LOSS] = "DATA_LOSS",
        [RPC_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *rpc_code_name(enum rpc_code code)
{
        if ((unsigned) code >= ARRAY_SIZE(code_names))
                return "UNKNOWN";
        return code_names[code];
}

/* The one table from pxcri's errno-like codes to gRPC statuses. */
static const struct {
        int err;
        enum rpc_code code;
} errno_map[] = {
        { ENOENT, RPC_NOT_FOUND },
        { ESRCH, RPC_NOT_FOUND },
        { EINVAL, RPC_INVALID_ARGUMENT },
        { EBADMSG, RPC_INVALID_ARGUMENT },
        { ENAMETOOLONG, RPC_INVALID_ARGUMENT },
        { EEXIST, RPC_ALREADY_EXISTS },
        { ETIMEDOUT, RPC_DEADLINE_EXCEEDED },
        { ENOSYS, RPC_UNIMPLEMENTED },
        { EOPNOTSUPP, RPC_UNIMPLEMENTED },
        { EBUSY, RPC_FAILED_PRECONDITION },
        { EAGAIN, RPC_FAILED_PRECONDITION },
        { ENOTEMPTY, RPC_FAILED_PRECONDITION },
        { ENOTDIR, RPC_FAILED_PRECONDITION }, /* a path that must be a directory is a file */
        { EPERM, RPC_PERMISSION_DENIED },
        { EACCES, RPC_PERMISSION_DENIED },
        { ENOMEM, RPC_RESOURCE_EXHAUSTED },
        { ENOSPC, RPC_RESOURCE_EXHAUSTED },
        { EMSGSIZE, RPC_RESOURCE_EXHAUSTED },
        { ECANCELED, RPC_CANCELLED },
        { ERANGE, RPC_OUT_OF_RANGE },
        { ECONNREFUSED, RPC_UNAVAILABLE },
        { EHOSTUNREACH, RPC_UNAVAILABLE },
        { ENETUNREACH, RPC_UNAVAILABLE },
        { ECONNRESET, RPC_UNAVAILABLE }, /* a registry dropping the connection: worth a retry */
        { ECONNABORTED, RPC_UNAVAILABLE },
        { EIO, RPC_INTERNAL },
};

enum rpc_code rpc_code_from_errno(int code)
{
        if (code < 0)
                code = -code;
        if (code == 0)
                return RPC_UNKNOWN;
        for (size_t i = 0; i < ARRAY_SIZE(errno_map); i++)
                if (errno_map[i].err == code)
                        return errno_map[i].code;
        return RPC_INTERNAL;
}

int rpc_timeout_parse(const char *v, size_t len, uint64_t *ret_ms)
{
        uint64_t n = 0, ms;

        /* "TimeoutValue → {positive integer as ASCII string of at most 8 digits}" */
        if (len < 2 || len > 9)
                return -EINVAL;
        for (size_t i = 0; i + 1 < len; i++) {
                if (v[i] < '0' || v[i] > '9')
                        return -EINVAL;
                n = n * 10 + (uint64_t) (v[i] - '0');
        }
        switch (v[len - 1]) {
        case 'H': ms = n * 3600 * 1000; break;
        case 'M': ms = n * 60 * 1000; break;
        case 'S': ms = n * 1000; break;
        case 'm': ms = n; break;
        case 'u': ms = (n + 999) / 1000; break;
        case 'n': ms = (n + 999999) / 1000000; break;
        default: return -EINVAL;
        }
        /* A zero timeout has already expired: answer as soon as the loop runs. */
        *ret_ms = ms ? ms : 1;
        return 0;
}

static bool needs_escape(unsigned char ch)
{
        return ch < 0x20 || ch > 0x7e || ch == '%';
}

char *rpc_percent_encode(const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t n = 0;
        char *out, *p;

        for (const unsigned char *q = (const unsigned char *) s; *q; q++)
                n += needs_escape(*q) ? 3 : 1;
        out = malloc(n + 1);
        if (!out)
                return NULL;
        p = out;
        for (const unsigned char *q = (const unsigned char *) s; *q; q++) {
                if (needs_escape(*q)) {
                        *p++ = '%';
                        *p++ = hex[*q >> 4];
                        *p++ = hex[*q & 15];
                } else {
                        *p++ = (char) *q;
                }
        }
        *p = '\0';
        return out;
}

int rpc_frame_parse(const uint8_t *buf, size_t len, bool *ret_compressed, uint32_t *ret_len)
{
        if (len < 5)
                return -EAGAIN;
        if (buf[0] > 1)
                return -EINVAL;
        *ret_compressed = buf[0] == 1;
        *ret_len = (uint32_t) buf[1] << 24 | (uint32_t) buf[2] << 16 | (uint32_t) buf[3] << 8 | buf[4];
        return 0;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

uint64_t rpc_median(uint64_t *v, size_t n)
{
        qsort(v, n, sizeof(*v), cmp_u64);
        if (n % 2)
                return v[n / 2];
        return (v[n / 2 - 1] + v[n / 2]) / 2;
}
