#include "config/config.h"

/* The built-in configuration: what pxcri does when no file is given or found.
 * A config file is applied on top of it, key by key; a list in the file
 * (runtime.routing, crun_name_patterns) replaces the default list.
 * docs/configuration.md shows this text; keep the two the same. */
const char config_default_json[] =
        "{\n"
        "  \"runtime\": {\n"
        "    \"root_path\": \"/run/pxcri\",\n"
        "    \"log_level\": \"info\",\n"
        "    \"routing\": [\n"
        "      { \"image\": \"lxc/*\", \"runtime\": \"proxmox\" },\n"
        "      { \"image\": \"db-*\", \"runtime\": \"proxmox\" },\n"
        "      { \"image\": \"vm-*\", \"runtime\": \"proxmox\" }\n"
        "    ]\n"
        "  },\n"
        "  \"container_config\": {\n"
        "    \"crun_name_patterns\": [\"kube-ovn-*\", \"cilium-*\"],\n"
        "    \"default_container_type\": \"crun\"\n"
        "  },\n"
        "  \"backends\": {\n"
        "    \"crun\": { \"path\": \"/usr/bin/crun\" },\n"
        "    \"runc\": { \"path\": \"/usr/sbin/runc\" }\n"
        "  }\n"
        "}\n";
