/* Azure SKR end to end against the SKR sidecar stand-in (tests/integration/lib/skr_standin.py)
 * on 127.0.0.1: keys of kty RSA, EC (P-256, P-384) and oct released, each turned into the
 * dataset's DEK the way its kind asks (RSA-OAEP-256 or ECDH-ES+A256KW dek.wrapped.json, or the
 * key itself); -HSM kty names; URL endpoints reduced before they reach the sidecar. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "fetch/store.h"
#include "format/dek.h"
#include "keys/skr/skr.h"
#include "keys/skr/wrap_ec.h"
#include "tests/support/scratch.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[256];
static char standin_path[1024]; /* beside this source file: ../integration/lib/skr_standin.py */

struct standin {
    pid_t pid;
    char url[64];
};

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void write_pem(const char *name, EVP_PKEY *key)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof path, "%s/keys/%s.pem", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

static void standin_start(struct standin *s, const char *kty_suffix)
{
    char keys[512], port_file[512], port[16] = "";
    struct timespec ts = {0, 50 * 1000 * 1000};

    char suffix_arg[64];
    snprintf(suffix_arg, sizeof suffix_arg, "--kty-suffix=%s", kty_suffix);
    snprintf(keys, sizeof keys, "%s/keys", dir);
    snprintf(port_file, sizeof port_file, "%s/port%s", dir, kty_suffix);
    unlink(port_file);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        execlp("python3", "python3", standin_path, "--keys-dir", keys, "--port-file", port_file,
               "--require-maa", "sharedeus.eus.attest.azure.net", suffix_arg, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            if (fgets(port, sizeof port, f) == NULL)
                port[0] = '\0';
            fclose(f);
            if (port[0])
                break;
        }
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid)
            fail_msg("the SKR stand-in exited (python3 and openssl are needed)");
        nanosleep(&ts, NULL);
    }
    port[strcspn(port, "\n")] = '\0';
    assert_true(port[0] != '\0');
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%s", port);
}

static void standin_stop(struct standin *s)
{
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
}

/* A dataset folder: name, holding doc as dek.wrapped.json unless doc is NULL. */
static struct fetch_store *dataset(const char *name, const char *doc)
{
    char path[512];
    struct fetch_store *store;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    mkdir(path, 0700);
    if (doc) {
        char file[600];
        snprintf(file, sizeof file, "%s/dek.wrapped.json", path);
        write_file(file, doc, strlen(doc));
    }
    assert_int_equal(fetch_file_create(path, &store), 0);
    return store;
}

static int release(const char *url, const char *kid, struct fetch_store *store, const char *maa,
                   const char *akv, struct fmt_dek **dek, struct keys_release_info *info)
{
    struct keys_release_request req = {0};
    req.skr_url = url;
    req.skr_kid = kid;
    req.skr_maa_endpoint = maa;
    req.skr_akv_endpoint = akv;
    req.dataset_store = store;
    memset(info, 0, sizeof *info);
    return keys_skr_release(&req, dek, info);
}

static const uint8_t DEK[32] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a,
                                0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25,
                                0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f};
#define MAA "sharedeus.eus.attest.azure.net"
#define AKV "myvault.vault.azure.net"

static int setup(void **state)
{
    char keys[300];
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    char path[512];
    (void)state;
    if (tsup_scratch_make(dir, sizeof dir, "ccrfs-skr") != 0)
        return -1;
    snprintf(keys, sizeof keys, "%s/keys", dir);
    mkdir(keys, 0700);
    write_pem("rsa-kek", rsa);
    write_pem("ec256-kek", p256);
    write_pem("ec384-kek", p384);
    snprintf(path, sizeof path, "%s/dataset-key.oct", keys);
    write_file(path, DEK, sizeof DEK);
    snprintf(path, sizeof path, "%s/short.oct", keys);
    write_file(path, DEK, 16);
    *state = NULL;
    /* The wrapped documents the data provider would store. */
    {
        char *doc;
        FILE *f;
        const char *names[] = {"rsa.json", "ec256.json", "ec384.json"};
        EVP_PKEY *keyset[] = {rsa, p256, p384};
        for (int i = 0; i < 3; i++) {
            int rc = i == 0 ? fmt_dek_wrap(DEK, sizeof DEK, keyset[i], "kek", &doc)
                            : keys_skr_wrap_ec(DEK, sizeof DEK, keyset[i], "kek", &doc);
            if (rc != 0)
                return -1;
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            f = fopen(path, "w");
            fputs(doc, f);
            fclose(f);
            free(doc);
        }
    }
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tsup_scratch_remove(dir);
}

static char *read_doc(const char *name)
{
    char path[512], *buf = calloc(1, 65536);
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_true(fread(buf, 1, 65535, f) > 0);
    fclose(f);
    return buf;
}

static void expect_dek(const char *url, const char *kid, const char *docname, const char *dsname,
                       const char *kty_word)
{
    char *doc = docname ? read_doc(docname) : NULL;
    struct fetch_store *store = dataset(dsname, doc);
    struct fmt_dek *dek = NULL;
    struct keys_release_info info;
    int rc = release(url, kid, store, MAA, AKV, &dek, &info);
    if (rc != 0)
        fail_msg("%s: %s", kid, ccr_err_msg(rc));
    assert_memory_equal(dek->bytes, DEK, 32);
    assert_int_equal(info.attested, 1);
    assert_string_equal(info.method, "azure-skr");
    assert_non_null(strstr(info.detail, kty_word));
    assert_non_null(strstr(info.detail, AKV));
    fmt_dek_free(dek);
    fetch_store_destroy(store);
    free(doc);
}

static void test_each_kty(void **state)
{
    struct standin s;
    (void)state;
    standin_start(&s, "");
    expect_dek(s.url, "rsa-kek", "rsa.json", "ds-rsa", "(RSA key)");
    expect_dek(s.url, "ec256-kek", "ec256.json", "ds-ec256", "(EC key)");
    expect_dek(s.url, "ec384-kek", "ec384.json", "ds-ec384", "(EC key)");
    expect_dek(s.url, "dataset-key", NULL, "ds-oct", "(oct key)");
    standin_stop(&s);
}

static void test_hsm_kty(void **state)
{
    struct standin s;
    (void)state;
    standin_start(&s, "-HSM");
    expect_dek(s.url, "rsa-kek", "rsa.json", "ds-rsa-hsm", "(RSA key)");
    expect_dek(s.url, "ec384-kek", "ec384.json", "ds-ec-hsm", "(EC key)");
    expect_dek(s.url, "dataset-key", NULL, "ds-oct-hsm", "(oct key)");
    standin_stop(&s);
}

static void expect_refusal(const char *url, const char *kid, const char *docname, const char *dsname,
                           const char *maa, const char *akv, int want, const char *why)
{
    char *doc = docname ? read_doc(docname) : NULL;
    struct fetch_store *store = dataset(dsname, doc);
    struct fmt_dek *dek = NULL;
    struct keys_release_info info;
    int rc = release(url, kid, store, maa, akv, &dek, &info);
    assert_int_equal(rc, want);
    assert_null(dek);
    if (strstr(ccr_err_msg(rc), why) == NULL)
        fail_msg("%s: '%s' does not say '%s'", kid, ccr_err_msg(rc), why);
    fetch_store_destroy(store);
    free(doc);
}

static void test_mismatches(void **state)
{
    struct standin s;
    (void)state;
    standin_start(&s, "");
    /* An EC KEK with a document wrapped for another EC key, or in RSA-OAEP-256. */
    expect_refusal(s.url, "ec256-kek", "ec384.json", "m1", MAA, AKV, EBADMSG, "does not unwrap");
    expect_refusal(s.url, "ec256-kek", "rsa.json", "m2", MAA, AKV, EINVAL, "must be ECDH-ES+A256KW");
    /* An RSA KEK with an EC document. */
    expect_refusal(s.url, "rsa-kek", "ec256.json", "m3", MAA, AKV, EINVAL, "RSA-OAEP-256");
    /* A KEK and no wrapped DEK; an oct key and a wrapped DEK; an oct key of 16 bytes. */
    expect_refusal(s.url, "ec256-kek", NULL, "m4", MAA, AKV, ENOENT, "no dek.wrapped.json");
    expect_refusal(s.url, "dataset-key", "rsa.json", "m5", MAA, AKV, EINVAL, "symmetric (oct) key");
    expect_refusal(s.url, "short", NULL, "m6", MAA, AKV, EINVAL, "16 bytes");
    /* Endpoints: checked before anything is sent; a URL is reduced, so the stand-in (which
     * refuses URLs as the sidecar's host lookup would) releases. */
    expect_refusal(s.url, "dataset-key", NULL, "m7", NULL, AKV, EINVAL, "--skr-maa");
    expect_refusal(s.url, "dataset-key", NULL, "m8", MAA, "", EINVAL, "--skr-akv");
    expect_refusal(s.url, "dataset-key", NULL, "m9", MAA, "vault/keys", EINVAL, "--skr-akv");
    {
        struct fetch_store *store = dataset("url", NULL);
        struct fmt_dek *dek = NULL;
        struct keys_release_info info;
        int rc = release(s.url, "dataset-key", store, "https://" MAA "/",
                         "https://" AKV "/keys/x?api-version=7.4", &dek, &info);
        if (rc != 0)
            fail_msg("URL endpoints: %s", ccr_err_msg(rc));
        assert_memory_equal(dek->bytes, DEK, 32);
        fmt_dek_free(dek);
        fetch_store_destroy(store);
    }
    standin_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_kty),
        cmocka_unit_test(test_hsm_kty),
        cmocka_unit_test(test_mismatches),
    };
    const char *slash = strrchr(__FILE__, '/');
    snprintf(standin_path, sizeof standin_path, "%.*s/../integration/lib/skr_standin.py",
             slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
    if (access(standin_path, R_OK) != 0 ||
        (access("/usr/bin/python3", X_OK) != 0 && access("/usr/local/bin/python3", X_OK) != 0)) {
        printf("SKIPPED: python3 and %s are needed for the SKR sidecar stand-in\n", standin_path);
        return 0;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
