#include "image/ref.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/digest.h"
#include "util/cleanup.h"

#define REF_INPUT_MAX 4096

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | __ | -+ */
static bool path_component_valid(const char *s, size_t n)
{
        size_t i = 0;

        while (i < n) {
                size_t start = i;

                while (i < n && is_lower_alnum(s[i]))
                        i++;
                if (i == start)
                        return false;
                if (i == n)
                        return true;
                if (s[i] == '.' || (s[i] == '_' && !(i + 1 < n && s[i + 1] == '_')))
                        i++;
                else if (s[i] == '_')
                        i += 2;
                else if (s[i] == '-')
                        while (i < n && s[i] == '-')
                                i++;
                else
                        return false;
                if (i == n)
                        return false;
        }
        return n > 0;
}

static bool path_valid(const char *p)
{
        while (*p) {
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t) (slash - p) : strlen(p);

                if (!path_component_valid(p, n))
                        return false;
                if (!slash)
                        return true;
                p = slash + 1;
                if (!*p)
                        return false;
        }
        return false;
}

static bool domain_component_valid(const char *s, size_t n)
{
        if (n == 0 || !isalnum((unsigned char) s[0]) || !isalnum((unsigned char) s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '-')
                        return false;
        return true;
}

static bool port_valid(const char *p)
{
        size_t n = strlen(p);

        if (n == 0 || n > 5)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isdigit((unsigned char) p[i]))
                        return false;
        return atoi(p) <= 65535;
}

static bool ipv6_valid(const char *s, size_t n)
{
        if (n < 2)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char) s[i]) && s[i] != ':' && s[i] != '.')
                        return false;
        return memchr(s, ':', n) != NULL;
}

/* host[:port] with host a DNS name, an IPv4 address or [IPv6]. */
static bool domain_valid(const char *d)
{
        const char *host_end, *p;

        if (d[0] == '[') {
                const char *close = strchr(d, ']');

                if (!close || !ipv6_valid(d + 1, (size_t) (close - d - 1)))
                        return false;
                host_end = close + 1;
                if (*host_end == '\0')
                        return true;
                return *host_end == ':' && port_valid(host_end + 1);
        }
        host_end = strchr(d, ':');
        if (host_end && !port_valid(host_end + 1))
                return false;
        if (!host_end)
                host_end = d + strlen(d);
        for (p = d; p < host_end;) {
                const char *dot = memchr(p, '.', (size_t) (host_end - p));
                size_t n = dot ? (size_t) (dot - p) : (size_t) (host_end - p);

                if (!domain_component_valid(p, n))
                        return false;
                if (!dot)
                        break;
                p = dot + 1;
                if (p == host_end)
                        return false;
        }
        return host_end > d;
}

static bool tag_valid(const char *t)
{
        size_t n = strlen(t);

        if (n == 0 || n > REF_TAG_MAX)
                return false;
        if (!isalnum((unsigned char) t[0]) && t[0] != '_')
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char) t[i]) && t[i] != '_' && t[i] != '.' && t[i] != '-')
                        return false;
        return true;
}

static bool first_is_domain(const char *first, size_t n)
{
        if (memchr(first, '.', n) || memchr(first, ':', n) || memchr(first, '[', n))
                return true;
        if (n == 9 && strncmp(first, "localhost", 9) == 0)
                return true;
        for (size_t i = 0; i < n; i++)
                if (isupper((unsigned char) first[i]))
                        return true;
        return false;
}

static bool is_64_hex(const char *s)
{
        if (strlen(s) != 64)
                return false;
        for (size_t i = 0; i < 64; i++)
                if (!isxdigit((unsigned char) s[i]) || isupper((unsigned char) s[i]))
                        return false;
        return true;
}

/* Split "name[:tag]" after the digest was cut off: the tag is after the last
 * ':' that comes after the last '/'. */
static int split_tag(char *name, char **tag)
{
        char *slash = strrchr(name, '/');
        char *colon = strrchr(slash ? slash : name, ':');

        *tag = NULL;
        if (colon) {
                *colon = '\0';
                *tag = colon + 1;
        }
        return 0;
}

static int split_domain(const char *name, char **domain, char **path)
{
        const char *slash = strchr(name, '/');

        if (slash && first_is_domain(name, (size_t) (slash - name))) {
                *domain = strndup(name, (size_t) (slash - name));
                *path = strdup(slash + 1);
        } else {
                *domain = strdup(REF_DEFAULT_DOMAIN);
                *path = strdup(name);
        }
        if (!*domain || !*path)
                return -ENOMEM;
        if (streq(*domain, "index.docker.io")) {
                free(*domain);
                *domain = strdup(REF_DEFAULT_DOMAIN);
        }
        if (*domain && streq(*domain, REF_DEFAULT_DOMAIN) && !strchr(*path, '/')) {
                char *p = NULL;

                if (asprintf(&p, "library/%s", *path) < 0)
                        return -ENOMEM;
                free(*path);
                *path = p;
        }
        return *domain ? 0 : -ENOMEM;
}

static int check_parts(const char *s, struct image_ref *r, struct pxe **err)
{
        size_t total = strlen(r->domain) + 1 + strlen(r->path);

        if (!domain_valid(r->domain))
                return pxe_set(err, EINVAL, "Invalid reference \"%s\": invalid registry host \"%s\"", s, r->domain);
        if (!path_valid(r->path)) {
                for (const char *p = r->path; *p; p++)
                        if (isupper((unsigned char) *p))
                                return pxe_set(err, EINVAL, "Invalid reference \"%s\": repository name must be lowercase",
                                               s);
                return pxe_set(err, EINVAL,
                               "Invalid reference \"%s\": invalid repository path \"%s\" "
                               "(components of [a-z0-9] joined by '.', '_', '__' or '-')", s, r->path);
        }
        if (total > REF_NAME_MAX)
                return pxe_set(err, EINVAL, "Invalid reference \"%.80s...\": repository name longer than %d characters", s,
                               REF_NAME_MAX);
        if (r->tag && !tag_valid(r->tag))
                return pxe_set(err, EINVAL,
                               "Invalid reference \"%s\": invalid tag \"%s\" ([A-Za-z0-9_][A-Za-z0-9_.-], at most %d)",
                               s, r->tag, REF_TAG_MAX);
        if (r->digest && !digest_is_valid(r->digest))
                return pxe_set(err, EINVAL, "Invalid reference \"%s\": invalid digest \"%s\" (sha256:<64 hex>)", s,
                               r->digest);
        return 0;
}

static int parse(const char *s, struct image_ref *r, struct pxe **err)
{
        _cleanup_free_ char *name = NULL;
        char *at, *tag;

        if (!s || !*s)
                return pxe_set(err, EINVAL, "Invalid reference: empty");
        if (strlen(s) > REF_INPUT_MAX)
                return pxe_set(err, EINVAL, "Invalid reference: longer than %d characters", REF_INPUT_MAX);
        if (is_64_hex(s))
                return pxe_set(err, EINVAL, "Invalid reference \"%s\": cannot be a 64-byte hexadecimal string", s);
        name = strdup(s);
        if (!name)
                return pxe_set(err, ENOMEM, "Out of memory");
        at = strchr(name, '@');
        if (at) {
                *at = '\0';
                r->digest = strdup(at + 1);
                if (!r->digest)
                        return pxe_set(err, ENOMEM, "Out of memory");
        }
        split_tag(name, &tag);
        if (tag && !(r->tag = strdup(tag)))
                return pxe_set(err, ENOMEM, "Out of memory");
        if (!*name)
                return pxe_set(err, EINVAL, "Invalid reference \"%s\": missing repository name", s);
        if (split_domain(name, &r->domain, &r->path) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (check_parts(s, r, err) < 0)
                return -EINVAL;
        if (!r->tag && !r->digest && !(r->tag = strdup(REF_DEFAULT_TAG)))
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

int image_ref_parse(const char *s, struct image_ref *ret, struct pxe **err)
{
        struct image_ref r = { 0 };
        int rc = parse(s, &r, err);

        if (rc < 0) {
                image_ref_done(&r);
                return rc;
        }
        *ret = r;
        return 0;
}

char *image_ref_string(const struct image_ref *r)
{
        char *s = NULL;

        if (asprintf(&s, "%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "", r->tag ? r->tag : "",
                     r->digest ? "@" : "", r->digest ? r->digest : "") < 0)
                return NULL;
        return s;
}

char *image_ref_name(const struct image_ref *r)
{
        char *s = NULL;

        if (asprintf(&s, "%s/%s", r->domain, r->path) < 0)
                return NULL;
        return s;
}

void image_ref_done(struct image_ref *r)
{
        if (!r)
                return;
        free(r->domain);
        free(r->path);
        free(r->tag);
        free(r->digest);
        *r = (struct image_ref) { 0 };
}
