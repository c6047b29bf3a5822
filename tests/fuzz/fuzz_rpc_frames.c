/* libFuzzer target: raw bytes from a client into the server side of one
 * pxcrid HTTP/2 connection (src/rpc/ over nghttp2, fed by rpc_fuzz_feed()
 * in src/rpc/rpc_fuzz.c exactly as a socket read feeds it), with handlers
 * that answer at once, fail, stream, or keep the call and answer it later
 * (after the stream was reset or the connection closed, too).
 *
 * Input: byte 0 = read size (0: all at once, else 1..255 bytes per read);
 * bit 0 of byte 1 = send the client preface first (so the fuzzer need not
 * find it); the rest is the client's bytes.
 * Invariants: no crash, leak or hang; every call a handler kept is freed
 * once answered. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cri-api.pb-c.h"
#include "rpc/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int rpc_fuzz_feed(struct rpc_server *s, const uint8_t *data, size_t len, size_t chunk, void (*tick)(void *),
                  void *tick_data);

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define MAX_KEPT 64

static uv_loop_t loop;
static struct rpc_server *srv;
static struct rpc_call *kept[MAX_KEPT];
static size_t n_kept;

static void h_echo(struct rpc_call *c, const ProtobufCMessage *req, void *userdata)
{
        const Runtime__V1__VersionRequest *vr = (const Runtime__V1__VersionRequest *) req;
        Runtime__V1__VersionResponse r = RUNTIME__V1__VERSION_RESPONSE__INIT;

        r.version = vr->version;
        r.runtime_name = "fuzz";
        rpc_call_reply(c, &r.base);
}

static void h_fail(struct rpc_call *c, const ProtobufCMessage *req, void *userdata)
{
        const Runtime__V1__VersionRequest *vr = (const Runtime__V1__VersionRequest *) req;

        /* The client's bytes in grpc-message: percent-encoding must hold. */
        rpc_call_fail(c, RPC_INVALID_ARGUMENT, "Bad version \"%s\"\n%%", vr->version);
}

static void h_stream(struct rpc_call *c, const ProtobufCMessage *req, void *userdata)
{
        Runtime__V1__VersionResponse r = RUNTIME__V1__VERSION_RESPONSE__INIT;

        r.version = "1";
        rpc_call_send(c, &r.base);
        rpc_call_send(c, &r.base);
        rpc_call_finish(c, RPC_OK, NULL);
}

static void on_cancel(struct rpc_call *c, void *data)
{
        (void) c;
        (void) data;
}

static void h_later(struct rpc_call *c, const ProtobufCMessage *req, void *userdata)
{
        if (n_kept == MAX_KEPT) {
                rpc_call_fail(c, RPC_RESOURCE_EXHAUSTED, "Too many");
                return;
        }
        rpc_call_on_cancel(c, on_cancel, NULL);
        kept[n_kept++] = c;
}

/* Answer the calls kept so far: after more input arrived, or after the
 * connection went away (the answer is then dropped). */
static void answer_kept(void *data)
{
        Runtime__V1__VersionResponse r = RUNTIME__V1__VERSION_RESPONSE__INIT;

        (void) data;
        while (n_kept) {
                struct rpc_call *c = kept[--n_kept];

                if (n_kept % 2)
                        rpc_call_reply(c, &r.base);
                else
                        rpc_call_fail(c, RPC_UNAVAILABLE, "Later");
        }
}

static const struct rpc_method methods[] = {
        { "/f.F/Echo", &runtime__v1__version_request__descriptor, h_echo },
        { "/f.F/Fail", &runtime__v1__version_request__descriptor, h_fail },
        { "/f.F/Stream", &runtime__v1__version_request__descriptor, h_stream },
        { "/f.F/Later", &runtime__v1__version_request__descriptor, h_later },
        { "/f.F/Pod", &runtime__v1__run_pod_sandbox_request__descriptor, h_later },
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        /* A small cap, so that RESOURCE_EXHAUSTED is reachable. */
        struct rpc_server_opts o = { .max_message = 4096 };

        if (uv_loop_init(&loop) < 0 || rpc_server_new(&loop, methods, sizeof(methods) / sizeof(methods[0]), &o,
                                                      NULL, &srv, NULL) < 0)
                abort();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t *in;
        size_t chunk, n = 0;
        bool preface;

        if (size < 2)
                return 0;
        chunk = data[0];
        preface = data[1] & 1;
        data += 2;
        size -= 2;
        in = malloc(sizeof(PREFACE) + size);
        if (!in)
                return 0;
        if (preface) {
                memcpy(in, PREFACE, sizeof(PREFACE) - 1);
                n = sizeof(PREFACE) - 1;
        }
        if (size)
                memcpy(in + n, data, size);
        rpc_fuzz_feed(srv, in, n + size, chunk, answer_kept, NULL);
        answer_kept(NULL);
        /* Close callbacks of the calls' timers. */
        uv_run(&loop, UV_RUN_NOWAIT);
        free(in);
        return 0;
}
