/* The pod and container tables (loop thread) and their documents in the
 * state database. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cri/cri.h"
#include "store/store.h"
#include "util/cleanup.h"
#include "util/log.h"

int64_t cri_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int cri_new_id(char out[65], struct pxe **err)
{
        static const char hex[] = "0123456789abcdef";
        uint8_t raw[32];

        if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
                return pxe_set_errno(err, errno, "Reading random bytes for an ID");
        for (size_t i = 0; i < sizeof(raw); i++) {
                out[2 * i] = hex[raw[i] >> 4];
                out[2 * i + 1] = hex[raw[i] & 15];
        }
        out[64] = '\0';
        return 0;
}

/* Exact match first, then a unique prefix of at least 4 characters. */
#define FIND_IN(arr, n, id, creating_state)                                                  \
        ({                                                                                    \
                __typeof__((arr)[0]) _hit = NULL;                                             \
                size_t _len = strlen(id), _hits = 0;                                          \
                for (size_t _i = 0; _i < (n); _i++) {                                         \
                        if ((arr)[_i]->state == (creating_state))                             \
                                continue;                                                     \
                        if (strcmp((arr)[_i]->id, id) == 0) {                                 \
                                _hit = (arr)[_i];                                             \
                                _hits = 1;                                                    \
                                break;                                                        \
                        }                                                                     \
                        if (_len >= 4 && strncmp((arr)[_i]->id, id, _len) == 0) {             \
                                _hit = (arr)[_i];                                             \
                                _hits++;                                                      \
                        }                                                                     \
                }                                                                             \
                _hits == 1 ? _hit : NULL;                                                     \
        })

struct cri_pod *cri_pod_find(struct cri_server *s, const char *id)
{
        if (!id || !*id)
                return NULL;
        return FIND_IN(s->pods, s->n_pods, id, CRI_POD_CREATING);
}

struct cri_ctr *cri_ctr_find(struct cri_server *s, const char *id)
{
        if (!id || !*id)
                return NULL;
        return FIND_IN(s->ctrs, s->n_ctrs, id, CRI_CTR_CREATING);
}

int cri_pod_add(struct cri_server *s, struct cri_pod *p)
{
        struct cri_pod **v = realloc(s->pods, (s->n_pods + 1) * sizeof(*v));

        if (!v)
                return -ENOMEM;
        v[s->n_pods++] = p;
        s->pods = v;
        return 0;
}

int cri_ctr_add(struct cri_server *s, struct cri_ctr *c)
{
        struct cri_ctr **v = realloc(s->ctrs, (s->n_ctrs + 1) * sizeof(*v));

        if (!v)
                return -ENOMEM;
        v[s->n_ctrs++] = c;
        s->ctrs = v;
        return 0;
}

void cri_pod_drop(struct cri_server *s, struct cri_pod *p)
{
        for (size_t i = 0; i < s->n_pods; i++)
                if (s->pods[i] == p) {
                        memmove(&s->pods[i], &s->pods[i + 1], (s->n_pods - i - 1) * sizeof(*s->pods));
                        s->n_pods--;
                        break;
                }
        cri_pod_free(p);
}

void cri_ctr_drop(struct cri_server *s, struct cri_ctr *c)
{
        for (size_t i = 0; i < s->n_ctrs; i++)
                if (s->ctrs[i] == c) {
                        memmove(&s->ctrs[i], &s->ctrs[i + 1], (s->n_ctrs - i - 1) * sizeof(*s->ctrs));
                        s->n_ctrs--;
                        break;
                }
        cri_ctr_free(c);
}

static void strv_free(char **v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

void cri_pod_free(struct cri_pod *p)
{
        if (!p)
                return;
        if (p->config)
                protobuf_c_message_free_unpacked(&p->config->base, NULL);
        free(p->handler);
        free(p->dir);
        free(p->ns_dir);
        netns_paths_done(&p->ns);
        free(p->shm_path);
        free(p->pidns_path);
        strv_free(p->ips, p->n_ips);
        free(p->cni_result);
        free(p);
}

void cri_ctr_free(struct cri_ctr *c)
{
        if (!c)
                return;
        if (c->config)
                protobuf_c_message_free_unpacked(&c->config->base, NULL);
        free(c->image_ref);
        free(c->image_id);
        free(c->image_name);
        free(c->repo_digest);
        free(c->reason);
        free(c->message);
        free(c->log_path);
        free(c->bundle);
        free(c->route_reason);
        free(c->cgroup_path);
        free(c);
}

/* ---- documents ---- */

static json_t *jstr(const char *s)
{
        return s ? json_string(s) : json_null();
}

static char *get_str(json_t *o, const char *key)
{
        const char *v = json_string_value(json_object_get(o, key));

        return v ? strdup(v) : NULL;
}

static void save_doc(struct cri_server *s, const char *kind, const char *id, json_t *doc)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        _cleanup_free_ char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

        json_decref(doc);
        if (!text) {
                log_error("Saving %s %s: out of memory", kind, id);
                return;
        }
        if (store_put(s->db, kind, id, text, &e) < 0)
                log_error("Saving %s %s: %s", kind, id, e->msg);
}

void cri_pod_save(struct cri_server *s, const struct cri_pod *p)
{
        _cleanup_free_ char *cfg = cri_msg_to_b64(&p->config->base);
        json_t *ips = json_array();

        for (size_t i = 0; i < p->n_ips; i++)
                json_array_append_new(ips, json_string(p->ips[i]));
        save_doc(s, "pod", p->id,
                 json_pack("{s:s, s:o, s:o, s:i, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:b}",
                           "id", p->id, "config", jstr(cfg), "handler", jstr(p->handler), "state", (int) p->state,
                           "created", (json_int_t) p->created_ns, "dir", jstr(p->dir), "ns_dir", jstr(p->ns_dir),
                           "netns", jstr(p->ns.net), "ipcns", jstr(p->ns.ipc), "utsns", jstr(p->ns.uts),
                           "shm", jstr(p->shm_path), "pidns", jstr(p->pidns_path), "ips", ips, "infra_pid",
                           p->infra_pid, "cni_result", jstr(p->cni_result), "network_ready", p->network_ready));
}

void cri_ctr_save(struct cri_server *s, const struct cri_ctr *c)
{
        _cleanup_free_ char *cfg = cri_msg_to_b64(&c->config->base);

        save_doc(s, "container", c->id,
                 json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:i, s:I, s:I, s:I, s:i, s:o, s:o, s:o, s:o, "
                           "s:s, s:o, s:o, s:i, s:i, s:i, s:b}",
                           "id", c->id, "pod_id", c->pod_id, "config", jstr(cfg), "image_ref", jstr(c->image_ref),
                           "image_id", jstr(c->image_id), "image_name", jstr(c->image_name), "repo_digest",
                           jstr(c->repo_digest), "state", (int) c->state, "created", (json_int_t) c->created_ns,
                           "started", (json_int_t) c->started_ns, "finished", (json_int_t) c->finished_ns,
                           "exit_code", c->exit_code, "reason", jstr(c->reason), "message", jstr(c->message),
                           "log_path", jstr(c->log_path), "bundle", jstr(c->bundle), "backend",
                           backend_id_to_name(c->backend), "route_reason", jstr(c->route_reason), "cgroup",
                           jstr(c->cgroup_path), "stop_signal", c->stop_signal, "pid", c->pid, "vmid", c->proxmox_vmid, "in_runtime",
                           c->in_runtime));
}

void cri_pod_forget(struct cri_server *s, const struct cri_pod *p)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        if (store_delete(s->db, "pod", p->id, &e) < 0)
                log_error("Forgetting pod %s: %s", p->id, e->msg);
}

void cri_ctr_forget(struct cri_server *s, const struct cri_ctr *c)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        if (store_delete(s->db, "container", c->id, &e) < 0)
                log_error("Forgetting container %s: %s", c->id, e->msg);
}

static int load_pod(const char *id, const char *text, void *data)
{
        struct cri_server *s = data;
        json_t *o = json_loads(text, 0, NULL), *ips;
        struct cri_pod *p = calloc(1, sizeof(*p));
        size_t i;
        json_t *v;

        if (!o || !p || strlen(id) != 64)
                goto bad;
        memcpy(p->id, id, 65);
        p->config = cri_msg_from_b64(&runtime__v1__pod_sandbox_config__descriptor,
                                     json_string_value(json_object_get(o, "config")));
        if (!p->config)
                goto bad;
        p->handler = get_str(o, "handler");
        p->state = json_integer_value(json_object_get(o, "state")) == CRI_POD_READY ? CRI_POD_READY : CRI_POD_NOTREADY;
        p->created_ns = json_integer_value(json_object_get(o, "created"));
        p->dir = get_str(o, "dir");
        p->ns_dir = get_str(o, "ns_dir");
        p->ns.net = get_str(o, "netns");
        p->ns.ipc = get_str(o, "ipcns");
        p->ns.uts = get_str(o, "utsns");
        p->shm_path = get_str(o, "shm");
        p->pidns_path = get_str(o, "pidns");
        p->infra_pid = (int) json_integer_value(json_object_get(o, "infra_pid"));
        p->cni_result = get_str(o, "cni_result");
        p->network_ready = json_is_true(json_object_get(o, "network_ready"));
        ips = json_object_get(o, "ips");
        p->ips = calloc(json_array_size(ips) + 1, sizeof(char *));
        json_array_foreach(ips, i, v)
                if (p->ips && json_is_string(v))
                        p->ips[p->n_ips++] = strdup(json_string_value(v));
        json_decref(o);
        if (cri_pod_add(s, p) < 0) {
                cri_pod_free(p);
                return -ENOMEM;
        }
        return 0;
bad:
        log_error("State database: pod %s is unreadable; skipped", id);
        json_decref(o);
        cri_pod_free(p);
        return 0;
}

static int load_ctr(const char *id, const char *text, void *data)
{
        struct cri_server *s = data;
        json_t *o = json_loads(text, 0, NULL);
        struct cri_ctr *c = calloc(1, sizeof(*c));
        const char *pod = o ? json_string_value(json_object_get(o, "pod_id")) : NULL;

        if (!o || !c || strlen(id) != 64 || !pod || strlen(pod) != 64)
                goto bad;
        memcpy(c->id, id, 65);
        memcpy(c->pod_id, pod, 65);
        c->config = cri_msg_from_b64(&runtime__v1__container_config__descriptor,
                                     json_string_value(json_object_get(o, "config")));
        if (!c->config)
                goto bad;
        c->image_ref = get_str(o, "image_ref");
        c->image_id = get_str(o, "image_id");
        c->image_name = get_str(o, "image_name");
        c->repo_digest = get_str(o, "repo_digest");
        c->state = (enum cri_ctr_state) json_integer_value(json_object_get(o, "state"));
        c->created_ns = json_integer_value(json_object_get(o, "created"));
        c->started_ns = json_integer_value(json_object_get(o, "started"));
        c->finished_ns = json_integer_value(json_object_get(o, "finished"));
        c->exit_code = (int) json_integer_value(json_object_get(o, "exit_code"));
        c->reason = get_str(o, "reason");
        c->message = get_str(o, "message");
        c->log_path = get_str(o, "log_path");
        c->bundle = get_str(o, "bundle");
        c->backend = backend_id_from_name(json_string_value(json_object_get(o, "backend")) ?: "crun");
        c->route_reason = get_str(o, "route_reason");
        c->cgroup_path = get_str(o, "cgroup");
        c->stop_signal = (int) json_integer_value(json_object_get(o, "stop_signal"));
        c->pid = (int) json_integer_value(json_object_get(o, "pid"));
        c->proxmox_vmid = (int) json_integer_value(json_object_get(o, "vmid"));
        c->in_runtime = json_is_true(json_object_get(o, "in_runtime"));
        json_decref(o);
        if (c->state == CRI_CTR_CREATING)
                c->state = CRI_CTR_UNKNOWN;
        if (cri_ctr_add(s, c) < 0) {
                cri_ctr_free(c);
                return -ENOMEM;
        }
        return 0;
bad:
        log_error("State database: container %s is unreadable; skipped", id);
        json_decref(o);
        cri_ctr_free(c);
        return 0;
}

int cri_state_load(struct cri_server *s, struct pxe **err)
{
        if (store_load(s->db, "pod", load_pod, s, err) < 0 || store_load(s->db, "container", load_ctr, s, err) < 0)
                return pxe_wrap(err, "Loading the state database");
        return 0;
}
