/* Shared by the lxc translation tests: a scratch bundle and a minimal valid
 * OCI config to change one field at a time. */
#pragma once

#include <jansson.h>

#include "backend/lxc/translate.h"

struct fx {
        char *dir;     /* scratch bundle: rootfs/ (etc/, etc/hosts), src-dir/, src-file */
        json_t *config; /* valid minimal config, changed by each test */
        struct lxc_translate_opts opts;
        char *run_dir;
};

int fx_setup(void **state);
int fx_teardown(void **state);

/* Translate; the test fails with the message when it does not succeed. */
struct lxc_spec *fx_ok(struct fx *f);
/* Translate expecting failure; returns the message (free it). */
char *fx_fails(struct fx *f, int code);

/* config.<a>.<b> = v (v stolen); b NULL sets config.<a>. */
void fx_set(struct fx *f, const char *a, const char *b, json_t *v);

/* The index of the first lxc.mount.entry containing needle, or -1. */
int fx_mount_index(const struct lxc_spec *s, const char *needle);
