#include "image/manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

/* containerd's platforms.Normalize for the architectures that matter. */
static const char *norm_arch(const char *a)
{
        if (streq(a, "x86_64") || streq(a, "x86-64"))
                return "amd64";
        if (streq(a, "aarch64"))
                return "arm64";
        if (streq(a, "i386"))
                return "386";
        return a;
}

static const char *default_variant(const char *arch)
{
        if (streq(arch, "arm64"))
                return "v8";
        if (streq(arch, "arm"))
                return "v7";
        return NULL;
}

static bool part_valid(const char *s)
{
        if (!*s || strlen(s) > 64)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
                        return false;
        return true;
}

int platform_parse(const char *s, struct image_platform *ret, struct pxe **err)
{
        _cleanup_free_ char *copy = s ? strdup(s) : NULL;
        char *os, *arch, *variant, *extra;
        struct image_platform p = { 0 };

        if (!copy)
                return pxe_set(err, s ? ENOMEM : EINVAL, "Invalid platform: empty");
        os = copy;
        arch = strchr(os, '/');
        if (!arch)
                return pxe_set(err, EINVAL, "Invalid platform \"%s\": expected os/arch[/variant]", s);
        *arch++ = '\0';
        variant = strchr(arch, '/');
        if (variant)
                *variant++ = '\0';
        extra = variant ? strchr(variant, '/') : NULL;
        if (extra || !part_valid(os) || !part_valid(arch) || (variant && !part_valid(variant)))
                return pxe_set(err, EINVAL, "Invalid platform \"%s\": expected os/arch[/variant] in lower case", s);
        arch = (char *) norm_arch(arch);
        if (!variant)
                variant = (char *) default_variant(arch);
        p.os = strdup(os);
        p.architecture = strdup(arch);
        p.variant = variant ? strdup(variant) : NULL;
        if (!p.os || !p.architecture || (variant && !p.variant)) {
                platform_done(&p);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        *ret = p;
        return 0;
}

int platform_copy(const struct image_platform *src, struct image_platform *dst)
{
        struct image_platform p = { 0 };

        p.os = src->os ? strdup(src->os) : NULL;
        p.architecture = src->architecture ? strdup(src->architecture) : NULL;
        p.variant = src->variant ? strdup(src->variant) : NULL;
        if ((src->os && !p.os) || (src->architecture && !p.architecture) || (src->variant && !p.variant)) {
                platform_done(&p);
                return -ENOMEM;
        }
        *dst = p;
        return 0;
}

void platform_done(struct image_platform *p)
{
        if (!p)
                return;
        free(p->os);
        free(p->architecture);
        free(p->variant);
        *p = (struct image_platform) { 0 };
}

char *platform_to_string(const struct image_platform *p)
{
        char *s = NULL;

        if (asprintf(&s, "%s/%s%s%s", p->os ? p->os : "unknown", p->architecture ? p->architecture : "unknown",
                     p->variant ? "/" : "", p->variant ? p->variant : "") < 0)
                return NULL;
        return s;
}

/* The variant number ("v7" -> 7), 0 when not one; amd64 without a variant is v1. */
static int variant_num(const char *arch, const char *v)
{
        if (!v)
                return arch && streq(arch, "amd64") ? 1 : 0;
        if (v[0] != 'v' || v[1] < '1' || v[1] > '9' || v[2])
                return 0;
        return v[1] - '0';
}

static bool same(const char *a, const char *b)
{
        return a && b && streq(a, b);
}

const struct descriptor *manifest_select_platform(const struct manifest *index, const struct image_platform *want)
{
        const struct descriptor *best = NULL;
        int best_v = -1, want_v = variant_num(want->architecture, want->variant);

        for (size_t i = 0; i < index->n_manifests; i++) {
                const struct descriptor *d = &index->manifests[i];
                const char *arch, *variant;
                int v;

                if (!manifest_media_type_known(d->media_type) || !d->platform.architecture)
                        continue;
                arch = norm_arch(d->platform.architecture);
                if (!same(d->platform.os, want->os) || !same(arch, want->architecture))
                        continue;
                variant = d->platform.variant ? d->platform.variant : default_variant(arch);
                if ((!variant && !want->variant) || same(variant, want->variant))
                        return d;
                /* An image for an older variant runs on a newer CPU (arm v6 on
                 * v7, amd64 v1 on v3). */
                v = variant_num(arch, variant);
                if (v > 0 && want_v > 0 && v < want_v && v > best_v) {
                        best = d;
                        best_v = v;
                }
        }
        return best;
}
