/* Scope-bound cleanup, in the style of systemd and crun.
 *
 *   _cleanup_free_ char *p = NULL;      freed when p goes out of scope
 *   _cleanup_close_ int fd = -EBADF;    closed when fd goes out of scope
 *   *ret = TAKE_PTR(p);                 hand ownership over, p becomes NULL
 */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void freep(void *p)
{
        free(*(void **) p);
}

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

#define TAKE_PTR(p)                                  \
        ({                                           \
                __typeof__(p) _taken_ = (p);         \
                (p) = NULL;                          \
                _taken_;                             \
        })

#define TAKE_FD(fd)                                  \
        ({                                           \
                int _taken_ = (fd);                  \
                (fd) = -EBADF;                       \
                _taken_;                             \
        })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define streq(a, b) (strcmp((a), (b)) == 0)
