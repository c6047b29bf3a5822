/* The overlayfs mount of a bundle's rootfs.
 *
 * mount(2) copies at most one page of options, which holds only about 40
 * lower layers with the layer store's paths (<image root>/layers/<64 hex>).
 * Options that fit go through mount(2); more layers are handed to the kernel
 * one by one with the new mount API (fsconfig "lowerdir+", Linux 6.8), up to
 * overlayfs' own limit of 500 lower layers (OVL_MAX_STACK).  An older kernel
 * gets an error that names the number of layers and the limit.
 */
#pragma once

#include <stddef.h>

#include "util/err.h"

/* Most lower layers one overlayfs mount stacks (the kernel's OVL_MAX_STACK). */
#define OVERLAY_MAX_LOWER 500

/* Mount overlayfs on target (nodev): lower[0] is the top layer.  Paths must
 * not contain ',' or ':' (checked by the caller). */
int overlay_mount(const char *target, char *const *lower, size_t n_lower, const char *upper, const char *work,
                  struct pxe **err);
