/* Admin JWTs (compact JWS), as Trustee's KBS verifies them. */
#include "keys/broker/admin_jwt.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"

#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKEN 8192

struct alg {
    const char *name;
    int key_type;   /* EVP_PKEY_ED25519, EVP_PKEY_EC, EVP_PKEY_RSA */
    int ec_bits;    /* curve size for EC, 0 otherwise */
    const char *md; /* digest name, NULL for EdDSA */
    int pss;        /* RSA-PSS padding */
};

static const struct alg algs[] = {
    {"EdDSA", EVP_PKEY_ED25519, 0, NULL, 0},  {"ES256", EVP_PKEY_EC, 256, "SHA256", 0},
    {"ES384", EVP_PKEY_EC, 384, "SHA384", 0}, {"RS256", EVP_PKEY_RSA, 0, "SHA256", 0},
    {"RS384", EVP_PKEY_RSA, 0, "SHA384", 0},  {"RS512", EVP_PKEY_RSA, 0, "SHA512", 0},
    {"PS256", EVP_PKEY_RSA, 0, "SHA256", 1},  {"PS384", EVP_PKEY_RSA, 0, "SHA384", 1},
    {"PS512", EVP_PKEY_RSA, 0, "SHA512", 1},
};

static const struct alg *alg_find(const char *name)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(algs[i].name, name) == 0)
            return &algs[i];
    return NULL;
}

static int alg_fits(const struct alg *a, EVP_PKEY *k)
{
    if (EVP_PKEY_get_base_id(k) != a->key_type)
        return 0;
    return a->key_type != EVP_PKEY_EC || EVP_PKEY_get_bits(k) == a->ec_bits;
}

/* The algorithm a signer uses for its key. */
static const struct alg *alg_for_key(EVP_PKEY *k)
{
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_ED25519:
        return &algs[0];
    case EVP_PKEY_EC:
        return EVP_PKEY_get_bits(k) == 256 ? &algs[1] : EVP_PKEY_get_bits(k) == 384 ? &algs[2] : NULL;
    case EVP_PKEY_RSA:
        return &algs[3];
    }
    return NULL;
}

static int load_pem(const char *file, int private, EVP_PKEY **out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    BIO *bio;
    EVP_PKEY *k = NULL;
    int rc;

    if ((rc = ccr_read_file(file, 1 << 16, &buf, &len)) != 0)
        return rc;
    bio = BIO_new_mem_buf(buf, (int)len);
    if (bio != NULL) {
        k = private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                    : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        if (k == NULL && !private) { /* a private key file also gives its public half */
            BIO_free(bio);
            bio = BIO_new_mem_buf(buf, (int)len);
            k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
        }
    }
    BIO_free(bio);
    OPENSSL_cleanse(buf, len);
    free(buf);
    if (k == NULL)
        return ccr_err_set(EINVAL, "%s: not a PEM %s key", file, private ? "private" : "public");
    if (alg_for_key(k) == NULL) {
        EVP_PKEY_free(k);
        return ccr_err_set(EINVAL, "%s: the key is none of Ed25519, EC P-256/P-384, RSA", file);
    }
    *out = k;
    return 0;
}

int keys_admin_jwt_load_public(const char *pem_file, EVP_PKEY **out)
{
    return load_pem(pem_file, 0, out);
}

int keys_admin_jwt_load_private(const char *pem_file, EVP_PKEY **out)
{
    return load_pem(pem_file, 1, out);
}

/* JWS ECDSA signatures are r || s, each the curve size; OpenSSL speaks DER. */
static int ecdsa_raw_to_der(const uint8_t *raw, size_t len, uint8_t **der, size_t *der_len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)(len / 2), NULL), *s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
    unsigned char *p = NULL;
    int n;

    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        ECDSA_SIG_free(sig);
        BN_free(r);
        BN_free(s);
        return ENOMEM;
    }
    n = i2d_ECDSA_SIG(sig, &p);
    ECDSA_SIG_free(sig);
    if (n <= 0)
        return ENOMEM;
    *der = p;
    *der_len = (size_t)n;
    return 0;
}

static int ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t half, uint8_t *raw)
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r, *s;
    int ok;

    if (sig == NULL)
        return EIO;
    ECDSA_SIG_get0(sig, &r, &s);
    ok = BN_bn2binpad(r, raw, (int)half) == (int)half && BN_bn2binpad(s, raw + half, (int)half) == (int)half;
    ECDSA_SIG_free(sig);
    return ok ? 0 : EIO;
}

static EVP_MD_CTX *sig_ctx(const struct alg *a, EVP_PKEY *k, int sign)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok;

    if (ctx == NULL)
        return NULL;
    ok = sign ? EVP_DigestSignInit_ex(ctx, &pctx, a->md, NULL, NULL, k, NULL)
              : EVP_DigestVerifyInit_ex(ctx, &pctx, a->md, NULL, NULL, k, NULL);
    if (ok == 1 && a->pss)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    if (ok != 1) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static struct json_object *b64url_json(const char *part, size_t len)
{
    uint8_t *raw = NULL;
    size_t n = 0;
    struct json_object *o = NULL;
    char *text;

    if (ccr_b64_decode(part, len, &raw, &n, CCR_B64_URL) != 0)
        return NULL;
    if ((text = malloc(n + 1)) != NULL) {
        memcpy(text, raw, n);
        text[n] = '\0';
        o = json_tokener_parse(text);
        free(text);
    }
    free(raw);
    if (o != NULL && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

static int num_claim(struct json_object *claims, const char *name, int64_t *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(claims, name, &v))
        return ENOENT;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return EINVAL;
    *out =
        json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : (int64_t)json_object_get_double(v);
    return 0;
}

int keys_admin_jwt_verify(EVP_PKEY *pub, const char *token, time_t now, const char *role, char *role_out,
                          size_t role_len)
{
    const char *dot1, *dot2, *sig_b64;
    struct json_object *hdr = NULL, *claims = NULL, *v;
    const struct alg *a;
    uint8_t *sig = NULL, *der = NULL;
    size_t sig_len = 0, der_len = 0, tlen;
    EVP_MD_CTX *ctx = NULL;
    int64_t exp, nbf;
    int rc, r;

    if (role_len)
        role_out[0] = '\0';
    if (token == NULL || (tlen = strlen(token)) == 0 || tlen > MAX_TOKEN ||
        (dot1 = strchr(token, '.')) == NULL || (dot2 = strchr(dot1 + 1, '.')) == NULL ||
        strchr(dot2 + 1, '.') != NULL)
        return ccr_err_set(EACCES, "admin token: not a compact JWS (header.payload.signature)");
    sig_b64 = dot2 + 1;
    if ((hdr = b64url_json(token, (size_t)(dot1 - token))) == NULL ||
        (claims = b64url_json(dot1 + 1, (size_t)(dot2 - dot1 - 1))) == NULL) {
        rc = ccr_err_set(EACCES, "admin token: the header or the claims are not base64url JSON objects");
        goto out;
    }
    if (!json_object_object_get_ex(hdr, "alg", &v) || !json_object_is_type(v, json_type_string) ||
        (a = alg_find(json_object_get_string(v))) == NULL) {
        rc =
            ccr_err_set(EACCES, "admin token: algorithm \"%.16s\" is not accepted",
                        v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "(none)");
        goto out;
    }
    if (!alg_fits(a, pub)) {
        rc = ccr_err_set(EACCES, "admin token: algorithm %s does not fit the configured admin key", a->name);
        goto out;
    }
    if (ccr_b64_decode(sig_b64, strlen(sig_b64), &sig, &sig_len, CCR_B64_URL) != 0 || sig_len == 0) {
        rc = ccr_err_set(EACCES, "admin token: the signature is not base64url");
        goto out;
    }
    if (a->key_type == EVP_PKEY_EC) {
        if (sig_len != (size_t)(a->ec_bits / 8) * 2 || ecdsa_raw_to_der(sig, sig_len, &der, &der_len) != 0) {
            rc = ccr_err_set(EACCES, "admin token: an %s signature is %d bytes", a->name, a->ec_bits / 4);
            goto out;
        }
    }
    ctx = sig_ctx(a, pub, 0);
    r = ctx == NULL ? -1
                    : EVP_DigestVerify(ctx, der ? der : sig, der ? der_len : sig_len, (const uint8_t *)token,
                                       (size_t)(dot2 - token));
    if (r != 1) {
        rc = ccr_err_set(EACCES, "admin token: the signature does not verify with the configured admin key");
        goto out;
    }
    if (now == 0)
        now = time(NULL);
    if ((r = num_claim(claims, "exp", &exp)) != 0) {
        rc = ccr_err_set(EACCES, "admin token: the \"exp\" claim is %s",
                         r == ENOENT ? "missing" : "not a number");
        goto out;
    }
    if ((int64_t)now > exp + KEYS_ADMIN_JWT_LEEWAY) {
        rc = ccr_err_set(EACCES, "admin token: expired %lld seconds ago", (long long)((int64_t)now - exp));
        goto out;
    }
    if (num_claim(claims, "nbf", &nbf) == 0 && (int64_t)now + KEYS_ADMIN_JWT_LEEWAY < nbf) {
        rc = ccr_err_set(EACCES, "admin token: not valid before %lld", (long long)nbf);
        goto out;
    }
    if (!json_object_object_get_ex(claims, "role", &v) || !json_object_is_type(v, json_type_string)) {
        rc = ccr_err_set(EACCES, "admin token: the required string claim \"role\" is missing");
        goto out;
    }
    if (role != NULL && strcmp(role, json_object_get_string(v)) != 0) {
        rc = ccr_err_set(EACCES, "admin token: role \"%.64s\" is not allowed (this broker admits \"%.64s\")",
                         json_object_get_string(v), role);
        goto out;
    }
    if (role_len)
        snprintf(role_out, role_len, "%s", json_object_get_string(v));
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    free(sig);
    json_object_put(hdr);
    json_object_put(claims);
    return rc;
}

static char *b64url_text(const void *data, size_t len)
{
    char *out = malloc(ccr_b64_encoded_size(len, CCR_B64_URL));
    if (out != NULL)
        ccr_b64_encode(data, len, out, CCR_B64_URL);
    return out;
}

int keys_admin_jwt_sign(EVP_PKEY *priv, const char *role, time_t now, unsigned ttl, char **token)
{
    const struct alg *a = alg_for_key(priv);
    struct json_object *hdr, *claims;
    char *h = NULL, *c = NULL, *s = NULL, *input = NULL, *out = NULL;
    uint8_t *sig = NULL, raw[132];
    size_t sig_len = 0, n;
    EVP_MD_CTX *ctx = NULL;
    int rc = ENOMEM;

    *token = NULL;
    if (a == NULL)
        return ccr_err_set(EINVAL, "admin key: none of Ed25519, EC P-256/P-384, RSA");
    if (now == 0)
        now = time(NULL);
    hdr = json_object_new_object();
    claims = json_object_new_object();
    json_object_object_add(hdr, "alg", json_object_new_string(a->name));
    json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
    json_object_object_add(claims, "iat", json_object_new_int64((int64_t)now));
    json_object_object_add(claims, "exp", json_object_new_int64((int64_t)now + ttl));
    json_object_object_add(claims, "role", json_object_new_string(role ? role : KEYS_ADMIN_JWT_DEFAULT_ROLE));
    {
        const char *ht = json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN);
        const char *ct = json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN);
        h = b64url_text(ht, strlen(ht));
        c = b64url_text(ct, strlen(ct));
    }
    json_object_put(hdr);
    json_object_put(claims);
    if (h == NULL || c == NULL)
        goto out;
    n = strlen(h) + strlen(c) + 2;
    if ((input = malloc(n)) == NULL)
        goto out;
    snprintf(input, n, "%s.%s", h, c);
    if ((ctx = sig_ctx(a, priv, 1)) == NULL ||
        EVP_DigestSign(ctx, NULL, &sig_len, (const uint8_t *)input, strlen(input)) != 1 ||
        (sig = malloc(sig_len)) == NULL ||
        EVP_DigestSign(ctx, sig, &sig_len, (const uint8_t *)input, strlen(input)) != 1) {
        rc = ccr_err_set(EIO, "cannot sign the admin token");
        goto out;
    }
    if (a->key_type == EVP_PKEY_EC) {
        size_t half = (size_t)a->ec_bits / 8;
        if (ecdsa_der_to_raw(sig, sig_len, half, raw) != 0) {
            rc = ccr_err_set(EIO, "cannot encode the admin token's signature");
            goto out;
        }
        s = b64url_text(raw, 2 * half);
    } else {
        s = b64url_text(sig, sig_len);
    }
    if (s == NULL)
        goto out;
    n = strlen(input) + strlen(s) + 2;
    if ((out = malloc(n)) == NULL)
        goto out;
    snprintf(out, n, "%s.%s", input, s);
    *token = out;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    free(sig);
    free(h);
    free(c);
    free(s);
    free(input);
    return rc;
}
