/* pve-client: drives the Proxmox client (src/backend/proxmox/client.h) from
 * the command line, for the integration tests against the double
 * (tests/integration/test_proxmox_client.py).  Not installed.
 *
 *   pve-client --config FILE [--task-timeout-ms N] COMMAND [ARGS]
 *     version | node | nextid
 *     create [--vmid N] [--no-wait] KEY=VALUE...   prints "vmid N"
 *     status VMID | config VMID | set VMID KEY=VALUE...
 *     start|stop|shutdown|suspend|resume VMID      (waits for the task)
 *     destroy [--force] VMID                       (waits for the task)
 *     wait UPID
 *     lifecycle KEY=VALUE...   create, start, stop, destroy in one process
 *
 * Output: one "key value" line per fact; errors as "pve-client: error: ..." and exit 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/proxmox/client.h"
#include "config/config.h"
#include "util/cleanup.h"

static int task_timeout_ms = 60000;

static int fail(struct pxe *e)
{
        fprintf(stderr, "pve-client: error: %s\n", e && e->msg ? e->msg : "unknown error");
        pxe_free(e);
        return 1;
}

static int parse_kv(int argc, char **argv, struct pve_kv **ret, size_t *ret_n, struct pxe **err)
{
        struct pve_kv *v = calloc((size_t) argc + 1, sizeof(*v));

        if (!v)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (int i = 0; i < argc; i++) {
                char *eq = strchr(argv[i], '=');

                if (!eq) {
                        free(v);
                        return pxe_set(err, EINVAL, "expected KEY=VALUE, got %s", argv[i]);
                }
                *eq = '\0';
                v[i] = (struct pve_kv) { argv[i], eq + 1 };
        }
        *ret = v;
        *ret_n = (size_t) argc;
        return 0;
}

static int parse_vmid(const char *s, unsigned *ret, struct pxe **err)
{
        char *end;
        unsigned long v;

        errno = 0;
        v = s ? strtoul(s, &end, 10) : 0;
        if (!s || errno || *end || v < 100 || v > 999999999)
                return pxe_set(err, EINVAL, "bad VMID %s", s ? s : "(none)");
        *ret = (unsigned) v;
        return 0;
}

static int wait_upid(struct pve_client *c, char *upid, struct pxe **err)
{
        _cleanup_free_ char *u = upid;

        if (u)
                printf("upid %s\n", u);
        return pve_task_wait(c, u, task_timeout_ms, err);
}

static int do_create(struct pve_client *c, int argc, char **argv, bool wait, unsigned *ret, struct pxe **err)
{
        _cleanup_free_ struct pve_kv *kv = NULL;
        char *upid = NULL;
        unsigned vmid = 0;
        size_t n = 0;

        for (; argc > 0 && argv[0][0] == '-'; argc--, argv++) {
                if (streq(argv[0], "--no-wait"))
                        wait = false;
                else if (streq(argv[0], "--vmid") && argc > 1 && parse_vmid(argv[1], &vmid, err) == 0)
                        argc--, argv++;
                else
                        return pxe_set(err, EINVAL, "create: bad option %s", argv[0]);
        }
        if (parse_kv(argc, argv, &kv, &n, err) < 0 || pve_create(c, &vmid, kv, n, &upid, err) < 0)
                return -1;
        printf("vmid %u\n", vmid);
        fflush(stdout);
        if (ret)
                *ret = vmid;
        if (!wait) {
                if (upid)
                        printf("upid %s\n", upid);
                free(upid);
                return 0;
        }
        return wait_upid(c, upid, err);
}

static int do_status(struct pve_client *c, unsigned vmid, struct pxe **err)
{
        struct pve_status st;

        if (pve_status(c, vmid, &st, err) < 0)
                return -1;
        printf("status %s\nlock %s\nname %s\n", st.status, st.lock[0] ? st.lock : "-", st.name);
        return 0;
}

static int do_action(struct pve_client *c, enum pve_action a, unsigned vmid, struct pxe **err)
{
        char *upid = NULL;

        if (pve_action(c, vmid, a, &upid, err) < 0)
                return -1;
        return wait_upid(c, upid, err);
}

static int do_destroy(struct pve_client *c, unsigned vmid, bool force, struct pxe **err)
{
        char *upid = NULL;

        if (pve_destroy(c, vmid, force, &upid, err) < 0)
                return -1;
        return wait_upid(c, upid, err);
}

static int do_lifecycle(struct pve_client *c, int argc, char **argv, struct pxe **err)
{
        unsigned vmid = 0;

        if (do_create(c, argc, argv, true, &vmid, err) < 0 || do_status(c, vmid, err) < 0 ||
            do_action(c, PVE_ACTION_START, vmid, err) < 0 || do_status(c, vmid, err) < 0 ||
            do_action(c, PVE_ACTION_STOP, vmid, err) < 0 || do_status(c, vmid, err) < 0 ||
            do_destroy(c, vmid, false, err) < 0)
                return -1;
        printf("lifecycle ok\n");
        return 0;
}

static int do_config(struct pve_client *c, unsigned vmid, struct pxe **err)
{
        json_t *cfg = NULL;
        char *s;

        if (pve_config_get(c, vmid, &cfg, err) < 0)
                return -1;
        s = json_dumps(cfg, JSON_SORT_KEYS | JSON_COMPACT);
        printf("config %s\n", s ? s : "{}");
        free(s);
        json_decref(cfg);
        return 0;
}

static int dispatch(struct pve_client *c, const char *cmd, int argc, char **argv, struct pxe **err)
{
        _cleanup_free_ char *s = NULL;
        _cleanup_free_ struct pve_kv *kv = NULL;
        const char *node;
        unsigned vmid = 0;
        size_t n = 0;
        bool force = argc > 0 && streq(argv[0], "--force");

        if (streq(cmd, "version"))
                return pve_version(c, &s, err) < 0 ? -1 : printf("version %s\n", s) * 0;
        if (streq(cmd, "node"))
                return pve_node(c, &node, err) < 0 ? -1 : printf("node %s\n", node) * 0;
        if (streq(cmd, "nextid"))
                return pve_nextid(c, &vmid, err) < 0 ? -1 : printf("vmid %u\n", vmid) * 0;
        if (streq(cmd, "create"))
                return do_create(c, argc, argv, true, NULL, err);
        if (streq(cmd, "lifecycle"))
                return do_lifecycle(c, argc, argv, err);
        if (streq(cmd, "wait"))
                return argc == 1 ? pve_task_wait(c, argv[0], task_timeout_ms, err) : pxe_set(err, EINVAL, "wait UPID");
        if (force)
                argc--, argv++;
        if (argc < 1 || parse_vmid(argv[0], &vmid, err) < 0)
                return pxe_set(err, EINVAL, "%s: needs a VMID", cmd);
        if (streq(cmd, "status"))
                return do_status(c, vmid, err);
        if (streq(cmd, "config"))
                return do_config(c, vmid, err);
        if (streq(cmd, "set"))
                return parse_kv(argc - 1, argv + 1, &kv, &n, err) < 0 ? -1 : pve_config_set(c, vmid, kv, n, err);
        if (streq(cmd, "destroy"))
                return do_destroy(c, vmid, force, err);
        if (pve_action_from_string(cmd) != PVE_ACTION_INVALID)
                return do_action(c, pve_action_from_string(cmd), vmid, err);
        return pxe_set(err, EINVAL, "unknown command %s", cmd);
}

int main(int argc, char **argv)
{
        _cleanup_config_ struct config *cfg = NULL;
        _cleanup_pve_client_ struct pve_client *c = NULL;
        const char *config = NULL;
        struct pxe *err = NULL;
        int i = 1;

        for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
                if (streq(argv[i], "--config"))
                        config = argv[i + 1];
                else if (streq(argv[i], "--task-timeout-ms"))
                        task_timeout_ms = atoi(argv[i + 1]);
                else
                        break;
        }
        if (i >= argc) {
                fprintf(stderr, "usage: pve-client --config FILE [--task-timeout-ms N] COMMAND [ARGS]\n");
                return 2;
        }
        if (config_load(config, &cfg, &err) < 0)
                return fail(err);
        for (size_t w = 0; w < cfg->n_warnings; w++)
                fprintf(stderr, "pve-client: warning: %s\n", cfg->warnings[w]);
        if (pve_client_new(&cfg->proxmox, &c, &err) < 0)
                return fail(err);
        for (const char *const *w = pve_client_warnings(c); *w; w++)
                fprintf(stderr, "pve-client: warning: %s\n", *w);
        if (dispatch(c, argv[i], argc - i - 1, argv + i + 1, &err) < 0)
                return fail(err);
        return 0;
}
