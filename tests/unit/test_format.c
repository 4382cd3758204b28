/* The v1 blob format: primitives against published vectors, pinned known-answer bytes, and
 * every way a block can be tampered with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/encoding.h"
#include "format/blob.h"
#include "format/crypto.h"
#include "format/dek.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void assert_hex(const uint8_t *bytes, size_t len, const char *expected)
{
    char *got = malloc(2 * len + 1);
    ccr_hex_encode(bytes, len, got);
    assert_string_equal(got, expected);
    free(got);
}

/* RFC 5869, test case 1. */
static void test_hkdf_rfc5869(void **state)
{
    uint8_t ikm[22], salt[13], okm[42];
    const char info[] = "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9";
    (void)state;
    memset(ikm, 0x0b, sizeof ikm);
    for (int i = 0; i < 13; i++)
        salt[i] = (uint8_t)i;
    assert_int_equal(fmt_hkdf_sha256(ikm, sizeof ikm, salt, sizeof salt, info, okm, sizeof okm), 0);
    assert_hex(okm, sizeof okm,
               "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

/* The GCM specification's test cases 13 and 14 (AES-256, zero key and nonce). */
static void test_gcm_spec_vectors(void **state)
{
    uint8_t key[32] = {0}, nonce[12] = {0}, tag[16], pt[16] = {0}, ct[16], back[16];
    (void)state;
    assert_int_equal(fmt_gcm_seal(key, nonce, NULL, 0, NULL, 0, NULL, tag), 0);
    assert_hex(tag, 16, "530f8afbc74536b9a963b4f1c4cb738b");
    assert_int_equal(fmt_gcm_seal(key, nonce, NULL, 0, pt, 16, ct, tag), 0);
    assert_hex(ct, 16, "cea7403d4d606b6e074ec5d3baf39d18");
    assert_hex(tag, 16, "d0d1c8a799996bf0265b98b5d48ab919");
    assert_int_equal(fmt_gcm_open(key, nonce, NULL, 0, ct, 16, tag, back), 0);
    assert_memory_equal(back, pt, 16);
    tag[0] ^= 1;
    memset(back, 0xaa, sizeof back);
    assert_int_equal(fmt_gcm_open(key, nonce, NULL, 0, ct, 16, tag, back), EBADMSG);
    /* Nothing that failed authentication is left in the output. */
    for (int i = 0; i < 16; i++)
        assert_int_equal(back[i], 0);
}

/* A fixed DEK, salt and plaintext; the expected values pin the format (docs/FORMAT.md). */
#define KAT_LEN 5000
static struct fmt_dek *kat_dek(void)
{
    uint8_t raw[32];
    struct fmt_dek *dek;
    for (int i = 0; i < 32; i++)
        raw[i] = (uint8_t)i;
    assert_int_equal(fmt_dek_from_bytes(raw, sizeof raw, &dek), 0);
    return dek;
}

static void kat_salt(uint8_t salt[32])
{
    for (int i = 0; i < 32; i++)
        salt[i] = (uint8_t)(0xa0 + i);
}

static void kat_plain(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(i * 7 % 251);
}

/* Builds the KAT blob in memory: header then each block with its tag. */
static uint8_t *kat_blob(struct fmt_blob_key **key_out, size_t *len_out)
{
    struct fmt_dek *dek = kat_dek();
    uint8_t salt[32], plain[KAT_LEN];
    struct fmt_blob_key *k;
    uint8_t *blob;
    size_t o;

    kat_salt(salt);
    kat_plain(plain, sizeof plain);
    assert_int_equal(fmt_blob_key_create(dek, 12, KAT_LEN, salt, &k), 0);
    blob = malloc(fmt_blob_object_size(&k->header));
    memcpy(blob, k->header.raw, FMT_BLOB_HEADER_LEN);
    o = FMT_BLOB_HEADER_LEN;
    for (uint64_t i = 0; i < fmt_blob_block_count(&k->header); i++) {
        size_t n = fmt_blob_block_plain_len(&k->header, i);
        assert_int_equal(fmt_blob_encrypt_block(k, i, plain + i * 4096, n, blob + o), 0);
        o += n + FMT_TAG_LEN;
    }
    assert_int_equal(o, fmt_blob_object_size(&k->header));
    fmt_dek_free(dek);
    *key_out = k;
    *len_out = o;
    return blob;
}

static void test_blob_known_answer(void **state)
{
    struct fmt_blob_key *k;
    uint8_t digest[32];
    size_t len;
    uint8_t *blob = kat_blob(&k, &len);
    (void)state;

    assert_int_equal(len, 72 + 5000 + 2 * 16);
    assert_hex(blob, 24, "4343524653424c420100010c000000008813000000000000");
    assert_hex(k->header.tag, 16, "b701af40b1cb9936ac339b70239829bc");
    fmt_sha256(blob, len, digest);
    assert_hex(digest, 32, "6fc8dc1131b2fd7a9a2a18db391e14803854f9fb6602e63ec04633aa3a2718a8");
    fmt_blob_key_free(k);
    free(blob);
}

static void test_blob_roundtrip_and_layout(void **state)
{
    struct fmt_blob_key *k, *opened;
    struct fmt_blob_header h;
    struct fmt_dek *dek = kat_dek();
    uint8_t plain[KAT_LEN], out[4096];
    size_t len;
    uint8_t *blob = kat_blob(&k, &len);
    (void)state;

    kat_plain(plain, sizeof plain);
    assert_int_equal(fmt_blob_header_parse(blob, len, &h), 0);
    assert_int_equal(h.plain_len, KAT_LEN);
    assert_int_equal(fmt_blob_block_count(&h), 2);
    assert_int_equal(fmt_blob_block_offset(&h, 1), 72 + 4096 + 16);
    assert_int_equal(fmt_blob_block_plain_len(&h, 1), 904);
    assert_int_equal(fmt_blob_key_open(dek, &h, &opened), 0);
    assert_int_equal(fmt_blob_decrypt_block(opened, 0, blob + 72, 4096 + 16, out), 0);
    assert_memory_equal(out, plain, 4096);
    assert_int_equal(fmt_blob_decrypt_block(opened, 1, blob + 72 + 4112, 904 + 16, out), 0);
    assert_memory_equal(out, plain + 4096, 904);
    fmt_blob_key_free(opened);
    fmt_blob_key_free(k);
    fmt_dek_free(dek);
    free(blob);
}

static void test_blob_tamper(void **state)
{
    struct fmt_blob_key *k, *opened, *other;
    struct fmt_blob_header h;
    struct fmt_dek *dek = kat_dek();
    uint8_t out[4096], salt2[32] = {1};
    size_t len;
    uint8_t *blob = kat_blob(&k, &len);
    uint8_t *b1 = blob + 72 + 4112;
    (void)state;

    assert_int_equal(fmt_blob_header_parse(blob, len, &h), 0);
    assert_int_equal(fmt_blob_key_open(dek, &h, &opened), 0);

    /* A flipped bit in the ciphertext and in the tag. */
    blob[72 + 100] ^= 0x10;
    memset(out, 0x55, sizeof out);
    assert_int_equal(fmt_blob_decrypt_block(opened, 0, blob + 72, 4112, out), EBADMSG);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(out[i], 0);
    blob[72 + 100] ^= 0x10;
    blob[72 + 4096 + 3] ^= 1;
    assert_int_equal(fmt_blob_decrypt_block(opened, 0, blob + 72, 4112, out), EBADMSG);
    blob[72 + 4096 + 3] ^= 1;

    /* Block 1 presented as block 0 (reordering), and the last block not flagged as last. */
    assert_int_equal(fmt_blob_decrypt_block(opened, 0, b1, 904 + 16, out), EBADMSG);
    /* A zeroed block. */
    {
        uint8_t zero[4112] = {0};
        assert_int_equal(fmt_blob_decrypt_block(opened, 0, zero, sizeof zero, out), EBADMSG);
    }
    /* A truncated block. */
    assert_int_equal(fmt_blob_decrypt_block(opened, 1, b1, 903 + 16, out), EBADMSG);

    /* The same block under another file's key (block taken from another file). */
    assert_int_equal(fmt_blob_key_create(dek, 12, KAT_LEN, salt2, &other), 0);
    assert_int_equal(fmt_blob_decrypt_block(other, 0, blob + 72, 4112, out), EBADMSG);
    fmt_blob_key_free(other);

    /* A header whose length was edited (truncation hidden by editing the header) does not authenticate. */
    blob[16] = 0x00;
    blob[17] = 0x10; /* 4096 */
    assert_int_equal(fmt_blob_header_parse(blob, len, &h), 0);
    assert_int_equal(fmt_blob_key_open(dek, &h, &other), EBADMSG);

    fmt_blob_key_free(opened);
    fmt_blob_key_free(k);
    fmt_dek_free(dek);
    free(blob);
}

static void test_blob_wrong_key(void **state)
{
    struct fmt_blob_key *k, *opened;
    struct fmt_blob_header h;
    struct fmt_dek *wrong;
    uint8_t raw[32];
    size_t len;
    uint8_t *blob = kat_blob(&k, &len);
    (void)state;

    memset(raw, 0x42, sizeof raw);
    assert_int_equal(fmt_dek_from_bytes(raw, sizeof raw, &wrong), 0);
    assert_int_equal(fmt_blob_header_parse(blob, len, &h), 0);
    assert_int_equal(fmt_blob_key_open(wrong, &h, &opened), EBADMSG);
    fmt_dek_free(wrong);
    fmt_blob_key_free(k);
    free(blob);
}

static void test_blob_header_malformed(void **state)
{
    struct fmt_blob_key *k;
    struct fmt_blob_header h;
    size_t len;
    uint8_t *blob = kat_blob(&k, &len);
    uint8_t hdr[72];
    (void)state;

    memcpy(hdr, blob, 72);
    assert_int_equal(fmt_blob_header_parse(hdr, 71, &h), EINVAL);
    hdr[0] = 'X';
    assert_int_equal(fmt_blob_header_parse(hdr, 72, &h), EINVAL);
    memcpy(hdr, blob, 72);
    hdr[8] = 2; /* version */
    assert_int_equal(fmt_blob_header_parse(hdr, 72, &h), EINVAL);
    memcpy(hdr, blob, 72);
    hdr[10] = 9; /* algorithm */
    assert_int_equal(fmt_blob_header_parse(hdr, 72, &h), EINVAL);
    memcpy(hdr, blob, 72);
    hdr[11] = 11; /* 2 KiB blocks */
    assert_int_equal(fmt_blob_header_parse(hdr, 72, &h), EINVAL);
    hdr[11] = 21;
    assert_int_equal(fmt_blob_header_parse(hdr, 72, &h), EINVAL);
    memcpy(hdr, blob, 72);
    hdr[13] = 1; /* reserved */
    assert_int_equal(fmt_blob_header_parse(hdr, 72, &h), EINVAL);
    memcpy(hdr, blob, 72);
    hdr[23] = 0xff; /* absurd length */
    assert_int_equal(fmt_blob_header_parse(hdr, 72, &h), EINVAL);
    fmt_blob_key_free(k);
    free(blob);
}

/* Sizes around the block boundary: 0, 1, B-1, B, B+1 bytes, through the streaming encryptor. */
static void test_blob_stream_sizes(void **state)
{
    static const size_t sizes[] = {0, 1, 4095, 4096, 4097, 3 * 4096 + 5};
    struct fmt_dek *dek = kat_dek();
    (void)state;

    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int in_pipe[2], out_fd;
        char tmpl[] = "/tmp/ccrfs-test-blob-XXXXXX";
        uint8_t *plain = malloc(sizes[s] + 1), sha[32], sha_expect[32], hdr[72];
        struct fmt_blob_key *k, *opened;
        struct fmt_blob_header h;

        kat_plain(plain, sizes[s]);
        fmt_sha256(plain, sizes[s], sha_expect);
        out_fd = mkstemp(tmpl);
        assert_true(out_fd >= 0);
        unlink(tmpl);
        assert_int_equal(pipe(in_pipe), 0);
        assert_int_equal(write(in_pipe[1], plain, sizes[s]), (ssize_t)sizes[s]);
        close(in_pipe[1]);
        assert_int_equal(fmt_blob_key_create(dek, 12, sizes[s], NULL, &k), 0);
        assert_int_equal(fmt_blob_encrypt_fd(k, in_pipe[0], out_fd, sha, NULL, NULL), 0);
        close(in_pipe[0]);
        assert_memory_equal(sha, sha_expect, 32);
        assert_int_equal(lseek(out_fd, 0, SEEK_END), (off_t)fmt_blob_object_size(&k->header));
        assert_int_equal(pread(out_fd, hdr, 72, 0), 72);
        assert_int_equal(fmt_blob_header_parse(hdr, 72, &h), 0);
        assert_int_equal(fmt_blob_key_open(dek, &h, &opened), 0);
        for (uint64_t i = 0; i < fmt_blob_block_count(&h); i++) {
            size_t n = fmt_blob_block_plain_len(&h, i);
            uint8_t enc[4096 + 16], dec[4096];
            assert_int_equal(pread(out_fd, enc, n + 16, (off_t)fmt_blob_block_offset(&h, i)),
                             (ssize_t)(n + 16));
            assert_int_equal(fmt_blob_decrypt_block(opened, i, enc, n + 16, dec), 0);
            assert_memory_equal(dec, plain + i * 4096, n);
        }
        fmt_blob_key_free(opened);
        fmt_blob_key_free(k);
        close(out_fd);
        free(plain);
    }
    fmt_dek_free(dek);
}

/* The input must have exactly the length the header promised. */
static void test_blob_stream_length_mismatch(void **state)
{
    struct fmt_dek *dek = kat_dek();
    struct fmt_blob_key *k;
    int in_pipe[2], out_pipe[2];
    uint8_t data[100] = {0}, sha[32];
    (void)state;

    assert_int_equal(pipe(in_pipe), 0);
    assert_int_equal(pipe(out_pipe), 0);
    assert_int_equal(write(in_pipe[1], data, 100), 100);
    close(in_pipe[1]);
    assert_int_equal(fmt_blob_key_create(dek, 12, 50, NULL, &k), 0);
    assert_int_equal(fmt_blob_encrypt_fd(k, in_pipe[0], out_pipe[1], sha, NULL, NULL), EIO);
    fmt_blob_key_free(k);
    close(in_pipe[0]);
    close(out_pipe[0]);
    close(out_pipe[1]);
    assert_int_equal(pipe(in_pipe), 0);
    assert_int_equal(pipe(out_pipe), 0);
    assert_int_equal(write(in_pipe[1], data, 10), 10);
    close(in_pipe[1]);
    assert_int_equal(fmt_blob_key_create(dek, 12, 50, NULL, &k), 0);
    assert_int_equal(fmt_blob_encrypt_fd(k, in_pipe[0], out_pipe[1], sha, NULL, NULL), EIO);
    fmt_blob_key_free(k);
    close(in_pipe[0]);
    close(out_pipe[0]);
    close(out_pipe[1]);
    fmt_dek_free(dek);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hkdf_rfc5869),
        cmocka_unit_test(test_gcm_spec_vectors),
        cmocka_unit_test(test_blob_known_answer),
        cmocka_unit_test(test_blob_roundtrip_and_layout),
        cmocka_unit_test(test_blob_tamper),
        cmocka_unit_test(test_blob_wrong_key),
        cmocka_unit_test(test_blob_header_malformed),
        cmocka_unit_test(test_blob_stream_sizes),
        cmocka_unit_test(test_blob_stream_length_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
