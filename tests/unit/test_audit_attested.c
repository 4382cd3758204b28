/* An audit log that proves its origin: the attested checkpoint key's binding (SHA-256 of the
 * PEM public key, then 32 zero bytes, as Azure Clean Room's governance checks), evidence from a
 * simulated guest, attested verification (evidence -> key -> checkpoints -> events) and what it
 * refuses: a flipped report byte, a different key, a forged checkpoint, a removed event, another
 * measurement. The binding is also checked against upstream's own sample
 * (../shared/testvectors/azure-cleanroom/governance/caci_signing_attestation.json; SKIPPED when
 * absent). */
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "governance/attest_key.h"
#include "governance/audit.h"
#include "governance/canon.h"
#include "governance/event.h"
#include "governance/gov.h"
#include "governance/http.h"
#include "governance/service/service.h"
#include "governance/sign.h"
#include "keys/attest/roots.h"
#include "keys/attest/sim.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/scratch.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char tmpdir[256];
static char *sim_dir;
static struct keys_snp_roots *roots;
static struct gov_attested_key *tee_key;
static char *good_log; /* the log of a simulated attested mount */

#define HOST_DATA "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"

static char *tpath(const char *name)
{
    return ccr_path_join(tmpdir, name);
}

/* Known answer, computed independently:
 *   python3 -c 'import hashlib; print(hashlib.sha256(b"-----BEGIN PUBLIC KEY-----\nabc\n"
 *               b"-----END PUBLIC KEY-----\n").hexdigest())' */
static void test_binding_known_answer(void **state)
{
    static const char pem[] = "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n";
    uint8_t rd[KEYS_SNP_REPORT_DATA_LEN], zeros[32] = {0};
    char hex[65];
    (void)state;

    gov_attest_report_data(pem, strlen(pem), rd);
    ccr_hex_encode(rd, 32, hex);
    assert_string_equal(hex, "a9b0e16e0ae11f69636913f3ac4fae98093a250c721ee4f86fa1971827ad6273");
    assert_memory_equal(rd + 32, zeros, 32);
}

/* Upstream's sample: a real Milan report binding its publicKey, with its VCEK, ASK and ARK. */
static void test_binding_upstream_sample(void **state)
{
    char path[512], *pem_b64;
    uint8_t *text = NULL, rd[KEYS_SNP_REPORT_DATA_LEN], *report;
    size_t len, rlen;
    json_object *doc, *caci, *att;
    struct gov_attest_claims cl;
    const char *pem;
    (void)state;

    snprintf(path, sizeof path, "%s/azure-cleanroom/governance/caci_signing_attestation.json",
             CCRFS_TESTVECTORS);
    if (ccr_read_file(path, 1 << 20, &text, &len) != 0) {
        skip();
        return;
    }
    assert_int_equal(gov_json_parse((const char *)text, len, "sample", &doc), 0);
    free(text);
    caci = json_object_object_get(json_object_object_get(doc, "report"), "snpCACI");
    pem = gov_json_str(doc, "publicKey");
    assert_non_null(pem);
    assert_int_equal(ccr_b64_decode(gov_json_str(caci, "attestation"),
                                    strlen(gov_json_str(caci, "attestation")), &report, &rlen, CCR_B64_STD),
                     0);
    assert_int_equal(rlen, KEYS_SNP_REPORT_LEN);
    gov_attest_report_data(pem, strlen(pem), rd);
    assert_memory_equal(rd, report + KEYS_SNP_OFF_REPORT_DATA, sizeof rd);
    free(report);

    /* The same through the verifier, with the chain the sample carries (AMD's Milan root). */
    att = json_object_new_object();
    json_object_object_add(att, "evidence", json_object_get(json_object_object_get(caci, "attestation")));
    json_object_object_add(att, "endorsements",
                           json_object_get(json_object_object_get(caci, "platformCertificates")));
    pem_b64 = malloc(ccr_b64_encoded_size(strlen(pem), CCR_B64_STD));
    ccr_b64_encode((const uint8_t *)pem, strlen(pem), pem_b64, CCR_B64_STD);
    assert_int_equal(gov_attestation_verify_parts(att, pem_b64, NULL, &cl), 0);
    assert_string_equal(cl.root, "ARK-Milan");
    gov_attest_claims_clear(&cl);
    free(pem_b64);
    json_object_put(att);
    json_object_put(doc);
}

/* ---- a simulated attested mount's log ------------------------------------------------------ */

static int setup(void **state)
{
    struct keys_sim_config sc = {.host_data_hex = HOST_DATA};
    struct gov_config cfg = {.full_access = 1, .checkpoint_events = 4};
    struct gov_mount_info mi = {"/mnt/x", "sha256:00", "file:///store", "read-only", NULL, NULL};
    struct fs_access_hooks hk;
    struct fs_open_info oi = {"a.csv", 0, 1, 0, 0, "cat"};
    struct gov *g;
    uint64_t h;
    char *spool;
    (void)state;

    if (tsup_scratch_make(tmpdir, sizeof tmpdir, "test_audit_attested") != 0)
        return -1;
    sim_dir = tpath("sim");
    if (keys_sim_init(sim_dir, &sc) != 0 || keys_snp_roots_amd(&roots) != 0 ||
        keys_snp_roots_add_sim(roots, sim_dir) != 0)
        return -1;
    {
        char spec[512];
        snprintf(spec, sizeof spec, "sim:%s", sim_dir);
        if (gov_attested_key_make(spec, &tee_key) != 0) {
            fprintf(stderr, "%s\n", ccr_err_msg(EIO));
            return -1;
        }
    }
    good_log = tpath("good.log");
    spool = tpath("spool");
    cfg.audit_log = good_log;
    cfg.spool_dir = spool;
    cfg.signing_pkey = gov_key_evp(tee_key->key);
    cfg.signing_key_attestation = tee_key->attestation_json;
    if (gov_open(&cfg, &g) != 0)
        return -1;
    if (gov_record_mount(g, &mi) != 0)
        return -1;
    gov_fs_hooks(g, &hk);
    for (int i = 0; i < 6; i++) {
        if (hk.on_open(hk.arg, &oi, &h) != 0)
            return -1;
        hk.on_release(hk.arg, h);
    }
    gov_record_unmount(g, "unmounted");
    gov_close(g);
    free(spool);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gov_attested_key_free(tee_key);
    keys_snp_roots_free(roots);
    free(sim_dir);
    free(good_log);
    return tsup_scratch_remove(tmpdir) == 0 ? 0 : -1;
}

struct expect {
    const char *measurement; /* NULL: any */
    int accepted;
};

/* What `audit verify --attested` does with each evidence. */
static int accept_cb(void *arg, json_object *att, const char *key_b64)
{
    struct expect *e = arg;
    struct gov_attest_claims cl;
    int rc = gov_attestation_verify(att, roots, &cl);
    if (rc != 0)
        return rc;
    if (strcmp(cl.key_b64, key_b64) != 0)
        rc = ccr_err_set(EBADMSG, "the evidence binds another key");
    else if (strcmp(cl.host_data, HOST_DATA) != 0)
        rc = ccr_err_set(EBADMSG, "host_data %s", cl.host_data);
    else if (e->measurement != NULL && strcasecmp(e->measurement, cl.measurement) != 0)
        rc = ccr_err_set(EBADMSG, "measurement %s, not the one expected", cl.measurement);
    e->accepted += rc == 0;
    gov_attest_claims_clear(&cl);
    return rc;
}

/* Verifies lines as `audit verify --attested`; 0, or the error with its message. */
static int verify_lines(char **lines, size_t n, struct expect *e)
{
    struct gov_audit *a;
    struct gov_audit_summary s;
    int rc = 0;

    assert_int_equal(gov_audit_new(NULL, &a), 0);
    gov_audit_require_attested(a, accept_cb, e);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char where[32];
        snprintf(where, sizeof where, "line %zu", i + 1);
        rc = gov_audit_add(a, lines[i], strlen(lines[i]), where);
    }
    gov_audit_summary(a, &s);
    if (rc == 0 && gov_audit_attested_mounts(a) == 0)
        rc = ccr_err_set(EBADMSG, "no attested mount event");
    if (rc == 0 && s.unsigned_tail > 0)
        rc = ccr_err_set(EBADMSG, "unsigned tail");
    gov_audit_free(a);
    return rc;
}

static size_t read_lines(const char *path, char ***out)
{
    FILE *in = fopen(path, "r");
    char *line = NULL, **lines = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;

    assert_non_null(in);
    while ((len = getline(&line, &cap, in)) > 0) {
        line[len - 1] = '\0';
        lines = realloc(lines, (n + 1) * sizeof *lines);
        lines[n++] = strdup(line);
    }
    free(line);
    fclose(in);
    *out = lines;
    return n;
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

/* Re-seals every event as one who can rewrite the whole log would: new hashes, and checkpoints
 * re-signed by key (its public half put in "key"; with rekey_mount also in the mount event's
 * "signing_key"). edit, when given, changes each event first. */
static void reseal(char **lines, size_t n, const struct gov_key *key, void (*edit)(json_object *ev),
                   int rekey_mount)
{
    struct gov_chain c;
    char *kb64;
    json_object *first;

    assert_int_equal(gov_key_public_b64(key, &kb64), 0);
    assert_int_equal(gov_json_parse(lines[0], strlen(lines[0]), "event", &first), 0);
    memset(&c, 0, sizeof c);
    snprintf(c.id, sizeof c.id, "%s", gov_json_str(first, "chain"));
    memset(c.head, '0', GOV_HASH_HEX);
    json_object_put(first);
    for (size_t i = 0; i < n; i++) {
        json_object *ev;
        char *line;
        size_t len;
        int cp;
        assert_int_equal(gov_json_parse(lines[i], strlen(lines[i]), "event", &ev), 0);
        json_object_object_del(ev, "hash");
        json_object_object_del(ev, "sig");
        if (edit != NULL)
            edit(ev);
        cp = strcmp(gov_json_str(ev, "type"), "checkpoint") == 0;
        if (cp)
            json_object_object_add(ev, "key", json_object_new_string(kb64));
        if (rekey_mount && strcmp(gov_json_str(ev, "type"), "mount") == 0)
            json_object_object_add(ev, "signing_key", json_object_new_string(kb64));
        assert_int_equal(
            cp ? gov_event_seal_signed(&c, ev, key, &line, &len) : gov_event_seal(&c, ev, &line, &len), 0);
        json_object_put(ev);
        free(lines[i]);
        lines[i] = line;
    }
    free(kb64);
}

static void test_good_log_verifies(void **state)
{
    char **lines;
    size_t n = read_lines(good_log, &lines);
    struct expect e = {0};
    int mounts = 0, cps = 0;
    (void)state;

    for (size_t i = 0; i < n; i++) {
        mounts +=
            strstr(lines[i], "\"type\":\"mount\"") != NULL && strstr(lines[i], "\"attestation\":{") != NULL;
        if (strstr(lines[i], "\"type\":\"checkpoint\"") != NULL) {
            cps++;
            assert_non_null(strstr(lines[i], "\"key_source\":\"attested\""));
            assert_non_null(strstr(lines[i], "\"alg\":\"rsa-pss\""));
        }
    }
    assert_int_equal(mounts, 1);
    assert_true(cps >= 2);
    assert_int_equal(verify_lines(lines, n, &e), 0);
    assert_true(e.accepted >= 1);
    /* The key is the one the evidence names, and it signed. */
    free_lines(lines, n);
}

static void test_right_measurement_accepted_wrong_refused(void **state)
{
    char **lines, meas[2 * KEYS_SNP_MEASUREMENT_LEN + 1];
    uint8_t m[KEYS_SNP_MEASUREMENT_LEN];
    size_t n = read_lines(good_log, &lines);
    struct expect e = {.measurement = meas};
    (void)state;

    assert_int_equal(keys_sim_self_measurement(m), 0);
    ccr_hex_encode(m, sizeof m, meas);
    assert_int_equal(verify_lines(lines, n, &e), 0);
    e.measurement =
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    assert_int_equal(verify_lines(lines, n, &e), EBADMSG);
    assert_non_null(strstr(ccr_err_msg(EBADMSG), "measurement"));
    free_lines(lines, n);
}

/* Flips one byte of the report (in the measurement) wherever the evidence appears. */
static void flip_report_byte(json_object *ev)
{
    json_object *att = json_object_object_get(ev, "attestation");
    uint8_t *report;
    size_t len;
    char *b64;
    const char *evd = gov_json_str(att, "evidence");

    if (evd == NULL)
        return;
    assert_int_equal(ccr_b64_decode(evd, strlen(evd), &report, &len, CCR_B64_STD), 0);
    report[KEYS_SNP_OFF_MEASUREMENT] ^= 1;
    b64 = malloc(ccr_b64_encoded_size(len, CCR_B64_STD));
    ccr_b64_encode(report, len, b64, CCR_B64_STD);
    json_object_object_add(att, "evidence", json_object_new_string(b64));
    free(b64);
    free(report);
}

static void test_flipped_report_byte_refused(void **state)
{
    char **lines;
    size_t n = read_lines(good_log, &lines);
    struct expect e = {0};
    (void)state;

    /* Even re-sealed and re-signed by the genuine key, the report no longer verifies. */
    reseal(lines, n, tee_key->key, flip_report_byte, 0);
    assert_int_equal(verify_lines(lines, n, &e), EBADMSG);
    assert_non_null(strstr(ccr_err_msg(EBADMSG), "attestation refused"));
    free_lines(lines, n);
}

static void test_different_key_refused(void **state)
{
    char **lines, *keyf = tpath("other.pem");
    size_t n = read_lines(good_log, &lines);
    struct gov_key *other;
    struct expect e = {0};
    (void)state;

    /* A whole log rewritten and signed by another key, keeping the genuine evidence. */
    assert_int_equal(gov_key_generate_file(keyf, "p256"), 0);
    assert_int_equal(gov_key_load_private(keyf, &other), 0);
    reseal(lines, n, other, NULL, 1);
    assert_int_equal(verify_lines(lines, n, &e), EBADMSG);
    assert_non_null(strstr(ccr_err_msg(EBADMSG), "another key"));
    gov_key_free(other);
    free(keyf);
    free_lines(lines, n);
}

static void make_local(json_object *ev)
{
    if (strcmp(gov_json_str(ev, "type"), "checkpoint") == 0) {
        json_object_object_add(ev, "key_source", json_object_new_string("local"));
        json_object_object_del(ev, "attestation");
    }
}

static void test_local_checkpoint_refused(void **state)
{
    char **lines, *keyf = tpath("other2.pem");
    size_t n = read_lines(good_log, &lines);
    struct gov_key *other;
    struct expect e = {0};
    (void)state;

    /* A forged checkpoint: events rewritten, checkpoints signed by an unattested local key. */
    assert_int_equal(gov_key_generate_file(keyf, "ed25519"), 0);
    assert_int_equal(gov_key_load_private(keyf, &other), 0);
    reseal(lines, n, other, make_local, 0);
    assert_int_equal(verify_lines(lines, n, &e), EBADMSG);
    assert_non_null(strstr(ccr_err_msg(EBADMSG), "local key"));
    gov_key_free(other);
    free(keyf);
    free_lines(lines, n);
}

static void test_forged_checkpoint_refused(void **state)
{
    char **lines;
    size_t n = read_lines(good_log, &lines);
    struct expect e = {0};
    size_t last_cp = n;
    (void)state;

    /* The last checkpoint's signature replaced by one over other bytes; hashes recomputed. */
    for (size_t i = 0; i < n; i++)
        if (strstr(lines[i], "\"type\":\"checkpoint\"") != NULL)
            last_cp = i;
    assert_true(last_cp < n);
    {
        json_object *ev;
        char *sig, hash[GOV_HASH_HEX + 1], *line;
        size_t len;
        assert_int_equal(gov_json_parse(lines[last_cp], strlen(lines[last_cp]), "event", &ev), 0);
        assert_int_equal(gov_key_sign_b64(tee_key->key, "forged", 6, &sig), 0);
        json_object_object_add(ev, "sig", json_object_new_string(sig));
        json_object_object_del(ev, "hash");
        assert_int_equal(gov_event_hash(ev, hash), 0);
        json_object_object_add(ev, "hash", json_object_new_string(hash));
        assert_int_equal(gov_canon_json(ev, NULL, &line, &len), 0);
        free(lines[last_cp]);
        lines[last_cp] = line;
        free(sig);
        json_object_put(ev);
    }
    assert_int_equal(verify_lines(lines, n, &e), EBADMSG);
    assert_non_null(strstr(ccr_err_msg(EBADMSG), "signature does not verify"));
    free_lines(lines, n);
}

static void test_removed_event_refused(void **state)
{
    char **lines;
    size_t n = read_lines(good_log, &lines);
    struct expect e = {0};
    (void)state;

    assert_true(n > 4);
    free(lines[3]);
    memmove(lines + 3, lines + 4, (n - 4) * sizeof *lines);
    assert_int_equal(verify_lines(lines, n - 1, &e), EBADMSG);
    assert_non_null(strstr(ccr_err_msg(EBADMSG), "gap"));
    free_lines(lines, n - 1);
}

static void drop_attestation(json_object *ev)
{
    if (strcmp(gov_json_str(ev, "type"), "mount") == 0)
        json_object_object_del(ev, "attestation");
}

static void test_no_attested_mount_refused(void **state)
{
    char **lines;
    size_t n = read_lines(good_log, &lines);
    struct expect e = {0};
    (void)state;

    reseal(lines, n, tee_key->key, drop_attestation, 0);
    assert_int_equal(verify_lines(lines, n, &e), EBADMSG);
    assert_non_null(strstr(ccr_err_msg(EBADMSG), "no attestation evidence"));
    free_lines(lines, n);
}

/* The private key lives in OpenSSL's secure heap (locked, out of core dumps), nowhere else. */
static void test_private_key_in_secure_heap(void **state)
{
    char spec[512];
    struct gov_attested_key *k;
    size_t before = CRYPTO_secure_used();
    (void)state;

    snprintf(spec, sizeof spec, "sim:%s", sim_dir);
    assert_int_equal(gov_attested_key_make(spec, &k), 0);
    assert_true(CRYPTO_secure_used() > before);
    gov_attested_key_free(k);
    assert_int_equal(CRYPTO_secure_used(), before);
}

/* The sim root is not AMD's: without it (no --trust) the evidence is refused. */
static void test_untrusted_root_refused(void **state)
{
    json_object *att = tee_key->attestation;
    struct keys_snp_roots *amd;
    struct gov_attest_claims cl;
    (void)state;

    assert_int_equal(keys_snp_roots_amd(&amd), 0);
    assert_int_equal(gov_attestation_verify(att, amd, &cl), EBADMSG);
    keys_snp_roots_free(amd);
    assert_int_equal(gov_attestation_verify(att, roots, &cl), 0);
    assert_int_equal(cl.test_root, 1);
    assert_string_equal(cl.host_data, HOST_DATA);
    gov_attest_claims_clear(&cl);
}

/* ---- the governance service: who may append to a chain ------------------------------------- */

#define SVC_TOKEN "attested-test-token-0123456789"

/* One PUT /events of body for event id; the HTTP status, *resp the answer (may be NULL). */
static long put_event_body(const char *url, const char *id, const char *body, size_t len, char **resp)
{
    struct gov_http *h;
    long status = 0;
    char path[256], *r = NULL;
    assert_int_equal(gov_http_new(url, SVC_TOKEN, 10000, &h), 0);
    snprintf(path, sizeof path, "/events?id=%s&scope=ccrfs", id);
    assert_int_equal(gov_http_request(h, "PUT", path, body, len, &status, &r, NULL), 0);
    gov_http_free(h);
    if (resp != NULL)
        *resp = r;
    else
        free(r);
    return status;
}

static char *seal_event(struct gov_chain *c, const char *type, char *id, size_t id_len)
{
    json_object *ev = gov_event_new(type);
    char *line;
    size_t len;
    json_object_object_add(ev, "contract", json_object_new_string("c-att"));
    assert_int_equal(gov_event_seal(c, ev, &line, &len), 0);
    snprintf(id, id_len, "%s", gov_json_str(ev, "id"));
    json_object_put(ev);
    return line;
}

static void test_service_refuses_other_signers(void **state)
{
    char *db = tpath("gov.db"), url[64], id0[64], id1[64], *body, *resp = NULL,
         *keyf = tpath("svc-other.pem");
    struct gov_service_config sc = {db, NULL, 0, NULL};
    struct gov_service *svc;
    struct gov_chain c;
    struct gov_attested_key forger;
    char *e0, *e1, *e1b;
    size_t len;
    (void)state;

    setenv("CCRFS_GOV_TOKEN", SVC_TOKEN, 1);
    assert_int_equal(gov_service_start(&sc, &svc), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", gov_service_port(svc));
    assert_int_equal(gov_chain_init(&c), 0);
    e0 = seal_event(&c, "mount", id0, sizeof id0);
    e1 = seal_event(&c, "open", id1, sizeof id1);

    /* The attested daemon's first event: signed, with evidence; the chain is its from now on. */
    assert_int_equal(gov_attested_sign_body(tee_key, e0, strlen(e0), &body, &len), 0);
    assert_int_equal(put_event_body(url, id0, body, len, NULL), 200);
    free(body);

    /* The next event, unsigned, with the governance token: refused, not stored. */
    assert_int_equal(put_event_body(url, id1, e1, strlen(e1), &resp), 403);
    assert_non_null(strstr(resp, "NotChainOwner"));
    free(resp);

    /* Signed by another key that carries the genuine evidence (of the daemon's key): the report
     * does not bind the signer. */
    memset(&forger, 0, sizeof forger);
    assert_int_equal(gov_key_generate_rsa_pss(&forger.key), 0);
    {
        char *fpem, *fpem_b64;
        size_t fpem_len;
        json_object_deep_copy(tee_key->attestation, &forger.attestation, NULL);
        assert_int_equal(gov_key_public_pem(forger.key, &fpem, &fpem_len), 0);
        fpem_b64 = malloc(ccr_b64_encoded_size(fpem_len, CCR_B64_STD));
        ccr_b64_encode((const uint8_t *)fpem, fpem_len, fpem_b64, CCR_B64_STD);
        json_object_object_add(forger.attestation, "publicKey", json_object_new_string(fpem_b64));
        free(fpem);
        free(fpem_b64);
    }
    assert_int_equal(gov_attested_sign_body(&forger, e1, strlen(e1), &body, &len), 0);
    assert_int_equal(put_event_body(url, id1, body, len, &resp), 400);
    assert_non_null(strstr(resp, "ReportDataMismatch"));
    free(resp);
    free(body);
    gov_key_free(forger.key);
    json_object_put(forger.attestation);

    /* Signed by another key with no evidence at all. */
    {
        struct gov_key *other;
        json_object *o = json_object_new_object(), *sign = json_object_new_object();
        char *sig, *data_b64, *pem, *pem_b64, ts[24];
        size_t pem_len;
        assert_int_equal(gov_key_generate_file(keyf, "p256"), 0);
        assert_int_equal(gov_key_load_private(keyf, &other), 0);
        assert_int_equal(gov_key_sign_b64(other, e1, strlen(e1), &sig), 0);
        assert_int_equal(gov_key_public_pem(other, &pem, &pem_len), 0);
        data_b64 = malloc(ccr_b64_encoded_size(strlen(e1), CCR_B64_STD));
        ccr_b64_encode((const uint8_t *)e1, strlen(e1), data_b64, CCR_B64_STD);
        pem_b64 = malloc(ccr_b64_encoded_size(pem_len, CCR_B64_STD));
        ccr_b64_encode((const uint8_t *)pem, pem_len, pem_b64, CCR_B64_STD);
        snprintf(ts, sizeof ts, "1700000000000");
        json_object_object_add(o, "data", json_object_new_string(data_b64));
        json_object_object_add(o, "timestamp", json_object_new_string(ts));
        json_object_object_add(sign, "signature", json_object_new_string(sig));
        json_object_object_add(sign, "publicKey", json_object_new_string(pem_b64));
        json_object_object_add(o, "sign", sign);
        body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        assert_int_equal(put_event_body(url, id1, body, strlen(body), &resp), 403);
        assert_non_null(strstr(resp, "NotChainOwner"));
        free(resp);
        free(body);
        json_object_put(o);
        free(sig);
        free(data_b64);
        free(pem);
        free(pem_b64);
        gov_key_free(other);
    }

    /* A signature over other bytes than the data: refused as upstream refuses it. */
    e1b = strdup(e1);
    assert_int_equal(gov_attested_sign_body(tee_key, e1b, strlen(e1b), &body, &len), 0);
    {
        json_object *o;
        const char *t;
        assert_int_equal(gov_json_parse(body, len, "body", &o), 0);
        json_object_object_add(o, "data", json_object_new_string("e30=")); /* "{}" */
        t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        assert_int_equal(put_event_body(url, id1, t, strlen(t), &resp), 400);
        assert_non_null(strstr(resp, "SignatureMismatch"));
        free(resp);
        json_object_put(o);
    }
    free(body);
    free(e1b);

    /* The daemon's own next event lands. */
    assert_int_equal(gov_attested_sign_body(tee_key, e1, strlen(e1), &body, &len), 0);
    assert_int_equal(put_event_body(url, id1, body, len, &resp), 200);
    assert_non_null(strstr(resp, "stored"));
    free(resp);
    free(body);

    gov_service_stop(svc);
    unsetenv("CCRFS_GOV_TOKEN");
    free(e0);
    free(e1);
    free(db);
    free(keyf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binding_known_answer),
        cmocka_unit_test(test_binding_upstream_sample),
        cmocka_unit_test(test_good_log_verifies),
        cmocka_unit_test(test_right_measurement_accepted_wrong_refused),
        cmocka_unit_test(test_flipped_report_byte_refused),
        cmocka_unit_test(test_different_key_refused),
        cmocka_unit_test(test_local_checkpoint_refused),
        cmocka_unit_test(test_forged_checkpoint_refused),
        cmocka_unit_test(test_removed_event_refused),
        cmocka_unit_test(test_no_attested_mount_refused),
        cmocka_unit_test(test_untrusted_root_refused),
        cmocka_unit_test(test_private_key_in_secure_heap),
        cmocka_unit_test(test_service_refuses_other_signers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
