/* libcurl, loaded when first needed (internal to src/image/).
 *
 * pxcri is one program for every command; linking libcurl would make each
 * `pxcri run` load it and the ~25 libraries it pulls in (+6 ms per start
 * here, five times pxcri's own start).  So it is dlopen()ed by the first pull
 * instead, and curl_global_init() runs then, once. */
#pragma once

#include <curl/curl.h>

#include "util/err.h"

struct curl_api {
        CURL *(*easy_init)(void);
        CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
        CURLcode (*easy_perform)(CURL *c);
        CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
        void (*easy_reset)(CURL *c);
        void (*easy_cleanup)(CURL *c);
        const char *(*easy_strerror)(CURLcode code);
        char *(*easy_escape)(CURL *c, const char *s, int len);
        void (*free)(void *p);
        struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
        void (*slist_free_all)(struct curl_slist *l);
        curl_mime *(*mime_init)(CURL *c);
        curl_mimepart *(*mime_addpart)(curl_mime *m);
        CURLcode (*mime_name)(curl_mimepart *p, const char *name);
        CURLcode (*mime_data)(curl_mimepart *p, const char *data, size_t size);
        CURLcode (*mime_filedata)(curl_mimepart *p, const char *path);
        CURLcode (*mime_filename)(curl_mimepart *p, const char *name);
        void (*mime_free)(curl_mime *m);
};

/* The loaded API (thread-safe, loaded once), or NULL with *err set. */
const struct curl_api *curl_api_get(struct pxe **err);
