/* PullImage: fetch an image from its registry, unpack its layers, record it.
 * Answers the image ID (config digest), as containerd does. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cri.h"
#include "cri/image_common.h"
#include "image/auth.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/spawn.h"

/* A pull that takes longer than this is killed. */
#define PULL_TIMEOUT_MS (60 * 60 * 1000)

struct pull_job {
        struct cri_job job;
        const struct image_config *cfg; /* the server's: read-only while it runs */
        char *root;
        char *ref;
        struct image_auth auth;
        bool has_auth;
        char *id;
};


/* An empty proto3 string is an absent field. */
static int dup_field(char **dst, const char *src)
{
        if (!src || !*src)
                return 0;
        *dst = strdup(src);
        return *dst ? 1 : -ENOMEM;
}

static int auth_copy(const Runtime__V1__AuthConfig *a, struct image_auth *ret, bool *ret_has)
{
        int r[6];

        *ret_has = false;
        if (!a)
                return 0;
        r[0] = dup_field(&ret->username, a->username);
        r[1] = dup_field(&ret->password, a->password);
        r[2] = dup_field(&ret->auth, a->auth);
        r[3] = dup_field(&ret->server_address, a->server_address);
        r[4] = dup_field(&ret->identity_token, a->identity_token);
        r[5] = dup_field(&ret->registry_token, a->registry_token);
        for (size_t i = 0; i < 6; i++)
                if (r[i] < 0)
                        return -ENOMEM;
        *ret_has = !auth_is_empty(ret);
        return 0;
}

/* {"reference": ref, "auth": {...}}: what `pxcri-image image pull
 * --json-stdin` reads; secrets travel on its stdin, never in argv. */
static char *request_json(const struct pull_job *pj)
{
        json_t *o = json_pack("{s:s}", "reference", pj->ref), *a = json_object();
        const struct image_auth *au = &pj->auth;
        const struct {
                const char *key;
                const char *value;
        } fields[] = {
                { "username", au->username }, { "password", au->password },
                { "auth", au->auth }, { "server_address", au->server_address },
                { "identity_token", au->identity_token }, { "registry_token", au->registry_token },
        };
        char *text;

        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                if (fields[i].value)
                        json_object_set_new(a, fields[i].key, json_string(fields[i].value));
        json_object_set_new(o, "auth", a);
        text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return text;
}

/* The pull runs in pxcri-image (its own process: libcurl, TLS and unpacking
 * never enter pxcrid, docs/cri.md); its JSON answer carries the error code. */
static void pull_run(struct cri_job *j)
{
        struct pull_job *pj = (struct pull_job *) j;
        struct cri_server *s = j->srv;
        const char *argv[8] = { s->pxcri_image_path };
        struct spawn_result res = { 0 };
        size_t n = 1;
        char *req = request_json(pj);
        json_t *out;
        int r;

        if (!req) {
                pxe_set(&j->err, ENOMEM, "Out of memory");
                return;
        }
        if (s->config_path) {
                argv[n++] = "--config";
                argv[n++] = s->config_path;
        }
        argv[n++] = "image";
        argv[n++] = "pull";
        argv[n++] = "--json-stdin";
        struct spawn_opts o = { .argv = argv, .envp = (char *const[]) { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL },
                                .capture_stdout = true, .capture_stderr = true, .timeout_ms = PULL_TIMEOUT_MS,
                                .stdin_data = req, .stdin_len = strlen(req) };
        r = spawn_run(&o, &res, &j->err);
        explicit_bzero(req, strlen(req));
        free(req);
        if (r < 0) {
                pxe_wrap(&j->err, "Pulling image %s", pj->ref);
                spawn_result_done(&res);
                return;
        }
        out = res.out ? json_loads(res.out, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
        if (json_is_string(json_object_get(out, "id")))
                pj->id = strdup(json_string_value(json_object_get(out, "id")));
        else if (json_is_string(json_object_get(out, "message")))
                pxe_set(&j->err, (int) json_integer_value(json_object_get(out, "code")) ?: EIO, "%s",
                        json_string_value(json_object_get(out, "message")));
        else
                pxe_set(&j->err, EIO, "Pulling image %s: pxcri-image exited %d: %.*s", pj->ref,
                        spawn_exit_code(res.status), (int) strcspn(res.errout ? res.errout : "", "\n"),
                        res.errout ? res.errout : "");
        if (!pj->id && !j->err)
                pxe_set(&j->err, ENOMEM, "Out of memory");
        json_decref(out);
        spawn_result_done(&res);
}

static void pull_done(struct cri_job *j)
{
        struct pull_job *pj = (struct pull_job *) j;
        Runtime__V1__PullImageResponse resp = RUNTIME__V1__PULL_IMAGE_RESPONSE__INIT;

        if (j->err) {
                log_info("PullImage %s failed: %s", pj->ref, j->err->msg);
                /* The blobs and layers it did store hold space a full disk
                 * needs back; nothing of a failed pull is listed. */
                if (pxe_code(&j->err, 0) == ENOSPC)
                        cri_image_prune_queue(j->srv);
                cri_fail(j->call, TAKE_PTR(j->err));
        } else {
                log_info("PullImage %s: %s", pj->ref, pj->id);
                resp.image_ref = pj->id;
                cri_answer(j->call, &resp.base);
        }
        image_auth_done(&pj->auth);
        free(pj->root);
        free(pj->ref);
        free(pj->id);
        free(pj);
}

void cri_pull_image(struct cri_server *s, struct cri_call *c, const Runtime__V1__PullImageRequest *req)
{
        struct pull_job *pj;

        if (!req->image || !req->image->image || !*req->image->image) {
                cri_failf(c, EINVAL, "PullImage: image.image is empty");
                return;
        }
        pj = calloc(1, sizeof(*pj));
        if (!pj) {
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        pj->cfg = &s->cfg->image;
        pj->root = strdup(cri_image_root(s));
        pj->ref = strdup(req->image->image);
        if (!pj->root || !pj->ref || auth_copy(req->auth, &pj->auth, &pj->has_auth) < 0) {
                image_auth_done(&pj->auth);
                free(pj->root);
                free(pj->ref);
                free(pj);
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        pj->job.call = c;
        pj->job.run = pull_run;
        pj->job.done = pull_done;
        cri_queue(s, &pj->job);
}
