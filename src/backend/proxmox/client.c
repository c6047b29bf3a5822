#include "backend/proxmox/client_private.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"

#define TOKEN_MAX 4096
#define CREATE_ATTEMPTS 8

static const char *const action_names[PVE_ACTION_MAX] = {
        [PVE_ACTION_START] = "start",
        [PVE_ACTION_STOP] = "stop",
        [PVE_ACTION_SHUTDOWN] = "shutdown",
        [PVE_ACTION_SUSPEND] = "suspend",
        [PVE_ACTION_RESUME] = "resume",
};

enum pve_action pve_action_from_string(const char *s)
{
        for (int i = 0; s && i < PVE_ACTION_MAX; i++)
                if (streq(s, action_names[i]))
                        return i;
        return PVE_ACTION_INVALID;
}

const char *pve_action_to_string(enum pve_action a)
{
        return a >= 0 && a < PVE_ACTION_MAX ? action_names[a] : "unknown";
}

long long pve_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The token file: one line "USER@REALM!TOKENID=SECRET" (a leading
 * "PVEAPIToken=" is accepted), owned by us, mode 0600 or stricter. */
static int read_token(const char *path, char **ret, struct pxe **err)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        ssize_t n;
        char *s, *e;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return pxe_set_errno(err, errno, "Reading the Proxmox API token %s", path);
        if (fstat(fd, &st) < 0)
                return pxe_set_errno(err, errno, "Reading the Proxmox API token %s", path);
        if (!S_ISREG(st.st_mode))
                return pxe_set(err, EINVAL, "Proxmox API token %s: not a regular file", path);
        if (st.st_mode & 077)
                return pxe_set(err, EPERM, "Proxmox API token %s: mode %04o lets others read it; "
                               "it must be 0600 or stricter (chmod 600 %s)", path, st.st_mode & 07777, path);
        buf = calloc(1, TOKEN_MAX + 1);
        if (!buf)
                return pxe_set(err, ENOMEM, "Out of memory");
        n = read(fd, buf, TOKEN_MAX);
        if (n < 0)
                return pxe_set_errno(err, errno, "Reading the Proxmox API token %s", path);
        for (s = buf; isspace((unsigned char) *s); s++)
                ;
        if (strncmp(s, "PVEAPIToken=", 12) == 0)
                s += 12;
        for (e = s + strlen(s); e > s && isspace((unsigned char) e[-1]); e--)
                *(e - 1) = '\0';
        if (!strchr(s, '@') || !strchr(s, '!') || !strchr(s, '=') || strpbrk(s, "\r\n \t"))
                return pxe_set(err, EINVAL, "Proxmox API token %s: expected one line USER@REALM!TOKENID=SECRET", path);
        *ret = strdup(s);
        return *ret ? 0 : pxe_set(err, ENOMEM, "Out of memory");
}

int pve_client_check(const struct proxmox_config *cfg, struct pxe **err)
{
        if (cfg->vmid_lo < 100 || cfg->vmid_lo > cfg->vmid_hi)
                return pxe_set(err, EINVAL, "backends.proxmox.vmid_range: invalid range %u-%u", cfg->vmid_lo,
                               cfg->vmid_hi);
        if (cfg->transport == PROXMOX_TRANSPORT_PCT)
                return access(cfg->pct_path, X_OK) == 0
                               ? 0
                               : pxe_set_errno(err, errno, "backends.proxmox.pct_path %s", cfg->pct_path);
        if (cfg->n_hosts == 0)
                return pxe_set(err, EINVAL, "backends.proxmox.hosts: the api transport needs at least one host");
        if (!cfg->token_file && !cfg->token)
                return pxe_set(err, EINVAL, "backends.proxmox.token_file: the api transport needs an API token");
        return 0;
}

int pve_client_new(const struct proxmox_config *cfg, struct pve_client **ret, struct pxe **err)
{
        _cleanup_pve_client_ struct pve_client *c = NULL;
        int r;

        if (pve_client_check(cfg, err) < 0)
                return pxe_wrap(err, "Proxmox client");
        c = calloc(1, sizeof(*c));
        if (!c)
                return pxe_set(err, ENOMEM, "Out of memory");
        c->cfg = cfg;
        c->ops = cfg->transport == PROXMOX_TRANSPORT_API ? &pve_transport_api : &pve_transport_pct;
        if (cfg->transport == PROXMOX_TRANSPORT_API) {
                if (cfg->token_file)
                        r = read_token(cfg->token_file, &c->token, err);
                else
                        r = (c->token = strdup(cfg->token)) ? 0 : pxe_set(err, ENOMEM, "Out of memory");
                if (r < 0)
                        return r;
                if (!cfg->tls.verify && !cfg->tls.fingerprint)
                        c->warnings[c->n_warnings++] =
                                "backends.proxmox.tls.verify is false: the Proxmox API's TLS certificate is "
                                "NOT verified; anyone on the path can read the API token";
        }
        r = c->ops->open(c, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

void pve_client_free(struct pve_client *c)
{
        if (!c)
                return;
        if (c->ops)
                c->ops->close(c);
        if (c->token) {
                explicit_bzero(c->token, strlen(c->token));
                free(c->token);
        }
        free(c->node);
        free(c);
}

const char *const *pve_client_warnings(const struct pve_client *c)
{
        return c->warnings;
}

int pve_node(struct pve_client *c, const char **ret, struct pxe **err)
{
        char *node = NULL;
        long long now = pve_now_ms() / 1000;

        if (c->cfg->node) {
                *ret = c->cfg->node;
                return 0;
        }
        if (c->node && now < c->node_expires) {
                *ret = c->node;
                return 0;
        }
        if (c->ops->node(c, &node, err) < 0)
                return pxe_wrap(err, "Finding the Proxmox node");
        free(c->node);
        c->node = node;
        c->node_expires = now + c->cfg->node_cache_duration;
        *ret = c->node;
        return 0;
}

int pve_version(struct pve_client *c, char **ret, struct pxe **err)
{
        return c->ops->version(c, ret, err);
}

static bool in_sorted(const unsigned *v, size_t n, unsigned x)
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (v[mid] == x)
                        return true;
                if (v[mid] < x)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return false;
}

static int cmp_unsigned(const void *a, const void *b)
{
        unsigned x = *(const unsigned *) a, y = *(const unsigned *) b;

        return x < y ? -1 : x > y;
}

/* The lowest VMID >= from in the range that the transport reports free. */
static int nextid_from(struct pve_client *c, unsigned from, unsigned *ret, struct pxe **err)
{
        _cleanup_free_ unsigned *used = NULL;
        size_t n = 0;
        int r;

        r = c->ops->used_vmids(c, &used, &n, err);
        if (r < 0)
                return r;
        qsort(used, n, sizeof(*used), cmp_unsigned);
        for (unsigned id = from; id >= from && id <= c->cfg->vmid_hi; id++) {
                if (in_sorted(used, n, id))
                        continue;
                r = c->ops->check_vmid(c, id, err);
                if (r == -EEXIST) {
                        pxe_freep(err);
                        continue;
                }
                if (r < 0)
                        return r;
                *ret = id;
                return 0;
        }
        return pxe_set(err, ENOSPC, "No free VMID in backends.proxmox.vmid_range %u-%u", c->cfg->vmid_lo,
                       c->cfg->vmid_hi);
}

int pve_nextid(struct pve_client *c, unsigned *ret, struct pxe **err)
{
        if (nextid_from(c, c->cfg->vmid_lo, ret, err) < 0)
                return pxe_wrap(err, "Choosing a VMID");
        return 0;
}

/* What takes a new VMID: a create or a clone. */
struct new_ct {
        const struct pve_kv *params;
        size_t n_params;
        unsigned src; /* clone: the source; 0: create */
};

static int new_ct_at(struct pve_client *c, const struct new_ct *nc, unsigned id, char **ret_upid, struct pxe **err)
{
        return nc->src ? c->ops->clone(c, nc->src, id, nc->params, nc->n_params, ret_upid, err)
                       : c->ops->create(c, id, nc->params, nc->n_params, ret_upid, err);
}

/* *vmid 0: the next free VMID, and the next one after a collision (another
 * node or client took it between nextid and the request), up to
 * CREATE_ATTEMPTS times.  A request that timed out may still create the
 * container: *vmid is set to its VMID then too. */
static int new_ct(struct pve_client *c, const struct new_ct *nc, unsigned *vmid, char **ret_upid, struct pxe **err)
{
        unsigned id = *vmid;
        int r;

        for (size_t i = 0; i < nc->n_params; i++)
                if (streq(nc->params[i].key, "vmid") || streq(nc->params[i].key, "newid"))
                        return pxe_set(err, EINVAL, "%s is chosen by pxcri, not a parameter", nc->params[i].key);
        if (id)
                return new_ct_at(c, nc, id, ret_upid, err) < 0 ? -pxe_code(err, EIO) : 0;
        r = pve_nextid(c, &id, err);
        for (int attempt = 1; r == 0; attempt++) {
                r = new_ct_at(c, nc, id, ret_upid, err);
                if (r == 0) {
                        *vmid = id;
                        return 0;
                }
                if (r == -ETIMEDOUT) {
                        /* It may still happen: the caller must clean up this VMID. */
                        *vmid = id;
                        break;
                }
                if (r != -EEXIST || attempt == CREATE_ATTEMPTS)
                        break;
                pxe_freep(err);
                r = id < c->cfg->vmid_hi ? nextid_from(c, id + 1, &id, err)
                                         : pxe_set(err, ENOSPC, "No free VMID left in vmid_range");
        }
        return r;
}

int pve_create(struct pve_client *c, unsigned *vmid, const struct pve_kv *params, size_t n_params,
               char **ret_upid, struct pxe **err)
{
        struct new_ct nc = { .params = params, .n_params = n_params };
        unsigned want = *vmid;

        if (new_ct(c, &nc, vmid, ret_upid, err) < 0)
                return want ? pxe_wrap(err, "Creating Proxmox container %u", want)
                            : pxe_wrap(err, "Creating a Proxmox container");
        return 0;
}

int pve_clone(struct pve_client *c, unsigned src, unsigned *newid, bool linked, const char *hostname,
              const char *storage, char **ret_upid, struct pxe **err)
{
        struct pve_kv p[3] = { { "full", linked ? "0" : "1" } };
        struct new_ct nc = { .params = p, .n_params = 1, .src = src };

        if (hostname)
                p[nc.n_params++] = (struct pve_kv) { "hostname", hostname };
        if (storage && !linked)
                p[nc.n_params++] = (struct pve_kv) { "storage", storage };
        if (new_ct(c, &nc, newid, ret_upid, err) < 0)
                return pxe_wrap(err, "%s clone of Proxmox template %u", linked ? "Linked" : "Full", src);
        return 0;
}

int pve_template(struct pve_client *c, unsigned vmid, char **ret_upid, struct pxe **err)
{
        if (c->ops->template_(c, vmid, ret_upid, err) < 0)
                return pxe_wrap(err, "Converting Proxmox container %u into a template", vmid);
        return 0;
}

int pve_exec(struct pve_client *c, unsigned vmid, const char *const *argv, int *ret_status, struct pxe **err)
{
        if (!c->ops->exec)
                return pxe_set(err, ENOSYS, "The Proxmox REST API has no exec: exec needs backends.proxmox.transport "
                               "\"pct\" (pxcri on the Proxmox host)");
        return c->ops->exec(c, vmid, argv, ret_status, err);
}

static bool template_name_ok(const char *name)
{
        return name && name[0] && name[0] != '.' && !strchr(name, '/') && strlen(name) < 200;
}

int pve_template_exists(struct pve_client *c, const char *name, bool *ret, struct pxe **err)
{
        if (!template_name_ok(name))
                return pxe_set(err, EINVAL, "Bad template name");
        if (c->ops->template_exists(c, name, ret, err) < 0)
                return pxe_wrap(err, "Looking for template %s:vztmpl/%s", c->cfg->template_storage, name);
        return 0;
}

int pve_template_upload(struct pve_client *c, const char *path, const char *name, const char *sha256_hex,
                        struct pxe **err)
{
        if (!template_name_ok(name))
                return pxe_set(err, EINVAL, "Bad template name");
        if (c->ops->template_upload(c, path, name, sha256_hex, err) < 0)
                return pxe_wrap(err, "Storing template %s:vztmpl/%s", c->cfg->template_storage, name);
        return 0;
}

int pve_template_delete(struct pve_client *c, const char *name, struct pxe **err)
{
        bool exists = true;
        int r;

        if (!template_name_ok(name))
                return pxe_set(err, EINVAL, "Bad template name");
        /* Asked first: Proxmox deletes a missing file with a warning, and a
         * task that ends with "WARNINGS: 1" is not one that ended "OK". */
        if (c->ops->template_exists(c, name, &exists, err) < 0)
                return pxe_wrap(err, "Looking for template %s:vztmpl/%s", c->cfg->template_storage, name);
        if (!exists)
                return 0;
        r = c->ops->template_delete(c, name, err);
        if (r == -ENOENT) {
                pxe_freep(err);
                return 0;
        }
        if (r < 0)
                return pxe_wrap(err, "Deleting template %s:vztmpl/%s", c->cfg->template_storage, name);
        return 0;
}

int pve_volume_path(struct pve_client *c, const char *volid, char **ret, struct pxe **err)
{
        if (!c->ops->volume_path)
                return pxe_set(err, ENOSYS, "The %s transport cannot look up volume paths", c->ops->name);
        if (c->ops->volume_path(c, volid, ret, err) < 0)
                return pxe_wrap(err, "Path of volume %s", volid);
        return 0;
}

int pve_status(struct pve_client *c, unsigned vmid, struct pve_status *ret, struct pxe **err)
{
        memset(ret, 0, sizeof(*ret));
        if (c->ops->status(c, vmid, ret, err) < 0)
                return pxe_wrap(err, "Status of Proxmox container %u", vmid);
        return 0;
}

int pve_action(struct pve_client *c, unsigned vmid, enum pve_action a, char **ret_upid, struct pxe **err)
{
        static const char *const doing[PVE_ACTION_MAX] = {
                [PVE_ACTION_START] = "Starting",       [PVE_ACTION_STOP] = "Stopping",
                [PVE_ACTION_SHUTDOWN] = "Shutting down", [PVE_ACTION_SUSPEND] = "Suspending",
                [PVE_ACTION_RESUME] = "Resuming",
        };

        if (a < 0 || a >= PVE_ACTION_MAX)
                return pxe_set(err, EINVAL, "Unknown Proxmox container action");
        if (c->ops->action(c, vmid, a, ret_upid, err) < 0)
                return pxe_wrap(err, "%s Proxmox container %u", doing[a], vmid);
        return 0;
}

int pve_destroy(struct pve_client *c, unsigned vmid, bool force, char **ret_upid, struct pxe **err)
{
        if (c->ops->destroy(c, vmid, force, ret_upid, err) < 0)
                return pxe_wrap(err, "Destroying Proxmox container %u", vmid);
        return 0;
}

int pve_config_get(struct pve_client *c, unsigned vmid, json_t **ret, struct pxe **err)
{
        if (c->ops->config_get(c, vmid, ret, err) < 0)
                return pxe_wrap(err, "Config of Proxmox container %u", vmid);
        return 0;
}

int pve_config_set(struct pve_client *c, unsigned vmid, const struct pve_kv *params, size_t n_params,
                   struct pxe **err)
{
        if (c->ops->config_set(c, vmid, params, n_params, err) < 0)
                return pxe_wrap(err, "Setting the config of Proxmox container %u", vmid);
        return 0;
}

int pve_task_wait(struct pve_client *c, const char *upid, int timeout_ms, struct pxe **err)
{
        if (!upid)
                return 0;
        return c->ops->task_wait(c, upid, timeout_ms, err);
}
