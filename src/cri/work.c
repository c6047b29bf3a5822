/* Slow work on libuv's worker pool; the result is applied on the loop. */
#include "cri/cri.h"

static void run_cb(uv_work_t *w)
{
        struct cri_job *j = (struct cri_job *) w;

        j->run(j);
}

static void done_cb(uv_work_t *w, int status)
{
        struct cri_job *j = (struct cri_job *) w;

        (void) status; /* never cancelled: uv_cancel is not used */
        j->srv->jobs_in_flight--;
        j->done(j);
}

void cri_queue(struct cri_server *s, struct cri_job *j)
{
        j->srv = s;
        s->jobs_in_flight++;
        uv_queue_work(s->loop, &j->work, run_cb, done_cb);
}
