/* libFuzzer target: image reference parsing and normalisation.
 * Invariants: no crash or leak; a parsed reference prints to a string that
 * parses again to the same string (normalisation is idempotent). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1), *out, *again;
        struct image_ref r, r2;
        struct pxe *e = NULL;

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        if (image_ref_parse(s, &r, &e) == 0) {
                out = image_ref_string(&r);
                if (!out || image_ref_parse(out, &r2, NULL) != 0)
                        abort();
                again = image_ref_string(&r2);
                if (!again || strcmp(out, again) != 0)
                        abort();
                free(again);
                free(out);
                image_ref_done(&r2);
                image_ref_done(&r);
        } else if (!e || !e->msg) {
                abort();
        }
        pxe_free(e);
        free(s);
        return 0;
}
