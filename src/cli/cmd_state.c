/* state and list: what pxcri knows of its containers, from every backend. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/cleanup.h"

enum {
        LIST_OPT_FORMAT,
        LIST_OPT_QUIET,
};

const struct cli_opt cli_list_opts[] = {
        [LIST_OPT_FORMAT] = { "format", 'f', true, false },
        [LIST_OPT_QUIET] = { "quiet", 'q', false, false },
        { 0 },
};

int cmd_state(struct cli *c, struct cli_args *a, struct pxe **err)
{
        json_t *st = NULL;
        int r;

        if (container_state(&c->ctx, a->pos[0], &st, err) < 0)
                return -pxe_code(err, ENOENT);
        r = cli_print_json(st, err);
        json_decref(st);
        return r;
}

static const char *str_of(json_t *o, const char *key)
{
        const char *s = json_string_value(json_object_get(o, key));

        return s ? s : "";
}

/* runc's table, with a BACKEND column. */
static void print_table(json_t *list)
{
        size_t i;
        json_t *v;

        printf("%-24s %-8s %-10s %-8s %-40s %-32s %s\n", "ID", "PID", "STATUS", "BACKEND", "BUNDLE", "CREATED",
               "OWNER");
        json_array_foreach(list, i, v) {
                printf("%-24s %-8lld %-10s %-8s %-40s %-32s %s\n", str_of(v, "id"),
                       (long long) json_integer_value(json_object_get(v, "pid")), str_of(v, "status"),
                       str_of(v, "backend"), str_of(v, "bundle"), str_of(v, "created"), str_of(v, "owner"));
        }
}

int cmd_list(struct cli *c, struct cli_args *a, struct pxe **err)
{
        const char *format = a->values[LIST_OPT_FORMAT] ? a->values[LIST_OPT_FORMAT] : "table";
        json_t *list = NULL;
        size_t i;
        json_t *v;
        int r = 0;

        if (!streq(format, "table") && !streq(format, "json"))
                return pxe_set(err, EINVAL, "Unknown list format \"%s\" (table or json)", format);
        if (container_list(&c->ctx, &list, err) < 0)
                return -pxe_code(err, EIO);
        if (a->values[LIST_OPT_QUIET])
                json_array_foreach(list, i, v) printf("%s\n", str_of(v, "id"));
        else if (streq(format, "json"))
                r = cli_print_json(list, err);
        else
                print_table(list);
        json_decref(list);
        return r;
}
