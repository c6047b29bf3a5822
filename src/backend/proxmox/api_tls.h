/* TLS certificate fingerprint pinning for the API transport (api_tls.c says
 * what exactly is pinned). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "image/curl_api.h"
#include "util/err.h"

struct api_pin {
        bool enabled;
        unsigned char want[32]; /* SHA-256 of the leaf certificate (DER) */
        unsigned char got[32];  /* what the last handshake presented */
        bool checked;           /* the callback ran on the last connection */
        bool mismatch;          /* ... and refused it */
};

/* "AA:BB:..." or plain hex, 64 digits. */
int api_pin_parse(const char *text, struct api_pin *pin, struct pxe **err);

/* 32 bytes -> "AA:BB:...", at least 96 bytes of out. */
void api_pin_format(const unsigned char *md, char *out, size_t size);

/* Make every TLS handshake of h check the pin (pin must outlive h's connections). */
int api_pin_install(const struct curl_api *api, CURL *h, struct api_pin *pin, struct pxe **err);
