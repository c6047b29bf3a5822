#include "router/match.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

int matcher_compile(struct matcher *m, const char *text, struct pxe **err)
{
        size_t n = strlen(text);
        int r;

        memset(m, 0, sizeof(*m));
        if (n == 0)
                return pxe_set(err, EINVAL, "empty pattern");
        m->is_regex = n >= 2 && text[0] == '^' && text[n - 1] == '$';
        if (m->is_regex) {
                r = regcomp(&m->re, text, REG_EXTENDED | REG_NOSUB);
                if (r != 0) {
                        char why[256];

                        regerror(r, &m->re, why, sizeof(why));
                        return pxe_set(err, EINVAL, "invalid regular expression \"%s\": %s", text, why);
                }
        }
        m->text = strdup(text);
        if (!m->text) {
                if (m->is_regex)
                        regfree(&m->re);
                m->is_regex = false;
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        return 0;
}

bool matcher_match(const struct matcher *m, const char *s)
{
        if (!m->text || !s)
                return false;
        if (m->is_regex)
                return regexec(&m->re, s, 0, NULL, 0) == 0;
        return fnmatch(m->text, s, 0) == 0;
}

void matcher_done(struct matcher *m)
{
        if (m->is_regex && m->text)
                regfree(&m->re);
        free(m->text);
        m->text = NULL;
}

bool matchers_any(const struct matcher *v, size_t n, const char *s)
{
        for (size_t i = 0; s && i < n; i++)
                if (matcher_match(&v[i], s))
                        return true;
        return false;
}
