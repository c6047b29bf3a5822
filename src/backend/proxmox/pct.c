/* The pct transport: /usr/sbin/pct on the Proxmox host, argv only (util/spawn).
 *
 * pct runs each task to its end before it exits, so nothing returns a UPID;
 * every call is bounded by backends.proxmox.timeout (pct is killed when it
 * passes).  pct only sees this node: a VMID another node holds is found when
 * the create fails ("already exists"), and pve_create() then tries the next. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "backend/proxmox/client_private.h"
#include "util/cleanup.h"
#include "util/spawn.h"

#define PCT_ARGS_MAX 128
#define PCT_ERR_MAX 400

/* pct's stderr as one line: its last lines, joined. */
static void err_text(const char *errout, char *buf, size_t size)
{
        size_t used = 0;

        buf[0] = '\0';
        for (const char *p = errout ? errout : ""; *p && used + 1 < size; p++) {
                char ch = *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p;

                if (ch == ' ' && (used == 0 || buf[used - 1] == ' '))
                        continue;
                buf[used++] = ch;
        }
        while (used && buf[used - 1] == ' ')
                used--;
        buf[used] = '\0';
}

static int err_code(const char *text)
{
        if (strstr(text, "already exists"))
                return EEXIST;
        if (strstr(text, "does not exist") || strstr(text, "no such"))
                return ENOENT;
        if (strstr(text, "400 ") || strstr(text, "Parameter verification failed"))
                return EINVAL;
        if (strstr(text, "Permission") || strstr(text, "permission"))
                return EPERM;
        return EIO;
}

/* Run pct with argv[1..]; stdout in *ret_out when wanted. */
static int pct_run(struct pve_client *c, const char **argv, char **ret_out, struct pxe **err)
{
        struct spawn_opts o = { .argv = argv, .capture_stdout = true, .capture_stderr = true, .null_stdin = true,
                                .timeout_ms = (int) c->cfg->timeout * 1000 };
        struct spawn_result res = { 0 };
        char text[PCT_ERR_MAX];
        int r, code;

        argv[0] = c->cfg->pct_path;
        r = spawn_run(&o, &res, err);
        if (r == -ETIMEDOUT) {
                pxe_freep(err);
                r = pxe_set(err, ETIMEDOUT, "pct %s %s: no result within %u s (backends.proxmox.timeout); pct was killed",
                            argv[1], argv[2] ? argv[2] : "", c->cfg->timeout);
        } else if (r < 0) {
                pxe_wrap(err, "Running %s", c->cfg->pct_path);
        } else if ((code = spawn_exit_code(res.status)) != 0) {
                err_text(res.errout, text, sizeof(text));
                r = pxe_set(err, err_code(text), "pct %s %s: exit %d: %s", argv[1], argv[2] ? argv[2] : "", code,
                            text[0] ? text : "(no error text)");
        } else if (ret_out) {
                *ret_out = TAKE_PTR(res.out);
        }
        spawn_result_done(&res);
        return r;
}

static int pct_open(struct pve_client *c, struct pxe **err)
{
        return 0;
}

static void pct_close(struct pve_client *c)
{
}

static int pct_version(struct pve_client *c, char **ret, struct pxe **err)
{
        return pxe_set(err, ENOSYS, "The pct transport cannot tell the Proxmox version (use transport \"api\")");
}

/* pct acts on this host: its node is this host's short name. */
static int pct_node(struct pve_client *c, char **ret, struct pxe **err)
{
        struct utsname u;

        if (uname(&u) < 0)
                return pxe_set_errno(err, errno, "uname");
        u.nodename[strcspn(u.nodename, ".")] = '\0';
        *ret = strdup(u.nodename);
        return *ret ? 0 : pxe_set(err, ENOMEM, "Out of memory");
}

static int list(struct pve_client *c, struct pct_list_entry **ret, size_t *ret_n, struct pxe **err)
{
        const char *argv[] = { NULL, "list", NULL };
        _cleanup_free_ char *out = NULL;
        int r = pct_run(c, argv, &out, err);

        return r < 0 ? r : pct_parse_list(out, ret, ret_n, err);
}

static int pct_used_vmids(struct pve_client *c, unsigned **ret, size_t *ret_n, struct pxe **err)
{
        _cleanup_free_ struct pct_list_entry *v = NULL;
        unsigned *ids;
        size_t n = 0;

        if (list(c, &v, &n, err) < 0)
                return -pxe_code(err, EIO);
        ids = calloc(n + 1, sizeof(*ids));
        if (!ids)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (size_t i = 0; i < n; i++)
                ids[i] = v[i].vmid;
        *ret = ids;
        *ret_n = n;
        return 0;
}

static int pct_check_vmid(struct pve_client *c, unsigned vmid, struct pxe **err)
{
        return 0;
}

/* pct <cmd> <vmid> [<ostemplate>] --key value ...: ostemplate is positional
 * for create; values are separate words, so "--net0 name=eth0,..." needs no quoting. */
static int run_with_options2(struct pve_client *c, const char *cmd, unsigned vmid, unsigned vmid2,
                             const struct pve_kv *p, size_t n, char **ret_out, struct pxe **err)
{
        const char *argv[PCT_ARGS_MAX + 1];
        char opts[PCT_ARGS_MAX / 2][64];
        bool create = streq(cmd, "create");
        char id[16], id2[16];
        size_t a = 0, k = 0;

        snprintf(id, sizeof(id), "%u", vmid);
        snprintf(id2, sizeof(id2), "%u", vmid2);
        argv[a++] = NULL; /* pct_path */
        argv[a++] = cmd;
        argv[a++] = id;
        if (vmid2)
                argv[a++] = id2;
        for (size_t i = 0; create && i < n; i++)
                if (streq(p[i].key, "ostemplate"))
                        argv[a++] = p[i].value;
        if (create && a != 4)
                return pxe_set(err, EINVAL, "pct create needs exactly one ostemplate parameter");
        for (size_t i = 0; i < n; i++) {
                if (create && streq(p[i].key, "ostemplate"))
                        continue;
                if (a + 3 > PCT_ARGS_MAX || strlen(p[i].key) + 3 > sizeof(opts[0]) || p[i].key[0] == '-' ||
                    !p[i].key[0])
                        return pxe_set(err, EINVAL, "Bad pct parameter %.32s", p[i].key);
                snprintf(opts[k], sizeof(opts[k]), "--%s", p[i].key);
                argv[a++] = opts[k++];
                argv[a++] = p[i].value ? p[i].value : "";
        }
        argv[a] = NULL;
        return pct_run(c, argv, ret_out, err);
}

static int run_with_options(struct pve_client *c, const char *cmd, unsigned vmid, const struct pve_kv *p,
                            size_t n, char **ret_out, struct pxe **err)
{
        return run_with_options2(c, cmd, vmid, 0, p, n, ret_out, err);
}

static int pct_create(struct pve_client *c, unsigned vmid, const struct pve_kv *p, size_t n, char **ret_upid,
                      struct pxe **err)
{
        if (ret_upid)
                *ret_upid = NULL;
        return run_with_options(c, "create", vmid, p, n, NULL, err);
}

static int pct_status(struct pve_client *c, unsigned vmid, struct pve_status *ret, struct pxe **err)
{
        _cleanup_free_ struct pct_list_entry *v = NULL;
        size_t n = 0;

        /* pct list has the Lock column that pct status lacks: one call for both. */
        if (list(c, &v, &n, err) < 0)
                return -pxe_code(err, EIO);
        for (size_t i = 0; i < n; i++) {
                if (v[i].vmid != vmid)
                        continue;
                snprintf(ret->status, sizeof(ret->status), "%s", v[i].status);
                snprintf(ret->lock, sizeof(ret->lock), "%s", v[i].lock);
                snprintf(ret->name, sizeof(ret->name), "%s", v[i].name);
                return 0;
        }
        return pxe_set(err, ENOENT, "CT %u does not exist on this node (pct list)", vmid);
}

static int pct_action(struct pve_client *c, unsigned vmid, enum pve_action a, char **ret_upid, struct pxe **err)
{
        if (ret_upid)
                *ret_upid = NULL;
        return run_with_options(c, pve_action_to_string(a), vmid, NULL, 0, NULL, err);
}

static int pct_destroy(struct pve_client *c, unsigned vmid, bool force, char **ret_upid, struct pxe **err)
{
        static const struct pve_kv q[] = { { "force", "1" }, { "purge", "1" } };

        if (ret_upid)
                *ret_upid = NULL;
        return run_with_options(c, "destroy", vmid, force ? q : q + 1, force ? 2 : 1, NULL, err);
}

static int pct_config_get(struct pve_client *c, unsigned vmid, json_t **ret, struct pxe **err)
{
        _cleanup_free_ char *out = NULL;
        int r = run_with_options(c, "config", vmid, NULL, 0, &out, err);

        return r < 0 ? r : pct_parse_config(out, ret, err);
}

static int pct_config_set(struct pve_client *c, unsigned vmid, const struct pve_kv *p, size_t n, struct pxe **err)
{
        return run_with_options(c, "set", vmid, p, n, NULL, err);
}

static int pct_task_wait(struct pve_client *c, const char *upid, int timeout_ms, struct pxe **err)
{
        return 0; /* pct waited for its task already */
}

static int pct_template(struct pve_client *c, unsigned vmid, char **ret_upid, struct pxe **err)
{
        if (ret_upid)
                *ret_upid = NULL;
        return run_with_options(c, "template", vmid, NULL, 0, NULL, err);
}

static int pct_clone(struct pve_client *c, unsigned src, unsigned newid, const struct pve_kv *p, size_t n,
                     char **ret_upid, struct pxe **err)
{
        if (ret_upid)
                *ret_upid = NULL;
        return run_with_options2(c, "clone", src, newid, p, n, NULL, err);
}

/* pct exec VMID -- argv...: pct runs lxc-attach, which passes on the
 * command's exit code and our stdio. */
static int pct_exec(struct pve_client *c, unsigned vmid, const char *const *cmd, int *ret_status,
                    struct pxe **err)
{
        const char *argv[PCT_ARGS_MAX + 1];
        struct spawn_opts o = { .argv = argv };
        char id[16];
        size_t a = 0;
        pid_t pid;
        int status;

        snprintf(id, sizeof(id), "%u", vmid);
        argv[a++] = c->cfg->pct_path;
        argv[a++] = "exec";
        argv[a++] = id;
        argv[a++] = "--";
        for (size_t i = 0; cmd[i]; i++) {
                if (a >= PCT_ARGS_MAX)
                        return pxe_set(err, E2BIG, "pct exec: more than %d arguments", PCT_ARGS_MAX - 4);
                argv[a++] = cmd[i];
        }
        argv[a] = NULL;
        pid = spawn_start(&o, err);
        if (pid < 0)
                return pxe_wrap(err, "Running %s", c->cfg->pct_path);
        spawn_wait_forwarding(pid, &status);
        *ret_status = spawn_exit_code(status);
        return 0;
}

static int tmpl_path(struct pve_client *c, const char *name, char **ret, struct pxe **err)
{
        if (asprintf(ret, "%s/%s", c->cfg->template_dir, name) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

static int pct_template_exists(struct pve_client *c, const char *name, bool *ret, struct pxe **err)
{
        _cleanup_free_ char *path = NULL;
        struct stat st;

        if (tmpl_path(c, name, &path, err) < 0)
                return -ENOMEM;
        if (stat(path, &st) == 0) {
                *ret = S_ISREG(st.st_mode);
                return 0;
        }
        if (errno != ENOENT)
                return pxe_set_errno(err, errno, "%s", path);
        *ret = false;
        return 0;
}

/* Into template_dir under a temporary name, then renamed: a template file
 * is complete or absent. */
static int pct_template_upload(struct pve_client *c, const char *src, const char *name, const char *sha256_hex,
                               struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        _cleanup_close_ int in = -EBADF, out = -EBADF;
        char buf[1 << 16];
        ssize_t n;

        if (tmpl_path(c, name, &path, err) < 0 || asprintf(&tmp, "%s.pxcri-tmp.%d", path, (int) getpid()) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return pxe_set_errno(err, errno, "%s", src);
        out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (out < 0)
                return pxe_set_errno(err, errno, "%s (backends.proxmox.template_dir)", tmp);
        while ((n = read(in, buf, sizeof(buf))) > 0)
                if (write(out, buf, (size_t) n) != n) {
                        n = -1;
                        break;
                }
        if (n < 0 || fsync(out) < 0 || rename(tmp, path) < 0) {
                int e = errno;

                unlink(tmp);
                return pxe_set_errno(err, e, "Writing %s", path);
        }
        return 0;
}

/* The file the upload wrote (pvesm free would do the same on this host). */
static int pct_template_delete(struct pve_client *c, const char *name, struct pxe **err)
{
        _cleanup_free_ char *path = NULL;

        if (tmpl_path(c, name, &path, err) < 0)
                return -ENOMEM;
        if (unlink(path) < 0)
                return pxe_set_errno(err, errno, "Removing %s (backends.proxmox.template_dir)", path);
        return 0;
}

const struct pve_transport_ops pve_transport_pct = {
        .name = "pct",
        .open = pct_open,
        .close = pct_close,
        .version = pct_version,
        .node = pct_node,
        .used_vmids = pct_used_vmids,
        .check_vmid = pct_check_vmid,
        .create = pct_create,
        .status = pct_status,
        .action = pct_action,
        .destroy = pct_destroy,
        .config_get = pct_config_get,
        .config_set = pct_config_set,
        .task_wait = pct_task_wait,
        .template_ = pct_template,
        .clone = pct_clone,
        .exec = pct_exec,
        .template_exists = pct_template_exists,
        .template_upload = pct_template_upload,
        .template_delete = pct_template_delete,
};
