/* CNI: loading the network configuration list and running its plugins.
 *
 * Per the CNI spec: a plugin is an executable named by "type", run with the
 * CNI_* environment, its configuration on stdin and its result (or error)
 * on stdout.  No result cache is kept: cni_add() hands the last result to
 * the caller, who keeps it with the pod and gives it back to cni_del().
 */
#include "net/cni.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/spawn.h"

#define CNI_CONF_MAX (1u << 20)
#define CNI_TIMEOUT_S_DEFAULT 60
#define CNI_MSG_MAX 2000

struct cni_net {
        char *name;
        char *version;
        char *source;
        json_t *plugins; /* array of plugin objects, each with a string "type" */
};

#define _cleanup_json_ _cleanup_(json_decrefp) /* jansson's own json_decrefp */

void cni_net_free(struct cni_net *n)
{
        if (!n)
                return;
        free(n->name);
        free(n->version);
        free(n->source);
        json_decref(n->plugins);
        free(n);
}

static void cni_net_freep(struct cni_net **n)
{
        cni_net_free(*n);
}

const char *cni_net_name(const struct cni_net *n)
{
        return n->name;
}

const char *cni_net_source(const struct cni_net *n)
{
        return n->source;
}

const char *cni_net_version(const struct cni_net *n)
{
        return n->version;
}

size_t cni_net_n_plugins(const struct cni_net *n)
{
        return json_array_size(n->plugins);
}

const char *cni_net_plugin_type(const struct cni_net *n, size_t i)
{
        return json_string_value(json_object_get(json_array_get(n->plugins, i), "type"));
}

/* ---- loading ---- */

static bool has_suffix(const char *s, const char *suffix)
{
        size_t ls = strlen(s), lx = strlen(suffix);

        return ls > lx && streq(s + ls - lx, suffix);
}

static int conf_file_filter(const struct dirent *d)
{
        return d->d_name[0] != '.' &&
               (has_suffix(d->d_name, ".conflist") || has_suffix(d->d_name, ".conf") ||
                has_suffix(d->d_name, ".json"));
}

static int conf_string(json_t *o, const char *key, char **dst, struct pxe **err)
{
        const char *s = json_string_value(json_object_get(o, key));

        if (!s || !*s)
                return pxe_set(err, EINVAL, "\"%s\" is missing or not a string", key);
        *dst = strdup(s);
        return *dst ? 0 : pxe_set(err, ENOMEM, "Out of memory");
}

/* A list ("plugins") or a single plugin (.conf: "type") into a cni_net. */
static int net_from_json(json_t *root, const char *source, struct cni_net **ret, struct pxe **err)
{
        _cleanup_(cni_net_freep) struct cni_net *n = calloc(1, sizeof(*n));
        json_t *plugins;
        int r;

        if (!n)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (!json_is_object(root))
                return pxe_set(err, EINVAL, "not a JSON object");
        if ((r = conf_string(root, "name", &n->name, err)) < 0 ||
            (r = conf_string(root, "cniVersion", &n->version, err)) < 0)
                return r;
        plugins = json_object_get(root, "plugins");
        if (plugins) {
                if (!json_is_array(plugins) || json_array_size(plugins) == 0)
                        return pxe_set(err, EINVAL, "\"plugins\" is not a non-empty array");
                n->plugins = json_incref(plugins);
        } else {
                n->plugins = json_array();
                if (!n->plugins || json_array_append(n->plugins, root) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
        }
        for (size_t i = 0; i < json_array_size(n->plugins); i++) {
                json_t *p = json_array_get(n->plugins, i);
                const char *type = json_string_value(json_object_get(p, "type"));

                if (!json_is_object(p) || !type || !*type)
                        return pxe_set(err, EINVAL, "plugin %zu has no \"type\"", i);
        }
        n->source = strdup(source);
        if (!n->source)
                return pxe_set(err, ENOMEM, "Out of memory");
        *ret = TAKE_PTR(n);
        return 0;
}

static int load_file(const char *path, struct cni_net **ret, struct pxe **err)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_t *root = NULL;
        json_error_t je;
        size_t len;
        int r;

        if ((r = fs_read_file(path, CNI_CONF_MAX, &text, &len, err)) < 0)
                return r;
        root = json_loadb(text, len, 0, &je);
        if (!root)
                return pxe_set(err, EINVAL, "%s: line %d: %s", path, je.line, je.text);
        if ((r = net_from_json(root, path, ret, err)) < 0)
                return pxe_wrap(err, "%s", path);
        return 0;
}

int cni_load(const char *conf_dir, struct cni_net **ret, struct pxe **err)
{
        struct dirent **ents = NULL;
        _cleanup_pxe_ struct pxe *first_skip = NULL;
        int n, r = -ENOENT;

        n = scandir(conf_dir, &ents, conf_file_filter, alphasort);
        if (n < 0 && errno != ENOENT)
                return pxe_set_errno(err, errno, "Reading CNI configuration directory %s", conf_dir);
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;
                _cleanup_pxe_ struct pxe *e = NULL;

                if (r < 0 && asprintf(&path, "%s/%s", conf_dir, ents[i]->d_name) >= 0) {
                        r = load_file(path, ret, &e);
                        if (r < 0 && !first_skip)
                                first_skip = TAKE_PTR(e);
                }
                free(ents[i]);
        }
        free(ents);
        if (r >= 0)
                return 0;
        if (first_skip)
                return pxe_set(err, ENOENT, "No CNI network configuration in %s (skipped %s)", conf_dir,
                               first_skip->msg);
        return pxe_set(err, ENOENT, "No CNI network configuration in %s", conf_dir);
}

/* ---- plugin configuration ---- */

int cni_plugin_find(const char *type, const char *const *bin_dirs, size_t n_bin_dirs, char **ret_path,
                    struct pxe **err)
{
        if (!type || !*type || strchr(type, '/') || strstr(type, ".."))
                return pxe_set(err, EINVAL, "Invalid CNI plugin type \"%s\"", type ? type : "");
        for (size_t i = 0; i < n_bin_dirs; i++) {
                char *p;

                if (asprintf(&p, "%s/%s", bin_dirs[i], type) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                if (access(p, X_OK) == 0 && !fs_dir_exists(p)) {
                        *ret_path = p;
                        return 0;
                }
                free(p);
        }
        return pxe_set(err, ENOENT, "CNI plugin %s not found in %zu plugin directories%s%s", type, n_bin_dirs,
                       n_bin_dirs ? ", first " : "", n_bin_dirs ? bin_dirs[0] : "");
}

static json_t *port_mappings_json(const struct cni_request *req)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < req->n_ports; i++) {
                const struct cni_port_mapping *m = &req->ports[i];
                json_t *o = json_pack("{s:i, s:i, s:s}", "hostPort", m->host_port, "containerPort",
                                      m->container_port, "protocol", m->protocol ? m->protocol : "tcp");

                if (o && m->host_ip && *m->host_ip)
                        json_object_set_new(o, "hostIP", json_string(m->host_ip));
                if (!o || json_array_append_new(a, o) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

/* runtimeConfig for what the plugin declares in "capabilities"; NULL
 * (and no error) when there is nothing to give it. */
static int runtime_config(json_t *plugin, const struct cni_request *req, json_t **ret)
{
        json_t *caps = json_object_get(plugin, "capabilities");
        _cleanup_json_ json_t *rc = json_object();

        if (!rc)
                return -ENOMEM;
        if (json_is_true(json_object_get(caps, "portMappings")) && req->n_ports > 0) {
                json_t *pm = port_mappings_json(req);

                if (!pm || json_object_set_new(rc, "portMappings", pm) < 0)
                        return -ENOMEM;
        }
        if (json_is_true(json_object_get(caps, "ipRanges")) && req->pod_cidr && *req->pod_cidr) {
                json_t *ranges = json_pack("[[{s:s}]]", "subnet", req->pod_cidr);

                if (!ranges || json_object_set_new(rc, "ipRanges", ranges) < 0)
                        return -ENOMEM;
        }
        *ret = json_object_size(rc) ? TAKE_PTR(rc) : NULL;
        return 0;
}

char *cni_plugin_config(const struct cni_net *n, size_t i, const struct cni_request *req,
                        const char *prev_result, struct pxe **err)
{
        _cleanup_json_ json_t *conf = json_deep_copy(json_array_get(n->plugins, i));
        json_t *rc = NULL;
        char *s;

        if (!conf)
                return i < cni_net_n_plugins(n) ? (pxe_set(err, ENOMEM, "Out of memory"), NULL)
                                                 : (pxe_set(err, EINVAL, "No CNI plugin %zu", i), NULL);
        if (json_object_set_new(conf, "name", json_string(n->name)) < 0 ||
            json_object_set_new(conf, "cniVersion", json_string(n->version)) < 0)
                return pxe_set(err, ENOMEM, "Out of memory"), NULL;
        json_object_del(conf, "prevResult");
        json_object_del(conf, "runtimeConfig");
        if (prev_result && *prev_result) {
                json_error_t je;
                json_t *prev = json_loads(prev_result, 0, &je);

                if (!json_is_object(prev)) {
                        json_decref(prev);
                        return pxe_set(err, EINVAL, "Previous CNI result is not a JSON object"), NULL;
                }
                json_object_set_new(conf, "prevResult", prev);
        }
        if (runtime_config(json_array_get(n->plugins, i), req, &rc) < 0)
                return pxe_set(err, ENOMEM, "Out of memory"), NULL;
        if (rc)
                json_object_set_new(conf, "runtimeConfig", rc);
        s = json_dumps(conf, JSON_COMPACT);
        if (!s)
                pxe_set(err, ENOMEM, "Out of memory");
        return s;
}

/* ---- results ---- */

void cni_result_done(struct cni_result *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->n_ips; i++)
                free(r->ips[i]);
        free(r->ips);
        free(r->json);
        r->ips = NULL;
        r->n_ips = 0;
        r->json = NULL;
}

/* Append "a.b.c.d/nn" without its prefix length. */
static int add_ip(struct cni_result *r, const char *cidr)
{
        size_t len = strcspn(cidr, "/");
        char **v;

        if (!len)
                return 0;
        v = realloc(r->ips, (r->n_ips + 1) * sizeof(char *));
        if (!v)
                return -ENOMEM;
        r->ips = v;
        r->ips[r->n_ips] = strndup(cidr, len);
        if (!r->ips[r->n_ips])
                return -ENOMEM;
        r->n_ips++;
        return 0;
}

/* The addresses of a result, IPv4 first (two passes over the list). */
static int result_ips(json_t *root, struct cni_result *r)
{
        json_t *ips = json_object_get(root, "ips");

        for (int v6 = 0; v6 < 2; v6++) {
                if (json_is_array(ips)) {
                        for (size_t i = 0; i < json_array_size(ips); i++) {
                                const char *a = json_string_value(json_object_get(json_array_get(ips, i), "address"));

                                if (a && (strchr(a, ':') != NULL) == v6 && add_ip(r, a) < 0)
                                        return -ENOMEM;
                        }
                } else {
                        json_t *ipx = json_object_get(root, v6 ? "ip6" : "ip4");
                        const char *a = json_string_value(json_object_get(ipx, "ip"));

                        if (a && add_ip(r, a) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

static void trim_end(char *s)
{
        size_t len = strlen(s);

        while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
                s[--len] = '\0';
}

static int plugin_failed(const char *type, const char *command, int status, const char *out, const char *errout,
                         struct pxe **err)
{
        _cleanup_json_ json_t *root = out ? json_loads(out, 0, NULL) : NULL;
        const char *msg = json_string_value(json_object_get(root, "msg"));
        const char *details = json_string_value(json_object_get(root, "details"));
        _cleanup_free_ char *text = NULL;

        if (msg && *msg)
                return pxe_set(err, EIO, "CNI plugin %s failed (%s): %.*s%s%.*s", type, command, CNI_MSG_MAX, msg,
                               details && *details ? ": " : "", CNI_MSG_MAX, details && *details ? details : "");
        text = strdup(errout && *errout ? errout : out && *out ? out : "");
        if (text)
                trim_end(text);
        if (text && *text)
                return pxe_set(err, EIO, "CNI plugin %s failed (%s): %.*s", type, command, CNI_MSG_MAX, text);
        return pxe_set(err, EIO, "CNI plugin %s failed (%s): exit status %d", type, command, spawn_exit_code(status));
}

int cni_parse_result(const char *type, const char *command, int status, const char *out, const char *errout,
                     struct cni_result *ret, struct pxe **err)
{
        struct cni_result r = { 0 };
        _cleanup_json_ json_t *root = NULL;
        json_error_t je;

        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return plugin_failed(type, command, status, out, errout, err);
        if (!ret)
                return 0;
        if (out && *out) {
                root = json_loads(out, 0, &je);
                if (!json_is_object(root))
                        return pxe_set(err, EIO, "CNI plugin %s (%s) printed a result that is not a JSON object: %s",
                                       type, command, root ? "not an object" : je.text);
                if (json_object_get(root, "code") && json_object_get(root, "msg"))
                        return plugin_failed(type, command, status, out, errout, err);
                if (result_ips(root, &r) < 0 || !(r.json = strdup(out))) {
                        cni_result_done(&r);
                        return pxe_set(err, ENOMEM, "Out of memory");
                }
        }
        *ret = r;
        return 0;
}

/* ---- running plugins ---- */

static void free_strv(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static void free_strvp(char ***v)
{
        free_strv(*v);
}

static char *join_dirs(const char *const *dirs, size_t n)
{
        size_t len = 1;
        char *s;

        for (size_t i = 0; i < n; i++)
                len += strlen(dirs[i]) + 1;
        s = calloc(1, len);
        for (size_t i = 0; s && i < n; i++) {
                if (i)
                        strcat(s, ":");
                strcat(s, dirs[i]);
        }
        return s;
}

static char *cni_args(const struct cni_request *req)
{
        char *s;

        if (asprintf(&s, "IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
                     req->pod_namespace ? req->pod_namespace : "", req->pod_name ? req->pod_name : "",
                     req->container_id, req->pod_uid ? req->pod_uid : "") < 0)
                return NULL;
        return s;
}

static char *env_kv(const char *key, const char *value)
{
        char *s;

        return asprintf(&s, "%s=%s", key, value) < 0 ? NULL : s;
}

static char **plugin_env(const char *command, const struct cni_request *req, const char *const *bin_dirs,
                         size_t n_bin_dirs)
{
        _cleanup_free_ char *args = cni_args(req);
        _cleanup_free_ char *path = join_dirs(bin_dirs, n_bin_dirs);
        char **env = calloc(8, sizeof(char *));
        bool ok;

        if (!env || !args || !path) {
                free(env);
                return NULL;
        }
        env[0] = env_kv("CNI_COMMAND", command);
        env[1] = env_kv("CNI_CONTAINERID", req->container_id);
        env[2] = env_kv("CNI_NETNS", req->netns ? req->netns : "");
        env[3] = env_kv("CNI_IFNAME", req->ifname ? req->ifname : "eth0");
        env[4] = env_kv("CNI_ARGS", args);
        env[5] = env_kv("CNI_PATH", path);
        env[6] = strdup("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
        ok = env[0] && env[1] && env[2] && env[3] && env[4] && env[5] && env[6];
        if (!ok) {
                for (int i = 0; i < 7; i++)
                        free(env[i]);
                free(env);
                return NULL;
        }
        return env;
}

/* Run plugin i with command; the result (ADD) in ret. */
static int run_plugin(const struct cni_net *n, size_t i, const char *command, const char *const *bin_dirs,
                      size_t n_bin_dirs, const struct cni_request *req, const char *prev_result,
                      struct cni_result *ret, struct pxe **err)
{
        const char *type = cni_net_plugin_type(n, i);
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ char *conf = NULL;
        _cleanup_(free_strvp) char **env = NULL;
        struct spawn_result res = { 0 };
        int r;

        if ((r = cni_plugin_find(type, bin_dirs, n_bin_dirs, &path, err)) < 0)
                return r;
        if (!(conf = cni_plugin_config(n, i, req, prev_result, err)))
                return -pxe_code(err, EINVAL);
        if (!(env = plugin_env(command, req, bin_dirs, n_bin_dirs)))
                return pxe_set(err, ENOMEM, "Out of memory");
        unsigned timeout_s = req->timeout_s ? req->timeout_s : CNI_TIMEOUT_S_DEFAULT;
        const char *argv[] = { path, NULL };
        struct spawn_opts o = {
                .argv = argv,
                .envp = env,
                .capture_stdout = true,
                .capture_stderr = true,
                .timeout_ms = (int) (timeout_s * 1000),
                .own_pgroup = true,
                .stdin_data = conf,
                .stdin_len = strlen(conf),
        };
        r = spawn_run(&o, &res, err);
        if (r == -ETIMEDOUT) {
                spawn_result_done(&res);
                pxe_freep(err);
                return pxe_set(err, ETIMEDOUT, "CNI plugin %s (%s) did not finish within %u s: killed", type, command,
                               timeout_s);
        }
        if (r < 0) {
                spawn_result_done(&res);
                pxe_wrap(err, "CNI plugin %s (%s)", type, command);
                return r;
        }
        r = cni_parse_result(type, command, res.status, res.out, res.errout, ret, err);
        spawn_result_done(&res);
        return r;
}

static int validate_request(const struct cni_request *req, bool add, struct pxe **err)
{
        const char *ifname = req->ifname ? req->ifname : "eth0";

        if (!req->container_id || !*req->container_id)
                return pxe_set(err, EINVAL, "CNI: no container ID given");
        if (add && (!req->netns || !*req->netns))
                return pxe_set(err, EINVAL, "CNI: no network namespace given for %s", req->container_id);
        if (!*ifname || strlen(ifname) >= 16 || strchr(ifname, '/'))
                return pxe_set(err, EINVAL, "CNI: invalid interface name \"%s\"", ifname);
        for (size_t i = 0; i < req->n_ports; i++) {
                const struct cni_port_mapping *m = &req->ports[i];

                if (m->host_port < 1 || m->host_port > 65535 || m->container_port < 1 || m->container_port > 65535)
                        return pxe_set(err, EINVAL, "CNI: invalid port mapping %d:%d", m->host_port,
                                       m->container_port);
        }
        return 0;
}

/* The portmap plugin does nothing for a pod without port mappings but start
 * a Go program (20-40 ms here): it is left out of ADD and DEL then.  Its DEL
 * only removes the rules of mappings, and without mappings its ADD made none. */
static bool skip_plugin(const struct cni_net *n, size_t i, const struct cni_request *req)
{
        const char *type = cni_net_plugin_type(n, i);

        return req->n_ports == 0 && type && strcmp(type, "portmap") == 0;
}

/* DEL plugins [0, upto) in reverse, collecting errors into one message. */
static int del_plugins(const struct cni_net *n, size_t upto, const char *const *bin_dirs, size_t n_bin_dirs,
                       const struct cni_request *req, const char *prev_result, struct pxe **err)
{
        _cleanup_free_ char *msgs = NULL;
        int first = 0;

        for (size_t i = upto; i-- > 0;) {
                _cleanup_pxe_ struct pxe *e = NULL;
                int r = skip_plugin(n, i, req) ? 0 : run_plugin(n, i, "DEL", bin_dirs, n_bin_dirs, req, prev_result, NULL, &e);
                char *joined;

                if (r >= 0)
                        continue;
                if (!first)
                        first = r;
                if (asprintf(&joined, "%s%s%s", msgs ? msgs : "", msgs ? "; " : "", e ? e->msg : "failed") < 0)
                        continue;
                free(msgs);
                msgs = joined;
        }
        if (first)
                return pxe_set(err, -first, "Removing pod %s from CNI network %s: %s", req->container_id, n->name,
                               msgs ? msgs : "failed");
        return 0;
}

int cni_add(const struct cni_net *n, const char *const *bin_dirs, size_t n_bin_dirs,
            const struct cni_request *req, struct cni_result *ret, struct pxe **err)
{
        struct cni_result last = { 0 };
        size_t np = cni_net_n_plugins(n);
        int r;

        if ((r = validate_request(req, true, err)) < 0)
                return r;
        for (size_t i = 0; i < np; i++) {
                struct cni_result cur = { 0 };

                if (skip_plugin(n, i, req))
                        continue;
                r = run_plugin(n, i, "ADD", bin_dirs, n_bin_dirs, req, last.json, &cur, err);
                if (r < 0) {
                        /* Undo what the list did so far, the failed plugin included
                         * (it may have done half of its work). */
                        del_plugins(n, i + 1, bin_dirs, n_bin_dirs, req, last.json, NULL);
                        cni_result_done(&last);
                        pxe_wrap(err, "Adding pod %s to CNI network %s", req->container_id, n->name);
                        return r;
                }
                if (cur.json) {
                        cni_result_done(&last);
                        last = cur;
                }
        }
        *ret = last;
        return 0;
}

int cni_del(const struct cni_net *n, const char *const *bin_dirs, size_t n_bin_dirs,
            const struct cni_request *req, const char *prev_result, struct pxe **err)
{
        _cleanup_json_ json_t *prev = prev_result ? json_loads(prev_result, 0, NULL) : NULL;
        int r;

        if ((r = validate_request(req, false, err)) < 0)
                return r;
        /* A result we cannot read is no reason to leave the pod's network
         * behind: DEL without it, as for an unknown result. */
        if (!json_is_object(prev))
                prev_result = NULL;
        return del_plugins(n, cni_net_n_plugins(n), bin_dirs, n_bin_dirs, req, prev_result, err);
}
