#include "bundle/spec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* containerd's default capabilities (oci.defaultUnixCaps). */
static const char *const default_caps[] = {
        "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",      "CAP_MKNOD",
        "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",           "CAP_SETFCAP",     "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",     "CAP_AUDIT_WRITE",
};

static const char *const masked_paths[] = {
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static const char *const namespaces[] = { "pid", "ipc", "uts", "mount", "network" };

static json_t *str_array(const char *const *v, size_t n)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static json_t *default_mounts(void)
{
        return json_pack(
                "[{s:s,s:s,s:s}, {s:s,s:s,s:s,s:[s,s,s,s]}, {s:s,s:s,s:s,s:[s,s,s,s,s,s]},"
                " {s:s,s:s,s:s,s:[s,s,s,s,s]}, {s:s,s:s,s:s,s:[s,s,s]}, {s:s,s:s,s:s,s:[s,s,s,s]},"
                " {s:s,s:s,s:s,s:[s,s,s,s,s]}, {s:s,s:s,s:s,s:[s,s,s,s]}]",
                "destination", "/proc", "type", "proc", "source", "proc",
                "destination", "/dev", "type", "tmpfs", "source", "tmpfs", "options", "nosuid", "strictatime",
                "mode=755", "size=65536k",
                "destination", "/dev/pts", "type", "devpts", "source", "devpts", "options", "nosuid", "noexec",
                "newinstance", "ptmxmode=0666", "mode=0620", "gid=5",
                "destination", "/dev/shm", "type", "tmpfs", "source", "shm", "options", "nosuid", "noexec", "nodev",
                "mode=1777", "size=65536k",
                "destination", "/dev/mqueue", "type", "mqueue", "source", "mqueue", "options", "nosuid", "noexec",
                "nodev",
                "destination", "/sys", "type", "sysfs", "source", "sysfs", "options", "nosuid", "noexec", "nodev",
                "ro",
                "destination", "/sys/fs/cgroup", "type", "cgroup", "source", "cgroup", "options", "nosuid",
                "noexec", "nodev", "relatime", "ro",
                "destination", "/run", "type", "tmpfs", "source", "tmpfs", "options", "nosuid", "strictatime",
                "mode=755", "size=65536k");
}

static json_t *default_linux(bool seccomp)
{
        json_t *ns = json_array(), *l;

        for (size_t i = 0; ns && i < ARRAY_SIZE(namespaces); i++)
                json_array_append_new(ns, json_pack("{s:s}", "type", namespaces[i]));
        l = json_pack("{s:o, s:o, s:o, s:{s:[{s:b, s:s}]}}", "namespaces", ns, "maskedPaths",
                      str_array(masked_paths, ARRAY_SIZE(masked_paths)), "readonlyPaths",
                      str_array(readonly_paths, ARRAY_SIZE(readonly_paths)), "resources", "devices", "allow", 0,
                      "access", "rwm");
        if (l && seccomp)
                json_object_set_new(l, "seccomp", bundle_seccomp_default());
        return l;
}

static json_t *capabilities(void)
{
        json_t *c = json_object();

        json_object_set_new(c, "bounding", str_array(default_caps, ARRAY_SIZE(default_caps)));
        json_object_set_new(c, "effective", str_array(default_caps, ARRAY_SIZE(default_caps)));
        json_object_set_new(c, "permitted", str_array(default_caps, ARRAY_SIZE(default_caps)));
        return c;
}

/* Append the strings of a JSON array (NULL is fine) to a. */
static int append_json_strings(json_t *a, json_t *src, const char *what, struct pxe **err)
{
        size_t i;
        json_t *v;

        if (src && !json_is_array(src) && !json_is_null(src))
                return pxe_set(err, EINVAL, "Image config: %s is not an array", what);
        json_array_foreach(src, i, v) {
                if (!json_is_string(v))
                        return pxe_set(err, EINVAL, "Image config: %s[%zu] is not a string", what, i);
                json_array_append(a, v);
        }
        return 0;
}

static int build_args(const struct bundle_spec_request *req, json_t *cfg, json_t **ret, struct pxe **err)
{
        json_t *a = json_array();

        if (!a)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (req->command) {
                for (size_t i = 0; i < req->n_command; i++)
                        json_array_append_new(a, json_string(req->command[i]));
        } else if (append_json_strings(a, json_object_get(cfg, "Entrypoint"), "Entrypoint", err) < 0) {
                json_decref(a);
                return -EINVAL;
        }
        if (req->command || req->args_set) {
                for (size_t i = 0; i < req->n_args; i++)
                        json_array_append_new(a, json_string(req->args[i]));
        } else if (append_json_strings(a, json_object_get(cfg, "Cmd"), "Cmd", err) < 0) {
                json_decref(a);
                return -EINVAL;
        }
        if (json_array_size(a) == 0) {
                json_decref(a);
                return pxe_set(err, EINVAL, "No command: the image has no Entrypoint or Cmd and none was given");
        }
        *ret = a;
        return 0;
}

/* Replace the entry with the same KEY= in env, or append. */
static void env_set(json_t *env, const char *kv)
{
        const char *eq = strchr(kv, '=');
        size_t klen = eq ? (size_t) (eq - kv) + 1 : strlen(kv);
        size_t i;
        json_t *v;

        json_array_foreach(env, i, v) {
                const char *s = json_string_value(v);

                if (s && strncmp(s, kv, klen) == 0 && (eq || s[klen] == '=' || s[klen] == '\0')) {
                        json_array_set_new(env, i, json_string(kv));
                        return;
                }
        }
        json_array_append_new(env, json_string(kv));
}

static bool env_has(json_t *env, const char *key)
{
        size_t i, n = strlen(key);
        json_t *v;

        json_array_foreach(env, i, v) {
                const char *s = json_string_value(v);

                if (s && strncmp(s, key, n) == 0 && s[n] == '=')
                        return true;
        }
        return false;
}

static int build_env(const struct bundle_spec_request *req, json_t *cfg, json_t **ret, struct pxe **err)
{
        json_t *env = json_array(), *img = json_array();

        if (!env || !img || append_json_strings(img, json_object_get(cfg, "Env"), "Env", err) < 0) {
                json_decref(env);
                json_decref(img);
                return -pxe_code(err, ENOMEM);
        }
        for (size_t i = 0; i < json_array_size(img); i++)
                env_set(env, json_string_value(json_array_get(img, i)));
        json_decref(img);
        for (size_t i = 0; i < req->n_env; i++) {
                if (!strchr(req->env[i], '=') || req->env[i][0] == '=') {
                        json_decref(env);
                        return pxe_set(err, EINVAL, "Invalid environment entry \"%s\" (KEY=VALUE)", req->env[i]);
                }
                env_set(env, req->env[i]);
        }
        if (!env_has(env, "PATH"))
                json_array_insert_new(env, 0, json_string(DEFAULT_PATH));
        if (req->terminal && !env_has(env, "TERM"))
                json_array_append_new(env, json_string("TERM=xterm"));
        *ret = env;
        return 0;
}

static json_t *user_json(const struct bundle_user *u)
{
        json_t *o = json_pack("{s:I, s:I}", "uid", (json_int_t) u->uid, "gid", (json_int_t) u->gid);

        if (o && u->n_additional_gids) {
                json_t *a = json_array();

                for (size_t i = 0; i < u->n_additional_gids; i++)
                        json_array_append_new(a, json_integer(u->additional_gids[i]));
                json_object_set_new(o, "additionalGids", a);
        }
        return o;
}

static const char *cfg_string(json_t *cfg, const char *key)
{
        const char *s = json_string_value(json_object_get(cfg, key));

        return s && *s ? s : NULL;
}

static int build_process(const struct bundle_spec_request *req, json_t *cfg, json_t **ret, struct pxe **err)
{
        const char *user = req->user ? req->user : cfg_string(cfg, "User");
        const char *cwd = req->cwd ? req->cwd : cfg_string(cfg, "WorkingDir");
        struct bundle_user u = { 0 };
        json_t *args = NULL, *env = NULL;

        if (cwd && cwd[0] != '/')
                return pxe_set(err, EINVAL, "Working directory \"%s\" is not absolute", cwd);
        if (build_args(req, cfg, &args, err) < 0)
                return -pxe_code(err, EINVAL);
        if (build_env(req, cfg, &env, err) < 0) {
                json_decref(args);
                return -pxe_code(err, EINVAL);
        }
        if (bundle_spec_resolve_user(req->rootfs_fd, user, &u, err) < 0) {
                json_decref(args);
                json_decref(env);
                return -pxe_code(err, EINVAL);
        }
        *ret = json_pack("{s:b, s:o, s:o, s:o, s:s, s:o, s:[{s:s, s:i, s:i}], s:b}", "terminal", req->terminal,
                         "user", user_json(&u), "args", args, "env", env, "cwd", cwd ? cwd : "/", "capabilities",
                         capabilities(), "rlimits", "type", "RLIMIT_NOFILE", "hard", 1024, "soft", 1024,
                         "noNewPrivileges", 0);
        bundle_user_done(&u);
        return *ret ? 0 : pxe_set(err, ENOMEM, "Out of memory");
}

/* ExposedPorts {"80/tcp": {}, ...} -> "80/tcp,..." */
static char *exposed_ports(json_t *cfg)
{
        json_t *ports = json_object_get(cfg, "ExposedPorts"), *v;
        const char *k;
        char *s = NULL;

        json_object_foreach(ports, k, v) {
                char *n = NULL;

                if (asprintf(&n, "%s%s%s", s ? s : "", s ? "," : "", k) < 0) {
                        free(s);
                        return NULL;
                }
                free(s);
                s = n;
        }
        return s;
}

static json_t *build_annotations(const struct bundle_spec_request *req, json_t *cfg)
{
        json_t *a = json_object(), *labels = json_object_get(cfg, "Labels"), *v;
        _cleanup_free_ char *ports = exposed_ports(cfg);
        const char *k, *stop = cfg_string(cfg, "StopSignal");

        json_object_foreach(labels, k, v)
                if (json_is_string(v))
                        json_object_set(a, k, v);
        if (ports)
                json_object_set_new(a, "org.opencontainers.image.exposedPorts", json_string(ports));
        if (stop)
                json_object_set_new(a, "org.opencontainers.image.stopSignal", json_string(stop));
        if (req->image_name) {
                json_object_set_new(a, "io.kubernetes.cri.image-name", json_string(req->image_name));
                json_object_set_new(a, "org.opencontainers.image.ref.name", json_string(req->image_name));
        }
        if (req->image_id)
                json_object_set_new(a, "io.pxcri.image-id", json_string(req->image_id));
        for (size_t i = 0; i < req->n_annotations; i++)
                json_object_set_new(a, req->annotations[i].key, json_string(req->annotations[i].value));
        return a;
}

int bundle_spec_generate(const struct bundle_spec_request *req, json_t **ret, struct pxe **err)
{
        json_t *image = req->image_config ? json_loads(req->image_config, 0, NULL) : NULL;
        json_t *cfg = json_object_get(image, "config"), *process = NULL, *spec;

        if (!json_is_object(image)) {
                json_decref(image);
                return pxe_set(err, EINVAL, "The image config is not a JSON object");
        }
        if (build_process(req, cfg, &process, err) < 0) {
                json_decref(image);
                return -pxe_code(err, EINVAL);
        }
        spec = json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o, s:o}", "ociVersion", "1.0.2", "process", process,
                         "root", "path", "rootfs", "readonly", req->readonly_rootfs, "hostname",
                         req->hostname ? req->hostname : "pxcri", "mounts", default_mounts(), "linux",
                         default_linux(!req->no_seccomp), "annotations", build_annotations(req, cfg));
        json_decref(image);
        if (!spec)
                return pxe_set(err, ENOMEM, "Out of memory");
        *ret = spec;
        return 0;
}
