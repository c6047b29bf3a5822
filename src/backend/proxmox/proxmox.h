/* The proxmox backend beyond its backend_ops: the templates it keeps for
 * images (docs/proxmox.md, "Templates"), listed by `pxcri proxmox-templates`
 * and removed by `pxcri proxmox-prune`.
 *
 * A template is the vztmpl file pxcri-<key>.tar.zst in template_storage,
 * the template containers made from it (one per unprivileged-ness), and the
 * record <root>/proxmox/templates/<key>.json.  A container of this root
 * uses it when its <root>/proxmox/<id>/state.json names the key
 * ("template"); containers of other pxcri roots are not seen (each root has
 * its own records and template containers; the file may be shared). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "backend/backend.h"
#include "util/err.h"

/* One record and the containers of this root made from it. */
struct pmx_template_info {
        char key[65];
        char *image;           /* io.pxcri.image-id the key was made from; NULL: not recorded */
        char *file;            /* "pxcri-<key>.tar.zst" */
        unsigned ct_unprivileged; /* template containers, 0: none */
        unsigned ct_privileged;
        bool linked;           /* false: the storage refused linked clones (full creates) */
        char **users;          /* container IDs */
        size_t n_users;
};

/* Every record of b's root, sorted by key; no request to Proxmox.  A root
 * without records gives an empty list. */
int pmx_templates_list(struct backend *b, struct pmx_template_info **ret, size_t *ret_n, struct pxe **err);
void pmx_templates_list_free(struct pmx_template_info *v, size_t n);

enum pmx_prune_why {
        PMX_PRUNE_UNUSED,  /* removed: no container uses it */
        PMX_PRUNE_IN_USE,  /* kept: containers of this root were made from it (users) */
        PMX_PRUNE_BUSY,    /* kept: a create of its image holds it right now */
        PMX_PRUNE_REFUSED, /* kept: Proxmox did not destroy a template container (a linked clone
                            * of it made outside pxcri) or delete the file (detail) */
        PMX_PRUNE_WHY_MAX,
        PMX_PRUNE_WHY_INVALID = -1,
};

struct pmx_prune_entry {
        char key[65];
        char *image;  /* NULL: not recorded */
        enum pmx_prune_why why;
        char **users; /* PMX_PRUNE_IN_USE */
        size_t n_users;
        char *detail; /* PMX_PRUNE_REFUSED: what Proxmox answered */
};

struct pmx_prune_result {
        struct pmx_prune_entry *entries; /* in key order */
        size_t n_entries;
        size_t n_removed, n_kept;
};

/* Remove the templates no container of b's root uses: image_id NULL every
 * one, else those whose record names that image (older records without
 * "image" never match).  Each key is handled under its lock, so a create of
 * the same image that comes later waits and then makes the template again;
 * one that holds the lock makes the template busy (kept).  A template
 * Proxmox refuses to remove is kept (entry PMX_PRUNE_REFUSED) and the others
 * go on.  Fails only when the prune cannot run: records unreadable, the
 * Proxmox client not usable, or Proxmox not answering (unreachable, the
 * token refused or lacking a privilege) -- what was removed until then
 * stays removed. */
int pmx_templates_prune(struct backend *b, const char *image_id, struct pmx_prune_result *ret, struct pxe **err);
void pmx_prune_result_done(struct pmx_prune_result *r);

/* "unused", "in-use", "busy", "refused". */
const char *pmx_prune_why_to_string(enum pmx_prune_why w);

/* The entry's reason in words: "unused", "in use by 2 containers: a, b",
 * or Proxmox's answer; malloc'ed, NULL without memory. */
char *pmx_prune_reason(const struct pmx_prune_entry *e);

/* Whether pxcri's root has template records at all (no configuration
 * needed): a prune of a root without any has nothing to do. */
bool pmx_templates_recorded(const char *root);
