/* The broker's contract gate: init-data claims read from the TOML, release policies naming
 * them, the governance answers (against an in-process stand-in of ccrfs's governance service
 * on loopback), and releases end to end: a guest whose init-data names an active contract
 * gets its key and one use is counted; a revoked contract, a spent budget, an unlisted
 * dataset, another mode, no init-data and governance down each get no key, with the reason. */
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
#include "keys/broker/broker.h"
#include "keys/broker/gate_probe.h"
#include "keys/broker/govcheck.h"
#include "keys/broker/initdata_claims.h"
#include "keys/broker/policy.h"
#include "keys/broker/store.h"
#include "keys/kbs/client.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DS_A      "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DS_B      "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define GOV_TOKEN "governance-token-0123456789"

/* ccrfs's entry as the init-data carries it: a TOML string holding JSON. */
#define CCRFS_JSON                                                                                           \
    "{\\\"governance\\\":\\\"http://"                                                                        \
    "gov\\\",\\\"governanceApi\\\":\\\"ccrfs\\\",\\\"contract\\\":\\\"c1\\\","                               \
    "\\\"datasets\\\":[{\\\"id\\\":\\\"" DS_A "\\\",\\\"mode\\\":\\\"read-only\\\"},{\\\"id\\\":\\\"" DS_B   \
    "\\\",\\\"mode\\\":\\\"sink\\\"}],\\\"broker\\\":\\\"http://kbs\\\",\\\"resources\\\":[\\\"hosp/dek/"    \
    "v1\\\"]}"

static const char toml_basic[] = "version = \"0.1.0\"\n"
                                 "algorithm = \"sha256\"\n"
                                 "[data]\n"
                                 "\"policy.rego\" = '''\npackage x\ndefault allow = [\"[data]\"]\n'''\n"
                                 "\"ccrfs.json\" = \"" CCRFS_JSON "\"\n";

/* ---- the stand-in governance service ---------------------------------------------------- */

static struct {
    struct MHD_Daemon *mhd;
    pthread_mutex_t lock;
    char status[32];   /* the contract's status */
    char mode[16];     /* accessMode of DS_A in the contract */
    int name_ds_a;     /* the contract names DS_A */
    unsigned use_http; /* answer to POST /use */
    unsigned used, max;
    unsigned uses_posted;
    int bad_use_body;
    int saw_token;
} gov = {.lock = PTHREAD_MUTEX_INITIALIZER};

static enum MHD_Result gov_reply(struct MHD_Connection *c, unsigned status, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    MHD_add_response_header(r, "Content-Type", "application/json");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result gov_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                   const char *version, const char *upload, size_t *upload_size,
                                   void **con_cls)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    char body[1024];
    unsigned status = 200;
    (void)cls;
    (void)version;
    (void)upload;
    if (*con_cls == NULL) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    *upload_size = 0;
    pthread_mutex_lock(&gov.lock);
    gov.saw_token = auth != NULL && strcmp(auth, "Bearer " GOV_TOKEN) == 0;
    if (strcmp(method, "GET") == 0 && strcmp(url, "/contracts/c1") == 0) {
        snprintf(
            body, sizeof body,
            "{\"id\":\"c1\",\"status\":\"%s\",\"reason\":\"%s\",\"contract\":{\"id\":\"c1\",\"datasets\":["
            "{\"id\":\"%s\",\"accessMode\":\"%s\"}]}}",
            gov.status, strcmp(gov.status, "revoked") == 0 ? "revoked by provider" : "",
            gov.name_ds_a ? DS_A : DS_B, gov.mode);
    } else if (strcmp(method, "POST") == 0 && strcmp(url, "/contracts/c1/use") == 0) {
        const char *ds = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "dataset");
        gov.uses_posted++;
        status = gov.use_http;
        if (ds == NULL || strcmp(ds, DS_A) != 0) {
            status = 404;
            snprintf(body, sizeof body, "{\"error\":{\"code\":\"DatasetNotInContract\",\"message\":\"no\"}}");
        } else if (status == 409) {
            snprintf(
                body, sizeof body,
                "{\"error\":{\"code\":\"BudgetSpent\",\"message\":\"the use budget of dataset is spent\"}}");
        } else if (gov.bad_use_body) {
            snprintf(body, sizeof body, "{\"used\":\"one\"}");
        } else {
            gov.used++;
            snprintf(body, sizeof body, "{\"dataset\":\"%s\",\"used\":%u,\"maxMounts\":%u,\"remaining\":%u}",
                     ds, gov.used, gov.max, gov.max - gov.used);
        }
    } else {
        status = 404;
        snprintf(body, sizeof body,
                 "{\"error\":{\"code\":\"ContractNotFound\",\"message\":\"no contract\"}}");
    }
    pthread_mutex_unlock(&gov.lock);
    return gov_reply(c, status, body);
}

static void gov_set(const char *status, const char *mode, int name_ds_a, unsigned use_http)
{
    pthread_mutex_lock(&gov.lock);
    snprintf(gov.status, sizeof gov.status, "%s", status);
    snprintf(gov.mode, sizeof gov.mode, "%s", mode);
    gov.name_ds_a = name_ds_a;
    gov.use_http = use_http;
    gov.bad_use_body = 0;
    gov.used = 0;
    gov.max = 3;
    gov.uses_posted = 0;
    pthread_mutex_unlock(&gov.lock);
}

static unsigned gov_uses_posted(void)
{
    unsigned n;
    pthread_mutex_lock(&gov.lock);
    n = gov.uses_posted;
    pthread_mutex_unlock(&gov.lock);
    return n;
}

static char dir[] = "/tmp/ccrfs-test-broker-gate-XXXXXX";
static char sim[300], state[300], spec[320], url[64], gov_url[64];
static struct keys_broker *broker;
static const uint8_t secret[32] = {7,  7,  7,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,
                                   14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29};

static int setup(void **state_)
{
    struct keys_sim_config cfg = {0};
    struct keys_broker_conf conf = {0};
    struct keys_rstore *rs;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    const union MHD_DaemonInfo *info;
    uint8_t d[32];
    char hex[65], path[400];
    (void)state_;
    ccr_log_set_level(CCR_LOG_ERROR);
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(sim, sizeof sim, "%s/sim", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(spec, sizeof spec, "sim:%s", sim);
    if (keys_sim_init(sim, &cfg) != 0)
        return -1;
    /* The guest was launched with toml_basic: HOST_DATA is its SHA-256. */
    EVP_Digest(toml_basic, strlen(toml_basic), d, NULL, EVP_sha256(), NULL);
    ccr_hex_encode(d, 32, hex);
    snprintf(path, sizeof path, "%s/host_data", sim);
    if (ccr_write_file_atomic(path, hex, 64, 0600) != 0)
        return -1;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    gov.mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, gov_request, NULL,
                               MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (gov.mhd == NULL || (info = MHD_get_daemon_info(gov.mhd, MHD_DAEMON_INFO_BIND_PORT)) == NULL)
        return -1;
    snprintf(gov_url, sizeof gov_url, "http://127.0.0.1:%u", info->port);
    if (keys_rstore_open(state, &rs) != 0 ||
        keys_rstore_put(rs, "hosp/dek/v1", "{\"allOf\":[{\"claim\":\"debug\",\"equals\":false}]}", secret,
                        32) != 0 ||
        keys_rstore_put(rs, "hosp/dek/v2", "{\"allOf\":[{\"claim\":\"debug\",\"equals\":false}]}", secret,
                        32) != 0)
        return -1;
    keys_rstore_close(rs);
    conf.state_dir = state;
    conf.admin_token = "test-admin-token-0123456789";
    conf.sim_root = sim;
    conf.no_kds = 1;
    conf.governance_url = gov_url;
    conf.governance_token = GOV_TOKEN;
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
    if (gov.mhd)
        MHD_stop_daemon(gov.mhd);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void expect_refusal(int rc, int code, const char *words)
{
    if (rc != code || strstr(ccr_err_msg(rc), words) == NULL)
        fail_msg("expected error %d with '%s', got %d: %s", code, words, rc, ccr_err_msg(rc));
}

/* A policy parsed with its exact length. */
static int parse_policy(const char *text, struct keys_policy **out)
{
    return keys_policy_parse(text, strlen(text), out);
}

/* ---- init-data claims ------------------------------------------------------------------- */

/* The header every init-data document carries. */
#define IDH "version = \"0.1.0\"\nalgorithm = \"sha256\"\n"

static void test_initdata_claims(void **state_)
{
    static const uint8_t digest[32] = {0xab};
    struct json_object *c, *v;
    (void)state_;
    assert_int_equal(keys_initdata_claims(toml_basic, digest, 32, &c), 0);
    assert_true(json_object_object_get_ex(c, "digest", &v));
    assert_int_equal(json_object_get_string_len(v), 64);
    assert_true(json_object_object_get_ex(c, "ccrfs", &v));
    assert_true(json_object_object_get_ex(v, "contract", &v));
    assert_string_equal(json_object_get_string(v), "c1");
    json_object_put(c);
    /* No ccrfs entry: only the digest. */
    assert_int_equal(keys_initdata_claims(IDH "[data]\n", digest, 32, &c), 0);
    assert_false(json_object_object_get_ex(c, "ccrfs", NULL));
    json_object_put(c);
    /* Malformed input is refused, naming what and where. */
    expect_refusal(keys_initdata_claims(IDH "[data]\n\"ccrfs.json\" = \"{\n", digest, 32, &c), EINVAL,
                   "init-data:4: key 'ccrfs.json': newline in a single-line string");
    expect_refusal(
        keys_initdata_claims(IDH "[data]\n\"ccrfs.json\" = '{\"contract\":\"c\",\"datasets\":[{\"id\":\"x\","
                                 "\"mode\":\"read-only\"}]}'\n",
                             digest, 32, &c),
        EINVAL, "datasets[0].id must be \"sha256:\" and 64 hex digits");
    expect_refusal(
        keys_initdata_claims(IDH "[data]\n\"ccrfs.json\" = '{\"contract\":\"c\",\"datasets\":[{\"id\":\"" DS_A
                                 "\",\"mode\":\"write\"}]}'\n",
                             digest, 32, &c),
        EINVAL, "datasets[0].mode must be read-only, no-egress or sink");
    expect_refusal(keys_initdata_claims(IDH "[data]\n\"ccrfs.json\" = '{\"contract\":7}'\n", digest, 32, &c),
                   EINVAL, "\"contract\" must be a string");
    expect_refusal(keys_initdata_claims(IDH "[data]\n\"ccrfs.json\" = '{\"datasets\":{}}'\n", digest, 32, &c),
                   EINVAL, "\"datasets\" must be an array");
    expect_refusal(keys_initdata_claims(IDH "[data]\n\"ccrfs.json\" = 'not json'\n", digest, 32, &c), EINVAL,
                   "ccrfs.json\": not JSON");
    expect_refusal(keys_initdata_claims(IDH "[data]\n\"ccrfs.json\" = 3\n", digest, 32, &c), EINVAL,
                   "only string values are accepted");
}

/* ---- release policies on init-data claims ----------------------------------------------- */

static int eval(const char *policy, struct json_object *claims, char *reason, size_t len)
{
    struct keys_policy *p;
    int rc = keys_policy_parse(policy, strlen(policy), &p);
    if (rc != 0)
        return -1;
    rc = keys_policy_eval(p, claims, reason, len);
    keys_policy_free(p);
    return rc;
}

static void test_policy_on_init_data(void **state_)
{
    static const uint8_t digest[32] = {0};
    struct json_object *claims = json_object_new_object(), *ic;
    struct keys_policy *p;
    char reason[512];
    (void)state_;
    json_object_object_add(claims, "debug", json_object_new_boolean(0));
    assert_int_equal(eval("{\"allOf\":[{\"claim\":\"init_data.ccrfs.contract\",\"equals\":\"c1\"}]}", claims,
                          reason, sizeof reason),
                     EACCES);
    assert_non_null(strstr(reason, "claim init_data.ccrfs.contract is absent"));
    assert_int_equal(keys_initdata_claims(toml_basic, digest, 32, &ic), 0);
    json_object_object_add(claims, "init_data", ic);
    assert_int_equal(eval("{\"allOf\":[{\"claim\":\"init_data.ccrfs.contract\",\"equals\":\"c1\"},"
                          "{\"claim\":\"init_data.ccrfs.datasets\",\"equals\":{\"id\":\"" DS_A
                          "\",\"mode\":\"read-only\"}},"
                          "{\"claim\":\"init_data.ccrfs.datasets\",\"equals\":\"" DS_B "\"},"
                          "{\"claim\":\"init_data.ccrfs.resources\",\"equals\":\"hosp/dek/v1\"},"
                          "{\"claim\":\"init_data.ccrfs.governanceApi\",\"equals\":\"ccrfs\"},"
                          "{\"claim\":\"init_data.digest\",\"equals\":"
                          "\"0000000000000000000000000000000000000000000000000000000000000000\"}]}",
                          claims, reason, sizeof reason),
                     0);
    assert_int_equal(eval("{\"allOf\":[{\"claim\":\"init_data.ccrfs.contract\",\"equals\":\"c2\"}]}", claims,
                          reason, sizeof reason),
                     EACCES);
    assert_non_null(strstr(reason, "claim init_data.ccrfs.contract is c1, the policy requires c2"));
    assert_int_equal(eval("{\"allOf\":[{\"claim\":\"init_data.ccrfs.datasets\",\"equals\":{\"id\":\"" DS_A
                          "\",\"mode\":\"no-egress\"}}]}",
                          claims, reason, sizeof reason),
                     EACCES);
    assert_non_null(strstr(reason, "does not list"));
    assert_int_equal(
        eval("{\"allOf\":[{\"claim\":\"init_data.ccrfs.resources\",\"equals\":\"hosp/dek/v9\"}]}", claims,
             reason, sizeof reason),
        EACCES);
    /* Malformed conditions are refused when the policy is set. */
    expect_refusal(
        parse_policy("{\"allOf\":[{\"claim\":\"init_data.ccrfs.datasets\",\"equals\":\"x\"}]}", &p), EINVAL,
        "must equal a dataset id");
    expect_refusal(
        parse_policy("{\"allOf\":[{\"claim\":\"init_data.ccrfs.datasets\",\"equals\":{\"id\":\"" DS_A
                     "\",\"mode\":\"rw\"}}]}",
                     &p),
        EINVAL, "read-only, no-egress or sink");
    expect_refusal(parse_policy("{\"allOf\":[{\"claim\":\"init_data.ccrfs.contrat\",\"equals\":\"c\"}]}", &p),
                   EINVAL, "unknown claim 'init_data.ccrfs.contrat'");
    json_object_put(claims);
}

/* ---- governance answers ----------------------------------------------------------------- */

static void test_govcheck_answers(void **state_)
{
    struct keys_govcheck *g;
    struct keys_govcheck_use use;
    char reason[600];
    (void)state_;
    assert_int_equal(keys_govcheck_new(gov_url, GOV_TOKEN, NULL, &g), 0);
    gov_set("active", "read-only", 1, 200);
    assert_int_equal(keys_govcheck_release(g, "c1", DS_A, "read-only", &use, reason, sizeof reason), 0);
    assert_int_equal(use.used, 1);
    assert_int_equal(use.max_mounts, 3);
    assert_int_equal(use.remaining, 2);
    assert_true(gov.saw_token);
    gov_set("revoked", "read-only", 1, 200);
    assert_int_equal(keys_govcheck_release(g, "c1", DS_A, "read-only", &use, reason, sizeof reason), EACCES);
    assert_non_null(strstr(reason, "contract c1 is revoked: revoked by provider"));
    assert_int_equal(gov_uses_posted(), 0); /* nothing counted for a refused contract */
    gov_set("pending", "read-only", 1, 200);
    assert_int_equal(keys_govcheck_release(g, "c1", DS_A, "read-only", &use, reason, sizeof reason), EACCES);
    assert_non_null(strstr(reason, "is pending"));
    gov_set("active", "read-only", 0, 200);
    assert_int_equal(keys_govcheck_release(g, "c1", DS_A, "read-only", &use, reason, sizeof reason), EACCES);
    assert_non_null(strstr(reason, "contract c1 does not name dataset " DS_A));
    gov_set("active", "no-egress", 1, 200);
    assert_int_equal(keys_govcheck_release(g, "c1", DS_A, "read-only", &use, reason, sizeof reason), EACCES);
    assert_non_null(strstr(reason, "grants dataset " DS_A " as no-egress; the init-data asks read-only"));
    gov_set("active", "read-only", 1, 409);
    assert_int_equal(keys_govcheck_release(g, "c1", DS_A, "read-only", &use, reason, sizeof reason), EACCES);
    assert_non_null(strstr(reason, "BudgetSpent"));
    assert_non_null(strstr(reason, "(use budget spent)"));
    assert_int_equal(keys_govcheck_release(g, "c9", DS_A, "read-only", &use, reason, sizeof reason), EACCES);
    assert_non_null(strstr(reason, "ContractNotFound"));
    gov_set("active", "read-only", 1, 200);
    gov.bad_use_body = 1;
    assert_int_equal(keys_govcheck_release(g, "c1", DS_A, "read-only", &use, reason, sizeof reason), EPROTO);
    assert_non_null(strstr(reason, "malformed"));
    keys_govcheck_free(g);
    /* Nobody listening: fail closed. */
    assert_int_equal(keys_govcheck_new("http://127.0.0.1:1", NULL, NULL, &g), 0);
    assert_int_not_equal(keys_govcheck_release(g, "c1", DS_A, "read-only", &use, reason, sizeof reason), 0);
    assert_non_null(strstr(reason, "cannot be reached"));
    keys_govcheck_free(g);
    assert_int_equal(keys_govcheck_new("ftp://x", NULL, NULL, &g), EINVAL);
}

static void test_govcheck_target(void **state_)
{
    static const uint8_t digest[32] = {0};
    struct json_object *claims = json_object_new_object(), *ic, *map = json_object_new_object();
    const char *contract;
    char ds[72], mode[16], reason[512];
    (void)state_;
    assert_int_equal(
        keys_govcheck_target(claims, "hosp/dek/v1", NULL, ds, mode, &contract, reason, sizeof reason),
        EACCES);
    assert_non_null(strstr(reason, "no init-data"));
    assert_int_equal(keys_initdata_claims(toml_basic, digest, 32, &ic), 0);
    json_object_object_add(claims, "init_data", ic);
    /* The only dataset needing a key (the sink needs none). */
    assert_int_equal(
        keys_govcheck_target(claims, "hosp/dek/v1", NULL, ds, mode, &contract, reason, sizeof reason), 0);
    assert_string_equal(ds, DS_A);
    assert_string_equal(mode, "read-only");
    assert_string_equal(contract, "c1");
    assert_int_equal(
        keys_govcheck_target(claims, "hosp/dek/v2", NULL, ds, mode, &contract, reason, sizeof reason),
        EACCES);
    assert_non_null(strstr(reason, "resource hosp/dek/v2 is not listed"));
    /* A configured dataset wins, and must be in the init-data. */
    json_object_object_add(map, "hosp/dek/v1", json_object_new_string(DS_B));
    assert_int_equal(
        keys_govcheck_target(claims, "hosp/dek/v1", map, ds, mode, &contract, reason, sizeof reason), 0);
    assert_string_equal(ds, DS_B);
    assert_string_equal(mode, "sink");
    json_object_object_add(
        map, "hosp/dek/v1",
        json_object_new_string("sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"));
    assert_int_equal(
        keys_govcheck_target(claims, "hosp/dek/v1", map, ds, mode, &contract, reason, sizeof reason), EACCES);
    assert_non_null(strstr(reason, "is not listed in the init-data's datasets"));
    json_object_put(map);
    json_object_put(claims);
}

/* ---- releases end to end ---------------------------------------------------------------- */

static int fetch(const char *toml, const char *resource)
{
    struct keys_kbs_attest_faults f = {.init_data_body = toml};
    struct keys_kbs_session *s;
    uint8_t *v;
    size_t len;
    int rc;
    if ((rc = keys_kbs_session_new(url, NULL, NULL, &s)) != 0)
        return rc;
    if ((rc = keys_kbs_auth(s)) == 0 && (rc = keys_kbs_attest(s, spec, toml ? &f : NULL, NULL, 0)) == 0 &&
        (rc = keys_kbs_get_resource(s, resource, &v, &len)) == 0) {
        if (len != 32 || memcmp(v, secret, 32) != 0)
            rc = EBADMSG;
        ccr_secmem_free(v, len);
    }
    keys_kbs_session_free(s);
    return rc;
}

static void test_release_gated(void **state_)
{
    char path[400];
    (void)state_;
    gov_set("active", "read-only", 1, 200);
    assert_int_equal(fetch(toml_basic, "hosp/dek/v1"), 0);
    assert_int_equal(gov.used, 1); /* one use counted for one release */
    assert_int_equal(gov_uses_posted(), 1);
    /* The first finding: the contract is revoked; whatever the mount's arguments, no key. */
    gov_set("revoked", "read-only", 1, 200);
    expect_refusal(fetch(toml_basic, "hosp/dek/v1"), EACCES, "contract c1 is revoked");
    gov_set("active", "read-only", 1, 409);
    expect_refusal(fetch(toml_basic, "hosp/dek/v1"), EACCES, "use budget spent");
    gov_set("active", "read-only", 0, 200);
    expect_refusal(fetch(toml_basic, "hosp/dek/v1"), EACCES, "does not name dataset");
    gov_set("active", "no-egress", 1, 200);
    expect_refusal(fetch(toml_basic, "hosp/dek/v1"), EACCES, "as no-egress; the init-data asks read-only");
    gov_set("active", "read-only", 1, 200);
    expect_refusal(fetch(toml_basic, "hosp/dek/v2"), EACCES, "resource hosp/dek/v2 is not listed");
    /* No init-data: a gated broker releases nothing. */
    snprintf(path, sizeof path, "%s/host_data", sim);
    unlink(path);
    expect_refusal(fetch(NULL, "hosp/dek/v1"), EACCES, "no init-data with a ccrfs.json entry");
    assert_int_equal(gov_uses_posted(), 0);
    /* The broker says it gates; a mount then leaves the count to it. */
    assert_int_equal(keys_broker_gates_on_governance(url, NULL), 1);
    assert_int_equal(keys_broker_gates_on_governance(gov_url, NULL), 0);
    assert_int_equal(keys_broker_gates_on_governance("http://127.0.0.1:1", NULL), 0);
}

/* Governance down: no key, the reason says so. Last, as it stops the stand-in. */
static void test_release_governance_down(void **state_)
{
    uint8_t d[32];
    char hex[65], path[400];
    (void)state_;
    EVP_Digest(toml_basic, strlen(toml_basic), d, NULL, EVP_sha256(), NULL);
    ccr_hex_encode(d, 32, hex);
    snprintf(path, sizeof path, "%s/host_data", sim);
    assert_int_equal(ccr_write_file_atomic(path, hex, 64, 0600), 0);
    MHD_stop_daemon(gov.mhd);
    gov.mhd = NULL;
    expect_refusal(fetch(toml_basic, "hosp/dek/v1"), EACCES, "cannot be reached");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initdata_claims),  cmocka_unit_test(test_policy_on_init_data),
        cmocka_unit_test(test_govcheck_answers), cmocka_unit_test(test_govcheck_target),
        cmocka_unit_test(test_release_gated),    cmocka_unit_test(test_release_governance_down),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
