#include "image/curl_api.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define LIBCURL_SONAME "libcurl.so.4"

static struct curl_api api;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[256];

#define SYM(field, name)                                                                            \
        do {                                                                                        \
                *(void **) (&api.field) = dlsym(h, name);                                           \
                if (!api.field) {                                                                   \
                        snprintf(load_error, sizeof(load_error), "%s: missing symbol %s", LIBCURL_SONAME, \
                                 name);                                                             \
                        return;                                                                     \
                }                                                                                   \
        } while (0)

static void load(void)
{
        CURLcode (*global_init)(long flags) = NULL;
        void *h = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);

        if (!h) {
                snprintf(load_error, sizeof(load_error), "%s", dlerror());
                return;
        }
        SYM(easy_init, "curl_easy_init");
        SYM(easy_setopt, "curl_easy_setopt");
        SYM(easy_perform, "curl_easy_perform");
        SYM(easy_getinfo, "curl_easy_getinfo");
        SYM(easy_reset, "curl_easy_reset");
        SYM(easy_cleanup, "curl_easy_cleanup");
        SYM(easy_strerror, "curl_easy_strerror");
        SYM(easy_escape, "curl_easy_escape");
        SYM(free, "curl_free");
        SYM(slist_append, "curl_slist_append");
        SYM(slist_free_all, "curl_slist_free_all");
        SYM(mime_init, "curl_mime_init");
        SYM(mime_addpart, "curl_mime_addpart");
        SYM(mime_name, "curl_mime_name");
        SYM(mime_data, "curl_mime_data");
        SYM(mime_filedata, "curl_mime_filedata");
        SYM(mime_filename, "curl_mime_filename");
        SYM(mime_free, "curl_mime_free");
        *(void **) (&global_init) = dlsym(h, "curl_global_init");
        if (!global_init || global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                snprintf(load_error, sizeof(load_error), "curl_global_init failed");
                api.easy_init = NULL;
                return;
        }
        /* The handle stays open for the life of the process. */
}

const struct curl_api *curl_api_get(struct pxe **err)
{
        pthread_once(&once, load);
        if (load_error[0] || !api.easy_init) {
                pxe_set(err, ELIBACC, "Loading libcurl: %s", load_error[0] ? load_error : "failed");
                return NULL;
        }
        return &api;
}
