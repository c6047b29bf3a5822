/* OCI runtime config (config.json) -> LXC container configuration.
 *
 * A pure translation: it reads the OCI config and a few facts about the host
 * (cgroup version, the lowest oom_score_adj we may set) and produces the
 * lxc.* keys of the container, in order, plus what pxcri-init needs to run
 * the user's process (args, env, umask).  It touches no state; the only
 * filesystem access is stat() of bind sources, mask targets and device nodes,
 * to choose between file and directory mount points.
 *
 * Whatever the OCI config asks that LXC cannot honour fails with an error
 * naming the field ("linux.resources.rdma: ..."), never silently dropped.
 * docs/backends.md lists what is supported.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "util/err.h"

/* Where pxcri-init and its host directory appear inside the container.  /dev
 * is always a tmpfs in an LXC container (lxc.autodev), so both mount points
 * can be created there even when the rootfs is read-only. */
#define LXC_INIT_PATH "/dev/.pxcri-init"
#define LXC_INIT_DIR "/dev/.pxcri"
/* In the run directory: the createContainer hooks for pxcri-init's runner. */
#define LXC_CREATE_HOOKS "create-hooks"
/* In the run directory: pxcri-init's setup records for LXC's mount hook
 * (sysctls, shared binds: src/init/init_setup.h). */
#define LXC_SETUP "setup"

struct lxc_translate_opts {
        const char *bundle;    /* absolute bundle directory */
        const char *init_path; /* host path of the pxcri-init binary */
        const char *run_dir;   /* host directory mounted at LXC_INIT_DIR */
        const char *seccomp_path; /* where an LXC seccomp profile would go */
        bool cgroup_v2;        /* unified hierarchy only: lxc.cgroup2.* keys */
        int oom_score_adj_min; /* lower values are raised to this one */
};

enum lxc_cap_set {
        LXC_CAP_BOUNDING,
        LXC_CAP_EFFECTIVE,
        LXC_CAP_PERMITTED,
        LXC_CAP_INHERITABLE,
        LXC_CAP_AMBIENT,
        LXC_CAP_SET_MAX,
};

/* process.capabilities: bit N of a mask is capability N. */
struct lxc_caps {
        bool set; /* false: process.capabilities absent, pxcri-init leaves them alone */
        uint64_t mask[LXC_CAP_SET_MAX];
};

struct lxc_item {
        char *key;
        char *value;
};

struct lxc_spec {
        struct lxc_item *items; /* lxc.* keys in the order LXC must apply them */
        size_t n_items, cap_items;
        char **args; /* process.args */
        size_t n_args;
        char **env;  /* process.env */
        size_t n_env;
        uid_t uid;
        gid_t gid;
        gid_t *groups; /* process.user.additionalGids */
        size_t n_groups;
        char *cwd; /* process.cwd, or NULL */
        struct lxc_caps caps;
        int umask; /* -1: leave as is */
        bool terminal; /* process.terminal: stdio is a pty from --console-socket */
        unsigned rows, cols; /* process.consoleSize, 0: not given */
        char *rootfs; /* absolute root.path */
        char *seccomp; /* LXC seccomp profile text for opts.seccomp_path, or NULL */
        json_t *annotations; /* owned reference, or NULL */
        json_t *hooks; /* config.json's checked "hooks" (owned), or NULL: run by lxc_hooks.c */
        unsigned preserve_fds; /* not from config.json: the caller's --preserve-fds, set before the blob */
        char *setup; /* LXC_SETUP's NUL-terminated records, or NULL when there are none */
        size_t setup_len;
        char **shared_dests; /* destinations of the shared binds, to refuse mounts below them */
        size_t n_shared_dests;
};

int lxc_translate(json_t *config, const struct lxc_translate_opts *o, struct lxc_spec **ret, struct pxe **err);

void lxc_spec_free(struct lxc_spec *s);

static inline void lxc_spec_freep(struct lxc_spec **s)
{
        lxc_spec_free(*s);
}

#define _cleanup_lxc_spec_ __attribute__((cleanup(lxc_spec_freep)))

/* The last value of key, or NULL; lxc_spec_count() counts its entries. */
const char *lxc_spec_get(const struct lxc_spec *s, const char *key);
size_t lxc_spec_count(const struct lxc_spec *s, const char *key);

/* The LXC config file text ("key = value\n" per item), NUL-terminated. */
char *lxc_spec_config_text(const struct lxc_spec *s);

/* The process file pxcri-init reads: NUL-terminated records "a<arg>",
 * "e<KEY=VALUE>", "m<octal umask>", "t" (a terminal: make it the process's
 * controlling terminal), "w<rows> <columns>" (its size), "f<N>" (descriptors 3 ..
 * 3+N-1 go on to the process), "u<uid>", "g<gid>", "G<gid>" (each
 * supplementary group), "c<cwd>" and the capability records
 * (lxc_caps_write_records).  pxcri-init starts as root and switches to the
 * identity itself.  Returns a malloc'ed buffer. */
char *lxc_spec_process_blob(const struct lxc_spec *s, size_t *ret_len);

/* process.capabilities (may be NULL) into masks; an unknown name is an error
 * naming the set and the index. */
int lxc_caps_parse(json_t *caps, struct lxc_caps *ret, struct pxe **err);
/* pxcri-init's records "C<b|e|p|i|a><hex mask>", one per set; nothing when
 * !c->set. */
void lxc_caps_write_records(FILE *f, const struct lxc_caps *c);
/* LXC's bounding set (lxc.cap.keep): the process's, plus CAP_SETUID,
 * CAP_SETGID, CAP_SETPCAP (pxcri-init's switch) and CAP_KILL (passing
 * signals on to a process of another uid). */
uint64_t lxc_caps_keep_mask(const struct lxc_caps *c);
/* linux.maskedPaths and readonlyPaths -> lxc.mount.entry (optional ones:
 * a path the container lacks is skipped); s->rootfs tells files from
 * directories.  The proxmox backend puts them into its lxc.include too. */
int lxc_translate_paths(json_t *linux_obj, struct lxc_spec *s, struct pxe **err);
/* linux.devices -> lxc.mount.entry binds of the host's nodes (LXC's /dev
 * has null, zero, full, random, urandom and tty; the pty ones come from the
 * container's devpts and are skipped); a node the host lacks, or of other
 * numbers, is ENOTSUP naming who binds them.  The proxmox backend's
 * privileged CTs take them the same way. */
int lxc_translate_devices(const json_t *devs, const char *who, struct lxc_spec *s, struct pxe **err);

/* The OCI hook kinds the lxc backend runs, as a JSON array of strings (for
 * `features`), or NULL when out of memory. */
json_t *lxc_supported_hooks(void);

/* Internal to the translation, shared between its files. */
int lxc_spec_add(struct lxc_spec *s, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* One record for pxcri-init's setup (s->setup); -ENOMEM. */
int lxc_spec_add_setup(struct lxc_spec *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int lxc_translate_caps(json_t *proc, struct lxc_spec *s, struct pxe **err);
int lxc_translate_hooks(json_t *config, const struct lxc_translate_opts *o, struct lxc_spec *s, struct pxe **err);
int lxc_translate_linux(json_t *config, const struct lxc_translate_opts *o, struct lxc_spec *s, struct pxe **err);
int lxc_translate_mounts(json_t *config, const struct lxc_translate_opts *o, struct lxc_spec *s, struct pxe **err);
int lxc_translate_seccomp(json_t *linux_obj, const struct lxc_translate_opts *o, struct lxc_spec *s,
                          struct pxe **err);
int lxc_translate_resources(json_t *linux_obj, const struct lxc_translate_opts *o, struct lxc_spec *s,
                            struct pxe **err);
/* Whether path can go on a hook line as it is: liblxc runs hooks as
 * `sh -c "exec <line> <name> lxc mount"`. */
bool lxc_shell_safe(const char *path);
/* Escape a path for an fstab field (space, tab, newline, backslash as \ooo). */
char *lxc_fstab_escape(const char *path);
