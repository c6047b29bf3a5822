/* libFuzzer target: pxcri's configuration file and the router over it.
 * Invariants: no crash or leak; a configuration that parses routes every
 * input to a known backend or fails with an error message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "router/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const struct annotation ann[] = {
                { "io.kubernetes.cri.image-name", "docker.io/library/db-postgres:16" },
                { "io.kubernetes.cri.container-name", "kube-ovn-cni" },
                { "pxcri.io/backend", "runc" },
        };
        struct route_input in = { .id = "pxt-fuzz", .annotations = ann, .n_annotations = 3 };
        struct route_result out;
        struct config *c = NULL;
        struct pxe *e = NULL;
        char *text = malloc(size + 1);

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        if (config_parse(text, "fuzz.json", &c, &e) == 0) {
                if (router_pick(c, &in, &out, &e) == 0 && (out.backend < 0 || out.backend >= BACKEND_MAX))
                        abort();
                config_free(c);
        } else if (!e || !e->msg) {
                abort();
        }
        pxe_free(e);
        free(text);
        return 0;
}
