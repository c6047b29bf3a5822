/* libFuzzer target: manifest / index parsing and platform selection.
 * The first byte picks the Content-Type the registry claims; the rest is the
 * document.  Invariants: no crash or leak; a parsed manifest has valid
 * digests everywhere and the kind its media type says. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/digest.h"
#include "image/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const content_types[] = {
        NULL, MT_OCI_MANIFEST, MT_OCI_INDEX, MT_DOCKER_MANIFEST, MT_DOCKER_LIST, "application/json",
};

static void check(const struct manifest *m)
{
        struct image_platform p = { .os = "linux", .architecture = "amd64" };
        const struct descriptor *d;

        if (!manifest_media_type_known(m->media_type))
                abort();
        if (m->kind == MANIFEST_IMAGE && !digest_is_valid(m->config.digest))
                abort();
        for (size_t i = 0; i < m->n_layers; i++)
                if (!digest_is_valid(m->layers[i].digest))
                        abort();
        for (size_t i = 0; i < m->n_manifests; i++)
                if (!digest_is_valid(m->manifests[i].digest))
                        abort();
        d = manifest_select_platform(m, &p);
        if (d && (d < m->manifests || d >= m->manifests + m->n_manifests))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct manifest *m = NULL;
        struct pxe *e = NULL;
        const char *ct;

        if (size < 1)
                return 0;
        ct = content_types[data[0] % (sizeof(content_types) / sizeof(content_types[0]))];
        if (manifest_parse((const char *) data + 1, size - 1, ct, &m, &e) == 0) {
                check(m);
                manifest_free(m);
        } else if (!e || !e->msg || m) {
                abort();
        }
        pxe_free(e);
        return 0;
}
