/* COSE_Sign1: the cose-wg Examples vectors and RFC 9052 C.2.1 (tests/data/cose/README.md),
 * every refusal cose.h lists, and messages made here for each algorithm. */
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "governance/admission.h"
#include "governance/contract.h"
#include "governance/cose.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cbor.h>
#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct vector {
    json_object *doc;
    EVP_PKEY *key;
    uint8_t *msg;
    size_t msg_len;
    const char *plaintext, *kid;
    uint8_t *aad;
    size_t aad_len;
};

static uint8_t *hex_bytes(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    assert_int_equal(ccr_hex_decode(hex, b, n), 0);
    *len = n;
    return b;
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/* A JWK field as bytes: "k" base64url or "k_hex". */
static uint8_t *jwk_bytes(json_object *jwk, const char *k, size_t *len)
{
    char hk[16];
    const char *s = jstr(jwk, k);
    uint8_t *b = NULL;
    if (s != NULL) {
        assert_int_equal(ccr_b64_decode(s, strlen(s), &b, len, CCR_B64_URL), 0);
        return b;
    }
    snprintf(hk, sizeof hk, "%s_hex", k);
    assert_non_null(s = jstr(jwk, hk));
    return hex_bytes(s, len);
}

static EVP_PKEY *jwk_public(json_object *jwk)
{
    const char *kty = jstr(jwk, "kty"), *crv = jstr(jwk, "crv");
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params;
    size_t xl, yl;
    uint8_t *x, *y;
    /* Outlives the block that fills it: the parameters are built from it below. */
    uint8_t pub[1 + 2 * 66];

    if (strcmp(kty, "OKP") == 0) {
        x = jwk_bytes(jwk, "x", &xl);
        key = EVP_PKEY_new_raw_public_key(strcmp(crv, "Ed25519") == 0 ? EVP_PKEY_ED25519 : EVP_PKEY_ED448,
                                          NULL, x, xl);
        free(x);
        OSSL_PARAM_BLD_free(bld);
        assert_non_null(key);
        return key;
    }
    if (strcmp(kty, "EC") == 0) {
        const char *group = strcmp(crv, "P-256") == 0   ? "prime256v1"
                            : strcmp(crv, "P-384") == 0 ? "secp384r1"
                                                        : "secp521r1";
        x = jwk_bytes(jwk, "x", &xl);
        y = jwk_bytes(jwk, "y", &yl);
        pub[0] = 4;
        memcpy(pub + 1, x, xl);
        memcpy(pub + 1 + xl, y, yl);
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + xl + yl);
        free(x);
        free(y);
    } else {
        BIGNUM *n, *e;
        x = jwk_bytes(jwk, "n", &xl);
        y = jwk_bytes(jwk, "e", &yl);
        n = BN_bin2bn(x, (int)xl, NULL);
        e = BN_bin2bn(y, (int)yl, NULL);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
        params = OSSL_PARAM_BLD_to_param(bld);
        BN_free(n);
        BN_free(e);
        free(x);
        free(y);
        goto build;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
build:
    ctx = EVP_PKEY_CTX_new_from_name(NULL, strcmp(kty, "EC") == 0 ? "EC" : "RSA", NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return key;
}

static void load_vector_signer(const char *name, int signer_index, struct vector *v);

static void load_vector(const char *name, struct vector *v)
{
    load_vector_signer(name, 0, v);
}

static void load_vector_signer(const char *name, int signer_index, struct vector *v)
{
    char path[512];
    uint8_t *text;
    size_t len;
    json_object *in, *signer, *out, *o;
    const char *ext;

    memset(v, 0, sizeof *v);
    snprintf(path, sizeof path, "%s/cose/%s", CCRFS_TEST_DATA, name);
    assert_int_equal(ccr_read_file(path, 1 << 20, &text, &len), 0);
    v->doc = json_tokener_parse((const char *)text);
    free(text);
    assert_non_null(v->doc);
    assert_true(json_object_object_get_ex(v->doc, "input", &in));
    if (!json_object_object_get_ex(in, "sign0", &signer)) {
        assert_true(json_object_object_get_ex(in, "sign", &o));
        assert_true(json_object_object_get_ex(o, "signers", &o));
        signer = json_object_array_get_idx(o, (size_t)signer_index);
    }
    assert_true(json_object_object_get_ex(signer, "key", &o));
    v->key = jwk_public(o);
    v->kid = jstr(o, "kid");
    v->plaintext = jstr(in, "plaintext");
    if ((ext = jstr(signer, "external")) != NULL)
        v->aad = hex_bytes(ext, &v->aad_len);
    assert_true(json_object_object_get_ex(v->doc, "output", &out));
    v->msg = hex_bytes(jstr(out, "cbor"), &v->msg_len);
}

static void free_vector(struct vector *v)
{
    json_object_put(v->doc);
    EVP_PKEY_free(v->key);
    free(v->msg);
    free(v->aad);
}

/* Verifies a vector the way contract code does; returns the code, checks kid when it passes. */
static int verify_vector(const char *name)
{
    struct vector v;
    char *kid = NULL;
    int rc;
    load_vector(name, &v);
    rc = gov_cose_verify(v.msg, v.msg_len, v.key, v.plaintext, strlen(v.plaintext), &kid);
    if (rc == 0)
        assert_string_equal(kid, v.kid);
    else
        assert_null(kid);
    free(kid);
    free_vector(&v);
    return rc;
}

static void test_vectors_pass(void **state)
{
    struct gov_cose_sign1 m;
    struct vector v;
    (void)state;
    assert_int_equal(verify_vector("Appendix_C_2_1.json"), 0); /* RFC 8152 C.2.1 = RFC 9052 C.2.1 */
    assert_int_equal(verify_vector("ecdsa-sig-01.json"), 0);
    assert_int_equal(verify_vector("ecdsa-sig-02.json"), 0); /* P-384 */
    assert_int_equal(verify_vector("eddsa-sig-01.json"), 0);
    assert_int_equal(verify_vector("sign-pass-03.json"), 0); /* no tag 18 */

    load_vector("ecdsa-sig-01.json", &v);
    assert_int_equal(gov_cose_sign1_parse(v.msg, v.msg_len, &m), 0);
    assert_int_equal(m.alg, GOV_COSE_ES256);
    assert_string_equal(m.content_type, "0");
    assert_int_equal(m.kid_len, 2);
    assert_false(m.detached);
    gov_cose_sign1_release(&m);
    free_vector(&v);
}

static void test_vector_external_aad(void **state)
{
    struct gov_cose_sign1 m;
    struct vector v;
    (void)state;
    load_vector("sign-pass-02.json", &v);
    assert_int_equal(gov_cose_sign1_parse(v.msg, v.msg_len, &m), 0);
    assert_int_equal(gov_cose_verify_parsed(&m, v.key, v.aad, v.aad_len, NULL, 0), 0);
    /* Contract signatures carry no external data: the same message is refused there. */
    assert_int_equal(gov_cose_verify_parsed(&m, v.key, NULL, 0, NULL, 0), EBADMSG);
    gov_cose_sign1_release(&m);
    free_vector(&v);
    assert_int_equal(verify_vector("sign-pass-02.json"), EBADMSG);
}

static void test_vectors_fail(void **state)
{
    (void)state;
    assert_int_equal(verify_vector("sign-fail-01.json"), EINVAL); /* tag 998 */
    assert_non_null(strstr(ccr_err_msg(EINVAL), "tag 998"));
    assert_int_equal(verify_vector("sign-fail-02.json"), EBADMSG); /* signature changed */
    assert_int_equal(verify_vector("sign-fail-03.json"), EINVAL);  /* alg -999 */
    assert_non_null(strstr(ccr_err_msg(EINVAL), "-999"));
    assert_int_equal(verify_vector("sign-fail-04.json"), EINVAL); /* alg "unknown" */
    assert_non_null(strstr(ccr_err_msg(EINVAL), "unknown"));
    assert_int_equal(verify_vector("sign-fail-06.json"), EBADMSG); /* protected attribute added */
    assert_int_equal(verify_vector("sign-fail-07.json"), EBADMSG); /* protected attribute removed */
    /* Passes upstream, which signs its protected header h'A0' as if it were h'', and puts the
     * algorithm in the unprotected header: refused here on purpose. */
    assert_int_equal(verify_vector("sign-pass-01.json"), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "zero-length"));
    assert_int_equal(verify_vector("ecdsa-sig-03.json"), EINVAL); /* ES512: not supported */
    assert_int_equal(verify_vector("eddsa-sig-02.json"), EINVAL); /* Ed448: the key cannot make EdDSA here */
    assert_non_null(strstr(ccr_err_msg(EINVAL), "cannot make"));
}

/* rsa-pss-01 is a COSE_Sign (several signers), so its PS256 signature is checked over the
 * ToBeSign bytes the vector gives; PS256 in COSE_Sign1 is covered by the round trip below. */
static void test_vector_ps256_raw(void **state)
{
    struct vector v;
    struct cbor_load_result lr;
    cbor_item_t *top, *body, *signers_item, *signer, *sig;
    json_object *inter, *signers;
    uint8_t *tbs;
    size_t tbs_len;
    (void)state;
    load_vector("rsa-pss-01.json", &v);
    assert_true(json_object_object_get_ex(v.doc, "intermediates", &inter));
    assert_true(json_object_object_get_ex(inter, "signers", &signers));
    tbs = hex_bytes(jstr(json_object_array_get_idx(signers, 0), "ToBeSign_hex"), &tbs_len);
    assert_non_null(top = cbor_load(v.msg, v.msg_len, &lr));
    body = cbor_tag_item(top);
    signers_item = cbor_array_get(body, 3);
    signer = cbor_array_get(signers_item, 0);
    sig = cbor_array_get(signer, 2);
    assert_int_equal(gov_cose_verify_raw(v.key, GOV_COSE_PS256, tbs, tbs_len, cbor_bytestring_handle(sig),
                                         cbor_bytestring_length(sig)),
                     0);
    tbs[tbs_len - 1] ^= 1;
    assert_int_equal(gov_cose_verify_raw(v.key, GOV_COSE_PS256, tbs, tbs_len, cbor_bytestring_handle(sig),
                                         cbor_bytestring_length(sig)),
                     EBADMSG);
    cbor_decref(&sig);
    cbor_decref(&signer);
    cbor_decref(&signers_item);
    cbor_decref(&body);
    cbor_decref(&top);
    free(tbs);
    free_vector(&v);
}

static EVP_PKEY *new_key(int64_t alg)
{
    switch (alg) {
    case GOV_COSE_ES256:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    case GOV_COSE_ES384:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    case GOV_COSE_EDDSA:
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    default:
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    }
}

static const char payload[] = "ccrfs-contract-v1\n{\"id\":\"c1\"}";

static void test_roundtrip_each_alg(void **state)
{
    static const int64_t algs[] = {GOV_COSE_ES256, GOV_COSE_ES384, GOV_COSE_EDDSA, GOV_COSE_PS256};
    (void)state;
    for (size_t i = 0; i < 4; i++) {
        EVP_PKEY *key = new_key(algs[i]), *other = new_key(algs[i]);
        uint8_t *msg, *spki = NULL;
        size_t len;
        int spki_len;
        char *kid = NULL;
        int64_t alg;
        struct gov_cose_sign1 m;

        assert_non_null(key);
        assert_int_equal(gov_cose_alg_for_key(key, &alg), 0);
        assert_int_equal(alg, algs[i]);
        assert_int_equal(gov_cose_sign(key, algs[i], "party-a", "application/json", payload, strlen(payload),
                                       0, &msg, &len),
                         0);
        assert_int_equal(gov_cose_verify(msg, len, key, payload, strlen(payload), &kid), 0);
        assert_string_equal(kid, "party-a");
        free(kid);
        assert_int_equal(gov_cose_sign1_parse(msg, len, &m), 0);
        assert_string_equal(m.content_type, "application/json");
        assert_int_equal(m.alg, algs[i]);
        gov_cose_sign1_release(&m);
        spki_len = i2d_PUBKEY(key, &spki);
        assert_true(spki_len > 0);
        assert_int_equal(
            gov_cose_verify_spki(msg, len, spki, (size_t)spki_len, payload, strlen(payload), NULL), 0);
        assert_int_equal(gov_cose_verify(msg, len, other, payload, strlen(payload), NULL), EBADMSG);
        OPENSSL_free(spki);
        free(msg);

        /* Detached: nil payload, verified against the bytes given. */
        assert_int_equal(gov_cose_sign(key, algs[i], NULL, NULL, payload, strlen(payload), 1, &msg, &len), 0);
        assert_int_equal(gov_cose_verify(msg, len, key, payload, strlen(payload), &kid), 0);
        assert_null(kid);
        assert_int_equal(gov_cose_verify(msg, len, key, payload, strlen(payload) - 1, NULL), EBADMSG);
        free(msg);
        EVP_PKEY_free(key);
        EVP_PKEY_free(other);
    }
}

/* Ed25519 is deterministic, so the whole encoding is a known answer. */
static void test_deterministic_encoding(void **state)
{
    static const uint8_t seed[32] = {1, 2, 3};
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof seed);
    uint8_t *a, *b;
    size_t alen, blen;
    /* 18([h'A3012703647465787404416B', {}, h'6869', sig]) */
    static const uint8_t head[] = {0xD2, 0x84, 0x4C, 0xA3, 0x01, 0x27, 0x03, 0x64, 't',  'e', 'x',
                                   't',  0x04, 0x41, 'k',  0xA0, 0x42, 'h',  'i',  0x58, 0x40};
    (void)state;
    assert_non_null(key);
    assert_int_equal(gov_cose_sign(key, GOV_COSE_EDDSA, "k", "text", "hi", 2, 0, &a, &alen), 0);
    assert_int_equal(gov_cose_sign(key, GOV_COSE_EDDSA, "k", "text", "hi", 2, 0, &b, &blen), 0);
    assert_int_equal(alen, sizeof head + 64);
    assert_memory_equal(a, head, sizeof head);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    free(a);
    free(b);
    EVP_PKEY_free(key);
}

static void test_flipped_bytes_refused(void **state)
{
    EVP_PKEY *key = new_key(GOV_COSE_ES256);
    uint8_t *msg;
    size_t len;
    (void)state;
    assert_int_equal(gov_cose_sign(key, GOV_COSE_ES256, "kid", NULL, payload, strlen(payload), 0, &msg, &len),
                     0);
    /* Every bit of every byte: header, payload, signature, and the framing around them. */
    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit++) {
            msg[i] ^= (uint8_t)(1u << bit);
            assert_int_not_equal(gov_cose_verify(msg, len, key, payload, strlen(payload), NULL), 0);
            msg[i] ^= (uint8_t)(1u << bit);
        }
    /* Every truncation, and every extension by one byte. */
    for (size_t i = 0; i < len; i++)
        assert_int_equal(gov_cose_verify(msg, i, key, payload, strlen(payload), NULL), EINVAL);
    {
        uint8_t *longer = malloc(len + 1);
        memcpy(longer, msg, len);
        longer[len] = 0;
        assert_int_equal(gov_cose_verify(longer, len + 1, key, payload, strlen(payload), NULL), EINVAL);
        assert_non_null(strstr(ccr_err_msg(EINVAL), "trailing"));
        free(longer);
    }
    /* Named cases: protected header (kid byte), payload, signature. */
    msg[9] ^= 1; /* D2 84 48 A2 01 26 04 43 'k' 'i' ... */
    assert_int_equal(gov_cose_verify(msg, len, key, payload, strlen(payload), NULL), EBADMSG);
    msg[9] ^= 1;
    msg[len - 67] ^= 1; /* last payload byte */
    assert_int_equal(gov_cose_verify(msg, len, key, payload, strlen(payload), NULL), EBADMSG);
    msg[len - 67] ^= 1;
    msg[len - 1] ^= 1;
    assert_int_equal(gov_cose_verify(msg, len, key, payload, strlen(payload), NULL), EBADMSG);
    msg[len - 1] ^= 1;
    assert_int_equal(gov_cose_verify(msg, len, key, payload, strlen(payload), NULL), 0);
    /* An attached payload other than the bytes expected. */
    assert_int_equal(gov_cose_verify(msg, len, key, "other", 5, NULL), EBADMSG);
    free(msg);
    EVP_PKEY_free(key);
}

/* RFC 9052 C.2.1 as bytes, for the structural refusals below. */
static const char c21_hex[] =
    "D28443A10126A10442313154546869732069732074686520636F6E74656E742E58408EB33E4CA31D1C465AB05AAC34CC6B23D58F"
    "EF5C0831"
    "06C4D25A91AEF0B0117E2AF9A291AA32E14AB834DC56ED2A223444547E01F11D3B0916E5A4C345CACB36";

static int parse_hex(const char *hex, const char *expect)
{
    struct gov_cose_sign1 m;
    size_t len;
    uint8_t *b = hex_bytes(hex, &len);
    int rc = gov_cose_sign1_parse(b, len, &m);
    free(b);
    if (rc == 0)
        gov_cose_sign1_release(&m);
    else if (expect != NULL && strstr(ccr_err_msg(rc), expect) == NULL)
        fail_msg("\"%s\" does not say \"%s\"", ccr_err_msg(rc), expect);
    return rc;
}

static void test_structural_refusals(void **state)
{
    char buf[1024];
    (void)state;
    assert_int_equal(parse_hex(c21_hex, NULL), 0);
    snprintf(buf, sizeof buf, "%s00", c21_hex);
    assert_int_equal(parse_hex(buf, "trailing"), EINVAL);
    /* truncated */
    snprintf(buf, sizeof buf, "%.*s", (int)strlen(c21_hex) - 2, c21_hex);
    assert_int_equal(parse_hex(buf, "truncated"), EINVAL);
    /* indefinite-length array: 18([_ ...]) */
    snprintf(buf, sizeof buf, "D29F%sFF", c21_hex + 4);
    assert_int_equal(parse_hex(buf, "indefinite"), EINVAL);
    /* indefinite-length byte string as payload */
    assert_int_equal(parse_hex("D28443A10126A05F4101FF4100", "indefinite"), EINVAL);
    /* a length not in its shortest form: 0x58 0x03 for the 3-byte protected header */
    snprintf(buf, sizeof buf,
             "D284580"
             "3%s",
             c21_hex + 6);
    assert_int_equal(parse_hex(buf, "shortest"), EINVAL);
    /* an integer not in its shortest form inside the protected header: alg 38 06 (-7) */
    assert_int_equal(parse_hex("D28444A1013806A0404100", "shortest"), EINVAL);
    assert_int_equal(parse_hex("D28445A101390006A0404100", "shortest"), EINVAL);
    /* duplicate keys: in the protected header, in the unprotected header */
    assert_int_equal(parse_hex("D28445A201260126A0404100", "duplicate"), EINVAL);
    assert_int_equal(parse_hex("D28443A10126A2044131044132404100", "duplicate"), EINVAL);
    /* no algorithm; the algorithm only in the unprotected header */
    assert_int_equal(parse_hex("D28440A0404100", "no algorithm"), EINVAL);
    assert_int_equal(parse_hex("D28440A10126404100", "unprotected"), EINVAL);
    /* crit: a label not understood; crit naming a header not present; crit unprotected */
    assert_int_equal(parse_hex("D2844AA3012602811863186300A0404100", "not understood"), EINVAL);
    assert_int_equal(parse_hex("D2844AA3012602816178617800A0404100", "not understood"), EINVAL);
    assert_int_equal(parse_hex("D28446A20126028104A0404100", "not in the protected"), EINVAL);
    assert_int_equal(parse_hex("D28443A10126A1028104404100", "unprotected"), EINVAL);
    /* the same label in both headers */
    assert_int_equal(parse_hex("D28445A201260300A10300404100", "both"), EINVAL);
    /* another tag, a tag on a tag, wrong shapes */
    assert_int_equal(parse_hex("D18443A10126A0404100", "tag 17"), EINVAL);
    assert_int_equal(parse_hex("D2D28443A10126A0404100", NULL), EINVAL);
    assert_int_equal(parse_hex("D28343A10126A040", "4 items"), EINVAL);
    assert_int_equal(parse_hex("D28443A10126A04060", "signature"), EINVAL);
    assert_int_equal(parse_hex("D28443A1012680404100", "unprotected header must be a map"), EINVAL);
    assert_int_equal(parse_hex("D28441A0A0404100", "zero-length"), EINVAL); /* h'A0': an empty map */
    assert_int_equal(parse_hex("D2844180A0404100", "not a map"), EINVAL);
    /* a collection declaring far more items than there are bytes: refused before any allocation */
    assert_int_equal(parse_hex("D2849B00000000FFFFFFFF", "more items"), EINVAL);
    assert_int_equal(parse_hex("D284BB00000000FFFFFFFF", "more items"), EINVAL);
    /* empty input */
    assert_int_equal(parse_hex("", "empty"), EINVAL);
}

static void test_depth_and_size_limits(void **state)
{
    char buf[512];
    size_t n = 0;
    uint8_t *big;
    struct gov_cose_sign1 m;
    (void)state;
    /* 20 nested arrays as an unknown header's value */
    n += (size_t)snprintf(buf + n, sizeof buf - n, "D28443A10126A10A");
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "81");
    snprintf(buf + n, sizeof buf - n, "00404100");
    assert_int_equal(parse_hex(buf, "nesting"), EINVAL);
    big = calloc(1, GOV_COSE_MAX_BYTES + 1);
    assert_non_null(big);
    assert_int_equal(gov_cose_sign1_parse(big, GOV_COSE_MAX_BYTES + 1, &m), EFBIG);
    free(big);
}

static void test_alg_names_and_keys(void **state)
{
    int64_t alg;
    EVP_PKEY *ed = new_key(GOV_COSE_EDDSA), *rsa_small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    uint8_t *msg;
    size_t len;
    (void)state;
    assert_int_equal(gov_cose_alg_from_name("PS256", &alg), 0);
    assert_int_equal(alg, -37);
    assert_int_equal(gov_cose_alg_from_name("RS256", &alg), EINVAL);
    assert_null(gov_cose_alg_name(-999));
    /* A key that cannot make the algorithm asked for, when signing and when verifying. */
    assert_int_equal(gov_cose_sign(ed, GOV_COSE_ES256, NULL, NULL, "x", 1, 0, &msg, &len), EINVAL);
    assert_int_equal(gov_cose_sign(rsa_small, GOV_COSE_PS256, NULL, NULL, "x", 1, 0, &msg, &len), EINVAL);
    {
        size_t clen;
        uint8_t *c21 = hex_bytes(c21_hex, &clen);
        assert_int_equal(gov_cose_verify(c21, clen, ed, "This is the content.", 20, NULL), EINVAL);
        assert_non_null(strstr(ccr_err_msg(EINVAL), "cannot make ES256"));
        free(c21);
    }
    assert_int_equal(gov_cose_verify_spki("\xd2", 1, "junk", 4, "x", 1, NULL), EINVAL);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(rsa_small);
}

/* Contract signatures: "cose:" + base64 where a plain signature goes, checked against the
 * party's key over the contract's signed bytes, at signing and again at admission. */
#define DS_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static char *spki_b64(EVP_PKEY *key)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key, &der);
    char *b64;
    assert_true(n > 0);
    b64 = malloc(ccr_b64_encoded_size((size_t)n, CCR_B64_STD));
    ccr_b64_encode(der, (size_t)n, b64, CCR_B64_STD);
    OPENSSL_free(der);
    return b64;
}

static char *cose_sig(EVP_PKEY *key, const char *kid, const void *payload_bytes, size_t len, int detached)
{
    uint8_t *msg;
    size_t mlen;
    char *out;
    assert_int_equal(gov_cose_sign(key, 0, kid, NULL, payload_bytes, len, detached, &msg, &mlen) == EINVAL,
                     1);
    {
        int64_t alg;
        assert_int_equal(gov_cose_alg_for_key(key, &alg), 0);
        assert_int_equal(gov_cose_sign(key, alg, kid, NULL, payload_bytes, len, detached, &msg, &mlen), 0);
    }
    out = malloc(strlen(GOV_COSE_SIG_PREFIX) + ccr_b64_encoded_size(mlen, CCR_B64_STD));
    strcpy(out, GOV_COSE_SIG_PREFIX);
    ccr_b64_encode(msg, mlen, out + strlen(GOV_COSE_SIG_PREFIX), CCR_B64_STD);
    free(msg);
    return out;
}

static int admit(const char *contract, const char *sig_prov, const char *sig_cons)
{
    char view[16384];
    struct gov_signed_contract sc;
    struct gov_admission req = {DS_A, GOV_MODE_READ_ONLY, "TRAINING", 1790000000000LL};
    int rc;
    snprintf(view, sizeof view, "{\"contract\":%s,\"signatures\":{\"prov\":\"%s\",\"cons\":\"%s\"}}",
             contract, sig_prov, sig_cons);
    assert_int_equal(gov_signed_contract_parse(view, strlen(view), &sc), 0);
    rc = gov_admit(&sc, &req, NULL);
    if (rc != 0)
        print_message("admission: %s\n", ccr_err_msg(rc));
    gov_signed_contract_release(&sc);
    return rc;
}

static void test_contract_signatures(void **state)
{
    EVP_PKEY *prov = new_key(GOV_COSE_EDDSA), *cons = new_key(GOV_COSE_ES256),
             *stranger = new_key(GOV_COSE_ES256);
    char *pp = spki_b64(prov), *pc = spki_b64(cons), text[4096], *bytes, *revoke, *s_prov, *s_cons, *s_bad,
         *s_att;
    char keyfile[] = "/tmp/test_cose_key.XXXXXX", *b64 = NULL;
    struct gov_contract *c;
    size_t len, rlen;
    FILE *f;
    int fd;
    (void)state;

    snprintf(text, sizeof text,
             "{\"id\":\"c1\",\"purpose\":\"TRAINING\","
             "\"parties\":[{\"id\":\"prov\",\"role\":\"data-provider\",\"publicKey\":\"%s\"},"
             "{\"id\":\"cons\",\"role\":\"data-consumer\",\"publicKey\":\"%s\"}],"
             "\"startTime\":\"2026-07-01T00:00:00Z\",\"expiryTime\":\"2026-12-31T23:59:59Z\","
             "\"datasets\":[{\"id\":\"" DS_A "\",\"provider\":\"prov\",\"accessMode\":\"read-only\","
             "\"maxMounts\":3}]}",
             pp, pc);
    assert_int_equal(gov_contract_parse(text, strlen(text), &c), 0);
    assert_int_equal(gov_contract_signed_bytes(c, &bytes, &len), 0);
    assert_int_equal(gov_contract_revoke_bytes(c, &revoke, &rlen), 0);

    s_prov = cose_sig(prov, "prov", bytes, len, 1);
    s_cons = cose_sig(cons, "cons", bytes, len, 1);
    s_att = cose_sig(cons, "cons", bytes, len, 0);
    s_bad = cose_sig(stranger, "cons", bytes, len, 1);
    assert_int_equal(gov_contract_check_sig(c, "prov", bytes, len, s_prov), 0);
    assert_int_equal(gov_contract_check_sig(c, "cons", bytes, len, s_cons), 0);
    assert_int_equal(gov_contract_check_sig(c, "cons", bytes, len, s_att), 0);
    /* another party's key, an unregistered key, other bytes, not base64, not COSE */
    assert_int_equal(gov_contract_check_sig(c, "cons", bytes, len, s_prov),
                     EINVAL); /* EdDSA message, P-256 key */
    assert_int_equal(gov_contract_check_sig(c, "cons", bytes, len, s_bad), EBADMSG);
    assert_non_null(strstr(ccr_err_msg(EBADMSG), "COSE signature of party \"cons\""));
    assert_int_equal(gov_contract_check_sig(c, "cons", revoke, rlen, s_cons), EBADMSG);
    assert_int_equal(gov_contract_check_sig(c, "cons", revoke, rlen, s_att), EBADMSG);
    assert_int_equal(gov_contract_check_sig(c, "cons", bytes, len, "cose:%%%"), EINVAL);
    assert_int_equal(gov_contract_check_sig(c, "cons", bytes, len, "cose:AAAA"), EINVAL);

    /* Admission re-checks them; a plain and a COSE signature may be mixed. */
    assert_int_equal(admit(text, s_prov, s_cons), 0);
    assert_int_equal(admit(text, s_prov, s_att), 0);
    assert_int_equal(admit(text, s_prov, s_bad), EACCES);
    assert_non_null(strstr(ccr_err_msg(EACCES), "cons"));

    /* What the CLI does: a PEM key file, the key's own algorithm, the party id as kid. */
    fd = mkstemp(keyfile);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_int_equal(PEM_write_PrivateKey(f, cons, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    assert_int_equal(gov_cose_sign_file_b64(keyfile, NULL, "cons", bytes, len, 1, &b64), 0);
    assert_int_equal(gov_cose_verify_b64(b64, pc, bytes, len, NULL), 0);
    free(b64);
    assert_int_equal(gov_cose_sign_file_b64(keyfile, "EdDSA", "cons", bytes, len, 1, &b64), EINVAL);
    assert_int_equal(gov_cose_sign_file_b64(keyfile, "HS256", "cons", bytes, len, 1, &b64), EINVAL);
    unlink(keyfile);
    assert_int_equal(gov_cose_sign_file_b64(keyfile, NULL, "cons", bytes, len, 1, &b64), ENOENT);

    free(s_prov);
    free(s_cons);
    free(s_att);
    free(s_bad);
    free(bytes);
    free(revoke);
    free(pp);
    free(pc);
    gov_contract_free(c);
    EVP_PKEY_free(prov);
    EVP_PKEY_free(cons);
    EVP_PKEY_free(stranger);
}

/* COSE_Sign (several signers, tag 98), as DEPA's contract service makes: the vectors of
 * cose-wg/Examples sign-tests and RFC 8152 C.1.1 and C.1.2 (two signers, one of them ES512). */
static void test_cose_sign_vectors(void **state)
{
    struct vector v;
    char *kid = NULL;
    (void)state;
    assert_int_equal(verify_vector("Appendix_C_1_1.json"), 0);
    assert_int_equal(verify_vector("Appendix_C_1_2.json"), 0); /* the ES256 signer; ES512 left unchecked */
    load_vector_signer("Appendix_C_1_2.json", 1, &v);          /* P-521: no signer it can verify */
    assert_int_equal(gov_cose_verify(v.msg, v.msg_len, v.key, v.plaintext, strlen(v.plaintext), &kid),
                     EBADMSG);
    assert_null(kid);
    free_vector(&v);
    assert_int_equal(verify_vector("cose-sign-ecdsa-01.json"), 0);
    assert_int_equal(verify_vector("cose-sign-pass-01.json"), EINVAL); /* body h'A0': see sign-pass-01 */
    assert_non_null(strstr(ccr_err_msg(EINVAL), "zero-length"));
    assert_int_equal(verify_vector("cose-sign-pass-02.json"), EBADMSG); /* external AAD: not used here */
    assert_int_equal(verify_vector("cose-sign-pass-03.json"), 0);       /* untagged */
    assert_int_equal(verify_vector("cose-sign-fail-01.json"), EINVAL);  /* tag 998 */
    assert_int_equal(verify_vector("cose-sign-fail-02.json"), EBADMSG);
    assert_int_equal(verify_vector("cose-sign-fail-03.json"), EBADMSG); /* alg -999: no signer left */
    assert_int_equal(verify_vector("cose-sign-fail-04.json"), EBADMSG);
    assert_int_equal(verify_vector("cose-sign-fail-06.json"), EBADMSG);
    assert_int_equal(verify_vector("cose-sign-fail-07.json"), EINVAL); /* body left as h'A0' */
    /* Other bytes than the attached payload; a flipped bit anywhere. */
    load_vector("cose-sign-ecdsa-01.json", &v);
    assert_int_equal(gov_cose_verify(v.msg, v.msg_len, v.key, "other", 5, NULL), EBADMSG);
    {
        /* The signer's unprotected header {4: h'3131'} is not signed: a change there is COSE. */
        static const uint8_t unprot[] = {0xA1, 0x04, 0x42, 0x31, 0x31};
        const uint8_t *u = memmem(v.msg, v.msg_len, unprot, sizeof unprot);
        assert_non_null(u);
        for (size_t i = 0; i < v.msg_len; i++) {
            if (v.msg + i >= u && v.msg + i < u + sizeof unprot)
                continue;
            v.msg[i] ^= 0x10;
            assert_int_not_equal(
                gov_cose_verify(v.msg, v.msg_len, v.key, v.plaintext, strlen(v.plaintext), NULL), 0);
            v.msg[i] ^= 0x10;
        }
    }
    free_vector(&v);
    /* Shapes: no signers, a signer of 2 items, trailing bytes. */
    {
        size_t len;
        uint8_t *b;
        EVP_PKEY *k = new_key(GOV_COSE_ES256);
        b = hex_bytes("D8628440A04180"
                      "80",
                      &len);
        assert_int_equal(gov_cose_verify(b, len, k, "\x80", 1, NULL), EINVAL);
        assert_non_null(strstr(ccr_err_msg(EINVAL), "signers"));
        free(b);
        b = hex_bytes("D8628440A041808182"
                      "43A10126"
                      "40",
                      &len);
        assert_int_equal(gov_cose_verify(b, len, k, "\x80", 1, NULL), EINVAL);
        assert_non_null(strstr(ccr_err_msg(EINVAL), "3 items"));
        free(b);
        b = hex_bytes("D8628440A04180818343A10126A04000", &len);
        assert_int_equal(gov_cose_verify(b, len, k, "\x80", 1, NULL), EINVAL);
        assert_non_null(strstr(ccr_err_msg(EINVAL), "trailing"));
        free(b);
        EVP_PKEY_free(k);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_pass),          cmocka_unit_test(test_vector_external_aad),
        cmocka_unit_test(test_vectors_fail),          cmocka_unit_test(test_vector_ps256_raw),
        cmocka_unit_test(test_roundtrip_each_alg),    cmocka_unit_test(test_deterministic_encoding),
        cmocka_unit_test(test_flipped_bytes_refused), cmocka_unit_test(test_structural_refusals),
        cmocka_unit_test(test_depth_and_size_limits), cmocka_unit_test(test_alg_names_and_keys),
        cmocka_unit_test(test_contract_signatures),   cmocka_unit_test(test_cose_sign_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
