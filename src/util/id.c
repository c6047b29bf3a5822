#include "util/id.h"

#include <errno.h>
#include <string.h>

static bool is_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool id_is_valid(const char *id)
{
        size_t n;

        if (!id || !is_alnum(id[0]))
                return false;
        for (n = 1; id[n]; n++) {
                char c = id[n];

                if (n >= ID_MAX_LEN)
                        return false;
                if (!is_alnum(c) && c != '_' && c != '.' && c != '-')
                        return false;
        }
        return true;
}

int id_check(const char *id, struct pxe **err)
{
        if (id_is_valid(id))
                return 0;
        if (!id || !*id)
                return pxe_set(err, EINVAL, "Container ID is empty");
        return pxe_set(err, EINVAL,
                       "Invalid container ID \"%.*s\": it must match [A-Za-z0-9][A-Za-z0-9_.-]{0,127}",
                       ID_MAX_LEN + 8, id);
}
