/* The files a pod's containers share: /etc/hostname, /etc/hosts,
 * /etc/resolv.conf from the pod's DNS config, and /dev/shm (a tmpfs per pod
 * that shares IPC; the host's with host IPC). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cri/sandbox.h"
#include "image/layers.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define SHM_SIZE "size=65536k"

void cri_pod_modes(const Runtime__V1__PodSandboxConfig *cfg, struct pod_modes *ret)
{
        const Runtime__V1__NamespaceOption *o = cfg && cfg->linux && cfg->linux->security_context
                                                        ? cfg->linux->security_context->namespace_options
                                                        : NULL;

        *ret = (struct pod_modes) {};
        if (!o)
                return;
        ret->host_network = o->network == RUNTIME__V1__NAMESPACE_MODE__NODE;
        ret->host_ipc = o->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE;
        ret->host_pid = o->pid == RUNTIME__V1__NAMESPACE_MODE__NODE;
        ret->shared_pid = o->pid == RUNTIME__V1__NAMESPACE_MODE__POD;
}

static int write_file(const char *dir, const char *name, const char *text, struct pxe **err)
{
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s", dir, name) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return fs_write_atomic(p, text, strlen(text), 0644, err);
}

static int copy_host_file(const char *dir, const char *name, const char *src, const char *fallback,
                          struct pxe **err)
{
        _cleanup_free_ char *text = NULL;

        if (fs_read_file(src, 1 << 20, &text, NULL, NULL) < 0)
                return write_file(dir, name, fallback, err);
        return write_file(dir, name, text, err);
}

/* text += sep + a (sep only when text is not empty and sep is set). */
static int append(char **text, const char *sep, const char *a)
{
        size_t have = *text ? strlen(*text) : 0, n = strlen(sep) + strlen(a);
        char *t = realloc(*text, have + n + 1);

        if (!t)
                return -ENOMEM;
        snprintf(t + have, n + 1, "%s%s", sep, a);
        *text = t;
        return 0;
}

/* "name a b c\n" */
static int append_line(char **text, const char *name, char *const *v, size_t n)
{
        if (!n)
                return 0;
        if (append(text, "", name) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (append(text, " ", v[i]) < 0)
                        return -ENOMEM;
        return append(text, "", "\n");
}

static int write_resolv(const char *dir, const Runtime__V1__DNSConfig *dns, struct pxe **err)
{
        _cleanup_free_ char *text = NULL;

        if (!dns || (!dns->n_servers && !dns->n_searches && !dns->n_options))
                return copy_host_file(dir, "resolv.conf", "/etc/resolv.conf", "", err);
        for (size_t i = 0; i < dns->n_servers; i++)
                if (append_line(&text, "nameserver", &dns->servers[i], 1) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
        if (append_line(&text, "search", dns->searches, dns->n_searches) < 0 ||
            append_line(&text, "options", dns->options, dns->n_options) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return write_file(dir, "resolv.conf", text ? text : "", err);
}

static const char default_hosts[] = "127.0.0.1\tlocalhost\n"
                                    "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                    "fe00::0\tip6-localnet\n"
                                    "ff00::0\tip6-mcastprefix\n"
                                    "ff02::1\tip6-allnodes\n"
                                    "ff02::2\tip6-allrouters\n";

int cri_pod_files_write(const char *dir, const Runtime__V1__PodSandboxConfig *cfg, const struct pod_modes *m,
                        char **ret_hostname, char **ret_shm, struct pxe **err)
{
        _cleanup_free_ char *hostname = NULL, *hn_line = NULL, *shm = NULL;
        char host[256] = "";

        /* No hostname asked for: the node's, as containerd does (a pod name
         * may be longer than a hostname can be). */
        if (cfg->hostname && *cfg->hostname)
                hostname = strdup(cfg->hostname);
        else if (gethostname(host, sizeof(host) - 1) == 0)
                hostname = strdup(host);
        else
                hostname = strdup("localhost");
        if (!hostname || asprintf(&hn_line, "%s\n", hostname) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (write_file(dir, "hostname", hn_line, err) < 0 ||
            (m->host_network ? copy_host_file(dir, "hosts", "/etc/hosts", default_hosts, err)
                             : write_file(dir, "hosts", default_hosts, err)) < 0 ||
            write_resolv(dir, cfg->dns_config, err) < 0)
                return -pxe_code(err, EIO);
        if (m->host_ipc) {
                shm = strdup("/dev/shm");
        } else {
                if (asprintf(&shm, "%s/shm", dir) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                if (mkdir(shm, 0755) < 0 && errno != EEXIST)
                        return pxe_set_errno(err, errno, "Creating %s", shm);
                if (mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777," SHM_SIZE) < 0)
                        return pxe_set_errno(err, errno, "Mounting the pod's /dev/shm on %s", shm);
        }
        if (!shm)
                return pxe_set(err, ENOMEM, "Out of memory");
        *ret_hostname = TAKE_PTR(hostname);
        *ret_shm = TAKE_PTR(shm);
        return 0;
}

void cri_pod_dir_remove(const char *dir)
{
        _cleanup_free_ char *shm = NULL;

        if (asprintf(&shm, "%s/shm", dir) >= 0)
                umount2(shm, MNT_DETACH | UMOUNT_NOFOLLOW);
        layers_rm_tree(dir, NULL);
}
