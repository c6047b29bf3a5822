/* CNI: network configuration lists and the plugins, per the CNI spec 1.0
 * (also 0.3.x / 0.4.0 configs: cniVersion is passed to the plugin as written).
 *
 * cni_load() picks the network the way libcni and kubelet do: the first
 * file (sorted by name) in conf_dir ending in .conflist, .conf or .json that
 * parses, a single .conf being wrapped into a list of one plugin.
 * cni_add() runs the list's plugins in order (ADD), each given
 * prevResult = the previous plugin's result, with the CNI_* environment
 * (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS with
 * K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID, K8S_POD_UID,
 * IgnoreUnknown=1, CNI_PATH) and runtimeConfig for the capabilities a
 * plugin declares (portMappings, bandwidth, ips, dns...).  A plugin that
 * fails stops the ADD; plugins already added are DELeted again, so a failed
 * ADD leaves nothing.  cni_del() runs them in reverse with the ADD's cached
 * result as prevResult; DEL of what is gone is no error (plugins' contract).
 *
 * Plugins are found in bin_dirs by the "type" name (a name with a '/' or
 * "..": -EINVAL).  Plugins run through util/spawn with argv only and a
 * timeout (cni_request.timeout_s per run: an ADD that times out is undone
 * by a DEL that gets the same bound); their stdout is the result JSON, an
 * error result's msg/details become the error message.
 *
 * Blocking: call from a worker thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct cni_net;

struct cni_port_mapping {
        int host_port;
        int container_port;
        const char *protocol; /* "tcp", "udp", "sctp" (lower case, as the portmap plugin wants) */
        const char *host_ip;  /* NULL or "": all */
};

struct cni_request {
        const char *container_id; /* the pod sandbox ID */
        const char *netns;        /* path of the pinned network namespace */
        const char *ifname;       /* NULL: "eth0" */
        const char *pod_name;
        const char *pod_namespace;
        const char *pod_uid;
        const struct cni_port_mapping *ports;
        size_t n_ports;
        const char *pod_cidr;     /* UpdateRuntimeConfig's pod CIDR; NULL: none. Passed as
                                   * runtimeConfig "ipRanges" to plugins that declare it */
        unsigned timeout_s;       /* each plugin run, 0: 60 s; a plugin still running then is
                                   * killed and the call fails with -ETIMEDOUT */
};

struct cni_result {
        char **ips;    /* "10.88.0.5", "fd00::5" — addresses without the prefix length,
                        * IPv4 first, in the order the result lists them */
        size_t n_ips;
        char *json;    /* the last plugin's result, as it printed it: kept for DEL */
};

/* -ENOENT "No CNI network configuration in DIR" when none is found. */
int cni_load(const char *conf_dir, struct cni_net **ret, struct pxe **err);
void cni_net_free(struct cni_net *n);

const char *cni_net_name(const struct cni_net *n);
const char *cni_net_source(const struct cni_net *n); /* the file it came from */

int cni_add(const struct cni_net *n, const char *const *bin_dirs, size_t n_bin_dirs,
            const struct cni_request *req, struct cni_result *ret, struct pxe **err);

/* prev_result: cni_result.json of the ADD, or NULL when unknown. */
int cni_del(const struct cni_net *n, const char *const *bin_dirs, size_t n_bin_dirs,
            const struct cni_request *req, const char *prev_result, struct pxe **err);

void cni_result_done(struct cni_result *r);

/* Added by the net module: the pieces of cni_add()/cni_del(), for tests and
 * tools. */
size_t cni_net_n_plugins(const struct cni_net *n);
const char *cni_net_plugin_type(const struct cni_net *n, size_t i);
const char *cni_net_version(const struct cni_net *n);

/* The executable for plugin type in bin_dirs (first match) in *ret_path:
 * -EINVAL for a type that is empty or has a '/' or "..", -ENOENT when no
 * directory has it. */
int cni_plugin_find(const char *type, const char *const *bin_dirs, size_t n_bin_dirs, char **ret_path,
                    struct pxe **err);

/* The JSON given on plugin i's stdin: its object from the list with the
 * list's "name" and "cniVersion", "prevResult" (prev_result when not NULL)
 * and "runtimeConfig" for the capabilities it declares.  NULL on error. */
char *cni_plugin_config(const struct cni_net *n, size_t i, const struct cni_request *req,
                        const char *prev_result, struct pxe **err);

/* A plugin's output: exit status (raw wait status), stdout and stderr.  A
 * failure is -EIO "CNI plugin <type> failed (<command>): <msg>: <details>".
 * On success ret (may be NULL) gets the addresses of a 1.0/0.4/0.3 ("ips")
 * or 0.2/0.1 ("ip4"/"ip6") result and the JSON as printed. */
int cni_parse_result(const char *type, const char *command, int status, const char *out, const char *errout,
                     struct cni_result *ret, struct pxe **err);
