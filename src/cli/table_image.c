/* The commands of pxcri-image, which `pxcri image ...` and `pxcri bundle ...`
 * run (cmd_delegate_image). */
#include "cli/cli.h"
#include "cli/sub.h"
#include "util/cleanup.h"

static const struct cli_command commands[] = {
        { "image", "pull|import|list|inspect|remove|prune [OPTIONS] [ARGS] (pxcri image COMMAND --help)",
          "Manage images: pull, import, list, inspect, remove, prune", cli_no_opts, true, 0, -1, cmd_image },
        { "bundle", "create|remove [OPTIONS] DIR (pxcri bundle COMMAND --help)",
          "Create OCI bundles from images, and remove them", cli_no_opts, true, 0, -1, cmd_bundle },
};

const struct cli_program cli_image = { commands, ARRAY_SIZE(commands) };
