/* conmon's command line and the messages it leaves: pure functions, so the
 * contract with conmon 2.1.6 is testable without running it. */
#include "monitor/monitor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/id.h"

struct strv {
        char **v;
        size_t n, cap;
        bool oom;
};

static void strv_add(struct strv *s, char *str)
{
        if (!str) {
                s->oom = true;
                return;
        }
        if (s->n + 2 > s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 32;
                char **v = realloc(s->v, cap * sizeof(*v));

                if (!v) {
                        free(str);
                        s->oom = true;
                        return;
                }
                s->v = v;
                s->cap = cap;
        }
        s->v[s->n++] = str;
        s->v[s->n] = NULL;
}

static void strv_push(struct strv *s, const char *str)
{
        strv_add(s, strdup(str));
}

__attribute__((format(printf, 2, 3))) static void strv_pushf(struct strv *s, const char *fmt, ...)
{
        va_list ap;
        char *str = NULL;

        va_start(ap, fmt);
        if (vasprintf(&str, fmt, ap) < 0)
                str = NULL;
        va_end(ap);
        strv_add(s, str);
}

void monitor_strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

static int check_create_args(const struct monitor_config *mc, const struct monitor_create_request *req,
                             struct pxe **err)
{
        const char *missing = !mc->conmon_path    ? "conmon_path"
                              : !mc->runtime_path ? "runtime_path"
                              : !mc->runtime_root ? "runtime_root"
                              : !mc->exits_dir    ? "exits_dir"
                              : !mc->persist_dir  ? "persist_dir"
                              : !mc->socket_dir   ? "socket_dir"
                              : !req->bundle      ? "bundle"
                              : !req->log_path    ? "log_path"
                                                  : NULL;

        if (id_check(req->id, err) < 0)
                return -EINVAL;
        if (missing)
                return pxe_set(err, EINVAL, "Running conmon for %s: no %s given", req->id, missing);
        return 0;
}

int monitor_conmon_argv(const struct monitor_config *mc, const struct monitor_create_request *req,
                        char ***ret, struct pxe **err)
{
        struct strv s = { 0 };
        int r;

        if ((r = check_create_args(mc, req, err)) < 0)
                return r;
        strv_push(&s, mc->conmon_path);
        strv_push(&s, "--api-version");
        strv_push(&s, "1");
        strv_push(&s, "-c");
        strv_push(&s, req->id);
        strv_push(&s, "-u");
        strv_push(&s, req->id);
        strv_push(&s, "-n");
        strv_push(&s, req->name ? req->name : req->id);
        strv_push(&s, "-r");
        strv_push(&s, mc->runtime_path);
        strv_push(&s, "-b");
        strv_push(&s, req->bundle);
        strv_push(&s, "-p");
        strv_pushf(&s, "%s/pidfile", req->bundle);
        strv_push(&s, "-P");
        strv_pushf(&s, "%s/conmon.pid", req->bundle);
        strv_push(&s, "-l");
        strv_pushf(&s, "k8s-file:%s", req->log_path);
        if (req->log_size_max > 0) {
                strv_push(&s, "--log-size-max");
                strv_pushf(&s, "%zu", req->log_size_max);
        }
        strv_push(&s, "--exit-dir");
        strv_push(&s, mc->exits_dir);
        strv_push(&s, "--persist-dir");
        strv_pushf(&s, "%s/%s", mc->persist_dir, req->id);
        strv_push(&s, "--socket-dir-path");
        strv_push(&s, mc->socket_dir);
        if (mc->log_level) {
                strv_push(&s, "--log-level");
                strv_push(&s, mc->log_level);
        }
        /* conmon's own warnings (runtime stderr, OOM) go to the journal:
         * after daemonizing its stdio is /dev/null. */
        strv_push(&s, "--syslog");
        strv_push(&s, "--runtime-arg");
        strv_pushf(&s, "--root=%s", mc->runtime_root);
        if (mc->runtime_config) {
                strv_push(&s, "--runtime-arg");
                strv_pushf(&s, "--config=%s", mc->runtime_config);
        }
        if (mc->systemd_cgroup) {
                strv_push(&s, "-s");
                strv_push(&s, "--runtime-arg");
                strv_push(&s, "--systemd-cgroup");
        }
        /* As CRI-O: with a terminal, stdin goes through the tty. */
        if (req->terminal)
                strv_push(&s, "-t");
        else if (req->stdin) {
                strv_push(&s, "-i");
                if (!req->stdin_once)
                        strv_push(&s, "--leave-stdin-open");
        }
        if (s.oom) {
                monitor_strv_free(s.v);
                return pxe_set(err, ENOMEM, "Building conmon's command line for %s", req->id);
        }
        *ret = s.v;
        return 0;
}

int monitor_parse_sync(const char *text, int *ret_value, char **ret_message, struct pxe **err)
{
        json_error_t jerr;
        json_t *root = json_loads(text, JSON_DISABLE_EOF_CHECK, &jerr);
        json_t *v, *m;
        json_int_t n;
        int r = 0;

        if (!root)
                return pxe_set(err, EINVAL, "Parsing conmon's sync message \"%.200s\": %s", text, jerr.text);
        v = json_object_get(root, "data");
        if (!v)
                v = json_object_get(root, "pid");
        m = json_object_get(root, "message");
        if (!json_is_integer(v) || (m && !json_is_string(m))) {
                r = pxe_set(err, EINVAL, "Conmon's sync message \"%.200s\" has no pid", text);
                goto out;
        }
        n = json_integer_value(v);
        if (n < INT32_MIN || n > INT32_MAX) {
                r = pxe_set(err, EINVAL, "Conmon's sync message \"%.200s\" has a bad pid", text);
                goto out;
        }
        if (ret_message) {
                *ret_message = m ? strdup(json_string_value(m)) : NULL;
                if (m && !*ret_message)
                        r = pxe_set(err, ENOMEM, "Copying conmon's message");
        }
        if (r == 0)
                *ret_value = (int) n;
out:
        json_decref(root);
        return r;
}

int monitor_parse_exit_code(const char *text, int *ret, struct pxe **err)
{
        char *end = NULL;
        long v;

        errno = 0;
        v = strtol(text, &end, 10);
        if (end == text || errno || v < INT32_MIN || v > INT32_MAX || (*end && strcmp(end, "\n") != 0))
                return pxe_set(err, EINVAL, "Exit file holds \"%.40s\", not an exit code", text);
        *ret = (int) v;
        return 0;
}
