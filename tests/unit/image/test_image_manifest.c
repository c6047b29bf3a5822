#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/manifest.h"
#include "unit.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define D4 "sha256:4444444444444444444444444444444444444444444444444444444444444444"

static const char oci_manifest[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":123},"
        "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D2 "\",\"size\":4567},"
        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"" D3 "\",\"size\":8}],"
        "\"annotations\":{\"a\":\"b\"}}";

static const char docker_manifest[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" MT_DOCKER_CONFIG "\",\"digest\":\"" D1 "\",\"size\":1},"
        "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"digest\":\"" D2 "\",\"size\":2}]}";

static const char index_doc[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":["
        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":10,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}},"
        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":11,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":12,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
        "{\"mediaType\":\"application/vnd.in-toto+json\",\"digest\":\"" D4 "\",\"size\":13,\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}"
        "]}";

static void test_oci_manifest(void **state)
{
        struct manifest *m = NULL;
        struct pxe *e = NULL;

        assert_int_equal(manifest_parse(oci_manifest, strlen(oci_manifest), NULL, &m, &e), 0);
        assert_int_equal(m->kind, MANIFEST_IMAGE);
        assert_string_equal(m->media_type, MT_OCI_MANIFEST);
        assert_string_equal(m->config.digest, D1);
        assert_int_equal(m->config.size, 123);
        assert_int_equal(m->n_layers, 2);
        assert_string_equal(m->layers[1].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
        assert_int_equal(m->layers[0].size, 4567);
        manifest_free(m);
}

static void test_docker_manifest(void **state)
{
        struct manifest *m = NULL;

        assert_int_equal(manifest_parse(docker_manifest, strlen(docker_manifest), MT_DOCKER_MANIFEST, &m, NULL), 0);
        assert_int_equal(m->kind, MANIFEST_IMAGE);
        assert_string_equal(m->media_type, MT_DOCKER_MANIFEST);
        assert_string_equal(m->layers[0].digest, D2);
        manifest_free(m);
}

static void test_media_type_from_content_type(void **state)
{
        const char doc[] = "{\"schemaVersion\":2,\"manifests\":[]}";
        struct manifest *m = NULL;

        assert_int_equal(manifest_parse(doc, strlen(doc), MT_DOCKER_LIST, &m, NULL), 0);
        assert_int_equal(m->kind, MANIFEST_INDEX);
        assert_string_equal(m->media_type, MT_DOCKER_LIST);
        manifest_free(m);
        assert_int_equal(manifest_parse(doc, strlen(doc), "application/json", &m, NULL), 0);
        assert_string_equal(m->media_type, MT_OCI_INDEX);
        manifest_free(m);
}

static void expect_bad(const char *doc, const char *ct, const char *msg)
{
        struct manifest *m = NULL;
        struct pxe *e = NULL;

        assert_int_equal(manifest_parse(doc, strlen(doc), ct, &m, &e), -EBADMSG);
        assert_null(m);
        assert_contains(e->msg, msg);
        pxe_free(e);
}

static void test_invalid(void **state)
{
        expect_bad("not json", NULL, "not JSON");
        expect_bad("[]", NULL, "not a JSON object");
        expect_bad("{\"schemaVersion\":1,\"fsLayers\":[]}", NULL, "schema 1");
        expect_bad("{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}", NULL, "Unsupported manifest media type");
        expect_bad("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"layers\":[]}", NULL, "config");
        expect_bad("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}",
                   NULL, "size");
        expect_bad("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:12\",\"size\":1},\"layers\":[]}",
                   NULL, "invalid digest");
        expect_bad("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":{}}",
                   NULL, "layers");
        expect_bad("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1
                   "\",\"size\":1},\"layers\":[]}",
                   MT_OCI_INDEX, "contradicts");
        expect_bad("{\"schemaVersion\":2,\"schemaVersion\":2}", NULL, "not JSON");
}

static void select_ok(const struct manifest *m, const char *pf, const char *digest)
{
        struct image_platform p;
        const struct descriptor *d;

        assert_int_equal(platform_parse(pf, &p, NULL), 0);
        d = manifest_select_platform(m, &p);
        if (!digest)
                assert_null(d);
        else {
                assert_non_null(d);
                assert_string_equal(d->digest, digest);
        }
        platform_done(&p);
}

static void test_index_platform(void **state)
{
        struct manifest *m = NULL;

        assert_int_equal(manifest_parse(index_doc, strlen(index_doc), NULL, &m, NULL), 0);
        assert_int_equal(m->kind, MANIFEST_INDEX);
        assert_int_equal(m->n_manifests, 4);
        select_ok(m, "linux/amd64", D2);
        select_ok(m, "linux/x86_64", D2);
        select_ok(m, "linux/arm64", D3);
        select_ok(m, "linux/aarch64/v8", D3);
        select_ok(m, "linux/arm/v7", D1); /* v6 runs on v7 */
        select_ok(m, "linux/arm/v5", NULL);
        select_ok(m, "linux/amd64/v3", D2); /* amd64 without variant is v1 */
        select_ok(m, "linux/s390x", NULL);
        select_ok(m, "windows/amd64", NULL);
        select_ok(m, "unknown/unknown", NULL); /* attestations are not images */
        manifest_free(m);
}

static void test_platform_parse(void **state)
{
        struct image_platform p;
        struct pxe *e = NULL;
        char *s;

        assert_int_equal(platform_parse("linux/arm64", &p, NULL), 0);
        s = platform_to_string(&p);
        assert_string_equal(s, "linux/arm64/v8");
        free(s);
        platform_done(&p);
        assert_int_equal(platform_parse("linux", &p, &e), -EINVAL);
        assert_contains(e->msg, "os/arch");
        pxe_free(e);
        assert_int_equal(platform_parse("linux/amd64/v2/x", &p, NULL), -EINVAL);
        assert_int_equal(platform_parse("Linux/amd64", &p, NULL), -EINVAL);
        assert_int_equal(platform_parse("linux//", &p, NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_oci_manifest),
                cmocka_unit_test(test_docker_manifest),
                cmocka_unit_test(test_media_type_from_content_type),
                cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_index_platform),
                cmocka_unit_test(test_platform_parse),
        };

        return unit_run(tests);
}
