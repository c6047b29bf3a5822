/* Proxmox templates: records, the key lock, and the parts of prune that need
 * no Proxmox (which templates are asked about, in use, busy). */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/proxmox/pmx_private.h"
#include "util/fs.h"

#define KEY_A "0123456789abcdef01234567"
#define KEY_B "89abcdef0123456789abcdef"
#define IMAGE_A "sha256:aaaa"
#define IMAGE_B "sha256:bbbb"

static void test_key_ok(void **state)
{
        assert_true(pmx_template_key_ok(KEY_A));
        assert_true(pmx_template_key_ok("0"));
        assert_false(pmx_template_key_ok(""));
        assert_false(pmx_template_key_ok(NULL));
        assert_false(pmx_template_key_ok("0123ABCD"));
        assert_false(pmx_template_key_ok("../x"));
        assert_false(pmx_template_key_ok(".tmp-1"));
        assert_false(pmx_template_key_ok("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"));
}

static void test_image_matches(void **state)
{
        assert_true(pmx_image_matches("sha256:abc", "sha256:abc"));
        assert_true(pmx_image_matches("sha256:abc", "abc"));
        assert_true(pmx_image_matches("abc", "sha256:abc"));
        assert_false(pmx_image_matches("sha256:abc", "sha256:abd"));
        assert_false(pmx_image_matches("sha256:abc", "ab"));
        assert_false(pmx_image_matches(NULL, "sha256:abc")); /* older record: no image */
        assert_false(pmx_image_matches("sha256:", "sha256:"));
        assert_false(pmx_image_matches("", ""));
}

static void test_record_note(void **state)
{
        json_t *rec = json_object();

        assert_true(pmx_template_record_note(rec, "pxcri-" KEY_A ".tar.zst", IMAGE_A));
        assert_string_equal(json_string_value(json_object_get(rec, "file")), "pxcri-" KEY_A ".tar.zst");
        assert_string_equal(json_string_value(json_object_get(rec, "image")), IMAGE_A);
        assert_false(pmx_template_record_note(rec, "pxcri-" KEY_A ".tar.zst", IMAGE_A));
        /* A bundle without the annotation leaves what is recorded. */
        assert_false(pmx_template_record_note(rec, "pxcri-" KEY_A ".tar.zst", NULL));
        assert_false(pmx_template_record_note(rec, NULL, ""));
        assert_string_equal(json_string_value(json_object_get(rec, "image")), IMAGE_A);
        json_object_set_new(rec, "image", json_integer(3));
        assert_true(pmx_template_record_note(rec, NULL, IMAGE_A));
        assert_string_equal(json_string_value(json_object_get(rec, "image")), IMAGE_A);
        json_decref(rec);
}

static void test_info_parse(void **state)
{
        struct pmx_template_info i;
        json_t *rec = json_pack("{s:s, s:s, s:{s:i, s:i}}", "file", "x", "image", IMAGE_A, "ct", "unprivileged",
                                2001, "privileged", 2002);

        assert_int_equal(pmx_template_info_parse(KEY_A, rec, &i), 0);
        assert_string_equal(i.key, KEY_A);
        assert_string_equal(i.image, IMAGE_A);
        assert_string_equal(i.file, "pxcri-" KEY_A ".tar.zst"); /* named by the key, not the record */
        assert_int_equal(i.ct_unprivileged, 2001);
        assert_int_equal(i.ct_privileged, 2002);
        assert_true(i.linked);
        assert_int_equal(i.n_users, 0);
        free(i.image);
        free(i.file);
        json_decref(rec);

        /* An older record: no image; wrong types are ignored. */
        rec = json_pack("{s:b, s:{s:s, s:i}}", "linked", 0, "ct", "unprivileged", "2001", "privileged", -4);
        assert_int_equal(pmx_template_info_parse(KEY_B, rec, &i), 0);
        assert_null(i.image);
        assert_int_equal(i.ct_unprivileged, 0);
        assert_int_equal(i.ct_privileged, 0);
        assert_false(i.linked);
        free(i.file);
        json_decref(rec);

        assert_int_equal(pmx_template_info_parse(KEY_A, NULL, &i), 0);
        free(i.file);
        assert_int_equal(pmx_template_info_parse("../etc", NULL, &i), -EINVAL);
}

static void test_reason(void **state)
{
        char *users[] = { "a", "b" };
        struct pmx_prune_entry e = { .why = PMX_PRUNE_UNUSED };
        char *s;

        assert_string_equal(s = pmx_prune_reason(&e), "unused");
        free(s);
        e = (struct pmx_prune_entry) { .why = PMX_PRUNE_IN_USE, .users = users, .n_users = 1 };
        assert_string_equal(s = pmx_prune_reason(&e), "in use by 1 container: a");
        free(s);
        e.n_users = 2;
        assert_string_equal(s = pmx_prune_reason(&e), "in use by 2 containers: a, b");
        free(s);
        e = (struct pmx_prune_entry) { .why = PMX_PRUNE_REFUSED, .detail = "base volume in use by linked clone" };
        assert_string_equal(s = pmx_prune_reason(&e), "base volume in use by linked clone");
        free(s);
        e = (struct pmx_prune_entry) { .why = PMX_PRUNE_BUSY };
        assert_contains(s = pmx_prune_reason(&e), "right now");
        free(s);
        assert_string_equal(pmx_prune_why_to_string(PMX_PRUNE_REFUSED), "refused");
        assert_string_equal(pmx_prune_why_to_string(PMX_PRUNE_WHY_INVALID), "unknown");
}

static void test_error_fatal(void **state)
{
        assert_true(pmx_prune_error_fatal(EHOSTUNREACH));
        assert_true(pmx_prune_error_fatal(EACCES));
        assert_true(pmx_prune_error_fatal(EPERM));
        assert_true(pmx_prune_error_fatal(ETIMEDOUT));
        assert_false(pmx_prune_error_fatal(EIO)); /* a task that failed: that template's */
        assert_false(pmx_prune_error_fatal(EBUSY));
        assert_false(pmx_prune_error_fatal(ENOENT));
}

static void test_lock_removed_while_waited_for(void **state)
{
        char *dir = unit_mkdtemp(), *path = unit_path(dir, KEY_A ".lock");
        int a = -1, c = -1, b = -1, status = 0;
        pid_t child;

        assert_int_equal(pmx_template_lock(dir, KEY_A, true, &a, NULL), 0);
        assert_int_equal(pmx_template_lock(dir, KEY_A, false, &b, NULL), -EWOULDBLOCK);
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                int fd = -1;

                close(a); /* the parent's lock, not ours to hold */
                _exit(pmx_template_lock(dir, KEY_A, true, &fd, NULL) == 0 ? 0 : 1);
        }
        usleep(100000); /* the child waits on the file a holds */
        /* a removes the template: the lock file goes while held, and c
         * takes the lock of the path's new file. */
        assert_int_equal(unlink(path), 0);
        assert_int_equal(pmx_template_lock(dir, KEY_A, false, &c, NULL), 0);
        close(a);
        usleep(200000);
        /* The child got a's old file, saw it gone, and now waits for c. */
        assert_int_equal(waitpid(child, &status, WNOHANG), 0);
        close(c);
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        unit_rm_rf(dir);
        free(path);
        free(dir);
}

/* <root>/proxmox with two records and one container using KEY_A. */
static char *make_root(struct backend *b)
{
        char *root = unit_mkdtemp(), *p = NULL;

        assert_true(asprintf(&p, "%s/proxmox/templates", root) > 0);
        assert_int_equal(fs_mkdir_p(p, 0700, NULL), 0);
        free(p);
        assert_true(asprintf(&p, "%s/proxmox/templates/" KEY_A ".json", root) > 0);
        unit_write(p, "{\"file\":\"pxcri-" KEY_A ".tar.zst\",\"image\":\"" IMAGE_A "\","
                      "\"ct\":{\"unprivileged\":2001}}");
        free(p);
        assert_true(asprintf(&p, "%s/proxmox/templates/" KEY_B ".json", root) > 0);
        unit_write(p, "{\"file\":\"pxcri-" KEY_B ".tar.zst\",\"linked\":false}"); /* older: no image */
        free(p);
        assert_true(asprintf(&p, "%s/proxmox/templates/.tmp-x", root) > 0);
        unit_write(p, "junk");
        free(p);
        assert_true(asprintf(&p, "%s/proxmox/ctr1", root) > 0);
        assert_int_equal(fs_mkdir_p(p, 0700, NULL), 0);
        free(p);
        assert_true(asprintf(&p, "%s/proxmox/ctr1/state.json", root) > 0);
        unit_write(p, "{\"vmid\":2002,\"template\":\"" KEY_A "\"}");
        free(p);
        assert_true(asprintf(&b->root, "%s/proxmox", root) > 0);
        return root;
}

static void test_list_and_recorded(void **state)
{
        struct backend b = { .name = "proxmox" };
        char *root = make_root(&b), *empty = unit_mkdtemp();
        struct pmx_template_info *v = NULL;
        size_t n = 0;

        assert_true(pmx_templates_recorded(root));
        assert_false(pmx_templates_recorded(empty));
        assert_int_equal(pmx_templates_list(&b, &v, &n, NULL), 0);
        assert_int_equal(n, 2);
        assert_string_equal(v[0].key, KEY_A);
        assert_string_equal(v[0].image, IMAGE_A);
        assert_int_equal(v[0].ct_unprivileged, 2001);
        assert_int_equal(v[0].n_users, 1);
        assert_string_equal(v[0].users[0], "ctr1");
        assert_string_equal(v[1].key, KEY_B);
        assert_null(v[1].image);
        assert_false(v[1].linked);
        assert_int_equal(v[1].n_users, 0);
        pmx_templates_list_free(v, n);
        unit_rm_rf(root);
        unit_rm_rf(empty);
        free(b.root);
        free(root);
        free(empty);
}

/* Without a template to remove, prune needs no Proxmox: an image nobody
 * recorded, one in use, one whose lock a create holds. */
static void test_prune_without_removal(void **state)
{
        struct backend b = { .name = "proxmox" };
        char *root = make_root(&b), *dir = NULL;
        struct pmx_prune_result res = { 0 };
        int lock = -1;

        assert_int_equal(pmx_templates_prune(&b, "sha256:cccc", &res, NULL), 0);
        assert_int_equal(res.n_entries, 0);
        pmx_prune_result_done(&res);

        assert_int_equal(pmx_templates_prune(&b, "aaaa", &res, NULL), 0);
        assert_int_equal(res.n_entries, 1);
        assert_int_equal(res.n_kept, 1);
        assert_int_equal(res.entries[0].why, PMX_PRUNE_IN_USE);
        assert_string_equal(res.entries[0].image, IMAGE_A);
        assert_int_equal(res.entries[0].n_users, 1);
        assert_string_equal(res.entries[0].users[0], "ctr1");
        pmx_prune_result_done(&res);

        assert_true(asprintf(&dir, "%s/templates", b.root) > 0);
        assert_int_equal(pmx_template_lock(dir, KEY_A, true, &lock, NULL), 0);
        assert_int_equal(pmx_templates_prune(&b, IMAGE_A, &res, NULL), 0);
        assert_int_equal(res.n_entries, 1);
        assert_int_equal(res.entries[0].why, PMX_PRUNE_BUSY);
        assert_string_equal(res.entries[0].image, IMAGE_A);
        pmx_prune_result_done(&res);
        close(lock);

        assert_int_equal(pmx_templates_prune(&b, "", &res, NULL), -EINVAL);
        unit_rm_rf(root);
        free(dir);
        free(b.root);
        free(root);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_key_ok),
                cmocka_unit_test(test_image_matches),
                cmocka_unit_test(test_record_note),
                cmocka_unit_test(test_info_parse),
                cmocka_unit_test(test_reason),
                cmocka_unit_test(test_error_fatal),
                cmocka_unit_test(test_lock_removed_while_waited_for),
                cmocka_unit_test(test_list_and_recorded),
                cmocka_unit_test(test_prune_without_removal),
        };

        return unit_run(tests);
}
