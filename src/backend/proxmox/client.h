/* The Proxmox VE client: one interface, two transports (docs/proxmox.md).
 *
 *   pct  -- /usr/sbin/pct on the Proxmox host itself, argv only; every call
 *           waits for its task, so no UPID comes back (*ret_upid is NULL).
 *   api  -- the REST API, https://HOST:PORT/api2/json, API token from
 *           token_file, TLS verified (CA, or the leaf certificate's SHA-256
 *           pinned), hosts tried in order with the last good one remembered,
 *           per-request timeouts; long operations return a UPID that
 *           pve_task_wait() polls.
 *
 * Errors carry what failed, where, and why, with errno-like codes:
 *   EINVAL  400 (Proxmox's "errors" map is in the message: "net0: invalid format ...")
 *   EACCES  401 (token missing or wrong)      EPERM   403 (token lacks a privilege)
 *   ENOENT  no such container                 EEXIST  VMID already taken
 *   ETIMEDOUT request or task deadline        EHOSTUNREACH every host down
 *   EPROTO  an answer that is not Proxmox's   EIO     a task ended with an error (its exitstatus)
 * The API token never appears in a message or a log. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "util/err.h"

struct pve_client;

/* One parameter of a request, as Proxmox takes it: "net0" = "name=eth0,bridge=vmbr0,ip=dhcp". */
struct pve_kv {
        const char *key;
        const char *value;
};

enum pve_action {
        PVE_ACTION_START,
        PVE_ACTION_STOP,
        PVE_ACTION_SHUTDOWN,
        PVE_ACTION_SUSPEND,
        PVE_ACTION_RESUME,
        PVE_ACTION_MAX,
        PVE_ACTION_INVALID = -1,
};

enum pve_action pve_action_from_string(const char *s);
const char *pve_action_to_string(enum pve_action a);

struct pve_status {
        char status[16]; /* "running", "stopped" (as Proxmox says it) */
        char lock[32];   /* "" or "create", "backup", "destroyed", ... */
        char name[64];   /* hostname */
        bool template_;
};

/* The configuration alone: a vmid range, pct_path executable (pct), hosts
 * and a token source (api).  Nothing is read, loaded or sent. */
int pve_client_check(const struct proxmox_config *cfg, struct pxe **err);

/* Validates the configuration (hosts, token file mode, pct path); reads the
 * token.  No request is sent yet. */
int pve_client_new(const struct proxmox_config *cfg, struct pve_client **ret, struct pxe **err);
void pve_client_free(struct pve_client *c);

static inline void pve_client_freep(struct pve_client **c)
{
        pve_client_free(*c);
}
#define _cleanup_pve_client_ __attribute__((cleanup(pve_client_freep)))

/* Warnings the client wants the edge to log (verify=false), NULL-terminated. */
const char *const *pve_client_warnings(const struct pve_client *c);

/* The node operations go to: the configured one, else the first online node
 * from /nodes, cached for node_cache_duration seconds. */
int pve_node(struct pve_client *c, const char **ret, struct pxe **err);

/* The Proxmox version string ("9.1.1"). */
int pve_version(struct pve_client *c, char **ret, struct pxe **err);

/* A free VMID in vmid_range (not yet reserved: pve_create() retries). */
int pve_nextid(struct pve_client *c, unsigned *ret, struct pxe **err);

/* Create a container from params (ostemplate and the config keys; "vmid"
 * must not be among them).  *vmid 0: a VMID is chosen with pve_nextid() and
 * the create retried on a collision (another node took it), up to 8 times.
 * On success *vmid holds the container's VMID and *ret_upid the task to wait
 * for (NULL with pct, which waited already); after -ETIMEDOUT *vmid holds the
 * VMID the container may still appear under. */
int pve_create(struct pve_client *c, unsigned *vmid, const struct pve_kv *params, size_t n_params,
               char **ret_upid, struct pxe **err);

int pve_status(struct pve_client *c, unsigned vmid, struct pve_status *ret, struct pxe **err);
int pve_action(struct pve_client *c, unsigned vmid, enum pve_action a, char **ret_upid, struct pxe **err);
/* Destroy (force: also when running). */
int pve_destroy(struct pve_client *c, unsigned vmid, bool force, char **ret_upid, struct pxe **err);

/* The container's config as a JSON object of strings and numbers (new reference). */
int pve_config_get(struct pve_client *c, unsigned vmid, json_t **ret, struct pxe **err);
int pve_config_set(struct pve_client *c, unsigned vmid, const struct pve_kv *params, size_t n_params,
                   struct pxe **err);

/* Wait for a task until it stops or timeout_ms passed (ETIMEDOUT).  A task
 * whose exitstatus is not "OK" fails with EIO, its exitstatus and the last
 * lines of its log in the message.  upid NULL (pct): returns 0. */
int pve_task_wait(struct pve_client *c, const char *upid, int timeout_ms, struct pxe **err);

/* Convert a stopped container into a template (linked clones come from it). */
int pve_template(struct pve_client *c, unsigned vmid, char **ret_upid, struct pxe **err);

/* Clone src into *newid (0: chosen and retried on collision as with
 * pve_create()).  linked: full=0, which Proxmox refuses on storage without
 * linked clones; else a full copy (onto storage, when not NULL). */
int pve_clone(struct pve_client *c, unsigned src, unsigned *newid, bool linked, const char *hostname,
              const char *storage, char **ret_upid, struct pxe **err);

/* Run argv in the running container with the caller's stdin/stdout/stderr
 * (`pct exec VMID -- argv...`); the command's exit code in *ret_status.  The
 * REST API has no exec: ENOSYS with the api transport. */
int pve_exec(struct pve_client *c, unsigned vmid, const char *const *argv, int *ret_status, struct pxe **err);

/* Templates in template_storage, by file name ("pxcri-<hex>.tar.zst"):
 * the volume ID is "<template_storage>:vztmpl/<name>".  With pct they are
 * files in template_dir on this host; with the API, storage content (upload
 * checks the SHA-256 the caller gives). */
int pve_template_exists(struct pve_client *c, const char *name, bool *ret, struct pxe **err);
int pve_template_upload(struct pve_client *c, const char *path, const char *name, const char *sha256_hex,
                        struct pxe **err);
/* Remove a template file: with the API DELETE
 * .../storage/<template_storage>/content/<template_storage>:vztmpl/<name>
 * (Datastore.Allocate on the storage) and its task; with pct the file in
 * template_dir.  A file that is already gone is success. */
int pve_template_delete(struct pve_client *c, const char *name, struct pxe **err);

/* The host path of a volume ("local:vztmpl/x", "local-zfs:subvol-100-disk-0")
 * on the node: GET .../storage/{storage}/content/{volume} "path".  ENOSYS
 * with pct. */
int pve_volume_path(struct pve_client *c, const char *volid, char **ret, struct pxe **err);

/* ---- parsers (exposed for unit tests and fuzzing; no I/O) ---- */

/* An API answer: body and HTTP status (and reason phrase) -> the "data"
 * member (new reference, may be JSON null) or an error naming what failed. */
int pve_parse_answer(const char *body, size_t len, long status, const char *reason, json_t **ret_data,
                     struct pxe **err);

/* A UPID "UPID:node:PID:PSTART:STARTTIME:type:id:user:" -> its node (malloc'ed). */
int pve_upid_node(const char *upid, char **ret_node, struct pxe **err);

/* `pct list` output: VMIDs (sorted as listed) and, for want_vmid, its status. */
struct pct_list_entry {
        unsigned vmid;
        char status[16];
        char lock[32];
        char name[64];
};
int pct_parse_list(const char *out, struct pct_list_entry **ret, size_t *ret_n, struct pxe **err);

/* `pct status` output ("status: running"). */
int pct_parse_status(const char *out, char *status, size_t size, struct pxe **err);

/* `pct config` output ("key: value" lines) -> JSON object of strings. */
int pct_parse_config(const char *out, json_t **ret, struct pxe **err);
