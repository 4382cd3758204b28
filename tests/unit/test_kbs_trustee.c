/* `ccrfs kbs serve` in Trustee's layout, end to end over loopback: the challenge and error
 * bodies as Trustee writes them (and the client's reading of them), additional-evidence
 * bound into report_data, VCEKs fetched from a stand-in KDS (in-process, loopback only) and
 * cached, the KDS URL form per product from the shared vectors, and Trustee's resource admin
 * API under admin JWTs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/secmem.h"
#include "keys/attest/sim.h"
#include "keys/broker/admin_jwt.h"
#include "keys/broker/broker.h"
#include "keys/broker/kds.h"
#include "keys/broker/store.h"
#include "keys/kbs/client.h"
#include "keys/kbs/http.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "test-admin-token-0123456789"
#define ERR   "https://github.com/confidential-containers/kbs/errors/"

static char dir[] = "/tmp/ccrfs-test-kbs-trustee-XXXXXX";
static char sim[300], state[300], cache[300], url[64], spec[320], admin_pub[300], admin_key[300],
    other_key[300], ec_key[300];
static struct keys_broker *broker;
static const uint8_t secret[32] = {0x5e, 0xc7, 0xe7, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,
                                   14,   15,   16,   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29};

/* The stand-in KDS: serves one DER certificate for every path under /vcek/v1/ and remembers
 * what it was asked. */
static struct {
    struct MHD_Daemon *mhd;
    pthread_mutex_t lock;
    uint8_t *der;
    size_t der_len;
    unsigned hits;
    unsigned delay_ms; /* a slow KDS */
    char last[600];
} kds = {.lock = PTHREAD_MUTEX_INITIALIZER};

static enum MHD_Result kds_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    char *out = cls;
    size_t n = strlen(out);
    (void)kind;
    snprintf(out + n, 600 - n, "%s%s=%s", strchr(out, '?') ? "&" : "?", key, value ? value : "");
    return MHD_YES;
}

static enum MHD_Result kds_request(void *cls, struct MHD_Connection *c, const char *u, const char *method,
                                   const char *version, const char *upload, size_t *upload_size,
                                   void **con_cls)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    unsigned status = 404;
    (void)cls;
    (void)method;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    pthread_mutex_lock(&kds.lock);
    kds.hits++;
    snprintf(kds.last, sizeof kds.last, "%s", u);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, kds_arg, kds.last);
    if (kds.der != NULL && strncmp(u, "/vcek/v1/", 9) == 0) {
        r = MHD_create_response_from_buffer(kds.der_len, kds.der, MHD_RESPMEM_MUST_COPY);
        status = 200;
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    {
        unsigned delay = kds.delay_ms;
        pthread_mutex_unlock(&kds.lock);
        if (delay)
            usleep(delay * 1000u);
    }
    MHD_add_response_header(r, "Content-Type", "application/pkix-cert");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static unsigned kds_start(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    const union MHD_DaemonInfo *info;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    kds.mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, kds_request, NULL,
                               MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (kds.mhd == NULL)
        return 0;
    info = MHD_get_daemon_info(kds.mhd, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

static void kds_serve(const uint8_t *der, size_t len)
{
    pthread_mutex_lock(&kds.lock);
    free(kds.der);
    kds.der = NULL;
    kds.der_len = 0;
    if (der != NULL) {
        kds.der = malloc(len);
        memcpy(kds.der, der, len);
        kds.der_len = len;
    }
    kds.hits = 0;
    kds.last[0] = '\0';
    pthread_mutex_unlock(&kds.lock);
}

static int write_key(const char *path, EVP_PKEY *k, int public)
{
    FILE *f = fopen(path, "w");
    int ok;
    if (f == NULL)
        return -1;
    ok = public ? PEM_write_PUBKEY(f, k) : PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok == 1 ? 0 : -1;
}

static int setup(void **state_)
{
    struct keys_sim_config cfg = {0};
    struct keys_broker_conf conf = {0};
    struct keys_rstore *rs;
    EVP_PKEY *ed, *ed2, *ec;
    unsigned kds_port;
    char kds_url[64];
    X509 *vcek;
    uint8_t *der;
    size_t der_len;
    char path[400];
    (void)state_;

    ccr_log_set_level(CCR_LOG_ERROR);
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(sim, sizeof sim, "%s/sim", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(cache, sizeof cache, "%s/kds-cache", dir);
    snprintf(spec, sizeof spec, "sim:%s", sim);
    snprintf(admin_pub, sizeof admin_pub, "%s/admin.pub", dir);
    snprintf(admin_key, sizeof admin_key, "%s/admin.key", dir);
    snprintf(other_key, sizeof other_key, "%s/other.key", dir);
    snprintf(ec_key, sizeof ec_key, "%s/ec.key", dir);
    if (keys_sim_init(sim, &cfg) != 0)
        return -1;
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ed2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (ed == NULL || ed2 == NULL || ec == NULL || write_key(admin_pub, ed, 1) != 0 ||
        write_key(admin_key, ed, 0) != 0 || write_key(other_key, ed2, 0) != 0 ||
        write_key(ec_key, ec, 0) != 0)
        return -1;
    EVP_PKEY_free(ed);
    EVP_PKEY_free(ed2);
    EVP_PKEY_free(ec);
    /* The stand-in KDS serves the simulator's VCEK. */
    snprintf(path, sizeof path, "%s/vcek.pem", sim);
    if (keys_x509_load(path, &vcek) != 0 || keys_x509_to_der(vcek, &der, &der_len) != 0)
        return -1;
    X509_free(vcek);
    kds_serve(der, der_len);
    free(der);
    if ((kds_port = kds_start()) == 0)
        return -1;
    snprintf(kds_url, sizeof kds_url, "http://127.0.0.1:%u", kds_port);
    if (keys_rstore_open(state, &rs) != 0 ||
        keys_rstore_put(rs, "ccrfs/dek/good", "{\"allOf\":[{\"claim\":\"debug\",\"equals\":false}]}", secret,
                        32) != 0 ||
        keys_rstore_put(rs, "ccrfs/dek/other-build",
                        "{\"allOf\":[{\"claim\":\"measurement\",\"equals\":\"00\"}]}", secret, 32) != 0)
        return -1;
    keys_rstore_close(rs);
    conf.state_dir = state;
    conf.admin_token = TOKEN;
    conf.sim_root = sim;
    conf.kds_url = kds_url;
    conf.kds_cache_dir = cache;
    conf.admin_jwt_key = admin_pub;
    conf.default_policy = "{\"allOf\":[{\"claim\":\"debug\",\"equals\":false}]}";
    if (keys_broker_start(&conf, &broker) != 0)
        return -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%u", keys_broker_port(broker));
    return 0;
}

static int teardown(void **state_)
{
    char cmd[400];
    (void)state_;
    keys_broker_stop(broker);
    if (kds.mhd)
        MHD_stop_daemon(kds.mhd);
    free(kds.der);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void expect_refusal(int rc, int code, const char *words)
{
    if (rc != code || strstr(ccr_err_msg(rc), words) == NULL)
        fail_msg("expected error %d with '%s', got %d: %s", code, words, rc, ccr_err_msg(rc));
}

/* A request's status and Trustee error type. */
static void expect_kbs_error(struct keys_http_reply *r, long status, const char *variant)
{
    struct json_object *o = json_tokener_parse(r->body), *t, *d;
    char want[200];
    snprintf(want, sizeof want, ERR "%s", variant);
    if (r->status != status || o == NULL || !json_object_object_get_ex(o, "type", &t) ||
        strcmp(json_object_get_string(t), want) != 0 || !json_object_object_get_ex(o, "detail", &d) ||
        json_object_object_length(o) != 2)
        fail_msg("expected %ld %s, got %ld %s", status, variant, r->status, r->body);
    json_object_put(o);
}

static void test_challenge_layout(void **state_)
{
    /* guest-components' exact Request body */
    static const char req[] =
        "{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":{\"supported-hash-algorithms\":"
        "[\"sha256\",\"sha384\",\"sha512\",\"sm3\"]}}";
    struct keys_http *h;
    struct keys_http_reply r;
    struct json_object *o, *v;
    (void)state_;
    assert_int_equal(keys_http_open(url, NULL, &h), 0);
    assert_int_equal(keys_http_do(h, "POST", "/kbs/v0/auth", req, strlen(req), NULL, &r), 0);
    assert_int_equal(r.status, 200);
    o = json_tokener_parse(r.body);
    assert_non_null(o);
    assert_int_equal(json_object_object_length(o), 2);
    assert_true(json_object_object_get_ex(o, "extra-params", &v));
    assert_true(json_object_is_type(v, json_type_string)); /* "" as Trustee sends it, not {} */
    assert_string_equal(json_object_get_string(v), "");
    assert_true(json_object_object_get_ex(o, "nonce", &v));
    assert_int_equal(json_object_get_string_len(v), 44); /* 32 bytes, standard base64 with padding */
    assert_int_equal(json_object_get_string(v)[43], '=');
    json_object_put(o);
    keys_http_reply_free(&r);
    /* The version Trustee's protocol doc still shows is refused, as Trustee refuses it. */
    static const char old[] = "{\"version\":\"0.1.1\",\"tee\":\"snp\",\"extra-params\":\"\"}";
    assert_int_equal(keys_http_do(h, "POST", "/kbs/v0/auth", old, strlen(old), NULL, &r), 0);
    expect_kbs_error(&r, 401, "AttestationError");
    assert_non_null(
        strstr(r.body, "KBS Client Protocol Version Mismatch: expect =0.4.0 while the request is 0.1.1"));
    keys_http_reply_free(&r);
    keys_http_close(h);
}

static void test_error_layout(void **state_)
{
    struct keys_http *h;
    struct keys_http_reply r;
    uint8_t *v;
    size_t len;
    (void)state_;
    assert_int_equal(keys_http_open(url, NULL, &h), 0);
    /* no session: TokenNotFound, 401 */
    assert_int_equal(keys_http_do(h, "GET", "/kbs/v0/resource/ccrfs/dek/good", NULL, 0, NULL, &r), 0);
    expect_kbs_error(&r, 401, "TokenNotFound");
    keys_http_reply_free(&r);
    /* a bad path is the only 404, with an unknown plugin */
    assert_int_equal(keys_http_do(h, "GET", "/kbs/v0/resource/ccrfs/dek", NULL, 0, NULL, &r), 0);
    expect_kbs_error(&r, 404, "InvalidRequestPath");
    keys_http_reply_free(&r);
    assert_int_equal(keys_http_do(h, "GET", "/kbs/v0/nosuch/a/b", NULL, 0, NULL, &r), 0);
    expect_kbs_error(&r, 404, "PluginNotFound");
    assert_non_null(strstr(r.body, "Plugin nosuch not found"));
    keys_http_reply_free(&r);
    assert_int_equal(keys_http_do(h, "POST", "/kbs/v0/attest", "{}", 2, NULL, &r), 0);
    expect_kbs_error(&r, 401, "AttestationError");
    keys_http_reply_free(&r);
    keys_http_close(h);

    /* After attestation: a policy denial and a missing resource are both 401, told apart by
     * type, and the client reports them as EACCES and ENOENT. */
    expect_refusal(keys_kbs_fetch(url, NULL, "ccrfs/dek/other-build", spec, &v, &len, NULL, 0), EACCES,
                   "denied by the KBS resource policy (HTTP 401, PolicyDeny: Access denied by policy");
    expect_refusal(
        keys_kbs_fetch(url, NULL, "ccrfs/dek/missing", spec, &v, &len, NULL, 0), ENOENT,
        "(HTTP 401, PluginInternalError: Plugin internal error: no resource named ccrfs/dek/missing)");
    assert_int_equal(keys_kbs_fetch(url, NULL, "ccrfs/dek/good", spec, &v, &len, NULL, 0), 0);
    assert_memory_equal(v, secret, 32);
    ccr_secmem_free(v, len);
}

static void test_additional_evidence(void **state_)
{
    struct keys_kbs_session *s;
    struct keys_kbs_attest_faults f = {.additional_evidence = "{\"gpu0\":\"evidence\"}"};
    uint8_t *v;
    size_t len;
    (void)state_;
    /* bound and sent alike: accepted */
    assert_int_equal(keys_kbs_session_new(url, NULL, NULL, &s), 0);
    assert_int_equal(keys_kbs_auth(s), 0);
    assert_int_equal(keys_kbs_attest(s, spec, &f, NULL, 0), 0);
    assert_int_equal(keys_kbs_get_resource(s, "ccrfs/dek/good", &v, &len), 0);
    ccr_secmem_free(v, len);
    keys_kbs_session_free(s);
    /* bound without it but sent with it: the broker's hash differs */
    f.additional_evidence = NULL;
    f.send_additional_evidence = "{\"gpu0\":\"evidence\"}";
    assert_int_equal(keys_kbs_session_new(url, NULL, NULL, &s), 0);
    assert_int_equal(keys_kbs_auth(s), 0);
    expect_refusal(keys_kbs_attest(s, spec, &f, NULL, 0), EACCES, "Report Data Mismatch");
    keys_kbs_session_free(s);
}

/* auth, attest (with faults), resource: 0 or the errno, value checked against secret or
 * just freed. */
static int fetch_with(const char *u, const struct keys_kbs_attest_faults *f, const char *resource)
{
    struct keys_kbs_session *s;
    uint8_t *v;
    size_t len;
    int rc;
    if ((rc = keys_kbs_session_new(u, NULL, NULL, &s)) != 0)
        return rc;
    if ((rc = keys_kbs_auth(s)) == 0 && (rc = keys_kbs_attest(s, spec, f, NULL, 0)) == 0 &&
        (rc = keys_kbs_get_resource(s, resource, &v, &len)) == 0)
        ccr_secmem_free(v, len);
    keys_kbs_session_free(s);
    return rc;
}

/* init-data as Trustee binds it for SNP: HOST_DATA is the digest of the TOML body by the
 * algorithm it names, zero-padded to 32 bytes. */
static void test_init_data(void **state_)
{
    static const char toml[] =
        "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\n\"policy.rego\" = \"x\"\n";
    struct keys_kbs_attest_faults f = {.init_data_body = toml};
    uint8_t d[48];
    unsigned int dl;
    char hex[65], path[400];
    (void)state_;
    assert_int_equal(EVP_Digest(toml, strlen(toml), d, &dl, EVP_sha384(), NULL), 1);
    ccr_hex_encode(d, 32, hex); /* the first 32 bytes of the SHA-384: HOST_DATA holds 32 */
    snprintf(path, sizeof path, "%s/host_data", sim);
    assert_int_equal(ccr_write_file_atomic(path, hex, 64, 0600), 0);
    assert_int_equal(fetch_with(url, &f, "ccrfs/dek/good"), 0);
    /* another body, or another format, is refused */
    f.init_data_body = "algorithm = \"sha384\"\n";
    expect_refusal(fetch_with(url, &f, "ccrfs/dek/good"), EACCES,
                   "init-data does not match the report's HOST_DATA");
    f.init_data_body = toml;
    f.init_data_format = "json";
    expect_refusal(fetch_with(url, &f, "ccrfs/dek/good"), EACCES, "Unsupported initdata format: json");
    f.init_data_format = NULL;
    f.init_data_body = "version = \"0.1.0\"\n";
    expect_refusal(fetch_with(url, &f, "ccrfs/dek/good"), EACCES, "names no algorithm");
    unlink(path);
    assert_int_equal(fetch_with(url, NULL, "ccrfs/dek/good"), 0); /* no init-data: HOST_DATA not bound */
}

static void *slow_attest(void *arg)
{
    static const struct keys_kbs_attest_faults f = {.omit_vcek = 1};
    *(int *)arg = fetch_with(url, &f, "ccrfs/dek/good");
    return NULL;
}

/* A guest whose VCEK comes from a slow KDS holds up no other guest's handshake. */
static void test_slow_kds_blocks_nobody(void **state_)
{
    struct keys_kbs_session *s;
    struct timespec t0, t1;
    pthread_t th;
    char cmd[400], path[400];
    uint8_t *der;
    size_t dl;
    X509 *vcek;
    int rc = -1;
    (void)state_;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/vcek", cache);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/vcek.pem", sim);
    assert_int_equal(keys_x509_load(path, &vcek), 0);
    assert_int_equal(keys_x509_to_der(vcek, &der, &dl), 0);
    X509_free(vcek);
    kds_serve(der, dl);
    free(der);
    kds.delay_ms = 3000;
    assert_int_equal(pthread_create(&th, NULL, slow_attest, &rc), 0);
    usleep(500 * 1000); /* the first guest is now waiting on the KDS */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(keys_kbs_session_new(url, NULL, NULL, &s), 0);
    assert_int_equal(keys_kbs_auth(s), 0);
    assert_int_equal(keys_kbs_attest(s, spec, NULL, NULL, 0), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    keys_kbs_session_free(s);
    assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000);
    pthread_join(th, NULL);
    kds.delay_ms = 0;
    assert_int_equal(rc, 0);
}

static int count_files(const char *d)
{
    char cmd[400];
    FILE *p;
    int n = -1;
    snprintf(cmd, sizeof cmd, "find '%s' -type f -name '*.der' | wc -l", d);
    if ((p = popen(cmd, "r")) != NULL) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void test_vcek_from_kds(void **state_)
{
    struct keys_kbs_session *s;
    struct keys_kbs_attest_faults f = {.omit_vcek = 1};
    uint8_t *v, *sj;
    size_t len, sjl;
    char path[400], chip[129], *p;
    (void)state_;

    snprintf(path, sizeof path, "%s/sim.json", sim);
    assert_int_equal(ccr_read_file(path, 1 << 16, &sj, &sjl), 0);
    p = strstr((char *)sj, "\"chip_id\"");
    assert_non_null(p);
    memcpy(chip, strchr(p + 9, '"') + 1, 128);
    chip[128] = '\0';
    free(sj);

    /* The evidence carries cert_chain without a VCEK: the broker asks the KDS once ... */
    pthread_mutex_lock(&kds.lock);
    kds.hits = 0;
    pthread_mutex_unlock(&kds.lock);
    assert_int_equal(keys_kbs_session_new(url, NULL, NULL, &s), 0);
    assert_int_equal(keys_kbs_auth(s), 0);
    assert_int_equal(keys_kbs_attest(s, spec, &f, NULL, 0), 0);
    assert_int_equal(keys_kbs_get_resource(s, "ccrfs/dek/good", &v, &len), 0);
    assert_memory_equal(v, secret, 32);
    ccr_secmem_free(v, len);
    keys_kbs_session_free(s);
    assert_int_equal(kds.hits, 1);
    assert_true(strncmp(kds.last, "/vcek/v1/", 9) == 0);
    assert_non_null(strstr(kds.last, chip)); /* the full 64-byte chip id for Milan and Genoa */
    assert_non_null(strstr(kds.last, "?blSPL="));
    assert_non_null(strstr(kds.last, "&teeSPL="));
    assert_non_null(strstr(kds.last, "&snpSPL="));
    assert_non_null(strstr(kds.last, "&ucodeSPL="));
    assert_int_equal(count_files(cache), 1);

    /* ... and then from its cache, even with the KDS gone quiet. */
    kds_serve(NULL, 0);
    assert_int_equal(fetch_with(url, &f, "ccrfs/dek/good"), 0);
    assert_int_equal(kds.hits, 0);

    /* With neither the VCEK in the evidence, nor a cached one, nor one at the KDS: refused,
     * saying why. */
    {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'/vcek", cache);
        assert_int_equal(system(cmd), 0);
    }
    expect_refusal(fetch_with(url, &f, "ccrfs/dek/good"), EACCES,
                   "has no VCEK for this chip and TCB (HTTP 404)");
    assert_true(kds.hits >= 1);
}

static void test_no_kds(void **state_)
{
    struct keys_broker_conf conf = {0};
    struct keys_broker *b;
    struct keys_kbs_attest_faults f = {.omit_vcek = 1};
    char u[64];
    (void)state_;
    conf.state_dir = state;
    conf.admin_token = TOKEN;
    conf.sim_root = sim;
    conf.no_kds = 1;
    assert_int_equal(keys_broker_start(&conf, &b), 0);
    snprintf(u, sizeof u, "http://127.0.0.1:%u", keys_broker_port(b));
    expect_refusal(fetch_with(u, &f, "ccrfs/dek/good"), EACCES, "no VCEK in cert_chain");
    assert_int_equal(fetch_with(u, NULL, "ccrfs/dek/good"), 0); /* with the VCEK it is fine */
    keys_broker_stop(b);
}

static int read_vec(const char *rel, uint8_t **buf, size_t *len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", CCRFS_TESTVECTORS, rel);
    return ccr_read_file(path, 1 << 20, buf, len);
}

/* The KDS request per product, from real reports: Trustee's verifier and AMD's KDS spec. */
static void test_kds_paths(void **state_)
{
    uint8_t *rep, *rep5, *vlek, *vcek;
    size_t n, n5, nv, nc;
    char path[400], want[400];
    (void)state_;
    if (read_vec("trustee/snp/test-report.bin", &rep, &n) != 0)
        skip();
    assert_int_equal(n, KEYS_SNP_REPORT_LEN);
    /* Milan, version 2 (no CPUID): Milan first, Genoa second, then nothing. */
    assert_int_equal(keys_kds_vcek_path(rep, 0, path, sizeof path), 0);
    {
        char hex[129];
        ccr_hex_encode(rep + 0x1A0, 64, hex);
        snprintf(want, sizeof want, "/vcek/v1/Milan/%s?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115", hex);
    }
    assert_string_equal(path, want);
    assert_int_equal(keys_kds_vcek_path(rep, 1, path, sizeof path), 0);
    assert_non_null(strstr(path, "/vcek/v1/Genoa/"));
    assert_int_equal(keys_kds_vcek_path(rep, 2, path, sizeof path), ENOENT);

    /* Genoa, version 5, model 0x11 */
    assert_int_equal(read_vec("snp-newer/genoa-v5/report.bin", &rep5, &n5), 0);
    assert_int_equal(keys_kds_vcek_path(rep5, 0, path, sizeof path), 0);
    {
        char hex[129];
        ccr_hex_encode(rep5 + 0x1A0, 64, hex);
        snprintf(want, sizeof want, "/vcek/v1/Genoa/%s?blSPL=10&teeSPL=00&snpSPL=25&ucodeSPL=84", hex);
    }
    assert_string_equal(path, want);
    assert_int_equal(keys_kds_vcek_path(rep5, 1, path, sizeof path), ENOENT);

    /* Turin (family 0x1A): the 8-byte hwid and the FMC first, from Turin's TCB layout
     * (FMC, boot loader, TEE, SNP, reserved, microcode). */
    {
        uint8_t t[KEYS_SNP_REPORT_LEN];
        static const uint8_t tcb[8] = {1, 2, 3, 4, 0, 0, 0, 0x48};
        memcpy(t, rep5, sizeof t);
        t[0x188] = 0x1A;
        t[0x189] = 0x02;
        memcpy(t + 0x180, tcb, 8);
        assert_int_equal(keys_kds_vcek_path(t, 0, path, sizeof path), 0);
        assert_string_equal(
            path, "/vcek/v1/Turin/d2421d976f95ce0b?fmcSPL=01&blSPL=02&teeSPL=03&snpSPL=04&ucodeSPL=72");
        /* a chip id masked to zeros cannot be asked for */
        memset(t + 0x1A0, 0, 64);
        expect_refusal(keys_kds_vcek_path(t, 0, path, sizeof path), EINVAL, "MASK_CHIP_ID");
        /* an unknown CPU */
        memcpy(t, rep5, sizeof t);
        t[0x188] = 0x17;
        expect_refusal(keys_kds_vcek_path(t, 0, path, sizeof path), EINVAL, "family 0x17");
    }
    /* A VLEK-signed report: its key is not handed out by chip. */
    assert_int_equal(read_vec("trustee/snp/test-vlek-report.bin", &vlek, &nv), 0);
    expect_refusal(keys_kds_vcek_path(vlek, 0, path, sizeof path), EINVAL, "VLEK");

    /* keys_kds_vcek against the stand-in serving the Milan test VCEK: the bytes come back and are
     * cached under the product, hwid and TCB. */
    {
        struct keys_kds *k;
        char kds_cache[400], kurl[64];
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(kds.mhd, MHD_DAEMON_INFO_BIND_PORT);
        uint8_t *der;
        size_t dl;
        int from_cache;
        assert_int_equal(read_vec("trustee/snp/test-vcek.der", &vcek, &nc), 0);
        kds_serve(vcek, nc);
        snprintf(kds_cache, sizeof kds_cache, "%s/kds-vectors", dir);
        snprintf(kurl, sizeof kurl, "http://127.0.0.1:%u", info->port);
        assert_int_equal(keys_kds_new(kurl, kds_cache, NULL, &k), 0);
        assert_int_equal(keys_kds_vcek(k, rep, &der, &dl, &from_cache), 0);
        assert_int_equal(from_cache, 0);
        assert_int_equal(dl, nc);
        assert_memory_equal(der, vcek, nc);
        free(der);
        assert_non_null(strstr(kds.last, "/vcek/v1/Milan/"));
        assert_non_null(strstr(kds.last, "?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115"));
        assert_int_equal(keys_kds_vcek(k, rep, &der, &dl, &from_cache), 0);
        assert_int_equal(from_cache, 1);
        assert_int_equal(kds.hits, 1);
        free(der);
        /* a KDS that answers with something else than a certificate is not believed */
        kds_serve((const uint8_t *)"not a certificate", 17);
        expect_refusal(keys_kds_vcek(k, rep5, &der, &dl, &from_cache), EIO, "not a DER certificate");
        keys_kds_free(k);
        /* only http(s) KDS URLs */
        expect_refusal(keys_kds_new("ftp://x", NULL, NULL, &k), EINVAL, "--kds-url");
        free(vcek);
    }
    free(vlek);
    free(rep5);
    free(rep);
}

static void test_admin_jwt(void **state_)
{
    EVP_PKEY *priv, *pub, *other, *ec;
    char *tok, role[64];
    time_t now = 1760000000;
    (void)state_;
    assert_int_equal(keys_admin_jwt_load_private(admin_key, &priv), 0);
    assert_int_equal(keys_admin_jwt_load_public(admin_pub, &pub), 0);
    assert_int_equal(keys_admin_jwt_load_private(other_key, &other), 0);
    assert_int_equal(keys_admin_jwt_load_private(ec_key, &ec), 0);

    /* good: EdDSA, role admin by default */
    assert_int_equal(keys_admin_jwt_sign(priv, NULL, now, 300, &tok), 0);
    assert_int_equal(keys_admin_jwt_verify(pub, tok, now + 10, NULL, role, sizeof role), 0);
    assert_string_equal(role, "admin");
    assert_int_equal(keys_admin_jwt_verify(pub, tok, now + 10, "admin", NULL, 0), 0);
    expect_refusal(keys_admin_jwt_verify(pub, tok, now + 10, "kbs-admin", NULL, 0), EACCES, "role \"admin\"");
    /* expired, past the 60 s leeway; within it still good */
    assert_int_equal(keys_admin_jwt_verify(pub, tok, now + 300 + 59, NULL, NULL, 0), 0);
    expect_refusal(keys_admin_jwt_verify(pub, tok, now + 300 + 61, NULL, NULL, 0), EACCES, "expired");
    /* tampered claims */
    {
        char *dot = strchr(tok, '.');
        dot[3] ^= 1;
        expect_refusal(keys_admin_jwt_verify(pub, tok, now, NULL, NULL, 0), EACCES, "admin token");
    }
    free(tok);
    /* wrong key */
    assert_int_equal(keys_admin_jwt_sign(other, NULL, now, 300, &tok), 0);
    expect_refusal(keys_admin_jwt_verify(pub, tok, now, NULL, NULL, 0), EACCES, "signature does not verify");
    free(tok);
    /* wrong algorithm for the key: an ES256 token against an Ed25519 admin key */
    assert_int_equal(keys_admin_jwt_sign(ec, NULL, now, 300, &tok), 0);
    expect_refusal(keys_admin_jwt_verify(pub, tok, now, NULL, NULL, 0), EACCES, "ES256 does not fit");
    {
        EVP_PKEY *ecpub;
        assert_int_equal(keys_admin_jwt_load_public(ec_key, &ecpub), 0);
        assert_int_equal(keys_admin_jwt_verify(ecpub, tok, now, NULL, NULL, 0),
                         0); /* ES256 itself verifies */
        EVP_PKEY_free(ecpub);
    }
    free(tok);
    /* alg none and HS256 (a public key used as an HMAC secret) are never accepted */
    {
        static const char *const forged[] = {
            /* {"alg":"none"}.{"exp":9999999999,"role":"admin"}. */
            "eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTksInJvbGUiOiJhZG1pbiJ9.",
            /* {"alg":"HS256"}.{...}.sig */
            "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjk5OTk5OTk5OTksInJvbGUiOiJhZG1pbiJ9.c2ln",
            "not-a-token",
            "a.b.c.d",
        };
        for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++)
            assert_int_equal(keys_admin_jwt_verify(pub, forged[i], now, NULL, NULL, 0), EACCES);
        expect_refusal(keys_admin_jwt_verify(pub, forged[1], now, NULL, NULL, 0), EACCES,
                       "\"HS256\" is not accepted");
    }
    EVP_PKEY_free(priv);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(other);
    EVP_PKEY_free(ec);
}

/* POST /kbs/v0/resource/... as Trustee's admin API, then the value released to a guest. */
static void test_trustee_admin_api(void **state_)
{
    struct keys_http *h;
    struct keys_http_reply r;
    EVP_PKEY *priv, *other;
    char *good, *expired, *wrong;
    static const uint8_t value[] = "trustee-registered-value";
    uint8_t *v;
    size_t len;
    (void)state_;
    assert_int_equal(keys_admin_jwt_load_private(admin_key, &priv), 0);
    assert_int_equal(keys_admin_jwt_load_private(other_key, &other), 0);
    assert_int_equal(keys_admin_jwt_sign(priv, NULL, 0, 300, &good), 0);
    assert_int_equal(keys_admin_jwt_sign(priv, NULL, time(NULL) - 3600, 300, &expired), 0);
    assert_int_equal(keys_admin_jwt_sign(other, NULL, 0, 300, &wrong), 0);
    assert_int_equal(keys_http_open(url, NULL, &h), 0);

    const char *const bad[] = {NULL, expired, wrong, TOKEN};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(keys_http_send(h, "POST", "/kbs/v0/resource/trustee/key/one", value,
                                        sizeof value - 1, "application/octet-stream", bad[i], &r),
                         0);
        expect_kbs_error(&r, 401, "AdminAuthInitialization");
        keys_http_reply_free(&r);
    }
    expect_refusal(fetch_with(url, NULL, "trustee/key/one"), ENOENT, "PluginInternalError");

    assert_int_equal(keys_http_send(h, "POST", "/kbs/v0/resource/trustee/key/one", value, sizeof value - 1,
                                    "application/octet-stream", good, &r),
                     0);
    assert_int_equal(r.status, 200);
    keys_http_reply_free(&r);
    /* released under the default policy */
    {
        struct keys_kbs_session *s;
        assert_int_equal(keys_kbs_session_new(url, NULL, NULL, &s), 0);
        assert_int_equal(keys_kbs_auth(s), 0);
        assert_int_equal(keys_kbs_attest(s, spec, NULL, NULL, 0), 0);
        assert_int_equal(keys_kbs_get_resource(s, "trustee/key/one", &v, &len), 0);
        assert_int_equal(len, sizeof value - 1);
        assert_memory_equal(v, value, len);
        ccr_secmem_free(v, len);
        keys_kbs_session_free(s);
    }
    /* a new value for an existing resource keeps that resource's own policy */
    assert_int_equal(keys_http_send(h, "POST", "/kbs/v0/resource/ccrfs/dek/other-build", value,
                                    sizeof value - 1, "application/octet-stream", good, &r),
                     0);
    assert_int_equal(r.status, 200);
    keys_http_reply_free(&r);
    expect_refusal(fetch_with(url, NULL, "ccrfs/dek/other-build"), EACCES, "PolicyDeny");
    /* DELETE under the same rules */
    assert_int_equal(
        keys_http_send(h, "DELETE", "/kbs/v0/resource/trustee/key/one", NULL, 0, NULL, wrong, &r), 0);
    expect_kbs_error(&r, 401, "AdminAuthInitialization");
    keys_http_reply_free(&r);
    assert_int_equal(keys_http_send(h, "DELETE", "/kbs/v0/resource/trustee/key/one", NULL, 0, NULL, good, &r),
                     0);
    assert_int_equal(r.status, 200);
    keys_http_reply_free(&r);
    expect_refusal(fetch_with(url, NULL, "trustee/key/one"), ENOENT, "no resource named trustee/key/one");
    keys_http_close(h);
    free(good);
    free(expired);
    free(wrong);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_challenge_layout),
        cmocka_unit_test(test_error_layout),
        cmocka_unit_test(test_additional_evidence),
        cmocka_unit_test(test_vcek_from_kds),
        cmocka_unit_test(test_no_kds),
        cmocka_unit_test(test_kds_paths),
        cmocka_unit_test(test_admin_jwt),
        cmocka_unit_test(test_trustee_admin_api),
        cmocka_unit_test(test_init_data),
        cmocka_unit_test(test_slow_kds_blocks_nobody),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
