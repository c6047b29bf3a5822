/* Name matchers used by routing rules: a glob (fnmatch, `*` also crosses
 * `/`), or a POSIX extended regular expression when written `^...$`. */
#pragma once

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct matcher {
        char *text;
        bool is_regex;
        regex_t re;
};

int matcher_compile(struct matcher *m, const char *text, struct pxe **err);
bool matcher_match(const struct matcher *m, const char *s);
void matcher_done(struct matcher *m);
/* Whether any of v[0..n) matches s. */
bool matchers_any(const struct matcher *v, size_t n, const char *s);
