/* Inside the Proxmox client: the transport ops table and the client state
 * (internal to src/backend/proxmox/). */
#pragma once

#include <stdbool.h>
#include <time.h>

#include "backend/proxmox/client.h"

struct pve_transport_ops {
        const char *name;
        int (*open)(struct pve_client *c, struct pxe **err);
        void (*close)(struct pve_client *c);
        int (*version)(struct pve_client *c, char **ret, struct pxe **err);
        /* VMIDs in use that this transport can see (sorted ascending). */
        int (*used_vmids)(struct pve_client *c, unsigned **ret, size_t *ret_n, struct pxe **err);
        /* 0 if vmid is free, -EEXIST if not (the API asks /cluster/nextid?vmid=). */
        int (*check_vmid)(struct pve_client *c, unsigned vmid, struct pxe **err);
        int (*create)(struct pve_client *c, unsigned vmid, const struct pve_kv *p, size_t n, char **ret_upid,
                      struct pxe **err);
        int (*status)(struct pve_client *c, unsigned vmid, struct pve_status *ret, struct pxe **err);
        int (*action)(struct pve_client *c, unsigned vmid, enum pve_action a, char **ret_upid, struct pxe **err);
        int (*destroy)(struct pve_client *c, unsigned vmid, bool force, char **ret_upid, struct pxe **err);
        int (*config_get)(struct pve_client *c, unsigned vmid, json_t **ret, struct pxe **err);
        int (*config_set)(struct pve_client *c, unsigned vmid, const struct pve_kv *p, size_t n, struct pxe **err);
        int (*task_wait)(struct pve_client *c, const char *upid, int timeout_ms, struct pxe **err);
        int (*node)(struct pve_client *c, char **ret, struct pxe **err);
        int (*template_)(struct pve_client *c, unsigned vmid, char **ret_upid, struct pxe **err);
        /* p: full, hostname, storage */
        int (*clone)(struct pve_client *c, unsigned src, unsigned newid, const struct pve_kv *p, size_t n,
                     char **ret_upid, struct pxe **err);
        int (*exec)(struct pve_client *c, unsigned vmid, const char *const *argv, int *ret_status,
                    struct pxe **err);
        int (*template_exists)(struct pve_client *c, const char *name, bool *ret, struct pxe **err);
        int (*template_upload)(struct pve_client *c, const char *path, const char *name, const char *sha256_hex,
                               struct pxe **err);
        /* -ENOENT when the file is not there */
        int (*template_delete)(struct pve_client *c, const char *name, struct pxe **err);
        int (*volume_path)(struct pve_client *c, const char *volid, char **ret, struct pxe **err);
};

struct pve_api; /* api.c's connection state */

struct pve_client {
        const struct proxmox_config *cfg;
        const struct pve_transport_ops *ops;
        char *token;          /* "USER@REALM!TOKENID=SECRET"; never logged */
        char *node;           /* resolved node */
        time_t node_expires;  /* monotonic seconds; 0: never (configured node) */
        const char *warnings[4];
        size_t n_warnings;
        struct pve_api *api;
};

extern const struct pve_transport_ops pve_transport_api;
extern const struct pve_transport_ops pve_transport_pct;

/* Monotonic milliseconds. */
long long pve_now_ms(void);

