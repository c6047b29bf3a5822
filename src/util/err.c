#include "util/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static char *vformat(const char *fmt, va_list ap)
{
        char *s = NULL;

        if (vasprintf(&s, fmt, ap) < 0)
                return NULL;
        return s;
}

static int set_msg(struct pxe **err, int code, char *msg)
{
        if (code <= 0)
                code = EIO;
        if (!err || *err) {
                /* Keep the first (innermost) error: it names the real cause. */
                free(msg);
                return err && *err ? -(*err)->code : -code;
        }
        *err = calloc(1, sizeof(**err));
        if (!*err) {
                free(msg);
                return -code;
        }
        (*err)->code = code;
        (*err)->msg = msg ? msg : strdup("Out of memory");
        return -code;
}

int pxe_set(struct pxe **err, int code, const char *fmt, ...)
{
        va_list ap;
        char *msg;

        va_start(ap, fmt);
        msg = vformat(fmt, ap);
        va_end(ap);
        return set_msg(err, code, msg);
}

int pxe_set_errno(struct pxe **err, int code, const char *fmt, ...)
{
        va_list ap;
        char *head, *msg = NULL;

        va_start(ap, fmt);
        head = vformat(fmt, ap);
        va_end(ap);
        if (head && asprintf(&msg, "%s: %s", head, strerror(code)) < 0)
                msg = NULL;
        free(head);
        return set_msg(err, code, msg);
}

int pxe_wrap(struct pxe **err, const char *fmt, ...)
{
        va_list ap;
        char *head, *msg = NULL;

        if (!err || !*err)
                return -EIO;
        va_start(ap, fmt);
        head = vformat(fmt, ap);
        va_end(ap);
        if (head && asprintf(&msg, "%s: %s", head, (*err)->msg) >= 0) {
                free((*err)->msg);
                (*err)->msg = msg;
        }
        free(head);
        return -(*err)->code;
}

int pxe_code(struct pxe *const *err, int fallback)
{
        return err && *err ? (*err)->code : fallback;
}

void pxe_free(struct pxe *e)
{
        if (!e)
                return;
        free(e->msg);
        free(e);
}
