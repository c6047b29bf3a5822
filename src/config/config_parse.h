/* Shared by the files that parse pxcri's configuration (config.c and one file
 * per section): the parsing context and typed getters whose errors name the
 * key.  Not part of the config module's contract (config.h). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "config/config.h"

/* Where we are, for messages that name the key. */
struct ctx {
        struct config *c;
        const char *origin;
};

void config_warn_key(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int config_type_error(struct ctx *x, const char *key, const char *want, struct pxe **err);
int config_get_string(struct ctx *x, json_t *v, const char *key, char **dst, struct pxe **err);
int config_get_bool(struct ctx *x, json_t *v, const char *key, bool *dst, struct pxe **err);
int config_get_uint(struct ctx *x, json_t *v, const char *key, unsigned lo, unsigned hi, unsigned *dst,
                    struct pxe **err);
int config_get_abs_path(struct ctx *x, json_t *v, const char *key, char **dst, struct pxe **err);
/* An array of name patterns (glob, or ^regex$), replacing *v. */
int config_get_matchers(struct ctx *x, json_t *arr, const char *key, struct matcher **v, size_t *n,
                        struct pxe **err);
void config_matchers_free(struct matcher *v, size_t n);

/* The "image" section (config_image.c). */
int config_image_parse(struct ctx *x, json_t *obj, struct pxe **err);
int config_image_defaults(struct image_config *ic);
void config_image_free(struct image_config *ic);

/* backends.proxmox and the legacy "proxmox" section (config_proxmox.c). */
int config_proxmox_parse(struct ctx *x, json_t *obj, struct pxe **err);
int config_proxmox_parse_legacy(struct ctx *x, json_t *obj, struct pxe **err);
int config_proxmox_defaults(struct proxmox_config *p);
void config_proxmox_free(struct proxmox_config *p);

/* The "cri" section (config_cri.c). */
int config_cri_parse(struct ctx *x, json_t *obj, struct pxe **err);
int config_cri_defaults(struct cri_config *cc);
void config_cri_free(struct cri_config *cc);
