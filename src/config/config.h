/* pxcri's configuration: one JSON file, or the built-in defaults.
 *
 * Where it comes from, first that applies: an explicit path (--config),
 * $PXCRI_CONFIG, /etc/pxcri/config.json when it exists, the built-in default
 * (config_default_json).  An explicit path that does not exist is an error.
 * Unknown keys become warnings (config.warnings); a wrong type is an error that
 * names the key.  docs/configuration.md documents every key.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "router/match.h"
#include "util/err.h"
#include "util/log.h"

#define CONFIG_DEFAULT_PATH "/etc/pxcri/config.json"

/* A backend pxcri knows by name; whether it is available is the backend
 * module's business. */
enum backend_id {
        BACKEND_CRUN,
        BACKEND_RUNC,
        BACKEND_LXC,
        BACKEND_PROXMOX,
        BACKEND_MAX,
        BACKEND_INVALID = -1,
};

enum backend_id backend_id_from_name(const char *name);
const char *backend_id_to_name(enum backend_id id);

/* One entry of runtime.routing: every condition that is set must match. */
struct route_rule {
        struct matcher pattern; /* container name or ID */
        struct matcher image;   /* image reference */
        struct matcher handler; /* CRI RuntimeClass handler */
        char *annotation_key;   /* "key=value" rule: the key ... */
        struct matcher annotation_value; /* ... and a matcher for the value (unset: key present) */
        enum backend_id runtime;
};

struct backend_config {
        char *path; /* binary of an exec-based backend (crun, runc); NULL: the default */
};

/* image.registries.<host>: how to reach one registry host. */
struct image_registry_config {
        char *host;        /* "docker.io", "127.0.0.1:5000" (as in normalised references) */
        char **mirrors;    /* URLs "http[s]://host[:port][/prefix]", tried in order before host */
        size_t n_mirrors;
        bool insecure;     /* plain HTTP allowed to this host */
        bool skip_verify;  /* HTTPS without certificate verification for this host */
        char *ca_file;     /* PEM bundle that verifies this host; NULL: system CAs */
};

/* The "image" section (docs/configuration.md, docs/images.md). */
struct image_config {
        char *root;     /* image.root: blobs, ingest and the image records */
        char *platform; /* image.platform: "os/arch[/variant]" */
        struct image_registry_config *registries;
        size_t n_registries;
        unsigned max_concurrent_downloads;
        bool allow_devices; /* image.allow_devices: device nodes in layers unpacked (default: refused) */
};

#define IMAGE_ROOT_DEFAULT "/var/lib/pxcri/images"
#define IMAGE_PLATFORM_DEFAULT "linux/amd64"
#define IMAGE_MAX_CONCURRENT_DEFAULT 4

/* The registry config for host, or NULL. */
const struct image_registry_config *image_config_registry(const struct image_config *ic, const char *host);

/* backends.proxmox (and the legacy top-level "proxmox" section mapped onto
 * it): how the Proxmox VE client reaches the cluster (docs/configuration.md,
 * docs/proxmox.md). */
enum proxmox_transport {
        PROXMOX_TRANSPORT_PCT, /* pct on the Proxmox host itself */
        PROXMOX_TRANSPORT_API, /* REST API: https://HOST:PORT/api2/json */
        PROXMOX_TRANSPORT_MAX,
        PROXMOX_TRANSPORT_INVALID = -1,
};

struct proxmox_tls_config {
        char *ca_file;     /* PEM bundle that verifies the hosts; NULL: system CAs */
        char *fingerprint; /* SHA-256 of the leaf certificate (DER), "AA:BB:..." (64 hex digits) */
        bool verify;       /* false only by explicit choice: no verification, a warning */
};

struct proxmox_config {
        enum proxmox_transport transport;
        bool transport_set;   /* transport given explicitly (the legacy section does not override it) */
        char *pct_path;       /* absolute */
        char *node;           /* NULL: the API's first online node, cached */
        char **hosts;         /* "host" or "host:port", tried in order */
        size_t n_hosts;
        unsigned port;
        char *token_file;     /* "USER@REALM!TOKENID=SECRET", mode 0600 or stricter */
        char *token;          /* legacy proxmox.legacy_api.token (inline; a warning) */
        struct proxmox_tls_config tls;
        char *storage;          /* rootfs storage */
        char *template_storage; /* vztmpl storage */
        char *template_dir;     /* pct: template_storage's vztmpl directory on this host */
        bool linked_clones;     /* clone containers from a template container per image */
        bool unprivileged_pods; /* pxcrid: every container an unprivileged CT, privileged ones refused */
        char *run_root;         /* pct: host directories bound into containers (mp0) go below it */
        char *config_dir;       /* pct: the containers' Proxmox configs, /etc/pve/lxc (raw lxc.* keys) */
        char *bridge;
        unsigned vmid_lo, vmid_hi;
        unsigned timeout;             /* seconds per request (and per pct call) */
        unsigned node_cache_duration; /* seconds */
};

#define PROXMOX_PCT_PATH_DEFAULT "/usr/sbin/pct"
#define PROXMOX_PORT_DEFAULT 8006
#define PROXMOX_RUN_ROOT_DEFAULT "/run/pxcri-proxmox"
#define PROXMOX_CONFIG_DIR_DEFAULT "/etc/pve/lxc"
#define PROXMOX_TEMPLATE_DIR_DEFAULT "/var/lib/vz/template/cache" /* the "local" storage */
#define PROXMOX_VMID_LO_DEFAULT 10000
#define PROXMOX_VMID_HI_DEFAULT 99999
#define PROXMOX_TIMEOUT_DEFAULT 30
#define PROXMOX_NODE_CACHE_DEFAULT 60

/* The "cri" section: pxcrid (docs/configuration.md, docs/cri.md). */
enum cgroup_driver {
        CGROUP_DRIVER_CGROUPFS,
        CGROUP_DRIVER_SYSTEMD,
};

struct cri_handler_config {
        char *name;             /* RuntimeClass handler; "" is the default route */
        enum backend_id backend; /* BACKEND_INVALID: route by the rules (the "" handler) */
};

struct cri_config {
        char *listen;        /* Unix socket path */
        char *state_dir;     /* SQLite database, bundles, pod files */
        char *run_dir;       /* pinned namespaces, exit files, attach sockets (tmpfs) */
        char *log_dir;       /* pods' log directory when the request gives none */
        char *cni_conf_dir;
        char **cni_bin_dirs;
        size_t n_cni_bin_dirs;
        char *stream_address;
        unsigned stream_port; /* 0: an ephemeral port */
        unsigned stream_token_ttl_s; /* how long an Exec/Attach/PortForward URL stays good */
        bool enable_unprivileged_ports; /* pods' net.ipv4.ip_unprivileged_port_start=0 */
        char *stream_tls_cert; /* PEM; with stream_tls_key (both or neither): https:// URLs */
        char *stream_tls_key;  /* PEM, owned by root, mode 0600 or stricter (checked at start-up) */
        char *stream_tls_ca;   /* client certificates required, verified against it */
        struct cri_handler_config *handlers;
        size_t n_handlers;
        char *conmon_path;
        char *pxcri_path;    /* NULL: the pxcri next to pxcrid */
        enum cgroup_driver cgroup_driver;
        unsigned workers;    /* worker threads for runtime calls, pulls and CNI */
        unsigned cni_plugin_timeout_s; /* one CNI plugin run (ADD, DEL) is killed after it */
        unsigned max_message_mib;
        struct matcher *pod_annotations; /* pod annotation keys passed to its containers */
        size_t n_pod_annotations;
};

#define CRI_LISTEN_DEFAULT "/run/pxcri/pxcri.sock"
#define CRI_STATE_DIR_DEFAULT "/var/lib/pxcri/cri"
#define CRI_RUN_DIR_DEFAULT "/run/pxcri/cri"
#define CRI_LOG_DIR_DEFAULT "/var/log/pxcri/pods"
#define CRI_CNI_CONF_DIR_DEFAULT "/etc/cni/net.d"
#define CRI_CONMON_PATH_DEFAULT "/usr/bin/conmon"
#define CRI_WORKERS_DEFAULT 8

/* The handler entry for name, or NULL when the handler is unknown. */
const struct cri_handler_config *cri_config_handler(const struct cri_config *cc, const char *name);

struct config {
        char *source;    /* the file it came from, or "built-in defaults" */
        char *root_path; /* runtime.root_path */
        enum log_level log_level;
        struct route_rule *rules;
        size_t n_rules;
        struct matcher *crun_name_patterns;
        size_t n_crun_name_patterns;
        enum backend_id default_backend; /* container_config.default_container_type */
        struct backend_config backends[BACKEND_MAX];
        struct image_config image;
        struct proxmox_config proxmox;
        struct cri_config cri;
        char **warnings;
        size_t n_warnings;
};

extern const char config_default_json[];

/* Load from path, or by the search order above when path is NULL. */
int config_load(const char *path, struct config **ret, struct pxe **err);

/* Parse a JSON text; origin names it in messages. */
int config_parse(const char *text, const char *origin, struct config **ret, struct pxe **err);

void config_free(struct config *c);

static inline void config_freep(struct config **c)
{
        config_free(*c);
}

#define _cleanup_config_ __attribute__((cleanup(config_freep)))
