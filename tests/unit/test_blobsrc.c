/* A blob produced range by range for an upload equals the blob the streaming encryptor
 * writes, whatever the ranges, and decrypts back to the plaintext. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "format/blobsrc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct mem {
    const uint8_t *p;
    size_t len;
};

static int mem_read(void *arg, void *buf, size_t len, uint64_t off)
{
    struct mem *m = arg;
    assert_true(off + len <= m->len);
    memcpy(buf, m->p + off, len);
    return 0;
}

static void check_size(size_t plain_len, unsigned log2)
{
    uint8_t raw[32], *plain = malloc(plain_len + 1), *want, *got, sha[32], sha2[32];
    struct fmt_dek *dek;
    struct fmt_blob_key *k;
    struct fmt_blobsrc bs;
    struct mem m = {plain, plain_len};
    int pipe_in[2];
    char tmpl[] = "/tmp/ccrfs-blobsrc-XXXXXX";
    int out_fd = mkstemp(tmpl);
    size_t total;

    unlink(tmpl);
    memset(raw, 7, sizeof raw);
    for (size_t i = 0; i < plain_len; i++)
        plain[i] = (uint8_t)(i * 13 + 1);
    assert_int_equal(fmt_dek_from_bytes(raw, sizeof raw, &dek), 0);
    assert_int_equal(fmt_blob_key_create(dek, log2, plain_len, NULL, &k), 0);
    /* The reference: the streaming encryptor's output. */
    assert_int_equal(pipe(pipe_in), 0);
    pid_t child = fork();
    if (child == 0) {
        close(pipe_in[0]);
        if (write(pipe_in[1], plain, plain_len) != (ssize_t)plain_len)
            _exit(1);
        _exit(0);
    }
    close(pipe_in[1]);
    assert_int_equal(fmt_blob_encrypt_fd(k, pipe_in[0], out_fd, sha, NULL, NULL), 0);
    close(pipe_in[0]);
    assert_int_equal(waitpid(child, NULL, 0), child);
    total = (size_t)fmt_blob_object_size(&k->header);
    want = malloc(total);
    got = malloc(total);
    assert_int_equal(pread(out_fd, want, total, 0), (ssize_t)total);
    close(out_fd);

    fmt_blobsrc_init(&bs, k, mem_read, &m);
    assert_int_equal(bs.src.len, total);
    /* All at once, then in odd-sized pieces. */
    assert_int_equal(bs.src.read(&bs.src, 0, got, total), 0);
    assert_memory_equal(got, want, total);
    memset(got, 0, total);
    for (size_t off = 0; off < total;) {
        size_t n = 1 + (off * 7919) % 5003;
        if (n > total - off)
            n = total - off;
        assert_int_equal(bs.src.read(&bs.src, off, got + off, n), 0);
        off += n;
    }
    assert_memory_equal(got, want, total);
    assert_int_equal(bs.src.read(&bs.src, total, got, 1), EINVAL);
    assert_int_equal(fmt_plain_sha256(mem_read, &m, plain_len, sha2), 0);
    assert_memory_equal(sha, sha2, 32);
    fmt_blob_key_free(k);
    fmt_dek_free(dek);
    free(plain);
    free(want);
    free(got);
}

static void test_sizes(void **state)
{
    (void)state;
    check_size(0, 12);
    check_size(1, 12);
    check_size(4095, 12);
    check_size(4096, 12);
    check_size(4097, 12);
    check_size(3 * 65536 + 11, 16);
    check_size(3 << 20, 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sizes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
