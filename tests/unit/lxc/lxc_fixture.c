#include "lxc_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "unit.h"

static const char base_config[] =
        "{\"ociVersion\": \"1.0.2\","
        " \"process\": {\"args\": [\"sleep\", \"1\"], \"env\": [\"PATH=/bin\"], \"cwd\": \"/\","
        "              \"user\": {\"uid\": 0, \"gid\": 0}},"
        " \"root\": {\"path\": \"rootfs\"},"
        " \"linux\": {\"namespaces\": [{\"type\": \"mount\"}, {\"type\": \"pid\"}]}}";

int fx_setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        char *p;

        f->dir = unit_mkdtemp();
        mkdir((p = unit_path(f->dir, "rootfs")), 0755);
        free(p);
        mkdir((p = unit_path(f->dir, "rootfs/etc")), 0755);
        free(p);
        unit_write((p = unit_path(f->dir, "rootfs/etc/hosts")), "");
        free(p);
        mkdir((p = unit_path(f->dir, "src dir")), 0755);
        free(p);
        unit_write((p = unit_path(f->dir, "src-file")), "x");
        free(p);
        f->config = json_loads(base_config, 0, NULL);
        assert_non_null(f->config);
        f->run_dir = unit_path(f->dir, "run");
        f->opts = (struct lxc_translate_opts) {
                .bundle = f->dir,
                .init_path = "/usr/libexec/pxcri/pxcri-init",
                .run_dir = f->run_dir,
                .seccomp_path = "/run/pxcri/lxc/x/seccomp",
                .oom_score_adj_min = -1000,
        };
        *state = f;
        return 0;
}

int fx_teardown(void **state)
{
        struct fx *f = *state;

        unit_rm_rf(f->dir);
        free(f->dir);
        free(f->run_dir);
        json_decref(f->config);
        free(f);
        return 0;
}

struct lxc_spec *fx_ok(struct fx *f)
{
        struct pxe *err = NULL;
        struct lxc_spec *s = NULL;

        if (lxc_translate(f->config, &f->opts, &s, &err) < 0)
                fail_msg("translation failed: %s", err ? err->msg : "(no message)");
        return s;
}

char *fx_fails(struct fx *f, int code)
{
        struct pxe *err = NULL;
        struct lxc_spec *s = NULL;
        char *msg;
        int r = lxc_translate(f->config, &f->opts, &s, &err);

        if (r == 0) {
                lxc_spec_free(s);
                fail_msg("translation succeeded, expected an error");
        }
        assert_non_null(err);
        assert_int_equal(r, -code);
        assert_int_equal(err->code, code);
        msg = strdup(err->msg);
        pxe_free(err);
        return msg;
}

void fx_set(struct fx *f, const char *a, const char *b, json_t *v)
{
        json_t *o;

        if (!b) {
                json_object_set_new(f->config, a, v);
                return;
        }
        o = json_object_get(f->config, a);
        if (!o) {
                o = json_object();
                json_object_set_new(f->config, a, o);
        }
        json_object_set_new(o, b, v);
}

int fx_mount_index(const struct lxc_spec *s, const char *needle)
{
        int n = 0;

        for (size_t i = 0; i < s->n_items; i++) {
                if (strcmp(s->items[i].key, "lxc.mount.entry") != 0)
                        continue;
                if (strstr(s->items[i].value, needle))
                        return n;
                n++;
        }
        return -1;
}
