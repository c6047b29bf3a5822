/* The one place the image code talks libcurl (internal to src/image/). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/blobstore.h"
#include "util/err.h"

struct registry_conn;

struct http_request {
        const char *method;        /* "GET" (default), "HEAD", "POST" */
        const char *url;
        const char *accept;        /* Accept header value, or NULL */
        const char *authorization; /* Authorization header value, or NULL; never
                                    * sent to another host after a redirect */
        const char *post_fields;   /* POST body, application/x-www-form-urlencoded */
        uint64_t range_from;       /* > 0: "Range: bytes=<n>-" */
        bool allow_http;           /* plain http (also for redirects) allowed */
        bool skip_verify;
        const char *ca_file;
        struct blob_ingest *sink;  /* 2xx body goes here (200 after a Range: from 0) */
        size_t max_body;           /* in-memory body limit (error bodies: 64 KiB) */
};

struct http_response {
        long status;
        char *body; /* NUL-terminated; for a sink only an error body */
        size_t len;
        char *content_type;
        char *docker_digest;
        char *www_authenticate;
        char *effective_url;
};

/* Perform the request.  Returns 0 when an HTTP answer came (any status),
 * negative errno on transport failure (connect, TLS, timeout, body too
 * large, sink write error). */
int http_do(struct registry_conn *h, const struct http_request *r, struct http_response *resp, struct pxe **err);
void http_response_done(struct http_response *resp);

/* Percent-encode s for a query string (malloc'ed). */
char *http_escape(struct registry_conn *h, const char *s);
