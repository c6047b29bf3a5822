/* The lxc backend: OCI bundles as LXC application containers through
 * liblxc, with pxcri-init as their PID 1 (docs/backends.md).
 *
 * This file: finding pxcri-init, container state, list, and the ops table.
 * Lifecycle is in lxc_create.c (create, start, run) and lxc_ops.c (kill,
 * delete, exec, ps, pause, resume, update).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/lxc/lxc_paths.h"
#include "backend/lxc/lxc_private.h"
#include "backend/lxc/translate.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"

#define LXC_LOCK_DIR "/run/lxc/lock"

char *lxcb_path(struct backend *b, const char *id, const char *name)
{
        char *p = NULL;

        if (asprintf(&p, "%s/%s%s%s", b->root, id, name ? "/" : "", name ? name : "") < 0)
                return NULL;
        return p;
}

char *lxcb_path_of(struct lxc_container *c)
{
        char *p = NULL;

        if (asprintf(&p, "%s/%s", c->config_path, c->name) < 0)
                return NULL;
        return p;
}

static int lxcb_check(struct backend *b, struct pxe **err)
{
        int r = lxc_api_load(err);

        if (r < 0)
                return r;
        if (!b->path)
                b->path = backend_find_init();
        if (!b->path)
                return pxe_set(err, ENOENT, "pxcri-init not found (looked next to pxcri and at %s)",
                               PXCRI_INIT_INSTALLED);
        return 0;
}

int lxcb_open(struct backend *b, const char *id, struct lxc_container **ret, struct pxe **err)
{
        struct lxc_container *c;

        if (fs_exists_fmt("%s/%s/state.json", b->root, id) <= 0)
                return pxe_set(err, ENOENT, "container \"%s\" does not exist", id);
        c = lxc_api()->container_new(id, b->root);
        if (!c)
                return pxe_set(err, EIO, "liblxc cannot open container %s", id);
        *ret = c;
        return 0;
}

const char *lxcb_status_name(enum lxcb_status s)
{
        static const char *const names[] = { "created", "running", "paused", "stopped" };

        return names[s];
}

int lxcb_info(struct backend *b, const char *id, struct lxcb_info *info, struct pxe **err)
{
        _cleanup_lxc_ struct lxc_container *c = NULL;
        const char *s;
        int r;

        *info = (struct lxcb_info) { .status = LXCB_STOPPED };
        if ((r = backend_load_state(b, id, &info->state, err)) < 0)
                return r;
        if (fs_exists_fmt("%s/%s/run/exit", b->root, id) > 0)
                return 0;
        if ((r = lxcb_open(b, id, &c, err)) < 0) {
                json_decref(TAKE_PTR(info->state));
                return r;
        }
        s = c->state(c);
        if (!s || streq(s, "STOPPED") || streq(s, "ABORTING") || streq(s, "STOPPING"))
                return 0;
        info->pid = c->init_pid(c);
        if (info->pid <= 0) {
                info->pid = 0;
                return 0;
        }
        if (streq(s, "FROZEN") || streq(s, "FREEZING"))
                info->status = LXCB_PAUSED;
        else
                info->status = fs_exists_fmt("%s/%s/run/fifo", b->root, id) > 0 ? LXCB_CREATED : LXCB_RUNNING;
        return 0;
}

static int lxcb_state(struct backend *b, const char *id, json_t **ret, struct pxe **err)
{
        struct lxcb_info info;
        json_t *st = NULL, *ann;
        int r;

        if ((r = lxcb_info(b, id, &info, err)) < 0)
                return r;
        ann = json_object_get(info.state, "annotations");
        st = json_pack("{s:s, s:s, s:s, s:I, s:O, s:O, s:O, s:s}", "ociVersion", "1.0.2", "id", id, "status",
                       lxcb_status_name(info.status), "pid", (json_int_t) info.pid, "bundle",
                       json_object_get(info.state, "bundle"), "rootfs", json_object_get(info.state, "rootfs"),
                       "created", json_object_get(info.state, "created"), "owner", "");
        if (st && json_is_object(ann))
                json_object_set(st, "annotations", ann);
        json_decref(info.state);
        if (!st)
                return pxe_set(err, EIO, "State of %s is incomplete", id);
        *ret = st;
        return 0;
}

static int lxcb_list(struct backend *b, json_t **ret, struct pxe **err)
{
        return backend_list_dirs(b, NULL, lxcb_state, ret, err);
}

static bool lxcb_exists(struct backend *b, const char *id)
{
        return fs_exists_fmt("%s/%s", b->root, id) > 0;
}

static int lxcb_version(struct backend *b, char **ret, struct pxe **err)
{
        if (asprintf(ret, "liblxc %s", lxc_api()->get_version()) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

static int lxcb_features(struct backend *b, json_t **ret, struct pxe **err)
{
        json_t *j = json_pack("{s:s, s:s, s:{s:[s,s,s,s,s,s,s], s:{s:b, s:[s,s,s,s,s]}}}", "ociVersionMin", "1.0.0",
                              "ociVersionMax", "1.0.2", "linux", "namespaces", "pid", "network", "mount", "ipc", "uts",
                              "user", "cgroup", "seccomp", "enabled", true, "actions", "SCMP_ACT_ALLOW",
                              "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP");

        if (!j || json_object_set_new(j, "hooks", lxc_supported_hooks()) < 0) {
                json_decref(j);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        *ret = j;
        return 0;
}

const char *lxcb_log_error(struct backend *b, const char *id)
{
        static char line[512];
        _cleanup_free_ char *path = lxcb_path(b, id, "lxc.log"), *text = NULL;
        char *last;

        line[0] = '\0';
        if (!path || fs_read_file(path, 4u << 20, &text, NULL, NULL) < 0)
                return line;
        /* The first error is the cause; later ones are its consequences. */
        last = strstr(text, " ERROR ");
        if (last) {
                char *msg = strstr(last, " - ");

                msg = msg ? strstr(msg + 3, " - ") : NULL;
                snprintf(line, sizeof(line), "%s", msg ? msg + 3 : last + 1);
                line[strcspn(line, "\n")] = '\0';
        }
        return line;
}

void lxcb_cleanup(struct backend *b, const char *id)
{
        _cleanup_free_ char *dir = lxcb_path(b, id, NULL), *lock = NULL;

        if (dir)
                fs_rm_tree(dir);
        /* liblxc's lock file for the container: /run/lxc/lock/<lxcpath>/.<id>.
         * Its directory stays: liblxc makes it when it opens a container
         * and the file only when it locks, so removing the directory could
         * fail a create running next to us in the same root. */
        if (asprintf(&lock, LXC_LOCK_DIR "%s/.%s", b->root, id) < 0)
                return;
        unlink(lock);
}

void lxcb_wait_waiter_gone(json_t *state, int timeout_ms)
{
        pid_t pid = (pid_t) json_integer_value(json_object_get(state, "waiter"));
        long long start = json_integer_value(json_object_get(state, "waiter_start"));
        struct timespec ms = { 0, 1000000 };

        for (int i = 0; pid > 0 && i < timeout_ms && backend_proc_start_time(pid) == start; i++)
                nanosleep(&ms, NULL);
}

const struct backend_ops backend_lxc_ops = {
        .check = lxcb_check,
        .create = lxcb_create,
        .run = lxcb_run,
        .start = lxcb_start,
        .kill = lxcb_kill,
        .delete = lxcb_delete,
        .exec = lxcb_exec,
        .ps = lxcb_ps,
        .pause = lxcb_pause,
        .resume = lxcb_resume,
        .update = lxcb_update,
        .state = lxcb_state,
        .list = lxcb_list,
        .exists = lxcb_exists,
        .features = lxcb_features,
        .version = lxcb_version,
};
