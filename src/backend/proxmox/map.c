/* OCI config.json -> Proxmox LXC create parameters (docs/proxmox.md#mapping). */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/proxmox/map.h"
#include "util/cleanup.h"

#define MIB (1024ULL * 1024ULL)
#define PVE_MAX_MP 256        /* mp0 .. mp255 */
#define PVE_MAX_CORES 8192
#define PVE_MAX_ROOTFS_GIB 65536
#define DESCRIPTION_MAX 8192

struct map {
        const json_t *config;
        const struct pve_map_request *req;
        struct pve_params *p;
        struct pxe **err;
        unsigned n_mp;
};

/* ---- the parameter list ---- */

int pve_params_add(struct pve_params *p, const char *key, const char *fmt, ...)
{
        _cleanup_free_ char *k = strdup(key), *v = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&v, fmt, ap);
        va_end(ap);
        if (!k || r < 0)
                return -ENOMEM;
        if (p->n_items == p->cap_items) {
                size_t cap = p->cap_items ? p->cap_items * 2 : 16;
                struct pve_kv *n = realloc(p->items, cap * sizeof(*n));

                if (!n)
                        return -ENOMEM;
                p->items = n;
                p->cap_items = cap;
        }
        p->items[p->n_items++] = (struct pve_kv){ .key = TAKE_PTR(k), .value = TAKE_PTR(v) };
        return 0;
}

void pve_params_free(struct pve_params *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->n_items; i++) {
                free((char *) p->items[i].key);
                free((char *) p->items[i].value);
        }
        free(p->items);
        for (size_t i = 0; i < p->n_init_binds; i++) {
                free(p->init_binds[i].source);
                free(p->init_binds[i].dest);
                free(p->init_binds[i].stage_name);
        }
        free(p->init_binds);
        for (size_t i = 0; i < p->n_init_mounts; i++) {
                free(p->init_mounts[i].dest);
                free(p->init_mounts[i].options);
        }
        free(p->init_mounts);
        for (int i = 0; i < PVE_NS_MAX; i++)
                free(p->ns_paths[i]);
        free(p->lxc_security);
        free(p->seccomp);
        for (size_t i = 0; i < p->n_prop_binds; i++) {
                free(p->prop_binds[i].source);
                free(p->prop_binds[i].dest);
        }
        free(p->prop_binds);
        free(p->setup);
        free(p);
}

const char *pve_params_get(const struct pve_params *p, const char *key)
{
        for (size_t i = p->n_items; i > 0; i--)
                if (streq(p->items[i - 1].key, key))
                        return p->items[i - 1].value;
        return NULL;
}

#define ADD(m, key, ...)                                                        \
        ({                                                                      \
                int _r = pve_params_add((m)->p, (key), __VA_ARGS__);            \
                _r < 0 ? pxe_set((m)->err, ENOMEM, "Out of memory") : 0;        \
        })

/* ---- small helpers ---- */

static const json_t *get_path(const json_t *o, const char *a, const char *b)
{
        const json_t *j = json_object_get(o, a);

        return b ? json_object_get(j, b) : j;
}

static const char *annotation(const struct map *m, const char *key)
{
        return json_string_value(json_object_get(json_object_get(m->config, "annotations"), key));
}

/* Absent, or a value that asks for nothing: null, false, 0, "", [], {}. */
static bool is_empty(const json_t *v)
{
        return !v || json_is_null(v) || json_is_false(v) || (json_is_integer(v) && json_integer_value(v) == 0) ||
               (json_is_string(v) && !*json_string_value(v)) || (json_is_array(v) && json_array_size(v) == 0) ||
               (json_is_object(v) && json_object_size(v) == 0);
}

/* An optional integer: 0 absent (or null), 1 present, <0 wrong type. */
static int get_int(const json_t *obj, const char *key, long long *v)
{
        const json_t *j = json_object_get(obj, key);

        if (!j || json_is_null(j))
                return 0;
        if (!json_is_integer(j))
                return -EINVAL;
        *v = json_integer_value(j);
        return 1;
}

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* ---- hostname, tags, cpuunits (exposed for the tests) ---- */

/* Append one sanitised DNS label of s[0..n) to out; returns its length. */
static size_t hostname_label(const char *s, size_t n, char *out)
{
        size_t len = 0;

        for (size_t i = 0; i < n && len < 63; i++) {
                char c = s[i] >= 'A' && s[i] <= 'Z' ? (char) (s[i] - 'A' + 'a') : s[i];

                if (!is_lower_alnum(c))
                        c = '-';
                if (c == '-' && (len == 0 || out[len - 1] == '-'))
                        continue;
                out[len++] = c;
        }
        while (len > 0 && out[len - 1] == '-')
                len--;
        return len;
}

char *pve_map_hostname(const char *s)
{
        char *out = malloc(strlen(s) + 1);
        size_t len = 0;

        if (!out)
                return NULL;
        while (*s) {
                size_t n = strcspn(s, "."), l;

                if (len > 0)
                        out[len++] = '.';
                l = hostname_label(s, n, out + len);
                if (l == 0 && len > 0)
                        len--; /* an empty label: drop its dot */
                else if (len + l > 253)
                        break;
                len += l;
                s += n + (s[n] == '.');
        }
        while (len > 0 && out[len - 1] == '.')
                len--;
        out[len] = '\0';
        if (len == 0) {
                free(out);
                return NULL;
        }
        return out;
}

char *pve_map_tag(const char *prefix, const char *s)
{
        _cleanup_free_ char *t = NULL;
        size_t len;

        if (asprintf(&t, "%s%s", prefix, s) < 0)
                return NULL;
        len = 0;
        for (char *c = t; *c; c++) {
                char x = *c >= 'A' && *c <= 'Z' ? (char) (*c - 'A' + 'a') : *c;

                if (!is_lower_alnum(x) && x != '_' && (len == 0 || !strchr("+.-", x)))
                        x = len == 0 ? '\0' : '-';
                if (x)
                        t[len++] = x;
        }
        t[len] = '\0';
        return len > 0 ? TAKE_PTR(t) : NULL;
}

/* Proxmox VE 7+ runs cgroup v2, where cpuunits is cpu.weight (1..10000); the
 * OCI value is cgroup v1 cpu.shares, converted as runc and crun do. */
unsigned pve_map_cpuunits(unsigned long long shares)
{
        if (shares < 2)
                shares = 2;
        if (shares > 262144)
                shares = 262144;
        return (unsigned) (1 + ((shares - 2) * 9999) / 262142);
}

/* ---- hostname ---- */

static int map_hostname(struct map *m)
{
        const char *h = json_string_value(json_object_get(m->config, "hostname"));
        const char *from = h && *h ? "hostname" : "the container ID";
        _cleanup_free_ char *name = pve_map_hostname(h && *h ? h : m->req->id);

        if (!name)
                return pxe_set(m->err, EINVAL, "%s \"%s\": no valid host name remains (DNS labels of letters, digits, '-')",
                               from, h && *h ? h : m->req->id);
        return ADD(m, "hostname", "%s", name);
}

/* ---- memory ---- */

static int map_memory(struct map *m, const json_t *mem)
{
        long long limit = 0, swap = 0;
        unsigned long long mib, swap_mib = 0;
        int has_limit, has_swap;
        const char *key;
        json_t *v;

        json_object_foreach ((json_t *) mem, key, v)
                if (!streq(key, "limit") && !streq(key, "swap") && !is_empty(v))
                        return pxe_set(m->err, ENOTSUP, "linux.resources.memory.%s: Proxmox cannot set it", key);
        has_limit = get_int(mem, "limit", &limit);
        has_swap = get_int(mem, "swap", &swap);
        if (has_limit < 0 || has_swap < 0)
                return pxe_set(m->err, EINVAL, "linux.resources.memory.%s: expected an integer",
                               has_limit < 0 ? "limit" : "swap");
        if (has_limit > 0 && limit > 0) {
                mib = ((unsigned long long) limit + MIB - 1) / MIB;
                if (mib < 16)
                        mib = 16;
        } else
                mib = m->req->memory_mib ? m->req->memory_mib : PVE_MAP_MEMORY_MIB_DEFAULT;
        if (has_swap > 0 && swap == -1)
                swap_mib = mib; /* unlimited: Proxmox has no such value */
        else if (has_swap > 0 && has_limit > 0 && limit > 0 && swap > limit)
                swap_mib = ((unsigned long long) (swap - limit) + MIB - 1) / MIB;
        if (ADD(m, "memory", "%llu", mib) < 0)
                return -ENOMEM;
        return ADD(m, "swap", "%llu", swap_mib);
}

/* ---- CPU ---- */

static int map_cpu(struct map *m, const json_t *cpu)
{
        long long quota = 0, period = 100000, shares = 0;
        int hq, hp, hs;
        const char *key;
        json_t *v;

        json_object_foreach ((json_t *) cpu, key, v)
                if (!streq(key, "quota") && !streq(key, "period") && !streq(key, "shares") && !is_empty(v))
                        return pxe_set(m->err, ENOTSUP, "linux.resources.cpu.%s: Proxmox cannot set it", key);
        hq = get_int(cpu, "quota", &quota);
        hp = get_int(cpu, "period", &period);
        hs = get_int(cpu, "shares", &shares);
        if (hq < 0 || hp < 0 || hs < 0)
                return pxe_set(m->err, EINVAL, "linux.resources.cpu.%s: expected an integer",
                               hq < 0 ? "quota" : hp < 0 ? "period" : "shares");
        if (hp > 0 && period <= 0)
                return pxe_set(m->err, EINVAL, "linux.resources.cpu.period: %lld is not a positive number", period);
        if (hq > 0 && quota > 0) {
                unsigned long long q = (unsigned long long) quota, pd = (unsigned long long) period;
                unsigned long long cores = q / pd + (q % pd != 0);
                unsigned long long hundredths = q > UINT64_MAX / 100 ? UINT64_MAX : (q * 100 + pd - 1) / pd;

                if (cores > PVE_MAX_CORES || hundredths > PVE_MAX_CORES * 100ULL)
                        return pxe_set(m->err, ENOTSUP, "linux.resources.cpu.quota: %lld/%lld is more than Proxmox's %d CPUs",
                                       quota, period, PVE_MAX_CORES);
                if (ADD(m, "cores", "%llu", cores) < 0)
                        return -ENOMEM;
                if ((hundredths % 100 ? ADD(m, "cpulimit", "%llu.%02llu", hundredths / 100, hundredths % 100)
                                      : ADD(m, "cpulimit", "%llu", hundredths / 100)) < 0)
                        return -ENOMEM;
        }
        if (hs > 0 && shares > 0)
                return ADD(m, "cpuunits", "%u", pve_map_cpuunits((unsigned long long) shares));
        return 0;
}


/* Resources other than memory and CPU: only what Proxmox does by itself. */
static int check_resources(struct map *m, const json_t *res)
{
        static const char *const never[] = { "blockIO", "network", "rdma", "unified" };
        long long pids = 0;
        size_t i;
        json_t *h;
        int r;

        for (i = 0; i < ARRAY_SIZE(never); i++)
                if (!is_empty(json_object_get(res, never[i])))
                        return pxe_set(m->err, ENOTSUP, "linux.resources.%s: Proxmox cannot set it", never[i]);
        if (get_int(json_object_get(res, "pids"), "limit", &pids) < 0 || pids > 0)
                return pxe_set(m->err, ENOTSUP, "linux.resources.pids.limit: Proxmox has no PID limit for containers");
        /* The kubelet lists every huge page size with limit 0: no huge pages,
         * which is what a Proxmox container gets. */
        json_array_foreach (json_object_get(res, "hugepageLimits"), i, h) {
                long long limit = 0;

                if (get_int(h, "limit", &limit) != 0 && limit != 0)
                        return pxe_set(m->err, ENOTSUP, "linux.resources.hugepageLimits[%zu]: Proxmox cannot reserve huge pages", i);
        }
        /* linux.resources.devices: Proxmox applies its own device policy. */
        r = map_memory(m, json_object_get(res, "memory"));
        if (r < 0)
                return r;
        return map_cpu(m, json_object_get(res, "cpu"));
}

/* ---- network ---- */

static bool valid_ipv4(const char *s, bool cidr)
{
        unsigned a[4], prefix = 0;
        char tail[2];
        int n;

        if (strspn(s, "0123456789./") != strlen(s))
                return false;
        n = cidr ? sscanf(s, "%3u.%3u.%3u.%3u/%2u%1s", &a[0], &a[1], &a[2], &a[3], &prefix, tail)
                 : sscanf(s, "%3u.%3u.%3u.%3u%1s", &a[0], &a[1], &a[2], &a[3], tail);
        if (n != (cidr ? 5 : 4) || prefix > 32)
                return false;
        for (int i = 0; i < 4; i++)
                if (a[i] > 255)
                        return false;
        return true;
}

static bool valid_bridge(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (!is_lower_alnum(*s) && !(*s >= 'A' && *s <= 'Z') && !strchr("-_.", *s))
                        return false;
        return true;
}

static int map_net(struct map *m)
{
        const char *ip = annotation(m, PVE_MAP_ANN_IP), *gw = annotation(m, PVE_MAP_ANN_GW);
        const char *bridge = m->req->bridge;

        /* In a pod's network namespace or the host's: no interface of its own. */
        if (m->p->ns_paths[PVE_NS_NET] || m->p->host_network)
                return 0;
        if (!bridge || !valid_bridge(bridge))
                return pxe_set(m->err, EINVAL, "Bridge \"%s\": not a Proxmox bridge name", bridge ? bridge : "");
        if (!ip || !*ip)
                ip = "dhcp";
        if (!streq(ip, "dhcp") && !valid_ipv4(ip, true))
                return pxe_set(m->err, EINVAL, "Annotation %s \"%s\": expected \"dhcp\" or an IPv4 address/prefix",
                               PVE_MAP_ANN_IP, ip);
        if (gw && *gw) {
                if (streq(ip, "dhcp"))
                        return pxe_set(m->err, EINVAL, "Annotation %s: a gateway needs a static %s", PVE_MAP_ANN_GW,
                                       PVE_MAP_ANN_IP);
                if (!valid_ipv4(gw, false))
                        return pxe_set(m->err, EINVAL, "Annotation %s \"%s\": expected an IPv4 address", PVE_MAP_ANN_GW, gw);
                return ADD(m, "net0", "name=eth0,bridge=%s,ip=%s,gw=%s", bridge, ip, gw);
        }
        return ADD(m, "net0", "name=eth0,bridge=%s,ip=%s", bridge, ip);
}

/* ---- rootfs ---- */

static bool valid_storage(const char *s)
{
        size_t n = strlen(s);

        if (n < 2 || !(s[0] >= 'a' && s[0] <= 'z') || !is_lower_alnum(s[n - 1]))
                return false;
        for (; *s; s++)
                if (!is_lower_alnum(*s) && !strchr("-_.", *s))
                        return false;
        return true;
}

static int map_rootfs(struct map *m)
{
        const char *size = annotation(m, PVE_MAP_ANN_ROOTFS_SIZE), *storage = m->req->storage;
        unsigned long gib = m->req->rootfs_gib ? m->req->rootfs_gib : PVE_MAP_ROOTFS_GIB_DEFAULT;
        bool ro = json_is_true(get_path(m->config, "root", "readonly"));

        if (!storage || !valid_storage(storage))
                return pxe_set(m->err, EINVAL, "Storage \"%s\": not a Proxmox storage ID", storage ? storage : "");
        if (size) {
                char *end = NULL;

                errno = 0;
                gib = strtoul(size, &end, 10);
                if (end && (*end == 'G' || *end == 'g'))
                        end++;
                if (errno || end == size || !end || *end || !(size[0] >= '0' && size[0] <= '9') || gib < 1 ||
                    gib > PVE_MAX_ROOTFS_GIB)
                        return pxe_set(m->err, EINVAL, "Annotation %s \"%s\": expected a size in GiB from 1 to %d",
                                       PVE_MAP_ANN_ROOTFS_SIZE, size, PVE_MAX_ROOTFS_GIB);
        }
        m->p->readonly_root = ro;
        return ADD(m, "rootfs", "%s:%lu", storage, gib);
}

/* ---- mounts ---- */

/* Filesystems every container gets from Proxmox/LXC itself, at their places. */
static const struct {
        const char *type, *dest;
} standard_mounts[] = {
        { "proc", "/proc" },        { "sysfs", "/sys" },          { "tmpfs", "/dev" },
        { "devpts", "/dev/pts" },   { "tmpfs", "/dev/shm" },      { "shm", "/dev/shm" },
        { "mqueue", "/dev/mqueue" }, { "cgroup", "/sys/fs/cgroup" }, { "cgroup2", "/sys/fs/cgroup" },
};

/* A path Proxmox takes in a mount point string: absolute, no ',' or '='
 * (the property string's separators), no "." or ".." components. */
static bool valid_mp_path(const char *s)
{
        size_t n = strlen(s);

        if (s[0] != '/' || strpbrk(s, ",=\n") || strstr(s, "/./") || strstr(s, "/../"))
                return false;
        return !((n >= 2 && streq(s + n - 2, "/.")) || (n >= 3 && streq(s + n - 3, "/..")));
}

/* Options of a bind mount -> ro and Proxmox's mountoptions ("nosuid;nodev"). */
static int bind_options(struct map *m, size_t idx, const json_t *opts, bool *ro, char *mo, size_t size)
{
        static const char *const ignored[] = { "bind", "rbind", "rw", "private", "rprivate" };
        static const char *const passed[] = { "nosuid", "nodev", "noexec", "noatime" };
        const json_t *o;
        size_t i, k;

        mo[0] = '\0';
        json_array_foreach (opts, i, o) {
                const char *s = json_string_value(o);

                if (!s)
                        return pxe_set(m->err, EINVAL, "mounts[%zu].options[%zu]: expected a string", idx, i);
                if (streq(s, "ro")) {
                        *ro = true;
                        continue;
                }
                for (k = 0; k < ARRAY_SIZE(ignored) && !streq(s, ignored[k]); k++)
                        ;
                if (k < ARRAY_SIZE(ignored))
                        continue;
                for (k = 0; k < ARRAY_SIZE(passed) && !streq(s, passed[k]); k++)
                        ;
                if (k == ARRAY_SIZE(passed))
                        return pxe_set(m->err, ENOTSUP, "mounts[%zu].options[%zu]: \"%s\" is not supported on a Proxmox mount point",
                                       idx, i, s);
                if (!strstr(mo, s))
                        snprintf(mo + strlen(mo), size - strlen(mo), "%s%s", mo[0] ? ";" : "", s);
        }
        return 0;
}

static int add_mp(struct map *m, const char *src, const char *dest, bool ro, const char *mo)
{
        char key[16];

        if (m->n_mp >= PVE_MAX_MP)
                return pxe_set(m->err, ENOTSUP, "mounts: more than %d mount points (Proxmox's limit)", PVE_MAX_MP);
        snprintf(key, sizeof(key), "mp%u", m->n_mp++);
        return ADD(m, key, "%s,mp=%s%s%s%s", src, dest, ro ? ",ro=1" : "", mo[0] ? ",mountoptions=" : "", mo);
}

static int add_init_bind(struct map *m, const char *src, const char *dest, bool ro)
{
        struct pve_params *p = m->p;
        struct pve_map_init_bind *n = realloc(p->init_binds, (p->n_init_binds + 1) * sizeof(*n));

        if (!n)
                return pxe_set(m->err, ENOMEM, "Out of memory");
        p->init_binds = n;
        n[p->n_init_binds] = (struct pve_map_init_bind){ .source = strdup(src), .dest = strdup(dest), .ro = ro };
        p->n_init_binds++;
        if (!n[p->n_init_binds - 1].source || !n[p->n_init_binds - 1].dest)
                return pxe_set(m->err, ENOMEM, "Out of memory");
        return 0;
}

/* A file bind of a privileged CT: Proxmox mount points are directories, so
 * the file's directory becomes one, at a stage pxcri-init binds the file
 * from and then detaches before the process runs -- live both ways, as on
 * crun: what kubelet writes into /etc/hosts, what the process writes into
 * /dev/termination-log, is one file.  A file right under / has no
 * directory of its own to lend: it is copied, as an unprivileged CT's
 * files are (its root could not walk kubelet's directories). */
static int add_staged_file(struct map *m, const char *src, const char *dest, bool ro, const char *mo)
{
        _cleanup_free_ char *dir = strdup(src);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        struct pve_map_init_bind *b;
        char stage[64];
        int r;

        if (!dir)
                return pxe_set(m->err, ENOMEM, "Out of memory");
        if (slash == dir)
                return add_init_bind(m, src, dest, ro);
        *slash = '\0';
        snprintf(stage, sizeof(stage), PVE_MAP_STAGE_DIR "/%u", m->n_mp);
        if ((r = add_mp(m, dir, stage, ro, mo)) < 0 || (r = add_init_bind(m, src, dest, ro)) < 0)
                return r;
        b = &m->p->init_binds[m->p->n_init_binds - 1];
        b->staged = true;
        b->stage = m->n_mp - 1;
        b->stage_name = strdup(slash + 1);
        return b->stage_name ? 0 : pxe_set(m->err, ENOMEM, "Out of memory");
}

static bool is_bind(const char *type, const json_t *opts)
{
        const json_t *o;
        size_t i;

        if (type && streq(type, "bind"))
                return true;
        json_array_foreach (opts, i, o)
                if (json_is_string(o) && (streq(json_string_value(o), "bind") || streq(json_string_value(o), "rbind")))
                        return true;
        return false;
}

/* The tmpfs options pxcri-init takes: flags, and data with a plain value. */
static bool tmpfs_option_ok(const char *o)
{
        static const char *const flags[] = { "nosuid", "nodev", "noexec", "strictatime", "relatime", "noatime",
                                             "ro", "rw" };
        static const char *const data[] = { "mode=", "size=", "nr_inodes=", "uid=", "gid=" };

        for (size_t i = 0; i < ARRAY_SIZE(flags); i++)
                if (streq(o, flags[i]))
                        return true;
        for (size_t i = 0; i < ARRAY_SIZE(data); i++)
                if (!strncmp(o, data[i], strlen(data[i])) && o[strlen(data[i])] &&
                    strspn(o + strlen(data[i]), "0123456789kmgKMG%") == strlen(o + strlen(data[i])))
                        return true;
        return false;
}

static int add_init_tmpfs(struct map *m, size_t idx, const char *dest, const json_t *opts)
{
        struct pve_params *p = m->p;
        struct pve_map_init_mount *n;
        char buf[512] = "";
        const json_t *o;
        size_t i, used = 0;

        if (!valid_mp_path(dest) || streq(dest, "/") || strchr(dest, '\t'))
                return pxe_set(m->err, EINVAL, "mounts[%zu].destination \"%s\": not a path to mount on", idx, dest);
        json_array_foreach (opts, i, o) {
                const char *v = json_string_value(o);
                int w;

                if (!v || !tmpfs_option_ok(v))
                        return pxe_set(m->err, ENOTSUP, "mounts[%zu] (tmpfs on %s): option \"%s\" is not supported",
                                       idx, dest, v ? v : "");
                w = snprintf(buf + used, sizeof(buf) - used, "%s%s", used ? "," : "", v);
                if (w < 0 || (size_t) w >= sizeof(buf) - used)
                        return pxe_set(m->err, EINVAL, "mounts[%zu]: options too long", idx);
                used += (size_t) w;
        }
        n = realloc(p->init_mounts, (p->n_init_mounts + 1) * sizeof(*n));
        if (!n)
                return pxe_set(m->err, ENOMEM, "Out of memory");
        p->init_mounts = n;
        n[p->n_init_mounts] = (struct pve_map_init_mount){ .dest = strdup(dest), .options = strdup(buf) };
        if (!n[p->n_init_mounts].dest || !n[p->n_init_mounts].options) {
                free(n[p->n_init_mounts].dest);
                free(n[p->n_init_mounts].options);
                return pxe_set(m->err, ENOMEM, "Out of memory");
        }
        p->n_init_mounts++;
        return 0;
}

static int map_mount(struct map *m, size_t idx, const json_t *mnt)
{
        const char *type = json_string_value(json_object_get(mnt, "type"));
        const char *src = json_string_value(json_object_get(mnt, "source"));
        const char *dest = json_string_value(json_object_get(mnt, "destination"));
        const json_t *opts = json_object_get(mnt, "options");
        char mo[64];
        bool ro = false, done = false;
        struct stat st;
        int r;

        if (!dest)
                return pxe_set(m->err, EINVAL, "mounts[%zu].destination: expected a string", idx);
        if (!is_bind(type, opts)) {
                for (size_t k = 0; k < ARRAY_SIZE(standard_mounts); k++)
                        if (type && streq(type, standard_mounts[k].type) && streq(dest, standard_mounts[k].dest))
                                return 0; /* Proxmox/LXC mount it themselves */
                if (type && streq(type, "tmpfs"))
                        return add_init_tmpfs(m, idx, dest, opts);
                return pxe_set(m->err, ENOTSUP, "mounts[%zu] (%s on %s): Proxmox mount points are bind mounts or volumes",
                               idx, type ? type : "no type", dest);
        }
        if (!src || !valid_mp_path(src))
                return pxe_set(m->err, EINVAL, "mounts[%zu].source \"%s\": Proxmox needs an absolute host path without ',', '=', '.' or '..'",
                               idx, src ? src : "");
        if (!valid_mp_path(dest) || streq(dest, "/") || streq(dest, "/.pxcri") || !strncmp(dest, "/.pxcri/", 8))
                return pxe_set(m->err, EINVAL, "mounts[%zu].destination \"%s\": not a path Proxmox can mount on", idx, dest);
        if (stat(src, &st) < 0)
                return pxe_set_errno(m->err, errno, "mounts[%zu].source %s", idx, src);
        if ((r = pve_map_prop_bind(m->req, m->p, idx, src, dest, opts, &st, &done, m->err)) < 0 || done)
                return r;
        r = bind_options(m, idx, opts, &ro, mo, sizeof(mo));
        if (r < 0)
                return r;
        /* Mount points under /dev would be hidden by the tmpfs LXC mounts
         * there after Proxmox made them: a directory goes to a mount point
         * of its own first and pxcri-init binds it on (live, as a
         * Proxmox mount point is); a file is copied (pmx_binds.c). */
        if (S_ISDIR(st.st_mode) && (streq(dest, "/dev") || !strncmp(dest, "/dev/", 5)) && m->req->init_dir) {
                char stage[64];

                snprintf(stage, sizeof(stage), PVE_MAP_STAGE_DIR "/%u", m->n_mp);
                if ((r = add_mp(m, src, stage, ro, mo)) < 0 || (r = add_init_bind(m, src, dest, ro)) < 0)
                        return r;
                m->p->init_binds[m->p->n_init_binds - 1].staged = true;
                m->p->init_binds[m->p->n_init_binds - 1].stage = m->n_mp - 1;
                return 0;
        }
        if (!S_ISDIR(st.st_mode) && m->req->init_dir && m->req->privileged)
                return add_staged_file(m, src, dest, ro, mo);
        if (!S_ISDIR(st.st_mode) || streq(dest, "/dev") || !strncmp(dest, "/dev/", 5))
                return add_init_bind(m, src, dest, ro);
        return add_mp(m, src, dest, ro, mo);
}

static int map_mounts(struct map *m)
{
        const json_t *mounts = json_object_get(m->config, "mounts"), *mnt;
        const char *init = m->req->init_dir;
        size_t i;
        int r;

        if (mounts && !json_is_array(mounts))
                return pxe_set(m->err, EINVAL, "mounts: expected an array");
        if (init) {
                if (!valid_mp_path(init))
                        return pxe_set(m->err, EINVAL, "pxcri-init directory \"%s\": not a path Proxmox can bind", init);
                r = add_mp(m, init, PVE_MAP_INIT_DIR, false, "");
                if (r < 0)
                        return r;
        }
        json_array_foreach (mounts, i, mnt) {
                if (!json_is_object(mnt))
                        return pxe_set(m->err, EINVAL, "mounts[%zu]: expected an object", i);
                r = map_mount(m, i, mnt);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- features, tags, description ---- */

static int map_features(struct map *m)
{
        static const char *const known[] = { "nesting", "fuse", "keyctl", "mknod" };
        const char *want = annotation(m, PVE_MAP_ANN_FEATURES);
        char out[64] = "";
        bool on[ARRAY_SIZE(known)] = { false };

        for (const char *s = want; s && *s;) {
                size_t n = strcspn(s, ", "), k;

                for (k = 0; k < ARRAY_SIZE(known); k++)
                        if (n == strlen(known[k]) && !strncmp(s, known[k], n))
                                break;
                if (n > 0 && k == ARRAY_SIZE(known))
                        return pxe_set(m->err, EINVAL, "Annotation %s: unknown feature \"%.*s\" (nesting, fuse, keyctl, mknod)",
                                       PVE_MAP_ANN_FEATURES, (int) n, s);
                if (n > 0)
                        on[k] = true;
                s += n + (s[n] != '\0');
        }
        for (size_t k = 0; k < ARRAY_SIZE(known); k++)
                if (on[k])
                        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s=1", out[0] ? "," : "", known[k]);
        return out[0] ? ADD(m, "features", "%s", out) : 0;
}

static const char *k8s(const struct map *m, const char *what)
{
        static const struct {
                const char *what, *key;
        } keys[] = {
                { "pod", "io.kubernetes.cri.sandbox-name" },
                { "namespace", "io.kubernetes.cri.sandbox-namespace" },
                { "namespace", "io.kubernetes.pod.namespace" },
                { "container", "io.kubernetes.cri.container-name" },
                { "pod", "io.kubernetes.pod.name" },
                { "container", "io.kubernetes.container.name" },
                { "image", "io.kubernetes.cri.image-name" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                const char *v = streq(keys[i].what, what) ? annotation(m, keys[i].key) : NULL;

                if (v && *v)
                        return v;
        }
        return NULL;
}

static int map_tags(struct map *m)
{
        static const char *const what[] = { "namespace", "pod", "container" };
        static const char *const prefix[] = { "ns-", "pod-", "ctr-" };
        char tags[512] = "pxcri";

        for (size_t i = 0; i < ARRAY_SIZE(what); i++) {
                const char *v = k8s(m, what[i]);
                _cleanup_free_ char *t = v ? pve_map_tag(prefix[i], v) : NULL;

                if (t && strlen(tags) + strlen(t) + 2 < sizeof(tags))
                        snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), ";%s", t);
        }
        return ADD(m, "tags", "%s", tags);
}

/* Appends "label: value\n" with control characters replaced by spaces. */
/* Append "label: value\n"; once the text had to be cut (it then ends in
 * "...\n"), *full is set and later lines are dropped. */
static void describe(char *d, size_t size, const char *label, const char *value, bool *full)
{
        size_t len = strlen(d);
        int n;

        if (!value || !*value || *full || len + 1 >= size)
                return;
        n = snprintf(d + len, size - len, "%s: %s\n", label, value);
        if (n < 0 || (size_t) n >= size - len) {
                /* Cut before a whole UTF-8 character, never inside one. */
                size_t cut = size - 5;

                while (cut > len && ((unsigned char) d[cut] & 0xc0) == 0x80)
                        cut--;
                snprintf(d + cut, 5, "...\n");
                *full = true;
        }
        for (char *c = d + len; *c; c++)
                if ((unsigned char) *c < 0x20 && *c != '\n')
                        *c = ' ';
        for (char *c = d + len; *c && c[1]; c++)
                if (*c == '\n')
                        *c = ' '; /* a newline inside a value */
}

static int map_description(struct map *m)
{
        _cleanup_free_ char *d = calloc(1, DESCRIPTION_MAX + 1);
        const char *ns = k8s(m, "namespace"), *pod = k8s(m, "pod");
        _cleanup_free_ char *podname = NULL;
        bool full = false;

        if (!d)
                return pxe_set(m->err, ENOMEM, "Out of memory");
        if (pod && asprintf(&podname, "%s%s%s", ns ? ns : "", ns ? "/" : "", pod) < 0)
                return pxe_set(m->err, ENOMEM, "Out of memory");
        describe(d, DESCRIPTION_MAX, "pxcri container", m->req->id, &full);
        describe(d, DESCRIPTION_MAX, "pod", podname, &full);
        describe(d, DESCRIPTION_MAX, "container", k8s(m, "container"), &full);
        describe(d, DESCRIPTION_MAX, "image", k8s(m, "image"), &full);
        describe(d, DESCRIPTION_MAX, "bundle", m->req->bundle, &full);
        return ADD(m, "description", "%s", d);
}

/* ---- what neither Proxmox nor pxcri-init can do ---- */

static int check_namespaces(struct map *m, const json_t *nss)
{
        const json_t *entry;
        enum pve_map_ns ns;
        bool network = false, pid = false, ipc = false;
        size_t i;

        json_array_foreach (nss, i, entry) {
                const char *type = json_string_value(json_object_get(entry, "type"));
                const char *path = json_string_value(json_object_get(entry, "path"));

                if (!type)
                        return pxe_set(m->err, EINVAL, "linux.namespaces[%zu].type: expected a string", i);
                network |= streq(type, "network");
                pid |= streq(type, "pid");
                ipc |= streq(type, "ipc");
                if (!path || !*path)
                        continue;
                /* A pod's network, IPC, UTS and PID namespaces: joined
                 * through LXC's lxc.namespace.share.* (pmx_namespaces.c). */
                ns = streq(type, "network") ? PVE_NS_NET : streq(type, "ipc") ? PVE_NS_IPC
                                                         : streq(type, "uts")   ? PVE_NS_UTS
                                                         : streq(type, "pid")   ? PVE_NS_PID
                                                                                : PVE_NS_MAX;
                if (ns == PVE_NS_MAX)
                        return pxe_set(m->err, ENOTSUP, "linux.namespaces[%zu]: a Proxmox container cannot join the %s namespace %s",
                                       i, type, path);
                if (path[0] != '/' || strpbrk(path, "\n\r"))
                        return pxe_set(m->err, EINVAL, "linux.namespaces[%zu].path \"%s\": expected an absolute path", i,
                                       path);
                free(m->p->ns_paths[ns]);
                if (!(m->p->ns_paths[ns] = strdup(path)))
                        return pxe_set(m->err, ENOMEM, "Out of memory");
        }
        /* Namespaces listed, the network not among them: the host's (a
         * hostNetwork pod).  No list at all keeps the pod of one on net0. */
        m->p->host_network = json_is_array(nss) && !network;
        /* Likewise the host's PID and IPC namespaces (hostPID, hostIPC). */
        m->p->host_pid = json_is_array(nss) && !pid;
        if (m->p->host_pid && !(m->p->ns_paths[PVE_NS_PID] = strdup("/proc/self/ns/pid")))
                return pxe_set(m->err, ENOMEM, "Out of memory");
        if (json_is_array(nss) && !ipc && !(m->p->ns_paths[PVE_NS_IPC] = strdup("/proc/self/ns/ipc")))
                return pxe_set(m->err, ENOMEM, "Out of memory");
        return 0;
}

static int check_linux(struct map *m, const json_t *lnx)
{
        static const struct {
                const char *field, *why;
        } never[] = {
                { "uidMappings", "Proxmox maps the IDs of unprivileged containers itself" },
                { "gidMappings", "Proxmox maps the IDs of unprivileged containers itself" },
                { "intelRdt", "Proxmox cannot set it" },
                { "personality", "Proxmox cannot set it" },
        };

        if (lnx && !json_is_object(lnx))
                return pxe_set(m->err, EINVAL, "linux: expected an object");
        for (size_t i = 0; i < ARRAY_SIZE(never); i++)
                if (!is_empty(json_object_get(lnx, never[i].field)))
                        return pxe_set(m->err, ENOTSUP, "linux.%s: %s", never[i].field, never[i].why);
        return check_namespaces(m, json_object_get(lnx, "namespaces"));
}

static int check_hooks(struct map *m)
{
        const json_t *hooks = json_object_get(m->config, "hooks"), *v;
        const char *key;

        json_object_foreach ((json_t *) hooks, key, v)
                if (!is_empty(v))
                        return pxe_set(m->err, ENOTSUP, "hooks.%s: Proxmox cannot run OCI hooks", key);
        return 0;
}

/* ---- the whole ---- */

static int map_all(struct map *m)
{
        const json_t *lnx = json_object_get(m->config, "linux");
        int r;

        if ((r = check_hooks(m)) < 0 || (r = check_linux(m, lnx)) < 0)
                return r;
        if ((r = ADD(m, "ostype", "unmanaged")) < 0 || (r = map_hostname(m)) < 0)
                return r;
        if ((r = check_resources(m, json_object_get(lnx, "resources"))) < 0)
                return r;
        if ((r = map_net(m)) < 0 || (r = map_rootfs(m)) < 0 || (r = map_mounts(m)) < 0)
                return r;
        if ((r = ADD(m, "unprivileged", "%d", m->req->privileged ? 0 : 1)) < 0 || (r = map_features(m)) < 0)
                return r;
        if ((r = ADD(m, "onboot", "0")) < 0 || (r = map_tags(m)) < 0 || (r = map_description(m)) < 0)
                return r;
        return pve_map_security(m->config, m->req, m->p, m->err);
}

/* update: only what the resources name.  Memory as at create, but a limit
 * that is absent leaves memory alone (and then swap, which Proxmox counts
 * from it, cannot change). */
static int map_update(struct map *m, const json_t *res)
{
        static const char *const never[] = { "blockIO", "network", "rdma", "unified", "pids", "hugepageLimits",
                                             "devices" };
        const json_t *mem = json_object_get(res, "memory");
        long long limit = 0, swap = 0;
        int hl, hs;
        const char *key;
        json_t *v;

        for (size_t i = 0; i < ARRAY_SIZE(never); i++)
                if (!is_empty(json_object_get(res, never[i])))
                        return pxe_set(m->err, ENOTSUP, "linux.resources.%s: Proxmox cannot update it", never[i]);
        json_object_foreach ((json_t *) mem, key, v)
                if (!streq(key, "limit") && !streq(key, "swap") && !is_empty(v))
                        return pxe_set(m->err, ENOTSUP, "linux.resources.memory.%s: Proxmox cannot set it", key);
        hl = get_int(mem, "limit", &limit);
        hs = get_int(mem, "swap", &swap);
        if (hl < 0 || hs < 0)
                return pxe_set(m->err, EINVAL, "linux.resources.memory.%s: expected an integer", hl < 0 ? "limit" : "swap");
        if (hs > 0 && !(hl > 0 && limit > 0))
                return pxe_set(m->err, ENOTSUP, "linux.resources.memory.swap: Proxmox counts swap beyond memory; "
                               "give memory.limit with it");
        if (hl > 0 && limit > 0) {
                int r = map_memory(m, mem);

                if (r < 0)
                        return r;
        } else if (hl > 0)
                return pxe_set(m->err, ENOTSUP, "linux.resources.memory.limit %lld: a Proxmox container always has a "
                               "memory limit", limit);
        return map_cpu(m, json_object_get(res, "cpu"));
}

int pve_map_update(const json_t *resources, struct pve_params **ret, struct pxe **err)
{
        static const struct pve_map_request req = { .id = "update" };
        struct pve_params *p = calloc(1, sizeof(*p));
        struct map m = { .req = &req, .p = p, .err = err };

        if (!p)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (!json_is_object(resources) || map_update(&m, resources) < 0) {
                pve_params_free(p);
                return json_is_object(resources) ? -pxe_code(err, EINVAL)
                                                  : pxe_set(err, EINVAL, "resources: not a JSON object");
        }
        *ret = p;
        return 0;
}

int pve_map_bundle(const json_t *oci_config, const struct pve_map_request *req, struct pve_params **ret,
                   struct pxe **err)
{
        struct pve_params *p = NULL;
        struct map m;
        int r;

        if (!req || !req->id || !*req->id)
                return pxe_set(err, EINVAL, "Mapping to Proxmox: no container ID");
        if (!json_is_object(oci_config))
                return pxe_set(err, EINVAL, "Container %s: config.json is not a JSON object", req->id);
        p = calloc(1, sizeof(*p));
        if (!p)
                return pxe_set(err, ENOMEM, "Out of memory");
        m = (struct map){ .config = oci_config, .req = req, .p = p, .err = err };
        r = map_all(&m);
        if (r < 0) {
                pve_params_free(p);
                pxe_wrap(err, "Container %s: Proxmox parameters", req->id);
                return r;
        }
        *ret = p;
        return 0;
}
