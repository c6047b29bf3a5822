/* Test driver for image_pull(): pulls one reference with a configuration file
 * and prints the result as JSON.  Built for the integration tests and the
 * benchmark only (not installed); `pxcri image pull` is the user's command.
 *
 *   image-pull [--config FILE] [--root DIR] [--platform OS/ARCH[/VARIANT]]
 *              [--username U --password P | --auth BASE64 |
 *               --identity-token T | --registry-token T] REFERENCE
 *
 * Exit 0 and the JSON on stdout; 1 and one line on stderr on failure.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "image/pull.h"
#include "util/cleanup.h"

static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "root", required_argument, NULL, 'r' },
        { "platform", required_argument, NULL, 'p' },
        { "username", required_argument, NULL, 'u' },
        { "password", required_argument, NULL, 'P' },
        { "auth", required_argument, NULL, 'a' },
        { "identity-token", required_argument, NULL, 'i' },
        { "registry-token", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 },
};

static int fail(struct pxe *e)
{
        fprintf(stderr, "image-pull: %s\n", e ? e->msg : "failed");
        pxe_free(e);
        return 1;
}

int main(int argc, char **argv)
{
        const char *config_path = NULL, *root = NULL, *platform = NULL;
        struct image_auth auth = { 0 };
        _cleanup_config_ struct config *cfg = NULL;
        _cleanup_image_puller_ struct image_puller *p = NULL;
        _cleanup_image_pull_result_ struct image_pull_result *r = NULL;
        struct image_platform pf = { 0 };
        _cleanup_free_ char *json = NULL;
        struct pxe *e = NULL;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'c': config_path = optarg; break;
                case 'r': root = optarg; break;
                case 'p': platform = optarg; break;
                case 'u': auth.username = optarg; break;
                case 'P': auth.password = optarg; break;
                case 'a': auth.auth = optarg; break;
                case 'i': auth.identity_token = optarg; break;
                case 't': auth.registry_token = optarg; break;
                default: return 2;
                }
        }
        if (optind + 1 != argc) {
                fprintf(stderr, "usage: image-pull [--config FILE] [--root DIR] [--platform P] [auth] REFERENCE\n");
                return 2;
        }
        if (config_load(config_path, &cfg, &e) < 0)
                return fail(e);
        for (size_t i = 0; i < cfg->n_warnings; i++)
                fprintf(stderr, "image-pull: warning: %s\n", cfg->warnings[i]);
        if (root) {
                free(cfg->image.root);
                cfg->image.root = strdup(root);
        }
        if (platform && platform_parse(platform, &pf, &e) < 0)
                return fail(e);
        if (image_puller_new(&cfg->image, &p, &e) < 0 ||
            image_pull(p, argv[optind], &auth, platform ? &pf : NULL, &r, &e) < 0) {
                platform_done(&pf);
                return fail(e);
        }
        platform_done(&pf);
        json = image_pull_result_to_json(r);
        if (!json)
                return fail(NULL);
        printf("%s\n", json);
        return 0;
}
