/* The private JWK the SKR sidecar returns: RSA, EC or oct. */
#include "common/encoding.h"
#include "common/err.h"
#include "common/secmem.h"
#include "keys/skr/skr.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

/* The base64url member `name`, decoded into memory wiped on free (ccr_freezero). */
static int jwk_bytes(struct json_object *o, const char *name, uint8_t **out, size_t *len)
{
    struct json_object *v;
    const char *s;

    *out = NULL;
    if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
        return EINVAL;
    s = json_object_get_string(v);
    if (s[0] == '\0' || ccr_b64_decode(s, strlen(s), out, len, CCR_B64_URL) != 0)
        return EINVAL;
    return 0;
}

static BIGNUM *jwk_bn(struct json_object *o, const char *name)
{
    uint8_t *b;
    size_t len;
    BIGNUM *bn;

    if (jwk_bytes(o, name, &b, &len) != 0)
        return NULL;
    bn = BN_secure_new();
    if (bn != NULL && BN_bin2bn(b, (int)len, bn) == NULL) {
        BN_clear_free(bn);
        bn = NULL;
    }
    ccr_freezero(b, len);
    return bn;
}

static int rsa_from_jwk(struct json_object *o, EVP_PKEY **out)
{
    static const char *names[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi"};
    static const char *params_names[] = {OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
                                         OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
                                         OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
                                         OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
    BIGNUM *bn[8] = {0};
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    int rc = 0;

    for (size_t i = 0; i < 8; i++) {
        if ((bn[i] = jwk_bn(o, names[i])) == NULL) {
            rc =
                ccr_err_set(EINVAL,
                            "released key: \"%s\" is missing or not base64url (a private RSA JWK needs n, e, "
                            "d, p, q, dp, dq, qi)",
                            names[i]);
            goto out;
        }
        OSSL_PARAM_BLD_push_BN(bld, params_names[i], bn[i]);
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (ctx == NULL || params == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, params) != 1) {
        rc = ccr_err_set(EINVAL, "released key: not a valid RSA private key");
        goto out;
    }
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    for (size_t i = 0; i < 8; i++)
        BN_clear_free(bn[i]);
    return rc;
}

static int ec_from_jwk(struct json_object *o, struct keys_skr_key *key)
{
    struct json_object *v;
    const char *crv;
    size_t clen, xl = 0, yl = 0, dl = 0;
    uint8_t *x = NULL, *y = NULL, *d = NULL, point[1 + 2 * 48];
    BIGNUM *priv = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL, *check = NULL;
    int rc = 0;

    if (!json_object_object_get_ex(o, "crv", &v) || !json_object_is_type(v, json_type_string))
        return ccr_err_set(EINVAL, "released key: an EC JWK needs \"crv\"");
    crv = json_object_get_string(v);
    if (strcmp(crv, "P-256") == 0)
        clen = 32;
    else if (strcmp(crv, "P-384") == 0)
        clen = 48;
    else
        return ccr_err_set(EINVAL, "released key: EC curve \"%.16s\" is not supported (P-256, P-384)", crv);
    if (jwk_bytes(o, "x", &x, &xl) != 0 || jwk_bytes(o, "y", &y, &yl) != 0 ||
        jwk_bytes(o, "d", &d, &dl) != 0) {
        rc = ccr_err_set(EINVAL, "released key: an EC private JWK needs x, y and d in base64url");
        goto out;
    }
    if (xl != clen || yl != clen || dl != clen) {
        rc = ccr_err_set(EINVAL, "released key: x, y and d must be %zu bytes each for %s", clen, crv);
        goto out;
    }
    point[0] = 0x04;
    memcpy(point + 1, x, clen);
    memcpy(point + 1 + clen, y, clen);
    bld = OSSL_PARAM_BLD_new();
    priv = BN_secure_new();
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (bld == NULL || priv == NULL || ctx == NULL || BN_bin2bn(d, (int)dl, priv) == NULL ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, crv, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * clen) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1 ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
        rc = ccr_err_set(ENOMEM, "released key: out of memory");
        goto out;
    }
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key->pkey, EVP_PKEY_KEYPAIR, params) != 1) {
        rc = ccr_err_set(EINVAL, "released key: not a valid %s private key", crv);
        goto out;
    }
    /* x, y must be the public point of d: a mismatched pair would unwrap nothing anyway, but
     * say so here rather than as a failed unwrap. */
    check = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
    if (check == NULL || EVP_PKEY_pairwise_check(check) != 1) {
        EVP_PKEY_free(key->pkey);
        key->pkey = NULL;
        rc = ccr_err_set(EINVAL, "released key: x and y are not the public point of d (%s)", crv);
        goto out;
    }
    snprintf(key->crv, sizeof key->crv, "%s", crv);
out:
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    ccr_freezero(x, xl);
    ccr_freezero(y, yl);
    ccr_freezero(d, dl);
    return rc;
}

static int oct_from_jwk(struct json_object *o, struct keys_skr_key *key)
{
    uint8_t *k;
    size_t len;

    if (jwk_bytes(o, "k", &k, &len) != 0)
        return ccr_err_set(EINVAL, "released key: an oct JWK needs \"k\" in base64url");
    key->secret = ccr_secmem_alloc(len);
    if (key->secret == NULL) {
        ccr_freezero(k, len);
        return ccr_err_set(ENOMEM, "released key: no locked memory for the key");
    }
    memcpy(key->secret, k, len);
    key->secret_len = len;
    ccr_freezero(k, len);
    return 0;
}

/* kty as Key Vault names it, with or without the -HSM suffix. */
static int kty_is(const char *kty, const char *base)
{
    size_t n = strlen(base);
    return strncmp(kty, base, n) == 0 && (kty[n] == '\0' || strcmp(kty + n, "-HSM") == 0);
}

static struct json_object *parse_object(const char *text, size_t len)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;

    if (tok != NULL)
        json_tokener_free(tok);
    if (o != NULL && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

int keys_skr_key_parse(const char *jwk_text, size_t len, struct keys_skr_key *out)
{
    struct json_object *o = parse_object(jwk_text, len), *kty;
    const char *k;
    int rc;

    memset(out, 0, sizeof *out);
    if (o == NULL)
        return ccr_err_set(EINVAL, "released key: not a JSON Web Key");
    if (!json_object_object_get_ex(o, "kty", &kty) || !json_object_is_type(kty, json_type_string)) {
        json_object_put(o);
        return ccr_err_set(EINVAL, "released key: \"kty\" is missing");
    }
    k = json_object_get_string(kty);
    if (kty_is(k, "RSA")) {
        out->kty = KEYS_SKR_KTY_RSA;
        rc = rsa_from_jwk(o, &out->pkey);
    } else if (kty_is(k, "EC")) {
        out->kty = KEYS_SKR_KTY_EC;
        rc = ec_from_jwk(o, out);
    } else if (kty_is(k, "oct")) {
        out->kty = KEYS_SKR_KTY_OCT;
        rc = oct_from_jwk(o, out);
    } else {
        rc = ccr_err_set(EINVAL, "released key: \"kty\" \"%.16s\" is not supported (RSA, EC, oct)", k);
    }
    json_object_put(o);
    if (rc != 0)
        keys_skr_key_clear(out);
    return rc;
}

void keys_skr_key_clear(struct keys_skr_key *key)
{
    EVP_PKEY_free(key->pkey);
    ccr_secmem_free(key->secret, key->secret_len);
    memset(key, 0, sizeof *key);
}

int keys_skr_jwk_private(const char *jwk_text, size_t len, EVP_PKEY **out)
{
    struct keys_skr_key key;
    int rc;

    *out = NULL;
    if ((rc = keys_skr_key_parse(jwk_text, len, &key)) != 0)
        return rc;
    if (key.kty != KEYS_SKR_KTY_RSA) {
        keys_skr_key_clear(&key);
        return ccr_err_set(EINVAL, "released key: \"kty\" must be RSA");
    }
    *out = key.pkey;
    return 0;
}
