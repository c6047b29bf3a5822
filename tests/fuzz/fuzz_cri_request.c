/* libFuzzer target: what a CRI client sends pxcrid before any handler runs
 * or any file is touched: the gRPC header values the rpc layer parses
 * (grpc-timeout, the 5-byte message prefix), the protobuf request (unpacked
 * with the CreateContainer and RunPodSandbox descriptors), and the pure
 * parts of the container spec (user string, resources), then the copy and
 * base64 round trip the state database stores.
 * Invariants: no crash or leak; a copy pxcrid keeps survives the database;
 * a parsed timeout fits its unit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cri.h"
#include "cri/spec/container_spec.h"
#include "rpc/rpc_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* pxcrid keeps cri_msg_dup()'s copy and stores it as base64: a copy that
 * exists must come back from the database as it was.  (A request whose
 * repacked bytes do not unpack, which protobuf-c can produce from odd
 * unknown fields, gets no copy: the handler refuses it.) */
static void check_round_trip(const ProtobufCMessage *m)
{
        ProtobufCMessage *dup = cri_msg_dup(m), *back;
        char *b64;

        if (!dup)
                return;
        b64 = cri_msg_to_b64(dup);
        back = b64 ? cri_msg_from_b64(dup->descriptor, b64) : NULL;
        if (!back || protobuf_c_message_get_packed_size(back) != protobuf_c_message_get_packed_size(dup))
                abort();
        protobuf_c_message_free_unpacked(back, NULL);
        protobuf_c_message_free_unpacked(dup, NULL);
        free(b64);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        Runtime__V1__CreateContainerRequest *cr;
        Runtime__V1__RunPodSandboxRequest *pr;
        uint64_t ms = 0;

        if (rpc_timeout_parse((const char *) data, size < 16 ? size : 16, &ms) == 0 && ms > 100000000ull * 3600000)
                abort();
        cr = runtime__v1__create_container_request__unpack(NULL, size, data);
        if (cr) {
                check_round_trip(&cr->base);
                if (cr->config) {
                        char *user = NULL;
                        json_t *res;

                        if (cri_spec_user(cr->config, &user, NULL) == 0)
                                free(user);
                        if (cr->config->linux && cr->config->linux->resources) {
                                res = cri_spec_resources(cr->config->linux->resources, 0);
                                json_decref(res);
                        }
                }
                runtime__v1__create_container_request__free_unpacked(cr, NULL);
        }
        pr = runtime__v1__run_pod_sandbox_request__unpack(NULL, size, data);
        if (pr) {
                check_round_trip(&pr->base);
                runtime__v1__run_pod_sandbox_request__free_unpacked(pr, NULL);
        }
        return 0;
}
