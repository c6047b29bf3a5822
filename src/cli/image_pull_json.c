/* `pxcri image pull --json-stdin`: the pull as pxcrid runs it, in a process
 * of its own (libcurl, the TLS library and the unpacking buffers never enter
 * the daemon, which stays small, and a crash there is only a failed pull).
 *
 * stdin:  {"reference": "...", "auth": {"username", "password", "auth",
 *          "server_address", "identity_token", "registry_token"}}  (auth optional)
 * stdout: {"id": "sha256:..."}, exit 0
 *         {"code": <errno>, "message": "..."}, exit 1
 * Credentials come through stdin, never argv (which every user can read). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "image/import.h"
#include "image/layers.h"
#include "image/pull.h"
#include "util/cleanup.h"

#define REQUEST_MAX (1 << 20)

static char *secret_dup(json_t *auth, const char *key)
{
        const char *v = json_string_value(json_object_get(auth, key));

        return v && *v ? strdup(v) : NULL;
}


static int pull(struct cli *c, const char *ref, const struct image_auth *auth, char **ret_id, struct pxe **err)
{
        const char *root = c->cfg->image.root ? c->cfg->image.root : IMAGE_ROOT_DEFAULT;
        _cleanup_image_puller_ struct image_puller *p = NULL;
        _cleanup_image_pull_result_ struct image_pull_result *res = NULL;
        /* Held from the first blob to the record, so a prune cannot take them away. */
        _cleanup_close_ int lock = layers_lock_store(root, false, err);

        if (lock < 0)
                return lock;
        if (image_puller_new(&c->cfg->image, &p, err) < 0 ||
            image_pull(p, ref, auth_is_empty(auth) ? NULL : auth, NULL, &res, err) < 0 ||
            image_install_pulled(root, image_puller_blobstore(p), res, c->cfg->image.allow_devices, ret_id, err) < 0)
                return -pxe_code(err, EIO);
        return 0;
}

static int read_request(json_t **ret, struct pxe **err)
{
        _cleanup_free_ char *buf = malloc(REQUEST_MAX + 1);
        size_t n = buf ? fread(buf, 1, REQUEST_MAX + 1, stdin) : 0;
        json_error_t je;

        if (!buf)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (n > REQUEST_MAX)
                return pxe_set(err, EINVAL, "Pull request on stdin: larger than %d bytes", REQUEST_MAX);
        *ret = json_loadb(buf, n, 0, &je);
        explicit_bzero(buf, n);
        if (!json_is_object(*ret)) {
                json_decref(*ret);
                return pxe_set(err, EINVAL, "Pull request on stdin: not a JSON object (%s)", je.text);
        }
        return 0;
}

int cli_image_pull_json(struct cli *c, struct pxe **err)
{
        struct image_auth auth = { 0 };
        _cleanup_free_ char *id = NULL, *ref = NULL;
        json_t *req = NULL, *a, *out;
        int r;

        r = read_request(&req, err);
        ref = req ? secret_dup(req, "reference") : NULL;
        if (r >= 0 && !ref)
                r = pxe_set(err, EINVAL, "Pull request on stdin: \"reference\" is missing");
        a = req ? json_object_get(req, "auth") : NULL;
        auth = (struct image_auth) { secret_dup(a, "username"), secret_dup(a, "password"), secret_dup(a, "auth"),
                                     secret_dup(a, "server_address"), secret_dup(a, "identity_token"),
                                     secret_dup(a, "registry_token") };
        json_decref(req); /* jansson keeps no copy: the secrets live in auth only now */
        if (r >= 0)
                r = pull(c, ref, &auth, &id, err);
        image_auth_done(&auth);
        out = r >= 0 ? json_pack("{s:s}", "id", id)
                     : json_pack("{s:i, s:s}", "code", pxe_code(err, EIO), "message", *err ? (*err)->msg : "failed");
        if (out)
                json_dumpf(out, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(out);
        return r < 0 ? r : 0;
}
