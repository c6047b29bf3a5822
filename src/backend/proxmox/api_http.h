/* HTTPS requests to the Proxmox API (internal to src/backend/proxmox/). */
#pragma once

#include <jansson.h>

#include "backend/proxmox/api_tls.h"
#include "backend/proxmox/client.h"
#include "image/curl_api.h"

/* Marks a transport error after which the request may have reached the
 * server (not resent to another host unless it is a GET). */
#define API_MAYBE_SENT 0x10000

struct pve_api {
        const struct curl_api *curl;
        CURL *h;             /* one handle: its connections are kept alive */
        size_t good_host;    /* index of the host that answered last */
        struct api_pin pin;  /* tls.fingerprint */
};

struct api_request {
        const char *method; /* GET, POST, PUT, DELETE */
        const char *path;   /* after /api2/json: "/nodes/pve1/lxc" */
        const struct pve_kv *params; /* query (GET, DELETE) or form body (POST, PUT) */
        size_t n_params;
        int timeout_ms;     /* 0: backends.proxmox.timeout */
        /* POST as multipart/form-data: params as fields, then this file as
         * the field "filename" (Proxmox's upload). */
        const char *upload_path;
        const char *upload_name;
};

int api_http_open(struct pve_api *a, const struct proxmox_config *cfg, struct pxe **err);
void api_http_close(struct pve_api *a);

/* Send r to the hosts in order, starting with the last good one; a host
 * that cannot be reached is skipped (a non-GET only when it surely was not
 * sent).  Returns the answer's "data" (new reference) or an error naming the
 * request and each host's failure. */
int api_http_request(struct pve_api *a, const struct proxmox_config *cfg, const char *token,
                     const struct api_request *r, json_t **ret_data, struct pxe **err);
