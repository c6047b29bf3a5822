/* The commands of `pxcri`, the runtime.  Image and bundle management runs in
 * pxcri-image (table_image.c): its libraries (libarchive, SQLite, libcurl)
 * would otherwise load at every start of the runtime, which containerd and
 * CRI-O call for every container operation (docs/benchmarks.md). */
#include "cli/cli.h"
#include "util/cleanup.h"

static const struct cli_command commands[] = {
        { "create", "[OPTIONS] <container-id>", "Create a container from a bundle (does not start its process)",
          cli_create_opts, false, 1, 1, cmd_create },
        { "start", "<container-id>", "Start the process of a created container", cli_no_opts, false, 1, 1,
          cmd_start },
        { "run", "[OPTIONS] <container-id>",
          "Create and start a container and wait for it; exits with the container's exit code", cli_run_opts,
          false, 1, 1, cmd_run },
        { "state", "<container-id>", "Print the OCI state of a container as JSON (with its backend)",
          cli_no_opts, false, 1, 1, cmd_state },
        { "kill", "[OPTIONS] <container-id> [SIGNAL]", "Send a signal (default SIGTERM) to a container",
          cli_kill_opts, false, 1, 2, cmd_kill },
        { "delete", "[OPTIONS] <container-id>", "Delete a container and its state", cli_delete_opts, false, 1,
          1, cmd_delete },
        { "list", "[OPTIONS]", "List containers of every backend", cli_list_opts, false, 0, 0, cmd_list },
        { "exec", "[OPTIONS] <container-id> [COMMAND [ARG...]]", "Run a process in a running container",
          cli_exec_opts, true, 1, -1, cmd_exec },
        { "ps", "[OPTIONS] <container-id> [PS-ARGS...]", "Show the processes of a container", cli_ps_opts,
          false, 1, -1, cmd_ps },
        { "pause", "<container-id>", "Freeze all processes of a container", cli_no_opts, false, 1, 1,
          cmd_pause },
        { "resume", "<container-id>", "Thaw a paused container", cli_no_opts, false, 1, 1, cmd_resume },
        { "update", "[OPTIONS] <container-id>", "Update the resource limits of a container",
          cli_update_opts, false, 1, 1, cmd_update },
        { "spec", "[OPTIONS]", "Write a default config.json into a bundle", cli_spec_opts, false, 0, 0,
          cmd_spec },
        { "features", "[OPTIONS]", "Print the OCI features document of a backend", cli_features_opts, false,
          0, 0, cmd_features },
        { "version", "", "Print the versions of pxcri and its backends", cli_no_opts, false, 0, 0,
          cmd_version },
        { "proxmox-templates", "[--format table|json] [-q]",
          "List the Proxmox templates of images and the containers made from them", cli_proxmox_templates_opts,
          false, 0, 0, cmd_proxmox_templates },
        { "proxmox-prune", "[--image IMAGE-ID] [--format table|json]",
          "Remove Proxmox templates no container uses (of one image with --image); exit 0 when it ran",
          cli_proxmox_prune_opts, false, 0, 0, cmd_proxmox_prune },
        { "image", "pull|import|list|inspect|remove|prune [OPTIONS] [ARGS] (pxcri image COMMAND --help)",
          "Manage images: pull, import, list, inspect, remove, prune", cli_no_opts, true, 0, -1, cmd_delegate_image },
        { "bundle", "create|remove [OPTIONS] DIR (pxcri bundle COMMAND --help)",
          "Create OCI bundles from images, and remove them", cli_no_opts, true, 0, -1, cmd_delegate_image },
};

const struct cli_program cli_runtime = { commands, ARRAY_SIZE(commands) };
