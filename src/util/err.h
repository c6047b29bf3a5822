/* Errors that carry an errno-like code and a readable message with context.
 *
 * Functions that can fail take `struct pxe **err` as their last argument and
 * return a negative errno (or NULL).  The innermost failure sets the error,
 * callers on the way up may prefix context with pxe_wrap(), and only the edges
 * (cli/, later cri/ and daemon/) print or translate it.  `err` may be NULL when
 * the caller does not care about the message.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>

struct pxe {
        int code;  /* positive errno value: ENOENT, EINVAL, EEXIST, ENOSYS, ... */
        char *msg; /* "Reading bundle /x: Opening config.json: No such file or directory" */
};

/* Set *err (if err and *err is empty) and return -code; when an error was
 * already set it is kept (it names the real cause) and its code returned. */
int pxe_set(struct pxe **err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like pxe_set(), with ": strerror(code)" appended. */
int pxe_set_errno(struct pxe **err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix context to an existing error: "<context>: <old message>".  Returns
 * -code of that error, or -EIO when err is NULL or empty: callers that may be
 * passed a NULL err keep their own return value instead. */
int pxe_wrap(struct pxe **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The code of *err, or fallback when no error was set. */
int pxe_code(struct pxe *const *err, int fallback);

void pxe_free(struct pxe *e);

static inline void pxe_freep(struct pxe **e)
{
        if (!e)
                return;
        pxe_free(*e);
        *e = NULL;
}

#define _cleanup_pxe_ __attribute__((cleanup(pxe_freep)))
