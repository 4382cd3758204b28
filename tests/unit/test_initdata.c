/* Init-data (keys/initdata.h): the TOML subset Confidential Containers writes, each refusal
 * named by line and key, the digest and HOST_DATA binding (known answers computed
 * independently with Python's hashlib and checked against Python's tomllib, see below), ccrfs's
 * strict "ccrfs.json" entry, the mount's arguments under it (launch/initdata.h), and the KBS
 * attestation carrying it to a broker that checks it against HOST_DATA. */
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
#include "keys/broker/store.h"
#include "keys/initdata.h"
#include "keys/kbs/client.h"
#include "launch/initdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The documents and their digests were produced by one Python script, which wrote each to a
 * file and printed hashlib.new(ALG, text.encode()).hexdigest(); tomllib.load() of the same
 * files gives the values the tests below expect. TRUSTEE_DOC is the TOML example of Trustee's
 * kbs/docs/initdata.md ("Initdata Digest Calculating"); COCO_POD has the shape of a CoCo pod's
 * init-data (aa.toml, cdh.toml, policy.rego) with ccrfs's entry added. */
static const char TRUSTEE_DOC[] = "algorithm = \"sha384\"\nversion = \"0.1.0\"\n\n[data]\n\"key1\" = "
                                  "'''value1'''\n\"key2\" = '''value2'''\n";
static const char COCO_POD[] =
    "# the clean room pod\nalgorithm = \"sha256\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = "
    "'''\n[token_configs]\n[token_configs.kbs]\nurl = \"http://127.0.0.1:8082\"\ncert = "
    "\"\"\"\n\"\"\"\n'''\n\n\"cdh.toml\"  = '''\nsocket = "
    "'unix:///run/confidential-containers/cdh.sock'\ncredentials = []\n'''\n\n\"policy.rego\" = '''\npackage "
    "agent_policy\n\ndefault CreateContainerRequest := true'''\n\n\"ccrfs.json\" = '''\n{\n  \"governance\": "
    "\"http://127.0.0.1:8081\",\n  \"governanceApi\": \"ccrfs\",\n  \"contract\": \"diabetes-study-1\",\n  "
    "\"datasets\": [\n    {\"id\": "
    "\"sha256:abababababababababababababababababababababababababababababababab\", \"mode\": \"read-only\", "
    "\"store\": \"http://127.0.0.1:8080/hospital\"},\n    {\"id\": "
    "\"sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\", \"mode\": \"sink\"}\n  "
    "],\n  \"broker\": \"http://127.0.0.1:8082\",\n  \"resources\": [\"hospital/dek/v1\"]\n}\n'''\n";
static const char BASIC_ML[] =
    "version = '0.1.0'\r\nalgorithm = 'sha512' # literal strings, CRLF\r\n[data]\r\nplain = \"tab\\there "
    "\\\"quoted\\\" \\u00e9\\U0001F600 back\\\\slash\"\r\nfolded = \"\"\"\r\none \\\r\n    "
    "two\r\n\"\"\"\r\nquotes = '''a '' b'''''\r\n";
#define TRUSTEE_DOC_SHA384                                                                                   \
    "c4a753c59b27454170c1a530881bb3e71ab4ae539a4a6cf88914d8895e7506c500f69f8b6cdf226a54acad366eab6927"
#define COCO_POD_SHA256 "0598faf050e36e86a155db77f18ab9ab8eb2fa0914cd77f2b2b4b4be9bedf0bb"
#define BASIC_ML_SHA512                                                                                      \
    "6f3e057c3b7c4af491ddec7773e147d390c05af7610cba8c5800e3071e88205fcf6e65467ca1f01689bc3416248448ba6e9787" \
    "d3"                                                                                                     \
    "4f986e1a4c49fdf62f5ca197"
#define ID1 "sha256:abababababababababababababababababababababababababababababababab"
#define ID2 "sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    ccr_hex_encode(b, n, out);
}

static void parse_ok(const char *text, struct keys_initdata *d)
{
    int rc = keys_initdata_parse(text, strlen(text), "test.toml", d);
    if (rc != 0)
        fail_msg("parse failed: %s", ccr_err_msg(rc));
}

static void test_trustee_example(void **state)
{
    struct keys_initdata d;
    char hex[2 * KEYS_INITDATA_MAX_DIGEST + 1];
    (void)state;
    parse_ok(TRUSTEE_DOC, &d);
    assert_string_equal(d.version, "0.1.0");
    assert_string_equal(d.algorithm, "sha384");
    assert_int_equal(d.digest_len, 48);
    hex_of(d.digest, d.digest_len, hex);
    assert_string_equal(hex, TRUSTEE_DOC_SHA384);
    /* HOST_DATA holds 32 bytes: a SHA-384 digest is cut */
    hex_of(d.host_data, 32, hex);
    assert_memory_equal(hex, TRUSTEE_DOC_SHA384, 64);
    assert_int_equal(d.data_count, 2);
    assert_string_equal(keys_initdata_get(&d, "key1"), "value1");
    assert_string_equal(keys_initdata_get(&d, "key2"), "value2");
    assert_int_equal(d.has_ccrfs, 0);
    assert_int_equal(d.len, strlen(TRUSTEE_DOC));
    assert_string_equal(d.text, TRUSTEE_DOC); /* the exact bytes, for the KBS request */
    keys_initdata_free(&d);
}

static void test_coco_pod_with_ccrfs(void **state)
{
    struct keys_initdata d;
    char hex[2 * KEYS_INITDATA_MAX_DIGEST + 1];
    uint8_t other[32];
    (void)state;
    parse_ok(COCO_POD, &d);
    hex_of(d.digest, d.digest_len, hex);
    assert_string_equal(hex, COCO_POD_SHA256);
    hex_of(d.host_data, 32, hex);
    assert_string_equal(hex, COCO_POD_SHA256); /* SHA-256 fills HOST_DATA exactly */
    /* CoCo's own entries are kept as they are */
    assert_int_equal(d.data_count, 4);
    assert_string_equal(
        keys_initdata_get(&d, "aa.toml"),
        "[token_configs]\n[token_configs.kbs]\nurl = \"http://127.0.0.1:8082\"\ncert = \"\"\"\n\"\"\"\n");
    assert_string_equal(keys_initdata_get(&d, "policy.rego"),
                        "package agent_policy\n\ndefault CreateContainerRequest := true");
    assert_int_equal(d.has_ccrfs, 1);
    assert_string_equal(d.ccrfs.governance, "http://127.0.0.1:8081");
    assert_string_equal(d.ccrfs.governance_api, "ccrfs");
    assert_string_equal(d.ccrfs.contract, "diabetes-study-1");
    assert_string_equal(d.ccrfs.broker, "http://127.0.0.1:8082");
    assert_int_equal(d.ccrfs.dataset_count, 2);
    assert_string_equal(d.ccrfs.datasets[0].id, ID1);
    assert_string_equal(d.ccrfs.datasets[0].mode, "read-only");
    assert_string_equal(d.ccrfs.datasets[0].store, "http://127.0.0.1:8080/hospital");
    assert_string_equal(d.ccrfs.datasets[1].mode, "sink");
    assert_null(d.ccrfs.datasets[1].store);
    assert_int_equal(d.ccrfs.resource_count, 1);
    assert_true(keys_initdata_lists_resource(&d, "hospital/dek/v1"));
    assert_false(keys_initdata_lists_resource(&d, "lab/dek/v1"));
    assert_non_null(keys_initdata_dataset(&d, ID2));
    /* the binding: equal passes, anything else is refused naming both values */
    assert_int_equal(keys_initdata_check_host_data(&d, d.host_data), 0);
    memcpy(other, d.host_data, 32);
    other[31] ^= 1;
    assert_int_equal(keys_initdata_check_host_data(&d, other), EACCES);
    assert_non_null(strstr(ccr_err_msg(EACCES), COCO_POD_SHA256));
    keys_initdata_free(&d);
}

static void test_basic_and_literal_forms(void **state)
{
    struct keys_initdata d;
    char hex[2 * KEYS_INITDATA_MAX_DIGEST + 1];
    (void)state;
    parse_ok(BASIC_ML, &d);
    assert_string_equal(d.algorithm, "sha512");
    hex_of(d.digest, d.digest_len, hex);
    assert_string_equal(hex, BASIC_ML_SHA512);
    assert_string_equal(keys_initdata_get(&d, "plain"),
                        "tab\there \"quoted\" \xc3\xa9\xf0\x9f\x98\x80 back\\slash");
    assert_string_equal(keys_initdata_get(&d, "folded"), "one two\n"); /* line-ending backslash, CRLF as LF */
    assert_string_equal(keys_initdata_get(&d, "quotes"), "a '' b''");  /* up to two quotes before the end */
    keys_initdata_free(&d);
}

/* SM3 is one of kbs-types' HashAlgorithm names too. Python: hashlib.new("sm3", text).hexdigest(). */
static void test_sm3(void **state)
{
    static const char text[] = "algorithm = \"sm3\"\nversion = \"0.1.0\"\n[data]\n";
    struct keys_initdata d;
    char hex[2 * KEYS_INITDATA_MAX_DIGEST + 1];
    (void)state;
    parse_ok(text, &d);
    hex_of(d.digest, d.digest_len, hex);
    assert_string_equal(hex, "f6e80fb85c5c3ad7c4a3210763f7ac6ded88fa9600261f48a6f0d41bf74a191e");
    keys_initdata_free(&d);
}

/* A refusal: EINVAL, and the message holds every one of the words. */
static void refused(const char *text, size_t len, const char *w1, const char *w2)
{
    struct keys_initdata d;
    int rc = keys_initdata_parse(text, len, "bad.toml", &d);
    const char *msg = ccr_err_msg(rc);
    if (rc != EINVAL || strstr(msg, w1) == NULL || (w2 != NULL && strstr(msg, w2) == NULL))
        fail_msg("'%s': expected EINVAL naming '%s' and '%s', got %d: %s", text, w1, w2 ? w2 : "", rc, msg);
    assert_null(d.text);
    assert_int_equal(d.data_count, 0);
}

#define HEAD                  "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n"
#define REFUSED(text, w1, w2) refused(text, sizeof(text) - 1, w1, w2)

static void test_refusals_toml(void **state)
{
    (void)state;
    REFUSED("version = 1\n", "bad.toml:1: key 'version'", "only string values");
    REFUSED(HEAD "\"x\" = [\"a\"]\n", ":4: key 'x'", "only string values");
    REFUSED(HEAD "x = {a = \"b\"}\n", ":4: key 'x'", "only string values");
    REFUSED(HEAD "x = true\n", ":4: key 'x'", "only string values");
    REFUSED("data.x = \"y\"\n", ":1: key 'data'", "dotted keys");
    REFUSED(HEAD "[other]\n", ":4: key 'other'", "unknown table");
    REFUSED(HEAD "[data]\n", ":4: key 'data'", "[data] given twice");
    REFUSED("[[data]]\n", ":1:", "arrays of tables");
    REFUSED(HEAD "a = \"1\"\n\"a\" = '2'\n", ":5: key 'a'", "given twice");
    REFUSED("version = \"0.1.0\"\nversion = \"0.1.0\"\n", ":2: key 'version'", "given twice");
    REFUSED("foo = \"bar\"\n", ":1: key 'foo'", "unknown top-level key");
    REFUSED("version = \"0.1.0\"\n[data]\n", "no algorithm", NULL);
    REFUSED("version = \"0.1.0\"\nalgorithm = \"sha256\"\n", "no [data]", NULL);
    REFUSED("version = \"0.2.0\"\nalgorithm = \"sha256\"\n[data]\n", "key 'version'", "0.1.0");
    REFUSED("version = \"0.1.0\"\nalgorithm = \"md5\"\n[data]\n", "key 'algorithm'",
            "sha256, sha384, sha512 or sm3");
    REFUSED(HEAD "x = \"open\n", ":4: key 'x'", "newline in a single-line string");
    REFUSED(HEAD "x = '''never closed\n", ":5: key 'x'", "unterminated string");
    REFUSED(HEAD "x = \"\\q\"\n", ":4: key 'x'", "unknown escape");
    REFUSED(HEAD "x = \"\\u12\"\n", ":4: key 'x'", "4 hex digits");
    REFUSED(HEAD "x = \"\\uD800\"\n", ":4: key 'x'", "no Unicode scalar value");
    REFUSED(HEAD "x = \"\\u0000\"\n", ":4: key 'x'", "NUL");
    REFUSED(HEAD "x = \"bell\a\"\n", ":4: key 'x'", "control character");
    REFUSED(HEAD "x = \"a\" \"b\"\n", ":4: key 'x'", "end of the line");
    REFUSED(HEAD "x = '''a''''''\n", ":4: key 'x'", "more than two quotes");
    REFUSED(HEAD "x = \"\xc3\x28\"\n", "bad.toml:4:", "not UTF-8");
    REFUSED(HEAD "x = \"\xe0\x80\xaf\"\n", "bad.toml:4:", "overlong");
    REFUSED(HEAD "x = \"a\0b\"\n", "NUL byte", NULL);
    REFUSED(HEAD "= \"a\"\n", ":4:", "expected a key");
    REFUSED(HEAD "x \"a\"\n", ":4: key 'x'", "expected '='");
    REFUSED(HEAD "'''k''' = \"a\"\n", ":4:", "multi-line string");
}

static void ccrfs_refused(const char *json, const char *words)
{
    struct keys_initdata_ccrfs c;
    int rc = keys_initdata_ccrfs_parse(json, "ccrfs.json", &c);
    if (rc != EINVAL || strstr(ccr_err_msg(rc), words) == NULL)
        fail_msg("%s: expected EINVAL naming '%s', got %d: %s", json, words, rc, ccr_err_msg(rc));
}

static void test_refusals_ccrfs_json(void **state)
{
    struct keys_initdata_ccrfs c;
    (void)state;
    ccrfs_refused("{\"governance\": \"http://g\", \"extra\": 1}", "unknown member \"extra\"");
    ccrfs_refused("{\"governance\": \"ftp://g\"}", "\"governance\" must be an http");
    ccrfs_refused("{\"broker\": \"http://user@b\"}", "\"broker\" must be an http");
    ccrfs_refused("{\"governanceApi\": \"other\"}", "\"ccrfs\" or \"acr\"");
    ccrfs_refused("{\"contract\": \"a b\"}", "contract id");
    ccrfs_refused("{\"contract\": 5}", "\"contract\" must be a string");
    ccrfs_refused("{\"datasets\": [{\"id\": \"sha256:12\", \"mode\": \"sink\"}]}", "datasets[0].id");
    ccrfs_refused("{\"datasets\": [{\"id\": \"" ID1 "\", \"mode\": \"write\"}]}", "datasets[0].mode");
    ccrfs_refused("{\"datasets\": [{\"id\": \"" ID1 "\"}]}", "needs \"id\" and \"mode\"");
    ccrfs_refused("{\"datasets\": [{\"id\": \"" ID1 "\", \"mode\": \"sink\", \"name\": \"x\"}]}",
                  "unknown member \"name\"");
    ccrfs_refused("{\"datasets\": [{\"id\": \"" ID1
                  "\", \"mode\": \"sink\", \"store\": \"https://s/c?sig=x\"}]}",
                  "without a query");
    ccrfs_refused("{\"datasets\": [{\"id\": \"" ID1 "\", \"mode\": \"sink\"}, {\"id\": \"" ID1
                  "\", \"mode\": \"read-only\"}]}",
                  "lists " ID1 " again");
    ccrfs_refused("{\"resources\": [\"a/b\"]}", "resources[0]");
    ccrfs_refused("{\"resources\": \"a/b/c\"}", "\"resources\" must be an array");
    ccrfs_refused("[1]", "must be a JSON object");
    ccrfs_refused("{\"contract\": \"c\",}", "not JSON");
    ccrfs_refused("{\"contract\": \"c\"} {}", "at byte 18"); /* text after the document */
    /* and in a document: the message names where the entry is */
    REFUSED(HEAD "\"ccrfs.json\" = '{\"x\": 1}'\n", "bad.toml: [data].\"ccrfs.json\"",
            "unknown member \"x\"");
    /* every member may be left open */
    assert_int_equal(keys_initdata_ccrfs_parse("{}", "ccrfs.json", &c), 0);
    keys_initdata_ccrfs_free(&c);
}

/* The mount's arguments under init-data: taken when left open, refused naming both values when
 * they contradict it. */
struct args_fixture {
    struct gov_config gov;
    struct keys_release_request keys;
    char id[FMT_DATASET_ID_LEN + 1];
    enum fs_access_mode mode;
    struct launch_initdata_args a;
};

static void args_reset(struct args_fixture *f, const char *store)
{
    memset(f, 0, sizeof *f);
    f->a.gov = &f->gov;
    f->a.keys = &f->keys;
    f->a.store_url = store;
    f->a.dataset_id = f->id;
    f->a.mode = &f->mode;
}

static void apply_refused(const struct keys_initdata *d, struct args_fixture *f, const char *w1,
                          const char *w2)
{
    int rc = launch_initdata_apply(d, "init.toml", &f->a);
    if (rc != EINVAL || strstr(ccr_err_msg(rc), w1) == NULL || strstr(ccr_err_msg(rc), w2) == NULL)
        fail_msg("expected EINVAL naming '%s' and '%s', got %d: %s", w1, w2, rc, ccr_err_msg(rc));
}

static void test_mount_arguments(void **state)
{
    struct keys_initdata d, plain;
    struct args_fixture f;
    (void)state;
    parse_ok(COCO_POD, &d);
    /* everything left open is taken; the dataset is the one whose store this is */
    args_reset(&f, "http://127.0.0.1:8080/hospital?sv=secret-sas");
    assert_int_equal(launch_initdata_apply(&d, "init.toml", &f.a), 0);
    assert_string_equal(f.gov.governance_url, "http://127.0.0.1:8081");
    assert_string_equal(f.gov.governance_api, "ccrfs");
    assert_string_equal(f.gov.contract_id, "diabetes-study-1");
    assert_string_equal(f.keys.kbs_url, "http://127.0.0.1:8082");
    assert_string_equal(f.keys.resource, "hospital/dek/v1");
    assert_string_equal(f.id, ID1);
    assert_int_equal(f.mode, FS_MODE_READ_ONLY);
    /* the same values given are fine (a trailing slash aside) */
    args_reset(&f, "http://127.0.0.1:8080/hospital");
    f.gov.governance_url = "http://127.0.0.1:8081/";
    f.gov.contract_id = "diabetes-study-1";
    f.keys.kbs_url = "http://127.0.0.1:8082";
    f.keys.resource = "hospital/dek/v1";
    f.a.mode_given = 1;
    assert_int_equal(launch_initdata_apply(&d, "init.toml", &f.a), 0);
    /* contradictions, each naming both values */
    args_reset(&f, "http://127.0.0.1:8080/hospital");
    f.gov.governance_url = "http://evil:1";
    apply_refused(&d, &f, "--governance http://evil:1", "governance http://127.0.0.1:8081");
    args_reset(&f, "http://127.0.0.1:8080/hospital");
    f.keys.kbs_url = "http://user:pw@127.0.0.1:9/?token=secret";
    apply_refused(&d, &f, "--kbs http://127.0.0.1:9/?<redacted>", "key broker");
    assert_null(strstr(ccr_err_msg(EINVAL), "secret"));
    assert_null(strstr(ccr_err_msg(EINVAL), "pw@"));
    args_reset(&f, "http://127.0.0.1:8080/hospital");
    f.gov.contract_id = "other";
    apply_refused(&d, &f, "--contract other", "contract diabetes-study-1");
    args_reset(&f, "http://127.0.0.1:8080/hospital");
    f.gov.governance_api = "acr";
    apply_refused(&d, &f, "--governance-api acr", "API ccrfs");
    args_reset(&f, "http://127.0.0.1:8080/hospital");
    f.keys.kbs_url = "http://127.0.0.1:9";
    apply_refused(&d, &f, "--kbs http://127.0.0.1:9", "key broker http://127.0.0.1:8082");
    args_reset(&f, "http://127.0.0.1:8080/hospital");
    f.keys.key_file = "/tmp/k";
    apply_refused(&d, &f, "--key", "key broker http://127.0.0.1:8082");
    args_reset(&f, "http://127.0.0.1:8080/hospital");
    f.keys.resource = "lab/dek/v1";
    apply_refused(&d, &f, "--resource lab/dek/v1", "hospital/dek/v1");
    args_reset(&f, "http://127.0.0.1:8080/hospital");
    snprintf(f.id, sizeof f.id, "sha256:%064d", 0);
    apply_refused(&d, &f, "--dataset-id sha256:0000", "not among the datasets");
    args_reset(&f, "http://127.0.0.1:8080/hospital");
    f.mode = FS_MODE_NO_EGRESS;
    f.a.mode_given = 1;
    apply_refused(&d, &f, "-o mode=no-egress", "mode read-only");
    args_reset(&f, "http://127.0.0.1:8080/elsewhere");
    snprintf(f.id, sizeof f.id, "%s", ID1);
    apply_refused(&d, &f, "STORE_URL http://127.0.0.1:8080/elsewhere",
                  "store http://127.0.0.1:8080/hospital");
    /* a store matching no entry, with two listed: the dataset must be named */
    args_reset(&f, "http://127.0.0.1:8080/outputs");
    apply_refused(&d, &f, "lists 2 datasets", "--dataset-id");
    /* naming the sink selects its mode; no resource is needed for it */
    args_reset(&f, "http://127.0.0.1:8080/outputs");
    snprintf(f.id, sizeof f.id, "%s", ID2);
    assert_int_equal(launch_initdata_apply(&d, "init.toml", &f.a), 0);
    assert_int_equal(f.mode, FS_MODE_SINK);
    assert_null(f.keys.resource);
    /* init-data without ccrfs's entry configures nothing: refused */
    parse_ok(TRUSTEE_DOC, &plain);
    args_reset(&f, "/tmp");
    apply_refused(&plain, &f, "init.toml", "has no [data].\"ccrfs.json\"");
    keys_initdata_free(&plain);
    keys_initdata_free(&d);
}

/* The KBS attestation carries the init-data; the broker checks it against HOST_DATA. */
static char dir[] = "/tmp/ccrfs-test-initdata-XXXXXX";

static int fetch_good(const char *url, const char *spec, const char *init_data, int session_option)
{
    struct keys_kbs_session *s;
    uint8_t *v;
    size_t len;
    int rc;
    if (!session_option) {
        if ((rc = keys_kbs_set_guest_init_data(init_data)) != 0)
            return rc;
        rc = keys_kbs_fetch(url, NULL, "ccrfs/dek/good", spec, &v, &len, NULL, 0);
        (void)keys_kbs_set_guest_init_data(NULL);
        if (rc == 0)
            ccr_secmem_free(v, len);
        return rc;
    }
    if ((rc = keys_kbs_session_new(url, NULL, NULL, &s)) != 0)
        return rc;
    if ((rc = keys_kbs_session_set_init_data(s, init_data)) == 0 && (rc = keys_kbs_auth(s)) == 0 &&
        (rc = keys_kbs_attest(s, spec, NULL, NULL, 0)) == 0 &&
        (rc = keys_kbs_get_resource(s, "ccrfs/dek/good", &v, &len)) == 0)
        ccr_secmem_free(v, len);
    keys_kbs_session_free(s);
    return rc;
}

static void test_broker_checks_init_data(void **state)
{
    static const uint8_t secret[32] = {7};
    struct keys_sim_config cfg = {0};
    struct keys_broker_conf conf = {0};
    struct keys_broker *broker;
    struct keys_rstore *rs;
    struct keys_initdata d;
    char sim[300], st[300], spec[320], url[64], hex[65], cmd[400];
    char *edited;
    int rc;
    (void)state;
    ccr_log_set_level(CCR_LOG_ERROR);
    assert_non_null(mkdtemp(dir));
    snprintf(sim, sizeof sim, "%s/sim", dir);
    snprintf(st, sizeof st, "%s/state", dir);
    snprintf(spec, sizeof spec, "sim:%s", sim);
    parse_ok(COCO_POD, &d);
    hex_of(d.host_data, 32, hex);
    cfg.host_data_hex = hex;
    assert_int_equal(keys_sim_init(sim, &cfg), 0);
    assert_int_equal(keys_rstore_open(st, &rs), 0);
    assert_int_equal(keys_rstore_put(rs, "ccrfs/dek/good",
                                     "{\"allOf\":[{\"claim\":\"debug\",\"equals\":false}]}", secret, 32),
                     0);
    keys_rstore_close(rs);
    conf.state_dir = st;
    conf.admin_token = "test-admin-token-0123456789";
    conf.sim_root = sim;
    assert_int_equal(keys_broker_start(&conf, &broker), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", keys_broker_port(broker));

    /* the guest's init-data, as a session option and as the process's default */
    assert_int_equal(fetch_good(url, spec, d.text, 1), 0);
    assert_int_equal(fetch_good(url, spec, d.text, 0), 0);
    /* edited after launch: the broker refuses it */
    edited = strdup(d.text);
    assert_non_null(edited);
    edited[strlen(edited) - 5] = 'X';
    rc = fetch_good(url, spec, edited, 1);
    if (rc != EACCES || strstr(ccr_err_msg(rc), "init-data does not match the report's HOST_DATA") == NULL)
        fail_msg("expected the broker's refusal, got %d: %s", rc, ccr_err_msg(rc));
    rc = fetch_good(url, spec, edited, 0);
    assert_int_equal(rc, EACCES);
    free(edited);
    /* a new guest with other HOST_DATA on the same machine: the same init-data is refused */
    assert_int_equal(
        keys_sim_relaunch(sim, "00000000000000000000000000000000000000000000000000000000000000ff"), 0);
    assert_int_equal(fetch_good(url, spec, d.text, 1), EACCES);
    assert_int_equal(keys_sim_relaunch(sim, hex), 0);
    assert_int_equal(fetch_good(url, spec, d.text, 1), 0);
    assert_int_equal(keys_sim_relaunch(sim, "12"), EINVAL);

    keys_broker_stop(broker);
    keys_initdata_free(&d);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trustee_example),
        cmocka_unit_test(test_coco_pod_with_ccrfs),
        cmocka_unit_test(test_basic_and_literal_forms),
        cmocka_unit_test(test_refusals_toml),
        cmocka_unit_test(test_refusals_ccrfs_json),
        cmocka_unit_test(test_mount_arguments),
        cmocka_unit_test(test_sm3),
        cmocka_unit_test(test_broker_checks_init_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
