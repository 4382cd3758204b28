/* DEPA training contracts as iSPIRT/depa-training writes them (the covid and brats scenario
 * contracts from the shared test vectors, placeholders filled): parsed onto ccrfs's contract,
 * every refusal naming the DEPA field, registry bindings, and admission by dataset UUID. */
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "governance/admission.h"
#include "governance/contract.h"
#include "governance/depa.h"
#include "governance/sign.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COVID_ICMR  "19517ba8-bab8-11ed-afa1-0242ac120002"
#define COVID_COWIN "216d5cc6-bab8-11ed-afa1-0242ac120002"
#define COVID_INDEX "2830a144-bab8-11ed-afa1-0242ac120002"
#define DS_1        "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define DS_2        "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define DS_3        "sha256:3333333333333333333333333333333333333333333333333333333333333333"
/* 2023-06-01T00:00:00Z: inside the vectors' validity; 2024-03-14T00:00:00Z: their expiry. */
#define IN_FORCE_MS 1685577600000LL
#define EXPIRY_MS   1710374400000LL

static char *covid, *brats; /* filled contracts; NULL when the vectors are absent */

/* "$AZURE_STORAGE_ACCOUNT_NAME" becomes "azure-storage-account-name", as a deployment fills it. */
static char *fill(const char *text)
{
    size_t n = strlen(text);
    char *out = malloc(n + 1), *o = out;
    assert_non_null(out);
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '$') {
            for (p++; isupper((unsigned char)*p) || *p == '_'; p++)
                *o++ = *p == '_' ? '-' : (char)tolower((unsigned char)*p);
            p--;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static char *load_vector(const char *name, int filled)
{
    char path[600];
    uint8_t *buf = NULL;
    size_t len;
    char *text, *out;
    snprintf(path, sizeof path, "%s/depa/contracts/%s", CCRFS_TESTVECTORS, name);
    if (ccr_read_file(path, 1 << 20, &buf, &len) != 0)
        return NULL;
    text = malloc(len + 1);
    assert_non_null(text);
    memcpy(text, buf, len);
    text[len] = '\0';
    free(buf);
    if (!filled)
        return text;
    out = fill(text);
    free(text);
    return out;
}

static int setup(void **state)
{
    (void)state;
    covid = load_vector("covid-contract.json", 1);
    brats = load_vector("brats-contract.json", 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(covid);
    free(brats);
    return 0;
}

#define NEED_VECTORS()                                                                                       \
    do {                                                                                                     \
        if (covid == NULL || brats == NULL) {                                                                \
            fprintf(stderr, "SKIPPED: no DEPA vectors under %s\n", CCRFS_TESTVECTORS);                       \
            skip();                                                                                          \
        }                                                                                                    \
    } while (0)

/* Parses text edited by fn (on the JSON document); returns the parser's code. */
static int parse_edited(const char *text, void (*fn)(json_object *doc), struct gov_contract **out)
{
    json_object *doc = json_tokener_parse(text);
    const char *s;
    int rc;
    assert_non_null(doc);
    fn(doc);
    s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    rc = gov_contract_parse(s, strlen(s), out);
    json_object_put(doc);
    return rc;
}

static void expect_refused(void (*fn)(json_object *doc), const char *words)
{
    struct gov_contract *c = NULL;
    int rc = parse_edited(covid, fn, &c);
    assert_int_equal(rc, EINVAL);
    assert_null(c);
    if (strstr(ccr_err_msg(rc), words) == NULL)
        fail_msg("message \"%s\" does not say \"%s\"", ccr_err_msg(rc), words);
}

static void test_covid_parses(void **state)
{
    struct gov_contract *c;
    const struct gov_contract_dataset *d;
    (void)state;
    NEED_VECTORS();
    assert_int_equal(gov_contract_parse(covid, strlen(covid), &c), 0);
    assert_int_equal(c->format, GOV_CONTRACT_DEPA);
    assert_string_equal(c->id, "f4f72a88-bab1-11ed-afa1-0242ac120002");
    assert_string_equal(c->purpose, "TRAINING");
    assert_int_equal(c->start_ms, 1678752000000LL);
    assert_int_equal(c->expiry_ms, EXPIRY_MS);
    /* ccrp, then the three owners; tdc "" and tdps [] leave those roles open */
    assert_int_equal(c->nparties, 4);
    assert_string_equal(c->parties[0].id, "did:web:ccrp-username.github.io");
    assert_string_equal(c->parties[0].role, "ccrp");
    assert_string_equal(c->parties[1].id, "icmr");
    assert_string_equal(c->parties[1].role, "owner");
    assert_null(c->parties[1].public_key);
    assert_int_equal(c->ndatasets, 3);
    d = gov_contract_dataset_by_uuid(c, COVID_COWIN);
    assert_non_null(d);
    assert_string_equal(d->id, "");
    assert_string_equal(d->provider, "cowin");
    assert_string_equal(d->name, "cowin_vaccine_data");
    assert_string_equal(d->url,
                        "https://azure-storage-account-name.blob.core.windows.net/azure-cowin-container-name/"
                        "data.img");
    assert_string_equal(d->key_type, "azure");
    assert_string_equal(d->key_kid, "COWINFilesystemEncryptionKey");
    assert_string_equal(d->key_authority, "sharedneu.neu.attest.azure.net");
    assert_int_equal(d->mode, GOV_MODE_READ_ONLY);
    assert_non_null(c->constraints);
    assert_int_equal(json_object_array_length(c->constraints), 1);
    assert_non_null(c->terms);
    assert_non_null(strstr(c->canonical, "\"epsilon_threshold\":\"1.5\""));
    assert_string_equal(gov_contract_format_name(c->format), "depa");
    gov_contract_free(c);
}

static void test_brats_parses(void **state)
{
    struct gov_contract *c;
    (void)state;
    NEED_VECTORS();
    assert_int_equal(gov_contract_parse(brats, strlen(brats), &c), 0);
    assert_int_equal(c->ndatasets, 4);
    assert_int_equal(c->nparties, 5);
    assert_string_equal(c->parties[4].id, "brats_D");
    assert_string_equal(gov_contract_dataset_by_uuid(c, "2a3b0c4e-bab8-11ed-afa1-0242ac120002")->key_kid,
                        "BRATSDFilesystemEncryptionKey");
    gov_contract_free(c);
}

static void test_unfilled_placeholder_refused(void **state)
{
    char *raw;
    struct gov_contract *c = NULL;
    int rc;
    (void)state;
    NEED_VECTORS();
    raw = load_vector("covid-contract.json", 0);
    rc = gov_contract_parse(raw, strlen(raw), &c);
    assert_int_equal(rc, EINVAL);
    assert_non_null(strstr(ccr_err_msg(rc), "unfilled placeholder"));
    assert_non_null(strstr(ccr_err_msg(rc), "ccrp"));
    free(raw);
}

static json_object *ds0(json_object *doc)
{
    json_object *arr;
    json_object_object_get_ex(doc, "datasets", &arr);
    return json_object_array_get_idx(arr, 0);
}

static json_object *key_props(json_object *doc)
{
    json_object *k, *p;
    json_object_object_get_ex(ds0(doc), "key", &k);
    json_object_object_get_ex(k, "properties", &p);
    return p;
}

static void unknown_top(json_object *d)
{
    json_object_object_add(d, "parties", json_object_new_array());
}
static void unknown_ds(json_object *d)
{
    json_object_object_add(ds0(d), "accessMode", json_object_new_string("x"));
}
static void no_owner(json_object *d)
{
    json_object_object_del(ds0(d), "owner");
}
static void bad_uuid(json_object *d)
{
    json_object_object_add(ds0(d), "id", json_object_new_string("sha256:1"));
}
static void bad_url(json_object *d)
{
    json_object_object_add(ds0(d), "url", json_object_new_string("ftp://x/y"));
}
static void no_key(json_object *d)
{
    json_object_object_del(ds0(d), "key");
}
static void key_type(json_object *d)
{
    json_object *k;
    json_object_object_get_ex(ds0(d), "key", &k);
    json_object_object_add(k, "type", json_object_new_string("aws"));
}
static void no_kid(json_object *d)
{
    json_object_object_del(key_props(d), "kid");
}
static void no_authority(json_object *d)
{
    json_object_object_del(key_props(d), "authority");
}
static void key_extra(json_object *d)
{
    json_object_object_add(key_props(d), "kty", json_object_new_string("oct"));
}
static void tdps_not_array(json_object *d)
{
    json_object_object_add(d, "tdps", json_object_new_string("did:web:a"));
}
static void tdps_not_string(json_object *d)
{
    json_object *a = json_object_new_array();
    json_object_array_add(a, json_object_new_int(3));
    json_object_object_add(d, "tdps", a);
}
static void bad_did(json_object *d)
{
    json_object_object_add(d, "tdc", json_object_new_string("did web/x y"));
}
static void bad_time(json_object *d)
{
    json_object_object_add(d, "expiryTime", json_object_new_string("2024-03-14"));
}
static void reversed_time(json_object *d)
{
    json_object_object_add(d, "expiryTime", json_object_new_string("2022-01-01T00:00:00Z"));
}
static void no_purpose(json_object *d)
{
    json_object_object_del(d, "purpose");
}
static void no_datasets(json_object *d)
{
    json_object_object_add(d, "datasets", json_object_new_array());
}
static void dup_dataset(json_object *d)
{
    json_object *arr;
    json_object_object_get_ex(d, "datasets", &arr);
    json_object_array_add(arr, json_object_get(ds0(d)));
}
static void constraint_other_dataset(json_object *d)
{
    json_object *c, *p;
    json_object_object_get_ex(d, "constraints", &c);
    json_object_object_get_ex(json_object_array_get_idx(c, 0), "privacy", &p);
    json_object_object_add(json_object_array_get_idx(p, 0), "dataset",
                           json_object_new_string("00000000-0000-0000-0000-000000000000"));
}
static void constraint_unknown(json_object *d)
{
    json_object *c, *p;
    json_object_object_get_ex(d, "constraints", &c);
    json_object_object_get_ex(json_object_array_get_idx(c, 0), "privacy", &p);
    json_object_object_add(json_object_array_get_idx(p, 0), "budget", json_object_new_string("1"));
}
static void constraints_object(json_object *d)
{
    json_object_object_add(d, "constraints", json_object_new_object());
}
static void terms_unknown(json_object *d)
{
    json_object *t;
    json_object_object_get_ex(d, "terms", &t);
    json_object_object_add(t, "royalty", json_object_new_object());
}

static void test_refusals(void **state)
{
    (void)state;
    NEED_VECTORS();
    expect_refused(unknown_top, "DEPA contract: top level: unknown field \"parties\"");
    expect_refused(unknown_ds, "datasets[0]: unknown field \"accessMode\"");
    expect_refused(no_owner, "datasets[0]: \"owner\" is missing");
    expect_refused(bad_uuid, "datasets[0]: \"id\" must be a UUID");
    expect_refused(bad_url, "datasets[0]: \"url\" must be an http(s) URL");
    expect_refused(no_key, "datasets[0]: \"key\" is missing");
    expect_refused(key_type, "datasets[0].key: \"type\" \"aws\" is not known");
    expect_refused(no_kid, "datasets[0].key.properties: \"kid\" is missing");
    expect_refused(no_authority, "datasets[0].key.properties: \"authority\" must be an object");
    expect_refused(key_extra, "datasets[0].key.properties: unknown field \"kty\"");
    expect_refused(tdps_not_array, "\"tdps\" must be an array");
    expect_refused(tdps_not_string, "tdps[0] must be a string");
    expect_refused(bad_did, "tdc: \"did web/x y\" is not a DID or name");
    expect_refused(bad_time, "\"expiryTime\"");
    expect_refused(reversed_time, "\"expiryTime\" must be after \"startTime\"");
    expect_refused(no_purpose, "\"purpose\" is missing");
    expect_refused(no_datasets, "\"datasets\" must be an array of 1 to");
    expect_refused(dup_dataset, "appears twice");
    expect_refused(constraint_other_dataset,
                   "constraints[0].privacy[0]: \"dataset\" "
                   "00000000-0000-0000-0000-000000000000 is not one of the datasets");
    expect_refused(constraint_unknown, "constraints[0].privacy[0]: unknown field \"budget\"");
    expect_refused(constraints_object, "\"constraints\" must be an array");
    expect_refused(terms_unknown, "terms: unknown field \"royalty\"");
}

/* ccrfs's own format is untouched by DEPA detection. */
static void test_ccrfs_format_unchanged(void **state)
{
    static const char doc[] =
        "{\"id\":\"c1\",\"parties\":[{\"id\":\"p\",\"role\":\"provider\",\"publicKey\":\"%s\"}],"
        "\"startTime\":\"2026-01-01T00:00:00Z\",\"expiryTime\":\"2027-01-01T00:00:00Z\",\"purpose\":\"T\","
        "\"datasets\":[{\"id\":\"" DS_1
        "\",\"provider\":\"p\",\"accessMode\":\"read-only\",\"maxMounts\":1}]}";
    struct gov_key *k;
    char path[] = "/tmp/test_depa_key.XXXXXX", text[1024], *pub;
    struct gov_contract *c;
    int fd = mkstemp(path);
    (void)state;
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(gov_key_generate_file(path, "ed25519"), 0);
    assert_int_equal(gov_key_load_private(path, &k), 0);
    unlink(path);
    assert_int_equal(gov_key_public_b64(k, &pub), 0);
    snprintf(text, sizeof text, doc, pub);
    assert_int_equal(gov_contract_parse(text, strlen(text), &c), 0);
    assert_int_equal(c->format, GOV_CONTRACT_CCRFS);
    assert_null(c->constraints);
    assert_string_equal(c->datasets[0].uuid, "");
    assert_non_null(gov_contract_dataset(c, DS_1));
    /* a ccrfs party's key is its own; the registry cannot replace it */
    assert_int_equal(gov_contract_bind_key(c, "p", pub), 0);
    gov_contract_free(c);
    gov_key_free(k);
    free(pub);
}

/* The view the service gives: the contract, each party's signature, and the registry's bindings. */
static char *envelope(const char *doc, struct gov_key **keys, const char **parties, size_t n, int bind_keys,
                      const char *const *uuids, const char *const *ids, size_t nds)
{
    json_object *v = json_object_new_object(), *sigs = json_object_new_object(),
                *reg = json_object_new_object(), *rp = json_object_new_object(),
                *rd = json_object_new_object();
    struct gov_contract *c;
    char *bytes, *sig, *pub, *out;
    size_t len;

    assert_int_equal(gov_contract_parse(doc, strlen(doc), &c), 0);
    assert_int_equal(gov_contract_signed_bytes(c, &bytes, &len), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(gov_key_sign_b64(keys[i], bytes, len, &sig), 0);
        json_object_object_add(sigs, parties[i], json_object_new_string(sig));
        free(sig);
        if (bind_keys) {
            json_object *e = json_object_new_object();
            assert_int_equal(gov_key_public_b64(keys[i], &pub), 0);
            json_object_object_add(e, "publicKey", json_object_new_string(pub));
            json_object_object_add(rp, parties[i], e);
            free(pub);
        }
    }
    for (size_t i = 0; i < nds; i++) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "id", json_object_new_string(ids[i]));
        json_object_object_add(rd, uuids[i], e);
    }
    free(bytes);
    json_object_object_add(v, "contract", json_object_get(c->json));
    json_object_object_add(v, "signatures", sigs);
    json_object_object_add(reg, "parties", rp);
    json_object_object_add(reg, "datasets", rd);
    json_object_object_add(v, "registry", reg);
    out = strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(v);
    gov_contract_free(c);
    return out;
}

static int admit(const char *env, const char *dataset, const char *uuid, int64_t now)
{
    struct gov_signed_contract sc;
    struct gov_admission req = {
        .dataset_id = dataset, .mode = GOV_MODE_READ_ONLY, .purpose = "TRAINING", .now_ms = now};
    int rc = gov_signed_contract_parse(env, strlen(env), &sc);
    if (rc != 0)
        return rc;
    rc = uuid != NULL ? gov_admit_uuid(&sc, &req, uuid, NULL) : gov_admit(&sc, &req, NULL);
    gov_signed_contract_release(&sc);
    return rc;
}

static void test_admission_with_registry(void **state)
{
    static const char *const parties[] = {"did:web:ccrp-username.github.io", "icmr", "cowin", "index"};
    static const char *const uuids[] = {COVID_ICMR, COVID_COWIN, COVID_INDEX};
    static const char *const ids[] = {DS_1, DS_2, DS_3};
    struct gov_key *keys[4];
    char path[] = "/tmp/test_depa_key.XXXXXX", *env;
    int fd, rc;
    (void)state;
    NEED_VECTORS();
    fd = mkstemp(path);
    assert_true(fd >= 0);
    for (int i = 0; i < 4; i++) {
        unlink(path);
        assert_int_equal(gov_key_generate_file(path, i % 2 ? "p256" : "ed25519"), 0);
        assert_int_equal(gov_key_load_private(path, &keys[i]), 0);
    }
    unlink(path);

    env = envelope(covid, keys, (const char **)parties, 4, 1, uuids, ids, 3);
    assert_int_equal(admit(env, DS_2, COVID_COWIN, IN_FORCE_MS), 0);
    assert_int_equal(admit(env, DS_2, NULL, IN_FORCE_MS), 0);
    /* the store's manifest is not the registered one: swapped or rolled back */
    rc = admit(env, DS_3, COVID_COWIN, IN_FORCE_MS);
    assert_int_equal(rc, EACCES);
    assert_non_null(strstr(ccr_err_msg(rc), "is registered as " DS_2));
    rc = admit(env, "sha256:4444444444444444444444444444444444444444444444444444444444444444", NULL,
               IN_FORCE_MS);
    assert_int_equal(rc, EACCES);
    assert_non_null(strstr(ccr_err_msg(rc), "no dataset of the contract is registered with that id"));
    rc = admit(env, DS_2, "00000000-0000-0000-0000-000000000000", IN_FORCE_MS);
    assert_int_equal(rc, EACCES);
    assert_non_null(strstr(ccr_err_msg(rc), "does not name dataset 00000000"));
    rc = admit(env, DS_2, COVID_COWIN, EXPIRY_MS);
    assert_int_equal(rc, EACCES);
    assert_non_null(strstr(ccr_err_msg(rc), "expired"));
    free(env);

    /* an unregistered dataset UUID */
    env = envelope(covid, keys, (const char **)parties, 4, 1, uuids, ids, 2);
    rc = admit(env, DS_3, COVID_INDEX, IN_FORCE_MS);
    assert_int_equal(rc, EACCES);
    assert_non_null(strstr(ccr_err_msg(rc), "dataset " COVID_INDEX " is not registered"));
    free(env);

    /* signatures but no registered keys: nothing to check them against */
    env = envelope(covid, keys, (const char **)parties, 4, 0, uuids, ids, 3);
    rc = admit(env, DS_2, COVID_COWIN, IN_FORCE_MS);
    assert_int_equal(rc, EACCES);
    assert_non_null(strstr(ccr_err_msg(rc), "has no registered key"));
    free(env);

    /* a signature by a key other than the registered one */
    {
        struct gov_key *swapped[4] = {keys[0], keys[2], keys[2], keys[3]};
        char *good = envelope(covid, keys, (const char **)parties, 4, 1, uuids, ids, 3);
        char *bad = envelope(covid, swapped, (const char **)parties, 4, 0, uuids, ids, 3);
        json_object *g = json_tokener_parse(good), *b = json_tokener_parse(bad), *sigs;
        const char *s;
        json_object_object_get_ex(b, "signatures", &sigs);
        json_object_object_add(g, "signatures", json_object_get(sigs));
        s = json_object_to_json_string(g);
        rc = admit(s, DS_2, COVID_COWIN, IN_FORCE_MS);
        assert_int_equal(rc, EACCES);
        assert_non_null(strstr(ccr_err_msg(rc), "the signature of party icmr does not verify"));
        json_object_put(g);
        json_object_put(b);
        free(good);
        free(bad);
    }

    /* a registry naming a party or dataset the contract does not have is malformed */
    {
        char *good = envelope(covid, keys, (const char **)parties, 4, 1, uuids, ids, 3);
        json_object *g = json_tokener_parse(good), *reg, *rd, *e = json_object_new_object();
        json_object_object_get_ex(g, "registry", &reg);
        json_object_object_get_ex(reg, "datasets", &rd);
        json_object_object_add(e, "id", json_object_new_string(DS_3));
        json_object_object_add(rd, "00000000-0000-0000-0000-000000000000", e);
        rc = admit(json_object_to_json_string(g), DS_2, COVID_COWIN, IN_FORCE_MS);
        assert_int_equal(rc, EINVAL);
        assert_non_null(strstr(ccr_err_msg(rc), "registry.datasets.00000000"));
        json_object_put(g);
        free(good);
    }
    for (int i = 0; i < 4; i++)
        gov_key_free(keys[i]);
}

static void test_bindings(void **state)
{
    struct gov_contract *c;
    (void)state;
    NEED_VECTORS();
    assert_int_equal(gov_contract_parse(covid, strlen(covid), &c), 0);
    assert_int_equal(gov_contract_bind_dataset(c, COVID_ICMR, DS_1), 0);
    assert_int_equal(gov_contract_bind_dataset(c, COVID_ICMR, DS_1), 0);
    assert_int_equal(gov_contract_bind_dataset(c, COVID_ICMR, DS_2), EEXIST);
    assert_int_equal(gov_contract_bind_dataset(c, COVID_COWIN, DS_1), EEXIST); /* one id, two UUIDs */
    assert_int_equal(gov_contract_bind_dataset(c, COVID_COWIN, "sha256:xyz"), EINVAL);
    assert_int_equal(gov_contract_bind_dataset(c, "00000000-0000-0000-0000-000000000000", DS_3), ENOENT);
    assert_int_equal(gov_contract_bind_key(c, "nobody", "AAAA"), ENOENT);
    assert_int_equal(gov_contract_bind_key(c, "icmr", "AAAA"), EINVAL);
    assert_non_null(gov_contract_dataset(c, DS_1));
    assert_null(gov_contract_dataset(c, DS_2));
    assert_true(gov_uuid_valid(COVID_ICMR));
    assert_false(gov_uuid_valid("19517ba8bab811edafa10242ac120002"));
    gov_contract_free(c);
}

/* did.json for a key: its JWK from the SPKI's trailing key bytes. */
static void did_doc(const struct gov_key *k, const char *did, const char *extra, char *out, size_t len)
{
    char *pub, x[64], y[64];
    uint8_t *der;
    size_t n;
    int ed = strcmp(gov_key_alg(k), "ed25519") == 0;
    assert_int_equal(gov_key_public_b64(k, &pub), 0);
    assert_int_equal(ccr_b64_decode(pub, strlen(pub), &der, &n, CCR_B64_STD), 0);
    if (ed) {
        ccr_b64_encode(der + n - 32, 32, x, CCR_B64_URL);
        snprintf(
            out, len,
            "{\"id\":\"%s\",\"verificationMethod\":[{\"id\":\"%s#key-0\",\"type\":\"JsonWebKey2020\","
            "\"controller\":\"%s\",\"publicKeyJwk\":{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"%s}}]}",
            did, did, did, x, extra);
    } else {
        ccr_b64_encode(der + n - 64, 32, x, CCR_B64_URL);
        ccr_b64_encode(der + n - 32, 32, y, CCR_B64_URL);
        snprintf(out, len,
                 "{\"id\":\"%s\",\"verificationMethod\":[{\"id\":\"%s#key-0\",\"publicKeyJwk\":{\"kty\":"
                 "\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"%s}}]}",
                 did, did, x, y, extra);
    }
    free(der);
    free(pub);
}

static void test_did_document(void **state)
{
    static const char did[] = "did:web:icmr.example.org";
    char path[] = "/tmp/test_depa_key.XXXXXX", doc[2048], *got, *want;
    const char *algs[] = {"ed25519", "p256"};
    int fd = mkstemp(path), rc;
    (void)state;
    assert_true(fd >= 0);
    for (int i = 0; i < 2; i++) {
        struct gov_key *k;
        unlink(path);
        assert_int_equal(gov_key_generate_file(path, algs[i]), 0);
        assert_int_equal(gov_key_load_private(path, &k), 0);
        assert_int_equal(gov_key_public_b64(k, &want), 0);
        did_doc(k, did, "", doc, sizeof doc);
        assert_int_equal(gov_did_document_key(doc, strlen(doc), did, &got), 0);
        assert_string_equal(got, want);
        free(got);
        rc = gov_did_document_key(doc, strlen(doc), "did:web:other.example.org", &got);
        assert_int_equal(rc, EINVAL);
        assert_non_null(strstr(ccr_err_msg(rc), "not did:web:other.example.org"));
        did_doc(k, did, ",\"d\":\"AAAA\"", doc, sizeof doc);
        rc = gov_did_document_key(doc, strlen(doc), did, &got);
        assert_int_equal(rc, EINVAL);
        assert_non_null(strstr(ccr_err_msg(rc), "holds a private key"));
        free(want);
        gov_key_free(k);
    }
    unlink(path);
    rc = gov_did_document_key("{\"id\":\"d\",\"verificationMethod\":[{\"id\":\"d#1\"}]}", 46, "d", &got);
    assert_int_equal(rc, EINVAL);
    assert_non_null(strstr(ccr_err_msg(rc), "no verificationMethod has a \"publicKeyJwk\""));
    {
        static const char rsa[] = "{\"id\":\"d\",\"verificationMethod\":[{\"publicKeyJwk\":{\"kty\":\"RSA\","
                                  "\"n\":\"AQAB\",\"e\":\"AQAB\"}}]}";
        rc = gov_did_document_key(rsa, strlen(rsa), "d", &got);
        assert_int_equal(rc, EINVAL);
        assert_non_null(strstr(ccr_err_msg(rc), "only OKP Ed25519 and EC P-256"));
    }
    {
        static const char shortx[] = "{\"id\":\"d\",\"verificationMethod\":[{\"publicKeyJwk\":{\"kty\":"
                                     "\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}}]}";
        rc = gov_did_document_key(shortx, strlen(shortx), "d", &got);
        assert_int_equal(rc, EINVAL);
        assert_non_null(strstr(ccr_err_msg(rc), "\"x\" must be base64url of 32 bytes"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_covid_parses),
        cmocka_unit_test(test_brats_parses),
        cmocka_unit_test(test_unfilled_placeholder_refused),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_ccrfs_format_unchanged),
        cmocka_unit_test(test_bindings),
        cmocka_unit_test(test_admission_with_registry),
        cmocka_unit_test(test_did_document),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
