/* Helpers shared by the ImageService handlers and the stats handlers. */
#pragma once

#include <stdint.h>

#include "cri/cri.h"
#include "image/store.h"
#include "util/err.h"

/* The image store's root: image.root, or the built-in default. */
const char *cri_image_root(const struct cri_server *s);

/* Remove what no image uses (layers, blobs, partial downloads) in a job of
 * its own, after RemoveImage and after a pull the disk cut short
 * (image_remove.c).  One at a time; asked again meanwhile, it runs again. */
void cri_image_prune_queue(struct cri_server *s);
/* At start-up, where pxcri's root has Proxmox templates: a prune that also
 * takes the templates of images the store no longer has. */
void cri_image_prune_orphan_templates(struct cri_server *s);

/* A CRI Image from an image record, every part malloc'ed: free it with
 * protobuf_c_message_free_unpacked(&img->base, NULL).  NULL: out of memory. */
Runtime__V1__Image *cri_image_from_rec(const struct image_rec *r);

/* Disk usage of the tree at path, added to acc: allocated bytes (as du(1))
 * and inodes, staying on its file system and not following symlinks.  Hard
 * links count once per name (du counts once per inode): an upper bound.  A
 * missing path counts 0.  For worker threads: no process-wide state. */
struct cri_du {
        uint64_t bytes;
        uint64_t inodes;
};
int cri_du_add(const char *path, struct cri_du *acc, struct pxe **err);

/* A heap UInt64Value (NULL when out of memory). */
Runtime__V1__UInt64Value *cri_u64(uint64_t v);

/* The calling worker thread's own connection to the image store at root,
 * opened on first use and kept (an open and close costs a WAL checkpoint
 * each time; SQLite connections are per thread).  Never close it.  Kept
 * connections also keep the WAL and its index file in place: a connection
 * opened when the disk is full finds them instead of having to create them,
 * so ListImages and ImageStatus still answer then. */
struct image_store *cri_thread_image_store(const char *root, struct pxe **err);
