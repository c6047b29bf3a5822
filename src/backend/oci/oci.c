/* crun and runc: exec-based backends.
 *
 * pxcri hands each command to the runtime binary with the caller's own
 * arguments, so every flag crun and runc understand keeps working; pxcri only
 * chooses the binary and gives it a state root of its own (<root>/crun,
 * <root>/runc).  The binary's stdio is the caller's, which is what the runc
 * contract needs for create (the container inherits it) and run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/oci/runc_start.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/spawn.h"

#define OCI_QUERY_TIMEOUT_MS 30000
#define OCI_FIXED_ARGS 10

static int oci_check(struct backend *b, struct pxe **err)
{
        if (!b->path)
                return pxe_set(err, EINVAL, "no binary configured (backends.%s.path)", b->name);
        if (access(b->path, X_OK) < 0)
                return pxe_set_errno(err, errno, "%s", b->path);
        return 0;
}

/* argv = <binary> --root <root> [--log=F] [--log-format=X] [--debug]
 *        [--systemd-cgroup] <cmd> <args...> */
static const char **build_argv_log(struct backend *b, const char *log_file, const char *cmd, char *const *args,
                                   size_t n_args, char **log_opt, char **fmt_opt)
{
        const struct backend_env *env = b->env;
        const char **argv = calloc(OCI_FIXED_ARGS + n_args + 1, sizeof(char *));
        size_t n = 0;

        *log_opt = *fmt_opt = NULL;
        if (!argv)
                return NULL;
        argv[n++] = b->path;
        argv[n++] = "--root";
        argv[n++] = b->root;
        if (log_file && asprintf(log_opt, "--log=%s", log_file) >= 0)
                argv[n++] = *log_opt;
        if (env->log_format && asprintf(fmt_opt, "--log-format=%s", env->log_format) >= 0)
                argv[n++] = *fmt_opt;
        if (env->debug)
                argv[n++] = "--debug";
        if (env->systemd_cgroup)
                argv[n++] = "--systemd-cgroup";
        argv[n++] = cmd;
        for (size_t i = 0; i < n_args; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        return argv;
}

static const char **build_argv(struct backend *b, const char *cmd, char *const *args, size_t n_args,
                               char **log_opt, char **fmt_opt)
{
        return build_argv_log(b, b->env->log_file, cmd, args, n_args, log_opt, fmt_opt);
}

/* Run `<binary> ... cmd args` with the caller's stdio; signals sent to pxcri
 * are passed on while it runs (needed for run and exec in the foreground). */
static int oci_passthrough(struct backend *b, const char *cmd, const struct backend_call *c, int *ret_status,
                           struct pxe **err)
{
        _cleanup_free_ char *log_opt = NULL, *fmt_opt = NULL;
        _cleanup_free_ const char **argv = build_argv(b, cmd, c->args, c->n_args, &log_opt, &fmt_opt);
        struct spawn_opts o = { 0 };
        int status, r;
        pid_t pid;

        if (!argv)
                return pxe_set(err, ENOMEM, "Out of memory");
        o.argv = argv;
        pid = spawn_start(&o, err);
        if (pid < 0)
                return pid;
        r = spawn_wait_forwarding(pid, &status);
        if (r < 0)
                return pxe_set_errno(err, -r, "Waiting for %s %s", b->name, cmd);
        *ret_status = spawn_exit_code(status);
        return 0;
}

#define OCI_PASSTHROUGH(cmd)                                                                               \
        static int oci_##cmd(struct backend *b, const struct backend_call *c, int *st, struct pxe **err) \
        {                                                                                                \
                return oci_passthrough(b, #cmd, c, st, err);                                             \
        }

static int read_pid(const char *path, long *ret, struct pxe **err)
{
        char buf[32] = "";
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        char *end = NULL;

        if (n <= 0)
                return pxe_set_errno(err, n < 0 ? errno : EIO, "Reading the pid file %s", path);
        buf[n] = '\0';
        *ret = strtol(buf, &end, 10);
        if (*ret <= 1 || (*end && *end != '\n'))
                return pxe_set(err, EIO, "The pid file %s holds no pid", path);
        return 0;
}

/* runc hands a terminal to --console-socket only when it detaches (in the
 * foreground it relays the terminal itself); crun does either.  So for runc
 * pxcri runs the exec detached as a child subreaper: the command is handed to
 * pxcri when runc exits, pxcri waits for it, and the caller sees the
 * command's exit code, as with crun. */
static int oci_exec(struct backend *b, const struct backend_call *c, int *ret_status, struct pxe **err)
{
        char tmp[] = "/tmp/pxcri-exec-pid-XXXXXX";
        _cleanup_free_ char **args = NULL;
        _cleanup_close_ int tmp_fd = -EBADF;
        struct backend_call dc;
        const char *pid_file = c->pid_file;
        long pid = 0;
        size_t n = 0;
        int r, status;

        if (!c->console_socket || c->detach || strcmp(b->name, "runc") != 0)
                return oci_passthrough(b, "exec", c, ret_status, err);
        args = calloc(c->n_args + 4, sizeof(char *));
        if (!args)
                return pxe_set(err, ENOMEM, "Out of memory");
        args[n++] = "--detach";
        if (!pid_file) {
                tmp_fd = mkostemp(tmp, O_CLOEXEC);
                if (tmp_fd < 0)
                        return pxe_set_errno(err, errno, "Creating %s", tmp);
                args[n++] = "--pid-file";
                args[n++] = tmp;
                pid_file = tmp;
        }
        for (size_t i = 0; i < c->n_args; i++)
                args[n++] = c->args[i];
        dc = *c;
        dc.args = args;
        dc.n_args = n;
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
                r = pxe_set_errno(err, errno, "Becoming a child subreaper for runc exec");
                goto out;
        }
        r = oci_passthrough(b, "exec", &dc, ret_status, err);
        if (r < 0 || *ret_status != 0)
                goto out;
        r = read_pid(pid_file, &pid, err);
        if (r < 0)
                goto out;
        while ((r = waitpid((pid_t) pid, &status, 0)) < 0 && errno == EINTR)
                ;
        if (r < 0) {
                r = pxe_set_errno(err, errno, "Waiting for the exec'd process %ld", pid);
                goto out;
        }
        *ret_status = spawn_exit_code(status);
        r = 0;
out:
        if (tmp_fd >= 0)
                unlink(tmp);
        return r;
}

OCI_PASSTHROUGH(ps)
OCI_PASSTHROUGH(pause)
OCI_PASSTHROUGH(resume)
OCI_PASSTHROUGH(update)
OCI_PASSTHROUGH(spec)

/* The runtime's own complaint, trimmed to its last line. */
static void last_line(char *s, char *buf, size_t size)
{
        size_t n = s ? strlen(s) : 0;
        char *start;

        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
                s[--n] = '\0';
        start = s ? strrchr(s, '\n') : NULL;
        snprintf(buf, size, "%s", start ? start + 1 : (s ? s : ""));
}

/* A logfmt value up to its closing quote, with backslash escapes undone. */
static char *unquote(const char *m)
{
        char *out = malloc(strlen(m) + 1), *o = out;

        if (!out)
                return NULL;
        for (; *m && *m != '"'; m++) {
                if (*m == '\\' && m[1])
                        m++;
                *o++ = *m;
        }
        *o = '\0';
        return out;
}

/* The message of one runtime log record: runc's text `level=error
 * msg="..."`, crun's text (the bare message), or either's JSON.  NULL for
 * records below error level. */
static char *log_record_message(const char *line)
{
        const char *m;

        if (line[0] == '{') {
                json_auto_t *j = json_loads(line, 0, NULL);
                const char *level = json_string_value(json_object_get(j, "level"));
                const char *msg = json_string_value(json_object_get(j, "msg"));

                if (!msg || (level && !streq(level, "error") && !streq(level, "fatal")))
                        return NULL;
                return strdup(msg);
        }
        if (!strstr(line, "level="))
                return strdup(line);
        if (!strstr(line, "level=error") && !strstr(line, "level=fatal"))
                return NULL;
        m = strstr(line, "msg=\"");
        return m ? unquote(m + 5) : NULL;
}

/* start, kill and delete: the runtime's stdio is nobody else's (unlike
 * create's, which the container inherits), so its complaint becomes the cause
 * in pxcri's own message (the CLI names the container), which is what
 * containerd's shim and CRI-O read (they look for "not running" and the like
 * inside it, so the runtime's text stays whole).  Warnings of a successful
 * call are passed on. */
static int oci_captured(struct backend *b, const char *cmd, const struct backend_call *c, int *ret_status,
                        struct pxe **err)
{
        _cleanup_free_ char *log_opt = NULL, *fmt_opt = NULL;
        _cleanup_free_ const char **argv = build_argv(b, cmd, c->args, c->n_args, &log_opt, &fmt_opt);
        struct spawn_opts o = { .argv = argv, .capture_stderr = true };
        struct spawn_result res = { 0 };
        char why[1024];
        int r, status;

        if (!argv)
                return pxe_set(err, ENOMEM, "Out of memory");
        r = spawn_run(&o, &res, err);
        if (r < 0)
                goto out;
        status = spawn_exit_code(res.status);
        if (status != 0) {
                _cleanup_free_ char *msg = NULL;

                last_line(res.errout, why, sizeof(why));
                msg = why[0] ? log_record_message(why) : NULL;
                if (why[0])
                        r = pxe_set(err, EIO, "%s", msg ? msg : why);
                else
                        r = pxe_set(err, EIO, "%s %s exited with status %d", b->name, cmd, status);
                goto out;
        }
        if (res.errout_len)
                fwrite(res.errout, 1, res.errout_len, stderr);
        *ret_status = 0;
out:
        spawn_result_done(&res);
        return r;
}

static int oci_start(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        /* Only `start <id>`: a flag of runc's own goes to runc. */
        if (b->id == BACKEND_RUNC && c->n_args == 1 && c->id && streq(c->args[0], c->id) && !b->env->debug &&
            runc_start_fast(b->root, c->id) > 0) {
                *st = 0;
                return 0;
        }
        return oci_captured(b, "start", c, st, err);
}

static int oci_kill(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        return oci_captured(b, "kill", c, st, err);
}

static int oci_delete(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        return oci_captured(b, "delete", c, st, err);
}

/* The last error the runtime wrote to its --log file after offset from. */
static char *log_last_error(const char *path, off_t from)
{
        _cleanup_fclose_ FILE *f = path ? fopen(path, "re") : NULL;
        _cleanup_free_ char *line = NULL;
        char *last = NULL;
        size_t size = 0;
        ssize_t n;

        if (!f || fseeko(f, from, SEEK_SET) < 0)
                return NULL;
        while ((n = getline(&line, &size, f)) > 0) {
                char *msg;

                while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                        line[--n] = '\0';
                if (n == 0 || !(msg = log_record_message(line)))
                        continue;
                free(last);
                last = msg;
        }
        return last;
}

/* create: the runtime's stdout and stderr are the container's (conmon and
 * containerd's shim hand their pipes over this way), so they cannot be
 * captured.  The runtime's cause comes from its --log file instead: the
 * caller's, or a private one when the caller gave none (the runtime still
 * prints to stderr as well). */
static int oci_create(struct backend *b, const struct backend_call *c, int *ret_status, struct pxe **err)
{
        _cleanup_free_ char *log_opt = NULL, *fmt_opt = NULL, *cause = NULL;
        _cleanup_free_ const char **argv = NULL;
        _cleanup_close_ int tmp_fd = -EBADF;
        char tmp[] = "/tmp/pxcri-create-log-XXXXXX";
        const char *log_file = b->env->log_file;
        struct spawn_opts o = { 0 };
        struct stat st;
        off_t from = 0;
        int status, r;
        pid_t pid;

        if (!log_file) {
                tmp_fd = mkostemp(tmp, O_CLOEXEC);
                if (tmp_fd >= 0)
                        log_file = tmp;
        } else if (stat(log_file, &st) == 0) {
                from = st.st_size;
        }
        o.argv = argv = build_argv_log(b, log_file, "create", c->args, c->n_args, &log_opt, &fmt_opt);
        if (!argv) {
                r = pxe_set(err, ENOMEM, "Out of memory");
                goto out;
        }
        pid = r = spawn_start(&o, err);
        if (r < 0)
                goto out;
        r = spawn_wait_forwarding(pid, &status);
        if (r < 0) {
                r = pxe_set_errno(err, -r, "Waiting for %s create", b->name);
                goto out;
        }
        r = 0;
        *ret_status = spawn_exit_code(status);
        if (*ret_status != 0) {
                cause = log_last_error(log_file, from);
                if (cause)
                        r = pxe_set(err, EIO, "%s", cause);
                else
                        r = pxe_set(err, EIO, "%s create exited with status %d", b->name, *ret_status);
        }
out:
        if (tmp_fd >= 0)
                unlink(tmp);
        return r;
}

/* A foreground run becomes the runtime: no extra process, no wait, and the
 * runtime's own signal forwarding and exit code reach the caller directly. */
static int oci_run(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        _cleanup_free_ char *log_opt = NULL, *fmt_opt = NULL;
        _cleanup_free_ const char **argv = NULL;

        if (c->detach)
                return oci_passthrough(b, "run", c, st, err);
        argv = build_argv(b, "run", c->args, c->n_args, &log_opt, &fmt_opt);
        if (!argv)
                return pxe_set(err, ENOMEM, "Out of memory");
        fflush(NULL);
        return spawn_exec(argv, err);
}

/* Run a query with captured output and a time limit. */
static int oci_query(struct backend *b, const char *cmd, char *const *args, size_t n_args,
                     struct spawn_result *res, struct pxe **err)
{
        _cleanup_free_ char *log_opt = NULL, *fmt_opt = NULL;
        _cleanup_free_ const char **argv = build_argv(b, cmd, args, n_args, &log_opt, &fmt_opt);
        struct spawn_opts o = {
                .argv = argv,
                .capture_stdout = true,
                .capture_stderr = true,
                .null_stdin = true,
                .timeout_ms = OCI_QUERY_TIMEOUT_MS,
        };

        if (!argv)
                return pxe_set(err, ENOMEM, "Out of memory");
        return spawn_run(&o, res, err);
}

static json_t *parse_output(struct spawn_result *res, json_type want)
{
        json_t *j = json_loadb(res->out ? res->out : "", res->out_len, JSON_DECODE_ANY, NULL);

        if (j && want == JSON_ARRAY && json_is_null(j)) {
                json_decref(j);
                return json_array(); /* runc prints null for an empty list */
        }
        if (j && json_typeof(j) != want) {
                json_decref(j);
                return NULL;
        }
        return j;
}

static int oci_state(struct backend *b, const char *id, json_t **ret, struct pxe **err)
{
        struct spawn_result res = { 0 };
        char *const args[] = { (char *) id };
        char why[512];
        json_t *j;
        int r;

        r = oci_query(b, "state", args, 1, &res, err);
        if (r < 0)
                goto out;
        if (spawn_exit_code(res.status) != 0) {
                last_line(res.errout, why, sizeof(why));
                r = pxe_set(err, b->ops->exists(b, id) ? EIO : ENOENT, "%s state %s failed: %s", b->name, id, why);
                goto out;
        }
        j = parse_output(&res, JSON_OBJECT);
        if (!j) {
                r = pxe_set(err, EIO, "%s state %s printed no JSON object", b->name, id);
                goto out;
        }
        *ret = j;
out:
        spawn_result_done(&res);
        return r;
}

static int oci_list(struct backend *b, json_t **ret, struct pxe **err)
{
        static char *const args[] = { "--format", "json" };
        struct spawn_result res = { 0 };
        char why[512];
        json_t *j;
        int r;

        if (!fs_dir_exists(b->root)) {
                *ret = json_array();
                return 0;
        }
        r = oci_query(b, "list", args, 2, &res, err);
        if (r < 0)
                goto out;
        if (spawn_exit_code(res.status) != 0) {
                last_line(res.errout, why, sizeof(why));
                r = pxe_set(err, EIO, "%s list failed: %s", b->name, why);
                goto out;
        }
        j = parse_output(&res, JSON_ARRAY);
        if (!j) {
                r = pxe_set(err, EIO, "%s list printed no JSON array", b->name);
                goto out;
        }
        *ret = j;
out:
        spawn_result_done(&res);
        return r;
}

/* Both crun and runc keep a directory per container in their root. */
static bool oci_exists(struct backend *b, const char *id)
{
        _cleanup_free_ char *p = NULL;
        struct stat st;

        if (asprintf(&p, "%s/%s", b->root, id) < 0)
                return false;
        return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int oci_version(struct backend *b, char **ret, struct pxe **err)
{
        struct spawn_result res = { 0 };
        char line[256];
        int r;

        r = oci_query(b, "--version", NULL, 0, &res, err);
        if (r == 0) {
                char *nl = res.out ? strchr(res.out, '\n') : NULL;

                if (nl)
                        *nl = '\0';
                snprintf(line, sizeof(line), "%s", res.out ? res.out : "");
                *ret = strdup(line);
                if (!*ret)
                        r = pxe_set(err, ENOMEM, "Out of memory");
        }
        spawn_result_done(&res);
        return r;
}

/* runc has `features`; crun 1.8 does not, and then we state only what the
 * OCI spec lets us be sure of. */
static int oci_features(struct backend *b, json_t **ret, struct pxe **err)
{
        struct spawn_result res = { 0 };
        json_t *j = NULL;
        int r;

        r = oci_query(b, "features", NULL, 0, &res, err);
        if (r == 0 && spawn_exit_code(res.status) == 0)
                j = parse_output(&res, JSON_OBJECT);
        spawn_result_done(&res);
        if (r < 0)
                return r;
        if (!j)
                j = json_pack("{s:s, s:s}", "ociVersionMin", "1.0.0", "ociVersionMax", "1.0.2");
        if (!j)
                return pxe_set(err, ENOMEM, "Out of memory");
        *ret = j;
        return 0;
}

const struct backend_ops backend_oci_ops = {
        .check = oci_check,
        .create = oci_create,
        .run = oci_run,
        .start = oci_start,
        .kill = oci_kill,
        .delete = oci_delete,
        .exec = oci_exec,
        .ps = oci_ps,
        .pause = oci_pause,
        .resume = oci_resume,
        .update = oci_update,
        .spec = oci_spec,
        .state = oci_state,
        .list = oci_list,
        .exists = oci_exists,
        .features = oci_features,
        .version = oci_version,
};
