/* The v1 manifest: a pinned known answer (dataset id), round trips, and the strict decoder
 * against malformed payloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/bytes.h"
#include "common/encoding.h"
#include "common/err.h"
#include "format/manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct fmt_dek *fixed_dek(uint8_t fill_from)
{
    uint8_t raw[32];
    struct fmt_dek *dek;
    for (int i = 0; i < 32; i++)
        raw[i] = (uint8_t)(fill_from + i);
    assert_int_equal(fmt_dek_from_bytes(raw, sizeof raw, &dek), 0);
    return dek;
}

/* The example of docs/FORMAT.md: folder "d" and file "d/f.bin" (the blob known answer). */
static void example_manifest(struct fmt_manifest *m)
{
    struct fmt_manifest_entry d = {0}, f = {0};
    uint8_t plain[5000];

    memset(m, 0, sizeof *m);
    d.path = "d";
    d.type = FMT_ENTRY_DIR;
    d.mode = 0755;
    d.mtime_sec = 1700000000;
    f.path = "d/f.bin";
    f.type = FMT_ENTRY_FILE;
    f.mode = 0644;
    f.size = 5000;
    f.mtime_sec = 1700000000;
    f.mtime_nsec = 5;
    f.log2_block = 12;
    memcpy(f.blob, "0123456789abcdef0123456789abcdef", 33);
    for (int i = 0; i < 32; i++)
        f.salt[i] = (uint8_t)(0xa0 + i);
    assert_int_equal(ccr_hex_decode("b701af40b1cb9936ac339b70239829bc", f.header_tag, 16), 0);
    for (size_t i = 0; i < sizeof plain; i++)
        plain[i] = (uint8_t)(i * 7 % 251);
    fmt_sha256(plain, sizeof plain, f.sha256);
    /* Added out of order on purpose: sorting is part of building. */
    assert_int_equal(fmt_manifest_add(m, &f), 0);
    assert_int_equal(fmt_manifest_add(m, &d), 0);
    fmt_manifest_sort(m);
}

static void test_manifest_known_answer(void **state)
{
    struct fmt_manifest m, back;
    struct fmt_dek *dek = fixed_dek(0);
    uint8_t salt[32], *payload, *obj, digest[32];
    size_t plen, olen;
    char id[FMT_DATASET_ID_LEN + 1], hex[65];
    (void)state;

    example_manifest(&m);
    for (int i = 0; i < 32; i++)
        salt[i] = (uint8_t)(0x40 + i);
    assert_int_equal(fmt_manifest_encode(&m, &payload, &plen), 0);
    fmt_sha256(payload, plen, digest);
    ccr_hex_encode(digest, 32, hex);
    assert_string_equal(hex, "6d3fd3bed0d99c9974da2583414a4b2655cfce22431fcc46ccb175515a28e889");
    assert_int_equal(fmt_manifest_seal(dek, &m, salt, &obj, &olen), 0);
    assert_int_equal(olen, 56 + plen + 16);
    fmt_dataset_id(obj, olen, id);
    assert_string_equal(id, "sha256:84ac38c66c32b2e98d1253c10d550dd27f184725a139ec57c6659cd767632b62");

    assert_int_equal(fmt_manifest_open(dek, obj, olen, &back), 0);
    assert_int_equal(back.count, 2);
    assert_string_equal(back.entries[0].path, "d");
    assert_string_equal(back.entries[1].path, "d/f.bin");
    assert_int_equal(back.entries[1].size, 5000);
    assert_int_equal(back.entries[1].mtime_nsec, 5);
    assert_memory_equal(back.entries[1].sha256, m.entries[1].sha256, 32);
    assert_non_null(fmt_manifest_find(&back, "d/f.bin"));
    assert_null(fmt_manifest_find(&back, "d/g"));
    fmt_manifest_free(&back);
    free(payload);
    free(obj);
    fmt_manifest_free(&m);
    fmt_dek_free(dek);
}

static void test_manifest_wrong_key_and_edits(void **state)
{
    struct fmt_manifest m, back;
    struct fmt_dek *dek = fixed_dek(0), *wrong = fixed_dek(1);
    uint8_t *obj;
    size_t olen;
    (void)state;

    example_manifest(&m);
    assert_int_equal(fmt_manifest_seal(dek, &m, NULL, &obj, &olen), 0);
    assert_int_equal(fmt_manifest_open(wrong, obj, olen, &back), EBADMSG);
    /* Every single-byte edit of the object is refused. */
    for (size_t i = 0; i < olen; i++) {
        obj[i] ^= 0x01;
        assert_int_not_equal(fmt_manifest_open(dek, obj, olen, &back), 0);
        obj[i] ^= 0x01;
    }
    /* Truncated and extended objects. */
    assert_int_not_equal(fmt_manifest_open(dek, obj, olen - 1, &back), 0);
    assert_int_not_equal(fmt_manifest_open(dek, obj, 10, &back), 0);
    assert_int_equal(fmt_manifest_open(dek, obj, olen, &back), 0);
    fmt_manifest_free(&back);
    free(obj);
    fmt_manifest_free(&m);
    fmt_dek_free(dek);
    fmt_dek_free(wrong);
}

static int decode_fails_with(uint8_t *buf, size_t len, const char *needle)
{
    struct fmt_manifest m;
    int rc = fmt_manifest_decode(buf, len, &m);
    if (rc == 0) {
        fmt_manifest_free(&m);
        return 0;
    }
    if (needle != NULL && strstr(ccr_err_msg(rc), needle) == NULL) {
        print_error("message '%s' lacks '%s'\n", ccr_err_msg(rc), needle);
        return 0;
    }
    return 1;
}

static void test_manifest_decode_malformed(void **state)
{
    struct fmt_manifest m;
    uint8_t *payload, *copy;
    size_t plen;
    (void)state;

    example_manifest(&m);
    assert_int_equal(fmt_manifest_encode(&m, &payload, &plen), 0);
    copy = malloc(plen + 8);

    /* Every truncation. */
    for (size_t cut = 0; cut < plen; cut++)
        assert_true(decode_fails_with(payload, cut, NULL));
    /* Trailing bytes. */
    memcpy(copy, payload, plen);
    copy[plen] = 0;
    assert_true(decode_fails_with(copy, plen + 1, "unexpected bytes"));
    /* An entry count larger than the bytes can hold. */
    memcpy(copy, payload, plen);
    ccr_put_le32(copy, 1000000);
    assert_true(decode_fails_with(copy, plen, "claims"));
    /* Unknown type (entry 0's type byte follows its 1-byte path). */
    memcpy(copy, payload, plen);
    copy[4 + 2 + 1] = 7;
    assert_true(decode_fails_with(copy, plen, "unknown type"));
    /* Mode bits beyond 07777. */
    memcpy(copy, payload, plen);
    ccr_put_le32(copy + 4 + 2 + 1 + 1, 0100755);
    assert_true(decode_fails_with(copy, plen, "mode"));
    /* A folder with a size. */
    memcpy(copy, payload, plen);
    copy[4 + 2 + 1 + 1 + 4] = 1;
    assert_true(decode_fails_with(copy, plen, "folder with a size"));
    /* Path rules: "d" renamed to "." and to "/". */
    memcpy(copy, payload, plen);
    copy[6] = '.';
    assert_true(decode_fails_with(copy, plen, "'.'"));
    memcpy(copy, payload, plen);
    copy[6] = '/';
    assert_true(decode_fails_with(copy, plen, NULL));
    /* Out of order: "d" renamed to "e" comes after "d/f.bin" is checked... "e" > "d/f.bin". */
    memcpy(copy, payload, plen);
    copy[6] = 'e';
    assert_true(decode_fails_with(copy, plen, NULL));
    /* The parent of d/f.bin missing: "d" renamed to "c". */
    memcpy(copy, payload, plen);
    copy[6] = 'c';
    assert_true(decode_fails_with(copy, plen, "parent"));
    /* Blob name with a character outside hex. */
    {
        size_t off = 4 + 2 + 1 + 25 + 2 + 7 + 25 + 2; /* first byte of the blob name */
        memcpy(copy, payload, plen);
        copy[off] = 'Z';
        assert_true(decode_fails_with(copy, plen, "blob name"));
        memcpy(copy, payload, plen);
        copy[off - 2] = 11; /* block size 2^11 */
        assert_true(decode_fails_with(copy, plen, "block size"));
    }
    free(copy);
    free(payload);
    fmt_manifest_free(&m);
}

static void test_manifest_build_rules(void **state)
{
    struct fmt_manifest m = {0};
    struct fmt_manifest_entry e = {0};
    uint8_t *payload;
    size_t plen;
    (void)state;

    e.path = "a/b";
    e.type = FMT_ENTRY_DIR;
    assert_int_equal(fmt_manifest_add(&m, &e), 0);
    /* Its parent "a" is missing. */
    assert_int_equal(fmt_manifest_encode(&m, &payload, &plen), EINVAL);
    e.path = "a";
    assert_int_equal(fmt_manifest_add(&m, &e), 0);
    fmt_manifest_sort(&m);
    assert_int_equal(fmt_manifest_encode(&m, &payload, &plen), 0);
    free(payload);
    /* Duplicates. */
    assert_int_equal(fmt_manifest_add(&m, &e), 0);
    fmt_manifest_sort(&m);
    assert_int_equal(fmt_manifest_encode(&m, &payload, &plen), EINVAL);
    fmt_manifest_free(&m);

    assert_non_null(fmt_manifest_path_problem("", 0));
    assert_non_null(fmt_manifest_path_problem("a//b", 4));
    assert_non_null(fmt_manifest_path_problem("a/../b", 6));
    assert_non_null(fmt_manifest_path_problem("a/", 2));
    assert_null(fmt_manifest_path_problem("with space/ünï.bin", strlen("with space/ünï.bin")));
}

static void test_dataset_id_parse(void **state)
{
    char out[FMT_DATASET_ID_LEN + 1];
    (void)state;
    assert_int_equal(
        fmt_dataset_id_parse("sha256:84AC38C66C32B2E98D1253C10D550DD27F184725A139EC57C6659CD767632B62", out),
        0);
    assert_string_equal(out, "sha256:84ac38c66c32b2e98d1253c10d550dd27f184725a139ec57c6659cd767632b62");
    assert_int_equal(fmt_dataset_id_parse("sha256:84ac", out), EINVAL);
    assert_int_equal(
        fmt_dataset_id_parse("md5:84ac38c66c32b2e98d1253c10d550dd27f184725a139ec57c6659cd767632b62", out),
        EINVAL);
    assert_int_equal(
        fmt_dataset_id_parse("sha256:g4ac38c66c32b2e98d1253c10d550dd27f184725a139ec57c6659cd767632b62", out),
        EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_known_answer),     cmocka_unit_test(test_manifest_wrong_key_and_edits),
        cmocka_unit_test(test_manifest_decode_malformed), cmocka_unit_test(test_manifest_build_rules),
        cmocka_unit_test(test_dataset_id_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
