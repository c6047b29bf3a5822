/* libFuzzer target: an OCI config.json mapped to Proxmox create parameters
 * (src/backend/proxmox/map.c).  The input is any JSON.  Invariants: no crash
 * or leak; every error has a message and a code; on success memory and
 * hostname are there, memory is at least 16 MiB, the hostname is a DNS name,
 * and no value but the description holds a newline. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/proxmox/map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool dns_name(const char *h)
{
        size_t label = 0;

        if (!*h || strlen(h) > 253 || *h == '.' || h[strlen(h) - 1] == '.' || *h == '-')
                return false;
        for (const char *c = h; *c; c++) {
                if (*c == '.') {
                        if (label == 0 || c[-1] == '-' || c[1] == '-')
                                return false;
                        label = 0;
                } else if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-') {
                        if (++label > 63)
                                return false;
                } else
                        return false;
        }
        return h[strlen(h) - 1] != '-';
}

/* One mapping of j: an error with a message and nothing made, or parameters
 * Proxmox takes. */
static void map_one(const json_t *j, const struct pve_map_request *req)
{
        struct pve_params *p = NULL;
        struct pxe *e = NULL;
        const char *mem, *host;

        if (pve_map_bundle(j, req, &p, &e) < 0) {
                if (!e || !e->msg || e->code <= 0 || p)
                        abort();
                pxe_free(e);
                return;
        }
        mem = pve_params_get(p, "memory");
        host = pve_params_get(p, "hostname");
        if (e || !mem || atoi(mem) < 16 || !host || !dns_name(host))
                abort();
        for (size_t i = 0; i < p->n_items; i++)
                if (!p->items[i].key[0] || (strchr(p->items[i].value, '\n') && strcmp(p->items[i].key, "description")))
                        abort();
        /* The include's lines, and pxcri-init's setup records. */
        if ((p->lxc_security && (!p->security_field ||
                                 (p->lxc_security[0] && p->lxc_security[strlen(p->lxc_security) - 1] != '\n'))) ||
            (p->setup && (!p->setup_len || p->setup[p->setup_len - 1] != '\0')))
                abort();
        pve_params_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const struct pve_map_request req = {
                .id = "fuzz", .bundle = "/b", .storage = "local-lvm", .bridge = "vmbr0", .init_dir = "/run/pxcri/x",
        };
        /* A pod's privileged CT: devices, propagation, the privileged container. */
        static const struct pve_map_request priv = {
                .id = "fuzz", .bundle = "/b", .storage = "local-lvm", .bridge = "vmbr0", .init_dir = "/run/pxcri/x",
                .privileged = true, .seccomp_path = "/run/pxcri/x.seccomp", .init_path = "/usr/libexec/pxcri-init",
                .setup_path = "/run/pxcri/x.setup",
        };
        json_t *j = json_loadb((const char *) data, size, JSON_DECODE_ANY, NULL);

        if (!j)
                return 0;
        map_one(j, &req);
        map_one(j, &priv);
        json_decref(j);
        return 0;
}
