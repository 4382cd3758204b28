/* A sink mount through the library, with access hooks: files written are sealed for the
 * recipient and uploaded at their last close, after on_upload saw the path, size, plaintext
 * SHA-256 and object prefix; an on_upload refusal uploads nothing and the file stays; the
 * recipient's private key (the --unwrap-key source) opens the output and another key is
 * refused. Skipped when FUSE cannot be used (not root, no /dev/fuse). */
#include "common/err.h"
#include "fetch/store.h"
#include "fs/mount.h"
#include "format/crypto.h"
#include "format/dataset.h"
#include "keys/release.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define OUT_LEN 150000

struct upload_log {
    pthread_mutex_t lock;
    int uploads, refusals, opens;
    char path[256], object[256];
    uint64_t size;
    uint8_t sha[32];
    int open_flags;
};

static int hk_open(void *arg, const struct fs_open_info *info, uint64_t *handle)
{
    struct upload_log *h = arg;
    pthread_mutex_lock(&h->lock);
    h->opens++;
    h->open_flags = info->flags;
    pthread_mutex_unlock(&h->lock);
    *handle = 7;
    return 0;
}

static int hk_upload(void *arg, const char *path, uint64_t size, const uint8_t sha256[32], const char *object)
{
    struct upload_log *h = arg;
    int refuse = strstr(path, "secret") != NULL;
    pthread_mutex_lock(&h->lock);
    if (refuse) {
        h->refusals++;
    } else {
        h->uploads++;
        snprintf(h->path, sizeof h->path, "%s", path);
        snprintf(h->object, sizeof h->object, "%s", object);
        h->size = size;
        memcpy(h->sha, sha256, 32);
    }
    pthread_mutex_unlock(&h->lock);
    return refuse ? EACCES : 0;
}

struct fixture {
    char dir[64], store_dir[96], mnt[96], pub[96], priv[96], other[96];
    uint8_t plain[OUT_LEN];
    struct upload_log log;
    struct fs_access_hooks hooks;
    struct fs_options opts;
    struct fetch_store *store;
    struct fs_mount *m;
    pthread_t loop;
};

static void *loop_thread(void *arg)
{
    struct fixture *f = arg;
    (void)fs_mount_run(f->m, NULL, NULL);
    return NULL;
}

static void write_rsa(const char *priv_path, const char *pub_path)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    FILE *p;
    assert_non_null(k);
    p = fopen(priv_path, "w");
    assert_non_null(p);
    assert_int_equal(PEM_write_PrivateKey(p, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(p);
    if (pub_path != NULL) {
        p = fopen(pub_path, "w");
        assert_non_null(p);
        assert_int_equal(PEM_write_PUBKEY(p, k), 1);
        fclose(p);
    }
    EVP_PKEY_free(k);
}

static int setup(void **state)
{
    struct fixture *f;
    char ovl[128];
    struct stat st;

    if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0)
        return 0; /* the tests skip */
    f = calloc(1, sizeof *f);
    pthread_mutex_init(&f->log.lock, NULL);
    snprintf(f->dir, sizeof f->dir, "/tmp/ccrfs-test-sink-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->store_dir, sizeof f->store_dir, "%s/store", f->dir);
    snprintf(f->mnt, sizeof f->mnt, "%s/mnt", f->dir);
    snprintf(f->pub, sizeof f->pub, "%s/pub.pem", f->dir);
    snprintf(f->priv, sizeof f->priv, "%s/priv.pem", f->dir);
    snprintf(f->other, sizeof f->other, "%s/other.pem", f->dir);
    snprintf(ovl, sizeof ovl, "%s/ovl", f->dir);
    assert_int_equal(mkdir(f->store_dir, 0755), 0);
    assert_int_equal(mkdir(f->mnt, 0755), 0);
    assert_int_equal(mkdir(ovl, 0700), 0);
    write_rsa(f->priv, f->pub);
    write_rsa(f->other, NULL);
    for (size_t i = 0; i < OUT_LEN; i++)
        f->plain[i] = (uint8_t)(i * 13 + i / 1000);
    assert_int_equal(fetch_file_create(f->store_dir, &f->store), 0);
    f->hooks = (struct fs_access_hooks){.arg = &f->log, .on_open = hk_open, .on_upload = hk_upload};
    fs_options_init(&f->opts);
    assert_int_equal(fs_options_parse(&f->opts, "mode=sink,readahead_kb=0,cache_size=1M"), 0);
    f->opts.recipient = strdup(f->pub);
    f->opts.overlay_dir = strdup(ovl);
    struct fs_mount_config conf = {NULL, NULL, &f->hooks, &f->opts, 0, "test-sink", f->store, 0};
    assert_int_equal(fs_mount_create(&conf, &f->m), 0);
    assert_int_equal(fs_mount_start(f->m, f->mnt), 0);
    assert_int_equal(pthread_create(&f->loop, NULL, loop_thread, f), 0);
    for (int i = 0; i < 100 && stat(f->mnt, &st) == 0 && st.st_ino != 1; i++)
        usleep(20000);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[256];
    if (f == NULL)
        return 0;
    (void)umount2(f->mnt, MNT_DETACH);
    pthread_join(f->loop, NULL);
    fs_mount_destroy(f->m);
    fetch_store_destroy(f->store);
    fs_options_free(&f->opts);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    pthread_mutex_destroy(&f->log.lock);
    free(f);
    return 0;
}

static void write_out(struct fixture *f, const char *name, const uint8_t *data, size_t len)
{
    char path[200];
    int fd;
    snprintf(path, sizeof path, "%s/%s", f->mnt, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    assert_true(fd >= 0);
    /* In pieces, as an app writes. */
    for (size_t off = 0; off < len; off += 40000) {
        size_t n = len - off < 40000 ? len - off : 40000;
        assert_int_equal(write(fd, data + off, n), (ssize_t)n);
    }
    assert_int_equal(close(fd), 0);
}

/* The release comes after close returns: waits until the hook has seen n uploads + refusals,
 * then copies the hook log under its lock (the hooks run on FUSE threads, and may run again). */
static void wait_hooks(struct fixture *f, int n, struct upload_log *seen)
{
    for (int i = 0; i < 250; i++) {
        int done;
        pthread_mutex_lock(&f->log.lock);
        done = f->log.uploads + f->log.refusals;
        pthread_mutex_unlock(&f->log.lock);
        if (done >= n)
            break;
        usleep(20000);
    }
    usleep(100000); /* the upload itself follows the hook */
    pthread_mutex_lock(&f->log.lock);
    memcpy(seen, &f->log, sizeof *seen);
    pthread_mutex_unlock(&f->log.lock);
}

struct collect {
    uint8_t *buf;
    size_t len;
};

static int collect_cb(void *arg, const uint8_t *plain, size_t len, uint64_t offset)
{
    struct collect *c = arg;
    if (offset + len > c->len)
        return EIO;
    memcpy(c->buf + offset, plain, len);
    return 0;
}

/* Opens the output at prefix with the private key in pem, as ccrfs unpack --unwrap-key does. */
static int open_output(struct fixture *f, const char *prefix, const char *pem, uint8_t *out, size_t len)
{
    char root[256];
    struct fetch_store *s = NULL;
    struct keys_release_request req;
    struct keys_release_info info;
    struct fmt_dek *dek = NULL;
    struct fmt_dataset *ds = NULL;
    struct collect c = {out, len};
    int rc;

    snprintf(root, sizeof root, "%s/%s", f->store_dir, prefix);
    assert_int_equal(fetch_file_create(root, &s), 0);
    memset(&req, 0, sizeof req);
    req.unwrap_key_file = pem;
    req.dataset_store = s;
    rc = keys_release_obtain(&req, &dek, &info);
    if (rc == 0) {
        assert_string_equal(info.method, "unwrap-key");
        assert_false(info.attested);
        if ((rc = fmt_dataset_open(s, dek, NULL, &ds)) == 0) {
            assert_int_equal(ds->manifest.count, 1);
            assert_int_equal(ds->manifest.entries[0].size, len);
            rc = fmt_dataset_stream_file(ds, &ds->manifest.entries[0], collect_cb, &c);
        }
    }
    fmt_dataset_close(ds);
    fmt_dek_free(dek);
    fetch_store_destroy(s);
    return rc;
}

static void test_upload_on_close(void **state)
{
    struct fixture *f = *state;
    uint8_t sha[32], *back = malloc(OUT_LEN);
    char path[256];
    struct stat st;
    struct upload_log seen;

    if (f == NULL) {
        free(back);
        skip();
        return;
    }
    snprintf(path, sizeof path, "%s/models", f->mnt);
    assert_int_equal(mkdir(path, 0755), 0);
    write_out(f, "models/final.bin", f->plain, OUT_LEN);
    wait_hooks(f, 1, &seen);
    assert_int_equal(seen.uploads, 1);
    assert_true(seen.open_flags & O_CREAT);
    assert_string_equal(seen.path, "models/final.bin");
    assert_string_equal(seen.object, "models/final.bin/");
    assert_int_equal(seen.size, OUT_LEN);
    fmt_sha256(f->plain, OUT_LEN, sha);
    assert_memory_equal(seen.sha, sha, 32);
    snprintf(path, sizeof path, "%s/models/final.bin/manifest.ccrfs", f->store_dir);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/models/final.bin/dek.wrapped.json", f->store_dir);
    assert_int_equal(stat(path, &st), 0);

    /* The recipient gets the same bytes back; another key gets a refusal and nothing. */
    assert_int_equal(open_output(f, "models/final.bin", f->priv, back, OUT_LEN), 0);
    assert_memory_equal(back, f->plain, OUT_LEN);
    memset(back, 0, OUT_LEN);
    assert_int_equal(open_output(f, "models/final.bin", f->other, back, OUT_LEN), EACCES);
    assert_non_null(strstr(ccr_err_msg(EACCES), "not wrapped for the private key"));

    /* The file stays readable on the mount. */
    {
        char p2[200];
        int fd;
        snprintf(p2, sizeof p2, "%s/models/final.bin", f->mnt);
        fd = open(p2, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, back, OUT_LEN, 0), OUT_LEN);
        assert_memory_equal(back, f->plain, OUT_LEN);
        close(fd);
    }
    free(back);
}

static void test_upload_refused(void **state)
{
    struct fixture *f = *state;
    char path[256], buf[16];
    struct stat st;
    struct upload_log seen;
    int fd;

    if (f == NULL) {
        skip();
        return;
    }
    write_out(f, "secret.log", (const uint8_t *)"do not share", 12);
    wait_hooks(f, 1, &seen);
    assert_int_equal(seen.refusals, 1);
    assert_int_equal(seen.uploads, 0);
    snprintf(path, sizeof path, "%s/secret.log", f->store_dir);
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(errno, ENOENT);
    /* The file stays on the mount, and the close reported nothing. */
    snprintf(path, sizeof path, "%s/secret.log", f->mnt);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, sizeof buf), 12);
    assert_memory_equal(buf, "do not share", 12);
    close(fd);
    /* A file that was only read is not uploaded again. */
    write_out(f, "ok.txt", (const uint8_t *)"fine", 4);
    wait_hooks(f, 2, &seen);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    close(fd);
    usleep(200000);
    assert_int_equal(seen.uploads, 1);
    assert_int_equal(seen.refusals, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_upload_on_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
