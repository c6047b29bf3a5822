/* Container IDs: validated before they ever become part of a path. */
#pragma once

#include <stdbool.h>

#include "util/err.h"

#define ID_MAX_LEN 128

/* [A-Za-z0-9][A-Za-z0-9_.-]{0,127}: no slashes, no "..", no empty string. */
bool id_is_valid(const char *id);

/* 0, or -EINVAL with a message naming the bad ID and the rule. */
int id_check(const char *id, struct pxe **err);
