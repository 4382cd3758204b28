/* The party and dataset registry of the governance service, run in-process: registration,
 * list and show; a party keeps its first key; a dataset registration signed by anyone but its
 * registered owner is refused; proposals contradicting the registry are refused (ccrfs format
 * too); a DEPA contract is signed against registered keys, and its view carries the bindings
 * that let a mount admit a dataset by UUID. */
#include "common/err.h"
#include "common/fileio.h"
#include "governance/admission.h"
#include "governance/canon.h"
#include "governance/client.h"
#include "governance/contract.h"
#include "governance/depa.h"
#include "governance/http.h"
#include "governance/service/service.h"
#include "governance/sign.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN   "test-token-0123456789abcdef"
#define CID     "f4f72a88-bab1-11ed-afa1-0242ac120002"
#define U_ICMR  "19517ba8-bab8-11ed-afa1-0242ac120002"
#define U_COWIN "216d5cc6-bab8-11ed-afa1-0242ac120002"
#define U_INDEX "2830a144-bab8-11ed-afa1-0242ac120002"
#define DS_1    "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define DS_2    "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define DS_3    "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static char dir[64], url[64];
static struct gov_service *svc;
static struct gov_key *keys[5]; /* ccrp, icmr, cowin, index, an outsider */
static char *pubs[5];
static const char *const names[5] = {"did:web:ccrp.example.org", "icmr", "cowin", "index", "mallory"};

/* One call; returns the HTTP status, and the reply when asked. */
static long api(const char *method, const char *path, const char *body, char **reply)
{
    struct gov_http *h;
    long status = 0;
    char *resp = NULL;
    assert_int_equal(gov_http_new(url, TOKEN, 5000, &h), 0);
    assert_int_equal(gov_http_request(h, method, path, body, body ? strlen(body) : 0, &status, &resp, NULL),
                     0);
    gov_http_free(h);
    if (reply != NULL)
        *reply = resp;
    else
        free(resp);
    return status;
}

static void expect(long want, const char *method, const char *path, const char *body, const char *words)
{
    char *reply = NULL;
    long got = api(method, path, body, &reply);
    if (got != want || (words != NULL && (reply == NULL || strstr(reply, words) == NULL)))
        fail_msg("%s %s: HTTP %ld (want %ld): %s (want \"%s\")", method, path, got, want, reply ? reply : "",
                 words ? words : "");
    free(reply);
}

static int setup(void **state)
{
    struct gov_service_config sc = {NULL, NULL, 0, NULL};
    char *db;
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_gov_registry.XXXXXX");
    assert_non_null(mkdtemp(dir));
    for (int i = 0; i < 5; i++) {
        char name[16], *p;
        snprintf(name, sizeof name, "k%d.pem", i);
        p = ccr_path_join(dir, name);
        assert_int_equal(gov_key_generate_file(p, i % 2 ? "p256" : "ed25519"), 0);
        assert_int_equal(gov_key_load_private(p, &keys[i]), 0);
        assert_int_equal(gov_key_public_b64(keys[i], &pubs[i]), 0);
        free(p);
    }
    setenv("CCRFS_GOV_TOKEN", TOKEN, 1);
    db = ccr_path_join(dir, "gov.db");
    sc.db_path = db;
    assert_int_equal(gov_service_start(&sc, &svc), 0);
    free(db);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", gov_service_port(svc));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    gov_service_stop(svc);
    for (int i = 0; i < 5; i++) {
        gov_key_free(keys[i]);
        free(pubs[i]);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void register_party(int i, long want)
{
    char body[512];
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"publicKey\":\"%s\",\"name\":\"party %d\"}", names[i],
             pubs[i], i);
    expect(want, "POST", "/parties", body, want == 201 || want == 200 ? pubs[i] : NULL);
}

/* A dataset registration signed with keys[signer]. */
static char *dataset_body(const char *uuid, const char *id, const char *owner, int signer)
{
    char *bytes, *sig, *body = malloc(2048);
    size_t len;
    assert_int_equal(
        gov_dataset_record_bytes(uuid, id, owner, NULL, "http://127.0.0.1:1/blob", NULL, &bytes, &len), 0);
    assert_int_equal(gov_key_sign_b64(keys[signer], bytes, len, &sig), 0);
    snprintf(body, 2048,
             "{\"uuid\":\"%s\",\"id\":\"%s\",\"owner\":\"%s\",\"store\":\"http://127.0.0.1:1/blob\","
             "\"signature\":\"%s\"}",
             uuid, id, owner, sig);
    free(bytes);
    free(sig);
    return body;
}

static void test_parties(void **state)
{
    char body[512];
    (void)state;
    for (int i = 0; i < 4; i++)
        register_party(i, 201);
    register_party(1, 200); /* the same again: no change */
    snprintf(body, sizeof body, "{\"id\":\"icmr\",\"publicKey\":\"%s\"}", pubs[4]);
    expect(409, "POST", "/parties", body, "registered already with another key");
    snprintf(body, sizeof body, "{\"id\":\"a b\",\"publicKey\":\"%s\"}", pubs[4]);
    expect(400, "POST", "/parties", body, "is not a DID or name");
    expect(400, "POST", "/parties", "{\"id\":\"x\",\"publicKey\":\"AAAA\"}",
           "is not a base64 Ed25519 or P-256 key");
    snprintf(body, sizeof body, "{\"id\":\"x\",\"publicKey\":\"%s\",\"role\":\"tdp\"}", pubs[4]);
    expect(400, "POST", "/parties", body, "unknown field \\\"role\\\"");
    expect(200, "GET", "/parties", NULL, "did:web:ccrp.example.org");
    expect(200, "GET", "/parties/did:web:ccrp.example.org", NULL, pubs[0]);
    expect(404, "GET", "/parties/mallory", NULL, "no party 'mallory' is registered");
}

static void test_datasets(void **state)
{
    char *b;
    (void)state;
    b = dataset_body(U_ICMR, DS_1, "icmr", 1);
    expect(201, "POST", "/datasets", b, DS_1);
    expect(200, "POST", "/datasets", b, DS_1);
    free(b);
    b = dataset_body(U_COWIN, DS_2, "cowin", 1); /* signed by icmr, not the owner */
    expect(403, "POST", "/datasets", b, "does not verify with the registered key of owner cowin");
    free(b);
    b = dataset_body(U_COWIN, DS_2, "mallory", 4); /* an owner nobody registered */
    expect(403, "POST", "/datasets", b, "owner mallory is not a registered party");
    free(b);
    b = dataset_body(U_COWIN, DS_1, "cowin", 2); /* someone else's pinned id */
    expect(409, "POST", "/datasets", b, "is registered already as " U_ICMR);
    free(b);
    b = dataset_body(U_ICMR, DS_2, "icmr", 1); /* re-pinning a UUID */
    expect(409, "POST", "/datasets", b, "is registered already as " DS_1);
    free(b);
    b = dataset_body(U_COWIN, DS_2, "cowin", 2);
    expect(201, "POST", "/datasets", b, NULL);
    free(b);
    b = dataset_body("not-a-uuid", DS_3, "index", 3);
    expect(400, "POST", "/datasets", b, "is not a UUID");
    free(b);
    expect(200, "GET", "/datasets", NULL, U_COWIN);
    expect(200, "GET", "/datasets?owner=cowin", NULL, DS_2);
    expect(200, "GET", "/datasets/" U_ICMR, NULL, "http://127.0.0.1:1/blob");
    expect(404, "GET", "/datasets/" U_INDEX, NULL, "is registered");
}

/* ccrfs's own format: a registered party must carry its registered key, a registered dataset
 * its owner as provider. */
static void test_ccrfs_proposals(void **state)
{
    char doc[2048];
    static const char fmt[] = "{\"id\":\"%s\",\"purpose\":\"T\",\"parties\":[{\"id\":\"%s\",\"role\":"
                              "\"provider\",\"publicKey\":\"%s\"}],"
                              "\"startTime\":\"2020-01-01T00:00:00Z\",\"expiryTime\":\"2099-01-01T00:00:"
                              "00Z\",\"datasets\":[{\"id\":"
                              "\"%s\",\"provider\":\"%s\",\"accessMode\":\"read-only\",\"maxMounts\":1}]}";
    (void)state;
    snprintf(doc, sizeof doc, fmt, "c-key", "icmr", pubs[4], DS_3, "icmr");
    expect(403, "POST", "/contracts", doc, "party icmr is registered with another public key");
    snprintf(doc, sizeof doc, fmt, "c-owner", "mallory", pubs[4], DS_1, "mallory");
    expect(403, "POST", "/contracts", doc, "is registered by owner icmr; the contract names mallory");
    snprintf(doc, sizeof doc, fmt, "c-ok", "icmr", pubs[1], DS_1, "icmr");
    expect(201, "POST", "/contracts", doc, NULL);
    snprintf(doc, sizeof doc, fmt, "c-new", "mallory", pubs[4], DS_3, "mallory"); /* nothing registered */
    expect(201, "POST", "/contracts", doc, NULL);
}

static const char depa_doc[] =
    "{\"id\":\"" CID "\",\"schemaVersion\":\"0.1\",\"startTime\":\"2023-03-14T00:00:00.000Z\","
    "\"expiryTime\":\"2099-03-14T00:00:00.000Z\",\"tdc\":\"\",\"tdps\":[],\"ccrp\":\"did:web:ccrp.example."
    "org\","
    "\"datasets\":["
    "{\"id\":\"" U_ICMR
    "\",\"owner\":\"icmr\",\"name\":\"icmr\",\"url\":\"https://a.blob.core.windows.net/c/d.img\","
    "\"provider\":\"\",\"key\":{\"type\":\"azure\",\"properties\":{\"kid\":\"K1\",\"authority\":{"
    "\"endpoint\":"
    "\"sharedneu.neu.attest.azure.net\"},\"endpoint\":\"\"}}},"
    "{\"id\":\"" U_COWIN
    "\",\"owner\":\"cowin\",\"name\":\"cowin\",\"url\":\"https://a.blob.core.windows.net/c/e.img\","
    "\"provider\":\"\",\"key\":{\"type\":\"azure\",\"properties\":{\"kid\":\"K2\",\"authority\":{"
    "\"endpoint\":"
    "\"sharedneu.neu.attest.azure.net\"},\"endpoint\":\"\"}}},"
    "{\"id\":\"" U_INDEX
    "\",\"owner\":\"index\",\"name\":\"index\",\"url\":\"https://a.blob.core.windows.net/c/f.img\","
    "\"provider\":\"\",\"key\":{\"type\":\"azure\",\"properties\":{\"kid\":\"K3\",\"authority\":{"
    "\"endpoint\":"
    "\"sharedneu.neu.attest.azure.net\"},\"endpoint\":\"\"}}}],"
    "\"purpose\":\"TRAINING\",\"constraints\":[{\"privacy\":[{\"dataset\":\"" U_ICMR
    "\",\"epsilon_threshold\":\"1.5\","
    "\"delta\":\"0.01\"}]}],\"terms\":{\"payment\":{},\"revocation\":{}}}";

static void sign_as(int party, int signer, long want, const char *words)
{
    struct gov_contract *c;
    char *bytes, *sig, body[1024];
    size_t len;
    assert_int_equal(gov_contract_parse(depa_doc, strlen(depa_doc), &c), 0);
    assert_int_equal(gov_contract_signed_bytes(c, &bytes, &len), 0);
    assert_int_equal(gov_key_sign_b64(keys[signer], bytes, len, &sig), 0);
    snprintf(body, sizeof body, "{\"party\":\"%s\",\"signature\":\"%s\"}", names[party], sig);
    expect(want, "POST", "/contracts/" CID "/sign", body, words);
    free(bytes);
    free(sig);
    gov_contract_free(c);
}

static void test_depa_contract(void **state)
{
    struct gov_signed_contract sc;
    struct gov_admission adm = {
        .dataset_id = DS_2, .mode = GOV_MODE_READ_ONLY, .purpose = "TRAINING", .now_ms = 1800000000000LL};
    struct gov_use use;
    int rc;
    (void)state;
    expect(201, "POST", "/contracts", depa_doc, NULL);
    sign_as(1, 4, 403, "does not verify"); /* icmr's name, an unregistered key */
    sign_as(2, 1, 403, "does not verify"); /* cowin's name, icmr's key */
    sign_as(4, 4, 403, "is not a party");  /* not named by the contract */
    for (int i = 0; i < 4; i++)
        sign_as(i, i, 200, NULL);
    expect(200, "GET", "/contracts/" CID, NULL, "\"constraints\"");
    expect(200, "GET", "/contracts/" CID, NULL, "\"format\":\"depa\"");

    /* The mount's view: the registry's bindings make the UUID admissible. */
    assert_int_equal(gov_client_signed_contract(url, NULL, CID, &sc), 0);
    assert_int_equal(gov_admit_uuid(&sc, &adm, U_COWIN, NULL), 0);
    assert_int_equal(gov_admit(&sc, &adm, NULL), 0);
    /* nobody registered U_INDEX */
    adm.dataset_id = DS_3;
    rc = gov_admit_uuid(&sc, &adm, U_INDEX, NULL);
    assert_int_equal(rc, EACCES);
    assert_non_null(strstr(ccr_err_msg(rc), "dataset " U_INDEX " is not registered"));
    /* U_ICMR is registered as DS_1; the store now holds DS_3 */
    rc = gov_admit_uuid(&sc, &adm, U_ICMR, NULL);
    assert_int_equal(rc, EACCES);
    assert_non_null(strstr(ccr_err_msg(rc), "is registered as " DS_1));
    gov_signed_contract_release(&sc);

    /* The use budget counts the pinned id; DEPA contracts set no limit. */
    assert_int_equal(gov_client_use(url, NULL, CID, DS_2, &use), 0);
    assert_int_equal(use.used, 1);
    assert_int_equal(gov_client_use(url, NULL, CID, DS_3, &use), ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parties),
        cmocka_unit_test(test_datasets),
        cmocka_unit_test(test_ccrfs_proposals),
        cmocka_unit_test(test_depa_contract),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
