/* rpc_testd SOCKET: a small gRPC server over src/rpc/ for
 * tests/integration/test_rpc.py, serving a few runtime.v1 methods with
 * made-up answers:
 *   Version             synchronous answer, echoes the request's version;
 *   ContainerStatus     answers after container_id milliseconds (a uv timer),
 *                       NOT_FOUND for "missing"; late answers to cancelled
 *                       calls are still given (the layer drops them);
 *   GetContainerEvents  streams 3 events, then OK;
 *   ListContainers      answers filter.id (a number) containers.
 * SIGTERM/SIGINT shut it down gracefully (calls still open after 2 s are
 * ended UNAVAILABLE); it exits 0 and prints each method's handling-time
 * median to stderr. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri-api.pb-c.h"
#include "rpc/rpc.h"

struct delayed {
        uv_timer_t timer;
        struct rpc_call *call;
        char *id;
};

static uint64_t cancels;

static void version(struct rpc_call *call, const ProtobufCMessage *m, void *userdata)
{
        const Runtime__V1__VersionRequest *req = (const Runtime__V1__VersionRequest *) m;
        Runtime__V1__VersionResponse resp = RUNTIME__V1__VERSION_RESPONSE__INIT;

        resp.version = "0.1.0";
        resp.runtime_name = "rpc-testd";
        resp.runtime_version = req->version;
        resp.runtime_api_version = "v1";
        rpc_call_reply(call, &resp.base);
}

static void delayed_closed(uv_handle_t *h)
{
        struct delayed *d = h->data;

        free(d->id);
        free(d);
}

static void delayed_fire(uv_timer_t *t)
{
        struct delayed *d = t->data;
        Runtime__V1__ContainerStatusResponse resp = RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INIT;
        Runtime__V1__ContainerStatus st = RUNTIME__V1__CONTAINER_STATUS__INIT;

        st.id = d->id;
        st.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        resp.status = &st;
        /* Given even when cancelled meanwhile: the layer must drop it. */
        rpc_call_reply(d->call, &resp.base);
        uv_close((uv_handle_t *) t, delayed_closed);
}

static void status_cancelled(struct rpc_call *call, void *data)
{
        cancels++;
}

static void container_status(struct rpc_call *call, const ProtobufCMessage *m, void *userdata)
{
        const Runtime__V1__ContainerStatusRequest *req = (const Runtime__V1__ContainerStatusRequest *) m;
        uv_loop_t *loop = userdata;
        struct delayed *d;
        char *end;
        unsigned long ms;

        if (strcmp(req->container_id, "missing") == 0) {
                rpc_call_fail(call, RPC_NOT_FOUND, "container \"%s\" not found: 100%% gone", "x");
                return;
        }
        errno = 0;
        ms = strtoul(req->container_id, &end, 10);
        if (errno || end == req->container_id || *end) {
                rpc_call_fail(call, RPC_INVALID_ARGUMENT, "container_id %s is not a number of ms",
                              req->container_id);
                return;
        }
        d = calloc(1, sizeof(*d));
        if (!d || !(d->id = strdup(req->container_id))) {
                free(d);
                rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "Out of memory");
                return;
        }
        d->call = call;
        d->timer.data = d;
        rpc_call_on_cancel(call, status_cancelled, d);
        uv_timer_init(loop, &d->timer);
        uv_timer_start(&d->timer, delayed_fire, ms, 0);
}

static void container_events(struct rpc_call *call, const ProtobufCMessage *m, void *userdata)
{
        Runtime__V1__ContainerEventResponse ev = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
        char id[16];

        for (int i = 0; i < 3; i++) {
                snprintf(id, sizeof(id), "c%d", i);
                ev.container_id = id;
                ev.container_event_type = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT;
                ev.created_at = 1000 + i;
                if (rpc_call_send(call, &ev.base) < 0)
                        break;
        }
        rpc_call_finish(call, RPC_OK, NULL);
}

static void list_containers(struct rpc_call *call, const ProtobufCMessage *m, void *userdata)
{
        const Runtime__V1__ListContainersRequest *req = (const Runtime__V1__ListContainersRequest *) m;
        Runtime__V1__ListContainersResponse resp = RUNTIME__V1__LIST_CONTAINERS_RESPONSE__INIT;
        static const char id[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        Runtime__V1__Container *items, **ptrs;
        size_t n = req->filter ? strtoul(req->filter->id, NULL, 10) : 0;
        int r;

        items = calloc(n ? n : 1, sizeof(*items));
        ptrs = calloc(n ? n : 1, sizeof(*ptrs));
        if (!items || !ptrs) {
                free(items);
                free(ptrs);
                rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "Out of memory");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                items[i] = (Runtime__V1__Container) RUNTIME__V1__CONTAINER__INIT;
                items[i].id = (char *) id;
                items[i].pod_sandbox_id = (char *) id;
                items[i].image_ref = (char *) id;
                items[i].state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
                ptrs[i] = &items[i];
        }
        resp.n_containers = n;
        resp.containers = ptrs;
        r = rpc_call_reply(call, &resp.base);
        if (r < 0)
                fprintf(stderr, "rpc_testd: ListContainers with %zu: %s\n", n, strerror(-r));
        free(items);
        free(ptrs);
}

static const struct rpc_method methods[] = {
        { "/runtime.v1.RuntimeService/Version", &runtime__v1__version_request__descriptor, version },
        { "/runtime.v1.RuntimeService/ContainerStatus", &runtime__v1__container_status_request__descriptor,
          container_status },
        { "/runtime.v1.RuntimeService/GetContainerEvents", &runtime__v1__get_events_request__descriptor,
          container_events },
        { "/runtime.v1.RuntimeService/ListContainers", &runtime__v1__list_containers_request__descriptor,
          list_containers },
};

static uv_signal_t sig_term, sig_int;
static uv_timer_t grace;
static struct rpc_server *server;

static void shut_done(void *data)
{
        uv_close((uv_handle_t *) &sig_term, NULL);
        uv_close((uv_handle_t *) &sig_int, NULL);
        uv_close((uv_handle_t *) &grace, NULL);
}

/* Calls still open 2 s after SIGTERM are ended for the client. */
static void grace_over(uv_timer_t *t)
{
        fprintf(stderr, "rpc_testd: grace period over, cancelling calls\n");
        rpc_server_cancel_calls(server, RPC_UNAVAILABLE, "Server is shutting down");
}

static void on_signal(uv_signal_t *s, int signum)
{
        fprintf(stderr, "rpc_testd: signal %d, shutting down\n", signum);
        uv_signal_stop(&sig_term);
        uv_signal_stop(&sig_int);
        uv_timer_start(&grace, grace_over, 2000, 0);
        rpc_server_shutdown(server, shut_done, NULL);
}

static void print_stats(void)
{
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
                double med = 0;
                uint64_t calls = 0;
                rpc_server_method_stats(server, methods[i].path, &med, &calls);
                fprintf(stderr, "rpc_testd: stats %s calls=%" PRIu64 " median_us=%.1f\n", methods[i].path,
                        calls, med);
        }
        fprintf(stderr, "rpc_testd: cancels=%" PRIu64 "\n", cancels);
}

int main(int argc, char **argv)
{
        uv_loop_t *loop = uv_default_loop();
        struct pxe *err = NULL;

        if (argc != 2) {
                fprintf(stderr, "Usage: rpc_testd SOCKET\n");
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        if (rpc_server_new(loop, methods, sizeof(methods) / sizeof(methods[0]), NULL, loop, &server, &err) < 0 ||
            rpc_server_listen(server, argv[1], &err) < 0) {
                fprintf(stderr, "rpc_testd: %s\n", err ? err->msg : "Starting the server");
                pxe_free(err);
                rpc_server_free(server);
                uv_run(loop, UV_RUN_DEFAULT);
                uv_loop_close(loop);
                return 1;
        }
        uv_signal_init(loop, &sig_term);
        uv_signal_init(loop, &sig_int);
        uv_timer_init(loop, &grace);
        uv_signal_start(&sig_term, on_signal, SIGTERM);
        uv_signal_start(&sig_int, on_signal, SIGINT);
        printf("rpc_testd: listening on %s\n", argv[1]);
        fflush(stdout);
        uv_run(loop, UV_RUN_DEFAULT);
        print_stats();
        rpc_server_free(server);
        if (uv_loop_close(loop) != 0) {
                fprintf(stderr, "rpc_testd: handles left open at exit\n");
                return 1;
        }
        return 0;
}
