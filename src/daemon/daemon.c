/* pxcrid: flags, configuration, the loop, signals.  Thin: the CRI lives in
 * src/cri/, the wire in src/rpc/. */
#include "daemon/daemon.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config/config.h"
#include "cri/cri.h"
#include "cri/server.h"
#include "rpc/rpc.h"
#include "util/cleanup.h"
#include "util/log.h"

struct daemon {
        uv_loop_t loop;
        struct cri_server cri;
        struct rpc_server *rpc;
        uv_signal_t sigterm, sigint, sigpipe;
        uv_timer_t grace;
        uv_timer_t trim;
        bool stopping;
};

/* Every so often, when no job runs, freed heap goes back to the kernel:
 * after a burst of pods the daemon shrinks to its idle size again. */
#define TRIM_INTERVAL_MS 10000

/* Calls still open this long after SIGTERM are ended (UNAVAILABLE). */
#define SHUTDOWN_GRACE_MS 30000

static void usage(FILE *f)
{
        fprintf(f, "Usage: pxcrid [--config FILE] [--listen PATH] [--log-level debug|info|warning|error]\n"
                   "\n"
                   "The CRI server of pxcri: kubelet and crictl reach it at unix://PATH\n"
                   "(default cri.listen, /run/pxcri/pxcri.sock).  docs/cri.md.\n");
}

static void shutdown_done(void *data)
{
        struct daemon *d = data;

        uv_close((uv_handle_t *) &d->sigterm, NULL);
        uv_close((uv_handle_t *) &d->sigint, NULL);
        uv_close((uv_handle_t *) &d->sigpipe, NULL);
        uv_close((uv_handle_t *) &d->grace, NULL);
        uv_close((uv_handle_t *) &d->trim, NULL);
}

static void on_trim(uv_timer_t *t)
{
        struct daemon *d = t->data;

        if (!d->cri.jobs_in_flight)
                malloc_trim(0);
}

static void on_grace(uv_timer_t *t)
{
        struct daemon *d = t->data;

        log_warn("Calls still open %d s after the signal: ending them", SHUTDOWN_GRACE_MS / 1000);
        rpc_server_cancel_calls(d->rpc, RPC_UNAVAILABLE, "pxcrid is shutting down");
}

static void on_signal(uv_signal_t *h, int sig)
{
        struct daemon *d = h->data;

        if (sig == SIGPIPE || d->stopping)
                return;
        d->stopping = true;
        log_info("Signal %d: stopping (containers keep running)", sig);
        cri_server_stop(&d->cri); /* event streams end now: they never finish by themselves */
        uv_timer_init(&d->loop, &d->grace);
        d->grace.data = d;
        uv_timer_start(&d->grace, on_grace, SHUTDOWN_GRACE_MS, 0);
        rpc_server_shutdown(d->rpc, shutdown_done, d);
}

static int watch_signal(struct daemon *d, uv_signal_t *h, int sig)
{
        uv_signal_init(&d->loop, h);
        h->data = d;
        return uv_signal_start(h, on_signal, sig);
}

static int parse_args(int argc, char **argv, const char **config, const char **listen, const char **level)
{
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "listen", required_argument, NULL, 'l' },
                { "log-level", required_argument, NULL, 'L' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int o;

        while ((o = getopt_long(argc, argv, "c:l:L:h", opts, NULL)) != -1) {
                switch (o) {
                case 'c': *config = optarg; break;
                case 'l': *listen = optarg; break;
                case 'L': *level = optarg; break;
                case 'h': usage(stdout); exit(0);
                default: usage(stderr); return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "pxcrid: unexpected argument \"%s\"\n", argv[optind]);
                return -EINVAL;
        }
        return 0;
}

static int setup(struct daemon *d, struct config *cfg, const char *config_path, struct pxe **err)
{
        char workers[16];
        struct rpc_server_opts ro = { .max_message = (size_t) cfg->cri.max_message_mib << 20 };

        /* libuv reads it once, at the first queued work. */
        snprintf(workers, sizeof(workers), "%u", cfg->cri.workers);
        setenv("UV_THREADPOOL_SIZE", workers, 1);
        uv_loop_init(&d->loop);
        if (cri_server_init(&d->cri, &d->loop, cfg, config_path, err) < 0)
                return pxe_wrap(err, "Starting the CRI server");
        if (rpc_server_new(&d->loop, cri_methods, cri_n_methods, &ro, &d->cri, &d->rpc, err) < 0 ||
            rpc_server_listen(d->rpc, cfg->cri.listen, err) < 0)
                return -pxe_code(err, EIO);
        d->cri.rpc = d->rpc;
        uv_timer_init(&d->loop, &d->trim);
        d->trim.data = d;
        uv_timer_start(&d->trim, on_trim, TRIM_INTERVAL_MS, TRIM_INTERVAL_MS);
        uv_unref((uv_handle_t *) &d->trim); /* never what keeps the loop running */
        if (watch_signal(d, &d->sigterm, SIGTERM) < 0 || watch_signal(d, &d->sigint, SIGINT) < 0 ||
            watch_signal(d, &d->sigpipe, SIGPIPE) < 0)
                return pxe_set(err, EIO, "Watching signals");
        return 0;
}

int daemon_main(int argc, char **argv)
{
        const char *config_path = NULL, *listen = NULL, *level = NULL;
        _cleanup_config_ struct config *cfg = NULL;
        _cleanup_pxe_ struct pxe *err = NULL;
        struct daemon d = {};

        log_set_program("pxcrid");
        /* glibc gives every worker thread an arena of its own that keeps what it
         * once held: two are plenty for short jobs, and keep the RSS small. */
        mallopt(M_ARENA_MAX, 2);
        signal(SIGPIPE, SIG_IGN);
        if (parse_args(argc, argv, &config_path, &listen, &level) < 0)
                return 2;
        if (config_load(config_path, &cfg, &err) < 0) {
                log_error("%s", err->msg);
                return 1;
        }
        for (size_t i = 0; i < cfg->n_warnings; i++)
                log_warn("%s", cfg->warnings[i]);
        log_set_level(cfg->log_level);
        if (level) {
                enum log_level l = log_level_from_string(level);

                if (l == LOG_LEVEL_INVALID) {
                        log_error("Unknown log level \"%s\" (debug, info, warning, error)", level);
                        return 2;
                }
                log_set_level(l);
        }
        if (listen) {
                free(cfg->cri.listen);
                cfg->cri.listen = strdup(listen);
        }
        /* pxcri is told the file pxcrid read, so both route alike. */
        if (setup(&d, cfg, strcmp(cfg->source, "built-in defaults") ? cfg->source : NULL, &err) < 0) {
                log_error("%s", err->msg);
                return 1;
        }
        log_info("Listening on %s (configuration: %s)", cfg->cri.listen, cfg->source);
        uv_run(&d.loop, UV_RUN_DEFAULT); /* until shutdown is done and every job has finished */
        rpc_server_free(d.rpc);
        cri_server_done(&d.cri);
        uv_loop_close(&d.loop);
        log_info("Stopped");
        return 0;
}
