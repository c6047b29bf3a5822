/* libFuzzer target: what Proxmox sends back (src/backend/proxmox/parse.c).
 * The first byte picks the parser: API answer (with an HTTP status from the
 * second byte), `pct list`, `pct status`, `pct config`, UPID.  Invariants: no
 * crash or leak; every error has a message and a code; a parsed list has
 * valid VMIDs and a status for each; a 2xx answer that parses has data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/proxmox/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(int r, struct pxe *e)
{
        if (r < 0 && (!e || !e->msg || e->code <= 0))
                abort();
        pxe_free(e);
}

static void list(const char *s)
{
        struct pct_list_entry *v = NULL;
        struct pxe *e = NULL;
        size_t n = 0;
        int r = pct_parse_list(s, &v, &n, &e);

        for (size_t i = 0; r == 0 && i < n; i++)
                if (v[i].vmid < 100 || v[i].vmid > 999999999 || !v[i].status[0])
                        abort();
        free(v);
        check_err(r, e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const long statuses[] = { 200, 201, 400, 401, 403, 404, 500, 501, 595 };
        struct pxe *e = NULL;
        json_t *d = NULL;
        char *s, *node = NULL, st[16];
        int r;

        if (size < 2)
                return 0;
        s = malloc(size - 1);
        if (!s)
                return 0;
        memcpy(s, data + 2, size - 2);
        s[size - 2] = '\0';
        switch (data[0] % 5) {
        case 0:
                r = pve_parse_answer(s, size - 2, statuses[data[1] % 9], data[1] & 0x80 ? "Reason" : "", &d, &e);
                if (r == 0 && !d)
                        abort();
                json_decref(d);
                break;
        case 1:
                list(s);
                r = 0;
                break;
        case 2:
                r = pct_parse_status(s, st, sizeof(st), &e);
                if (r == 0 && (!st[0] || strlen(st) >= sizeof(st)))
                        abort();
                break;
        case 3:
                r = pct_parse_config(s, &d, &e);
                json_decref(d);
                break;
        default:
                r = pve_upid_node(s, &node, &e);
                if (r == 0 && (!node || !node[0] || strchr(node, '/')))
                        abort();
                free(node);
                break;
        }
        check_err(r, e);
        free(s);
        return 0;
}
