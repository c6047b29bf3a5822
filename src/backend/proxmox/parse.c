/* Parsers for what Proxmox sends back: API answers, UPIDs, pct output.
 * They read outside input: bounded, no I/O, fuzzed (tests/fuzz/fuzz_pve_answer.c). */
#include "backend/proxmox/client.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

#define ERRORS_MAX 512

/* Proxmox puts the error text in the status line ("500 CT 100 already
 * exists on node 'pve1'") and, for 400, a map parameter -> reason. */
static int status_code(long status, const char *text)
{
        if (status == 400)
                return strstr(text, "already exists") ? EEXIST : EINVAL;
        if (status == 401)
                return EACCES;
        if (status == 403)
                return EPERM;
        if (status == 404 || strstr(text, "does not exist") || strstr(text, "no such"))
                return ENOENT;
        if (strstr(text, "already exists"))
                return EEXIST;
        if (status == 501)
                return ENOSYS;
        return EIO;
}

static void append_errors(json_t *errors, char *buf, size_t size)
{
        const char *k;
        json_t *v;
        size_t used = strlen(buf);

        json_object_foreach(errors, k, v) {
                const char *s = json_is_string(v) ? json_string_value(v) : "invalid";
                int n = snprintf(buf + used, size - used, "%s%s: %s", used ? "; " : "", k, s);

                if (n < 0 || (size_t) n >= size - used)
                        break;
                used += (size_t) n;
        }
        /* Proxmox's texts end with newlines; keep the message one line. */
        for (char *p = buf; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
}

static int answer_error(json_t *root, long status, const char *reason, struct pxe **err)
{
        char errors[ERRORS_MAX] = "";
        char why[256];
        const char *msg = NULL;
        json_t *e = json_is_object(root) ? json_object_get(root, "errors") : NULL;

        if (json_is_object(root) && json_is_string(json_object_get(root, "message")))
                msg = json_string_value(json_object_get(root, "message"));
        snprintf(why, sizeof(why), "%s", reason && *reason ? reason : msg ? msg : "");
        for (char *p = why + strlen(why); p > why && isspace((unsigned char) p[-1]); p--)
                p[-1] = '\0';
        if (json_is_object(e))
                append_errors(e, errors, sizeof(errors));
        if (status == 401)
                return pxe_set(err, EACCES, "HTTP 401 %s: authentication failed (check the API token in "
                               "backends.proxmox.token_file)", why);
        return pxe_set(err, status_code(status, errors[0] ? errors : why), "HTTP %ld %s%s%s", status, why,
                       errors[0] ? ": " : "", errors);
}

int pve_parse_answer(const char *body, size_t len, long status, const char *reason, json_t **ret_data,
                     struct pxe **err)
{
        json_t *root, *data;
        json_error_t jerr;
        int r;

        root = body && len ? json_loadb(body, len, JSON_DECODE_ANY, &jerr) : NULL;
        if (status < 200 || status > 299) {
                r = answer_error(root, status, reason, err);
                json_decref(root);
                return r;
        }
        if (!json_is_object(root) || !(data = json_object_get(root, "data"))) {
                json_decref(root);
                return pxe_set(err, EPROTO, "HTTP %ld: the answer is not a Proxmox API answer (no \"data\")", status);
        }
        *ret_data = json_incref(data);
        json_decref(root);
        return 0;
}

/* UPID:node:PID:PSTART:STARTTIME:type:id:user: with hex PID, PSTART, STARTTIME. */
int pve_upid_node(const char *upid, char **ret_node, struct pxe **err)
{
        const char *p, *node, *end;
        int fields = 0;

        if (!upid || strncmp(upid, "UPID:", 5) != 0)
                return pxe_set(err, EPROTO, "Not a Proxmox task ID (UPID)");
        node = upid + 5;
        end = strchr(node, ':');
        if (!end || end == node || end - node > 64)
                return pxe_set(err, EPROTO, "Malformed UPID: no node");
        for (p = end + 1; *p && fields < 3; fields++) {
                const char *q = strchr(p, ':');

                if (!q || q == p)
                        break;
                for (const char *h = p; h < q; h++)
                        if (!isxdigit((unsigned char) *h))
                                return pxe_set(err, EPROTO, "Malformed UPID: bad hex field");
                p = q + 1;
        }
        if (fields != 3 || strlen(upid) > 512)
                return pxe_set(err, EPROTO, "Malformed UPID");
        for (const char *h = node; h < end; h++)
                if (!isalnum((unsigned char) *h) && *h != '-' && *h != '.')
                        return pxe_set(err, EPROTO, "Malformed UPID: bad node name");
        *ret_node = strndup(node, (size_t) (end - node));
        return *ret_node ? 0 : pxe_set(err, ENOMEM, "Out of memory");
}

/* Copy the column [start, end) of line (trimmed) into dst. */
static void column(const char *line, size_t len, size_t start, size_t end, char *dst, size_t size)
{
        size_t n;

        dst[0] = '\0';
        if (start >= len)
                return;
        if (end > len)
                end = len;
        while (start < end && line[start] == ' ')
                start++;
        while (end > start && isspace((unsigned char) line[end - 1]))
                end--;
        n = end - start < size - 1 ? end - start : size - 1;
        memcpy(dst, line + start, n);
        dst[n] = '\0';
}

struct list_cols {
        size_t status, lock, name;
};

static int list_header(const char *line, size_t len, struct list_cols *c, struct pxe **err)
{
        _cleanup_free_ char *h = strndup(line, len);
        char *s, *l, *n;

        if (!h)
                return pxe_set(err, ENOMEM, "Out of memory");
        s = strstr(h, "Status");
        l = strstr(h, "Lock");
        n = strstr(h, "Name");
        if (strncmp(h, "VMID", 4) != 0 || !s || !l || !n || !(s < l && l < n))
                return pxe_set(err, EPROTO, "pct list: unexpected header (want VMID Status Lock Name)");
        c->status = (size_t) (s - h);
        c->lock = (size_t) (l - h);
        c->name = (size_t) (n - h);
        return 0;
}

static int list_line(const char *line, size_t len, const struct list_cols *c, struct pct_list_entry *e,
                     struct pxe **err)
{
        char id[16];
        char *end;
        unsigned long v;

        /* Columns by the header's offsets: Lock is often empty, so splitting
         * on blanks would shift Name into it.  A wider value than the
         * column (Proxmox pads, never truncates) is still found. */
        column(line, len, 0, c->status, id, sizeof(id));
        errno = 0;
        v = strtoul(id, &end, 10);
        if (!id[0] || *end || errno || v < 100 || v > 999999999)
                return pxe_set(err, EPROTO, "pct list: bad VMID \"%.16s\"", id);
        e->vmid = (unsigned) v;
        column(line, len, c->status, c->lock, e->status, sizeof(e->status));
        column(line, len, c->lock, c->name, e->lock, sizeof(e->lock));
        column(line, len, c->name, len, e->name, sizeof(e->name));
        if (!e->status[0])
                return pxe_set(err, EPROTO, "pct list: no status for VMID %u", e->vmid);
        return 0;
}

int pct_parse_list(const char *out, struct pct_list_entry **ret, size_t *ret_n, struct pxe **err)
{
        _cleanup_free_ struct pct_list_entry *v = NULL;
        struct list_cols cols = { 0 };
        size_t n = 0, cap = 0;
        bool header = false;

        for (const char *line = out; line && *line;) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t) (nl - line) : strlen(line);

                if (len == 0 || strspn(line, " \t\r") >= len) {
                        /* blank line */
                } else if (!header) {
                        if (list_header(line, len, &cols, err) < 0)
                                return -EPROTO;
                        header = true;
                } else {
                        if (n == cap) {
                                struct pct_list_entry *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

                                if (!nv)
                                        return pxe_set(err, ENOMEM, "Out of memory");
                                v = nv;
                        }
                        if (list_line(line, len, &cols, &v[n], err) < 0)
                                return -EPROTO;
                        n++;
                }
                line = nl ? nl + 1 : NULL;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int pct_parse_status(const char *out, char *status, size_t size, struct pxe **err)
{
        const char *p = out ? strstr(out, "status: ") : NULL;
        size_t n;

        if (!p || (p != out && p[-1] != '\n'))
                return pxe_set(err, EPROTO, "pct status: no \"status:\" line in its output");
        p += 8;
        n = strcspn(p, " \r\n");
        if (n == 0 || n >= size)
                return pxe_set(err, EPROTO, "pct status: bad status value");
        memcpy(status, p, n);
        status[n] = '\0';
        return 0;
}

int pct_parse_config(const char *out, json_t **ret, struct pxe **err)
{
        json_t *o = json_object();

        if (!o)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (const char *line = out; line && *line;) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t) (nl - line) : strlen(line);
                const char *sep = memchr(line, ':', len);

                /* "key: value"; comment lines (the description) start with '#'. */
                if (len && line[0] != '#' && sep && sep > line && sep + 1 < line + len && sep[1] == ' ') {
                        _cleanup_free_ char *k = strndup(line, (size_t) (sep - line));
                        _cleanup_free_ char *v = strndup(sep + 2, (size_t) (line + len - sep - 2));

                        if (!k || !v || json_object_set_new(o, k, json_string(v)) < 0) {
                                json_decref(o);
                                return pxe_set(err, EPROTO, "pct config: bad line");
                        }
                }
                line = nl ? nl + 1 : NULL;
        }
        *ret = o;
        return 0;
}
