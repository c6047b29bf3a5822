/* backends.proxmox, and the legacy top-level "proxmox" section of the earlier
 * Proxmox runtimes mapped onto it. */
#include "config/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_parse.h"
#include "util/cleanup.h"

static int get_hosts(struct ctx *x, json_t *arr, const char *key, struct proxmox_config *p, struct pxe **err)
{
        size_t i;
        json_t *v;

        if (!json_is_array(arr) || json_array_size(arr) == 0)
                return config_type_error(x, key, "a non-empty array of host names", err);
        for (i = 0; i < p->n_hosts; i++)
                free(p->hosts[i]);
        free(p->hosts);
        p->n_hosts = 0;
        p->hosts = calloc(json_array_size(arr), sizeof(*p->hosts));
        if (!p->hosts)
                return pxe_set(err, ENOMEM, "Out of memory");
        json_array_foreach(arr, i, v) {
                const char *h = json_string_value(v);

                if (!h || !*h || strpbrk(h, "/?#@ "))
                        return pxe_set(err, EINVAL, "%s: %s[%zu]: expected a host name or address (\"host\" or \"host:port\")",
                                       x->origin, key, i);
                p->hosts[p->n_hosts] = strdup(h);
                if (!p->hosts[p->n_hosts++])
                        return pxe_set(err, ENOMEM, "Out of memory");
        }
        return 0;
}

static int get_fingerprint(struct ctx *x, json_t *v, const char *key, char **dst, struct pxe **err)
{
        const char *s;
        size_t hex = 0;

        if (config_get_string(x, v, key, dst, err) < 0)
                return -EINVAL;
        for (s = *dst; *s; s++) {
                if (*s == ':')
                        continue;
                if (!strchr("0123456789abcdefABCDEF", *s))
                        break;
                hex++;
        }
        if (*s || hex != 64)
                return pxe_set(err, EINVAL, "%s: %s: expected a SHA-256 fingerprint (64 hex digits, colons allowed)",
                               x->origin, key);
        return 0;
}

static int parse_proxmox_tls(struct ctx *x, json_t *obj, struct proxmox_tls_config *t, struct pxe **err)
{
        const char *k;
        json_t *v;
        int rc = 0;

        if (!json_is_object(obj))
                return config_type_error(x, "backends.proxmox.tls", "an object", err);
        json_object_foreach(obj, k, v) {
                if (streq(k, "ca_file"))
                        rc = config_get_abs_path(x, v, "backends.proxmox.tls.ca_file", &t->ca_file, err);
                else if (streq(k, "fingerprint"))
                        rc = get_fingerprint(x, v, "backends.proxmox.tls.fingerprint", &t->fingerprint, err);
                else if (streq(k, "verify"))
                        rc = config_get_bool(x, v, "backends.proxmox.tls.verify", &t->verify, err);
                else
                        config_warn_key(x, "unknown key backends.proxmox.tls.%s", k);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

static int parse_vmid_range(struct ctx *x, json_t *v, struct proxmox_config *p, struct pxe **err)
{
        const char *key = "backends.proxmox.vmid_range";
        unsigned lo, hi;

        if (!json_is_array(v) || json_array_size(v) != 2)
                return config_type_error(x, key, "[first, last]", err);
        if (config_get_uint(x, json_array_get(v, 0), key, 100, 999999999, &lo, err) < 0 ||
            config_get_uint(x, json_array_get(v, 1), key, 100, 999999999, &hi, err) < 0)
                return -EINVAL;
        if (lo > hi)
                return pxe_set(err, EINVAL, "%s: %s: first (%u) is greater than last (%u)", x->origin, key, lo, hi);
        p->vmid_lo = lo;
        p->vmid_hi = hi;
        return 0;
}

static int parse_proxmox_key(struct ctx *x, const char *k, json_t *v, const char *key, struct proxmox_config *p,
                             struct pxe **err)
{
        if (streq(k, "transport")) {
                const char *s = json_string_value(v);

                if (!s || !(streq(s, "pct") || streq(s, "api")))
                        return config_type_error(x, key, "\"pct\" or \"api\"", err);
                p->transport = streq(s, "api") ? PROXMOX_TRANSPORT_API : PROXMOX_TRANSPORT_PCT;
                p->transport_set = true;
                return 0;
        }
        if (streq(k, "pct_path"))
                return config_get_abs_path(x, v, key, &p->pct_path, err);
        if (streq(k, "token_file"))
                return config_get_abs_path(x, v, key, &p->token_file, err);
        if (streq(k, "node"))
                return config_get_string(x, v, key, &p->node, err);
        if (streq(k, "storage"))
                return config_get_string(x, v, key, &p->storage, err);
        if (streq(k, "template_storage"))
                return config_get_string(x, v, key, &p->template_storage, err);
        if (streq(k, "bridge"))
                return config_get_string(x, v, key, &p->bridge, err);
        if (streq(k, "template_dir"))
                return config_get_abs_path(x, v, key, &p->template_dir, err);
        if (streq(k, "run_root"))
                return config_get_abs_path(x, v, key, &p->run_root, err);
        if (streq(k, "config_dir"))
                return config_get_abs_path(x, v, key, &p->config_dir, err);
        if (streq(k, "linked_clones"))
                return config_get_bool(x, v, key, &p->linked_clones, err);
        if (streq(k, "unprivileged_pods"))
                return config_get_bool(x, v, key, &p->unprivileged_pods, err);
        if (streq(k, "hosts"))
                return get_hosts(x, v, key, p, err);
        if (streq(k, "port"))
                return config_get_uint(x, v, key, 1, 65535, &p->port, err);
        if (streq(k, "timeout"))
                return config_get_uint(x, v, key, 1, 86400, &p->timeout, err);
        if (streq(k, "node_cache_duration"))
                return config_get_uint(x, v, key, 0, 86400, &p->node_cache_duration, err);
        if (streq(k, "tls"))
                return parse_proxmox_tls(x, v, &p->tls, err);
        if (streq(k, "vmid_range"))
                return parse_vmid_range(x, v, p, err);
        config_warn_key(x, "unknown key %s", key);
        return 0;
}

int config_proxmox_parse(struct ctx *x, json_t *obj, struct pxe **err)
{
        char key[128];
        const char *k;
        json_t *v;

        if (!json_is_object(obj))
                return config_type_error(x, "backends.proxmox", "an object", err);
        json_object_foreach(obj, k, v) {
                snprintf(key, sizeof(key), "backends.proxmox.%s", k);
                if (parse_proxmox_key(x, k, v, key, &x->c->proxmox, err) < 0)
                        return -EINVAL;
        }
        return 0;
}

/* The earlier runtimes' section: proxmox.{pct_path,node,timeout} and
 * proxmox.legacy_api.{hosts,port,token,node_cache_duration}.  Applied before
 * backends.proxmox, which wins where both set a key. */
static int parse_legacy_api(struct ctx *x, json_t *obj, struct proxmox_config *p, struct pxe **err)
{
        const char *k;
        json_t *v;
        int rc = 0;

        if (!json_is_object(obj))
                return config_type_error(x, "proxmox.legacy_api", "an object", err);
        json_object_foreach(obj, k, v) {
                if (streq(k, "hosts"))
                        rc = get_hosts(x, v, "proxmox.legacy_api.hosts", p, err);
                else if (streq(k, "port"))
                        rc = config_get_uint(x, v, "proxmox.legacy_api.port", 1, 65535, &p->port, err);
                else if (streq(k, "node_cache_duration"))
                        rc = config_get_uint(x, v, "proxmox.legacy_api.node_cache_duration", 0, 86400,
                                      &p->node_cache_duration, err);
                else if (streq(k, "token")) {
                        rc = config_get_string(x, v, "proxmox.legacy_api.token", &p->token, err);
                        config_warn_key(x, "proxmox.legacy_api.token: a secret in the configuration file; "
                                    "prefer backends.proxmox.token_file (mode 0600)");
                } else
                        config_warn_key(x, "unknown key proxmox.legacy_api.%s", k);
                if (rc < 0)
                        return rc;
        }
        if (!p->transport_set && p->n_hosts > 0)
                p->transport = PROXMOX_TRANSPORT_API;
        return 0;
}

int config_proxmox_parse_legacy(struct ctx *x, json_t *obj, struct pxe **err)
{
        struct proxmox_config *p = &x->c->proxmox;
        const char *k;
        json_t *v;
        int rc = 0;

        if (!json_is_object(obj))
                return config_type_error(x, "proxmox", "an object", err);
        json_object_foreach(obj, k, v) {
                if (streq(k, "pct_path"))
                        rc = config_get_abs_path(x, v, "proxmox.pct_path", &p->pct_path, err);
                else if (streq(k, "node"))
                        rc = config_get_string(x, v, "proxmox.node", &p->node, err);
                else if (streq(k, "timeout"))
                        rc = config_get_uint(x, v, "proxmox.timeout", 1, 86400, &p->timeout, err);
                else if (streq(k, "legacy_api"))
                        rc = parse_legacy_api(x, v, p, err);
                else
                        config_warn_key(x, "unknown key proxmox.%s", k);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

int config_proxmox_defaults(struct proxmox_config *p)
{
        p->transport = PROXMOX_TRANSPORT_PCT;
        p->pct_path = strdup(PROXMOX_PCT_PATH_DEFAULT);
        p->port = PROXMOX_PORT_DEFAULT;
        p->tls.verify = true;
        p->storage = strdup("local-lvm");
        p->template_storage = strdup("local");
        p->bridge = strdup("vmbr0");
        p->template_dir = strdup(PROXMOX_TEMPLATE_DIR_DEFAULT);
        p->run_root = strdup(PROXMOX_RUN_ROOT_DEFAULT);
        p->config_dir = strdup(PROXMOX_CONFIG_DIR_DEFAULT);
        p->linked_clones = true;
        p->vmid_lo = PROXMOX_VMID_LO_DEFAULT;
        p->vmid_hi = PROXMOX_VMID_HI_DEFAULT;
        p->timeout = PROXMOX_TIMEOUT_DEFAULT;
        p->node_cache_duration = PROXMOX_NODE_CACHE_DEFAULT;
        return p->pct_path && p->storage && p->template_storage && p->bridge && p->template_dir && p->run_root && p->config_dir ? 0 : -ENOMEM;
}

void config_proxmox_free(struct proxmox_config *p)
{
        for (size_t i = 0; i < p->n_hosts; i++)
                free(p->hosts[i]);
        free(p->hosts);
        free(p->pct_path);
        free(p->node);
        free(p->token_file);
        free(p->token);
        free(p->tls.ca_file);
        free(p->tls.fingerprint);
        free(p->storage);
        free(p->template_storage);
        free(p->bridge);
        free(p->template_dir);
        free(p->run_root);
        free(p->config_dir);
}
