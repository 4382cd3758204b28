/* JWK and JWE for the KBS protocol. */
#include "keys/kbs/jwe.h"
#include "common/random.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/secmem.h"
#include "format/crypto.h"

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#define CEK_LEN           32
#define JWE_MAX_PLAINTEXT (1 << 20)

int keys_jwk_generate(const char *alg, EVP_PKEY **out)
{
    if (strcmp(alg, KEYS_JWE_ALG_ECDH) == 0)
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    else if (strcmp(alg, KEYS_JWE_ALG_RSA) == 0)
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
    else
        return ccr_err_set(EINVAL, "key algorithm '%s': expected %s or %s", alg, KEYS_JWE_ALG_ECDH,
                           KEYS_JWE_ALG_RSA);
    return *out ? 0 : ccr_err_set(EIO, "cannot generate an ephemeral %s key", alg);
}

static void add_b64url_bn(struct json_object *o, const char *name, const BIGNUM *bn, int pad)
{
    int n = pad ? pad : BN_num_bytes(bn);
    uint8_t *buf = malloc((size_t)n + 1);
    char *enc;
    if (buf == NULL)
        return;
    BN_bn2binpad(bn, buf, n);
    enc = malloc(ccr_b64_encoded_size((size_t)n, CCR_B64_URL));
    if (enc != NULL) {
        ccr_b64_encode(buf, (size_t)n, enc, CCR_B64_URL);
        json_object_object_add(o, name, json_object_new_string(enc));
    }
    free(enc);
    free(buf);
}

struct json_object *keys_jwk_public(EVP_PKEY *key, const char *alg)
{
    struct json_object *o = json_object_new_object();
    BIGNUM *a = NULL, *b = NULL;

    if (o == NULL)
        return NULL;
    if (alg != NULL)
        json_object_object_add(o, "alg", json_object_new_string(alg));
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
        char group[32] = "";
        int bytes;
        size_t glen;
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen);
        bytes = strcmp(group, "secp384r1") == 0 ? 48 : 32;
        json_object_object_add(o, "crv", json_object_new_string(bytes == 48 ? "P-384" : "P-256"));
        json_object_object_add(o, "kty", json_object_new_string("EC"));
        if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &a) == 1 &&
            EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &b) == 1) {
            add_b64url_bn(o, "x", a, bytes);
            add_b64url_bn(o, "y", b, bytes);
        }
    } else {
        if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &a) == 1)
            add_b64url_bn(o, "e", a, 0);
        json_object_object_add(o, "kty", json_object_new_string("RSA"));
        if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &b) == 1)
            add_b64url_bn(o, "n", b, 0);
    }
    BN_free(a);
    BN_free(b);
    return o;
}

static int get_str(struct json_object *o, const char *name, const char **out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
        return ccr_err_set(EINVAL, "\"%s\" is missing or not a string", name);
    *out = json_object_get_string(v);
    return 0;
}

static int get_b64(struct json_object *o, const char *name, uint8_t **out, size_t *len)
{
    const char *s;
    int rc = get_str(o, name, &s);
    if (rc != 0)
        return rc;
    if ((rc = ccr_b64_decode(s, strlen(s), out, len, CCR_B64_URL)) != 0)
        return ccr_err_set(EINVAL, "\"%s\" is not base64url", name);
    return 0;
}

static BIGNUM *get_bn(struct json_object *o, const char *name)
{
    uint8_t *b;
    size_t len;
    BIGNUM *bn;
    if (get_b64(o, name, &b, &len) != 0)
        return NULL;
    bn = BN_bin2bn(b, (int)len, NULL);
    free(b);
    return bn;
}

int keys_jwk_parse_public(struct json_object *jwk, EVP_PKEY **out, char *alg_out, size_t alg_len)
{
    const char *kty, *alg = "";
    struct json_object *v;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *n = NULL, *e = NULL;
    uint8_t *x = NULL, *y = NULL, point[1 + 2 * 48];
    size_t xl = 0, yl = 0;
    int rc;

    *out = NULL;
    if (json_object_object_get_ex(jwk, "alg", &v) && json_object_is_type(v, json_type_string))
        alg = json_object_get_string(v);
    if (alg_out)
        snprintf(alg_out, alg_len, "%s", alg);
    if (bld == NULL || !json_object_is_type(jwk, json_type_object)) {
        rc = ccr_err_set(EINVAL, "JWK: not a JSON object");
        goto out;
    }
    if ((rc = get_str(jwk, "kty", &kty)) != 0)
        goto out;
    if (strcmp(kty, "EC") == 0) {
        const char *crv, *group;
        size_t clen;
        if ((rc = get_str(jwk, "crv", &crv)) != 0)
            goto out;
        if (strcmp(crv, "P-256") == 0) {
            group = "P-256";
            clen = 32;
        } else if (strcmp(crv, "P-384") == 0) {
            group = "P-384";
            clen = 48;
        } else {
            rc = ccr_err_set(EINVAL, "JWK: curve '%s' is not supported (P-256, P-384)", crv);
            goto out;
        }
        if ((rc = get_b64(jwk, "x", &x, &xl)) != 0 || (rc = get_b64(jwk, "y", &y, &yl)) != 0)
            goto out;
        if (xl != clen || yl != clen) {
            rc = ccr_err_set(EINVAL, "JWK: x and y must be %zu bytes each for %s", clen, crv);
            goto out;
        }
        point[0] = 0x04;
        memcpy(point + 1, x, clen);
        memcpy(point + 1 + clen, y, clen);
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * clen);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    } else if (strcmp(kty, "RSA") == 0) {
        if ((n = get_bn(jwk, "n")) == NULL || (e = get_bn(jwk, "e")) == NULL) {
            rc = ccr_err_set(EINVAL, "JWK: RSA key needs base64url \"n\" and \"e\"");
            goto out;
        }
        if (BN_num_bits(n) < 2048) {
            rc = ccr_err_set(EINVAL, "JWK: RSA modulus of %d bits is too small (2048 at least)",
                             BN_num_bits(n));
            goto out;
        }
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    } else {
        rc = ccr_err_set(EINVAL, "JWK: key type '%s' is not supported (EC, RSA)", kty);
        goto out;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (ctx == NULL || params == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        rc = ccr_err_set(EINVAL, "JWK: not a valid %s public key", kty);
        goto out;
    }
    if (strcmp(kty, "EC") == 0) {
        /* A point off the curve must never reach ECDH. */
        EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL);
        int ok = chk != NULL && EVP_PKEY_public_check(chk) == 1;
        EVP_PKEY_CTX_free(chk);
        if (!ok) {
            EVP_PKEY_free(*out);
            *out = NULL;
            rc = ccr_err_set(EINVAL, "JWK: the EC point is not on the curve");
            goto out;
        }
    }
    rc = 0;
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(n);
    BN_free(e);
    free(x);
    free(y);
    return rc;
}

int keys_jwe_concat_kdf(const uint8_t *z, size_t z_len, const char *alg, const uint8_t *apu, size_t apu_len,
                        const uint8_t *apv, size_t apv_len, size_t keybits, uint8_t *out)
{
    size_t need = keybits / 8, done = 0, alg_len = strlen(alg);
    uint8_t ctr[4], len4[4], hash[32];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md != NULL;

#define PUT32(b, v)                                                                                          \
    ((b)[0] = (uint8_t)((v) >> 24), (b)[1] = (uint8_t)((v) >> 16), (b)[2] = (uint8_t)((v) >> 8),             \
     (b)[3] = (uint8_t)(v))
    for (uint32_t round = 1; ok && done < need; round++) {
        size_t take = need - done < 32 ? need - done : 32;
        PUT32(ctr, round);
        ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, ctr, 4) == 1 &&
             EVP_DigestUpdate(md, z, z_len) == 1;
        PUT32(len4, alg_len);
        ok = ok && EVP_DigestUpdate(md, len4, 4) == 1 && EVP_DigestUpdate(md, alg, alg_len) == 1;
        PUT32(len4, apu_len);
        ok = ok && EVP_DigestUpdate(md, len4, 4) == 1 &&
             (apu_len == 0 || EVP_DigestUpdate(md, apu, apu_len) == 1);
        PUT32(len4, apv_len);
        ok = ok && EVP_DigestUpdate(md, len4, 4) == 1 &&
             (apv_len == 0 || EVP_DigestUpdate(md, apv, apv_len) == 1);
        PUT32(len4, keybits);
        ok = ok && EVP_DigestUpdate(md, len4, 4) == 1 && EVP_DigestFinal_ex(md, hash, NULL) == 1;
        if (ok)
            memcpy(out + done, hash, take);
        done += take;
    }
#undef PUT32
    OPENSSL_cleanse(hash, sizeof hash);
    EVP_MD_CTX_free(md);
    return ok ? 0 : ccr_err_set(EIO, "Concat KDF failed");
}

static int aes_kw(int enc, const uint8_t kek[32], const uint8_t *in, size_t len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0, ok;

    if (ctx == NULL)
        return ENOMEM;
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    ok = EVP_CipherInit_ex(ctx, EVP_aes_256_wrap(), NULL, kek, NULL, enc) == 1 &&
         EVP_CipherUpdate(ctx, out, &n1, in, (int)len) == 1 && EVP_CipherFinal_ex(ctx, out + n1, &n2) == 1 &&
         (size_t)(n1 + n2) == (enc ? len + 8 : len - 8);
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
        return enc ? ccr_err_set(EIO, "AES key wrap failed")
                   : ccr_err_set(EBADMSG, "AES key unwrap: the wrapped key does not authenticate");
    return 0;
}

int keys_aes_kw_wrap(const uint8_t kek[32], const uint8_t *in, size_t len, uint8_t *out)
{
    if (len < 16 || len % 8 != 0)
        return ccr_err_set(EINVAL, "AES key wrap: %zu bytes is not a multiple of 8 of at least 16", len);
    return aes_kw(1, kek, in, len, out);
}

int keys_aes_kw_unwrap(const uint8_t kek[32], const uint8_t *in, size_t len, uint8_t *out)
{
    if (len < 24 || len % 8 != 0)
        return ccr_err_set(EINVAL, "AES key unwrap: %zu bytes is not a multiple of 8 of at least 24", len);
    return aes_kw(0, kek, in, len, out);
}

int keys_jwe_gcm_open(const uint8_t cek[32], const uint8_t *iv, size_t iv_len, const char *aad,
                      const uint8_t *ct, size_t ct_len, const uint8_t *tag, size_t tag_len, uint8_t *out)
{
    if (iv_len != FMT_NONCE_LEN)
        return ccr_err_set(EINVAL, "JWE: \"iv\" is %zu bytes, A256GCM uses 12", iv_len);
    if (tag_len != FMT_TAG_LEN)
        return ccr_err_set(EINVAL, "JWE: \"tag\" is %zu bytes, A256GCM uses 16", tag_len);
    if (fmt_gcm_open(cek, iv, (const uint8_t *)aad, strlen(aad), ct, ct_len, tag, out) != 0)
        return ccr_err_set(EBADMSG,
                           "JWE: the content does not authenticate (tag mismatch): tampered or wrong key");
    return 0;
}

/* Derives the ECDH-ES key-encryption key between priv and peer. */
static int ecdh_kek(EVP_PKEY *priv, EVP_PKEY *peer, const char *alg, uint8_t kek[32])
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    uint8_t z[66];
    size_t zlen = sizeof z;
    int rc;

    if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, peer) != 1 ||
        EVP_PKEY_derive(ctx, z, &zlen) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return ccr_err_set(EBADMSG, "JWE: ECDH with the sender's ephemeral key failed (different curves?)");
    }
    EVP_PKEY_CTX_free(ctx);
    rc = keys_jwe_concat_kdf(z, zlen, alg, NULL, 0, NULL, 0, 256, kek);
    OPENSSL_cleanse(z, sizeof z);
    return rc;
}

static int rsa_oaep256(EVP_PKEY *key, int enc, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    int ok = ctx != NULL && (enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1 &&
             (enc ? EVP_PKEY_encrypt(ctx, out, out_len, in, len)
                  : EVP_PKEY_decrypt(ctx, out, out_len, in, len)) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return enc ? ccr_err_set(EIO, "RSA-OAEP-256 encryption failed")
                   : ccr_err_set(EBADMSG, "RSA-OAEP-256: the encrypted key does not decrypt with this key");
    return 0;
}

static char *b64url(const uint8_t *p, size_t len)
{
    char *s = malloc(ccr_b64_encoded_size(len, CCR_B64_URL));
    if (s)
        ccr_b64_encode(p, len, s, CCR_B64_URL);
    return s;
}

int keys_jwe_encrypt(EVP_PKEY *recipient, const char *alg, const uint8_t *pt, size_t len, char **out)
{
    struct json_object *hdr = json_object_new_object(), *jwe = json_object_new_object();
    uint8_t cek[CEK_LEN], kek[32], iv[FMT_NONCE_LEN], tag[FMT_TAG_LEN], ek[1024];
    size_t ek_len = sizeof ek;
    uint8_t *ct = malloc(len ? len : 1);
    EVP_PKEY *eph = NULL;
    char *prot = NULL, *s;
    const char *hdr_text;
    int rc;

    *out = NULL;
    if (hdr == NULL || jwe == NULL || ct == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if ((rc = ccr_random(cek, sizeof cek)) != 0 || (rc = ccr_random(iv, sizeof iv)) != 0)
        goto out;
    json_object_object_add(hdr, "alg", json_object_new_string(alg));
    json_object_object_add(hdr, "enc", json_object_new_string("A256GCM"));
    if (strcmp(alg, KEYS_JWE_ALG_RSA) == 0) {
        if (EVP_PKEY_get_base_id(recipient) != EVP_PKEY_RSA) {
            rc = ccr_err_set(EINVAL, "JWE: %s needs an RSA key", alg);
            goto out;
        }
        if ((rc = rsa_oaep256(recipient, 1, cek, sizeof cek, ek, &ek_len)) != 0)
            goto out;
    } else if (strcmp(alg, KEYS_JWE_ALG_ECDH) == 0) {
        char group[32] = "";
        size_t glen;
        if (EVP_PKEY_get_base_id(recipient) != EVP_PKEY_EC ||
            EVP_PKEY_get_utf8_string_param(recipient, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           &glen) != 1) {
            rc = ccr_err_set(EINVAL, "JWE: %s needs an EC key", alg);
            goto out;
        }
        eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
        if (eph == NULL) {
            rc = ccr_err_set(EIO, "JWE: cannot generate an ephemeral key");
            goto out;
        }
        json_object_object_add(hdr, "epk", keys_jwk_public(eph, NULL));
        if ((rc = ecdh_kek(eph, recipient, alg, kek)) != 0 ||
            (rc = keys_aes_kw_wrap(kek, cek, sizeof cek, ek)) != 0)
            goto out;
        ek_len = sizeof cek + 8;
    } else {
        rc = ccr_err_set(EINVAL, "JWE: key algorithm '%s' is not supported", alg);
        goto out;
    }
    hdr_text = json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    prot = b64url((const uint8_t *)hdr_text, strlen(hdr_text));
    if (prot == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if ((rc = fmt_gcm_seal(cek, iv, (const uint8_t *)prot, strlen(prot), pt, len, ct, tag)) != 0)
        goto out;
    json_object_object_add(jwe, "protected", json_object_new_string(prot));
    s = b64url(ek, ek_len);
    json_object_object_add(jwe, "encrypted_key", json_object_new_string(s ? s : ""));
    free(s);
    s = b64url(iv, sizeof iv);
    json_object_object_add(jwe, "iv", json_object_new_string(s ? s : ""));
    free(s);
    s = b64url(ct, len);
    json_object_object_add(jwe, "ciphertext", json_object_new_string(s ? s : ""));
    free(s);
    s = b64url(tag, sizeof tag);
    json_object_object_add(jwe, "tag", json_object_new_string(s ? s : ""));
    free(s);
    *out =
        strdup(json_object_to_json_string_ext(jwe, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    rc = *out ? 0 : ENOMEM;
out:
    OPENSSL_cleanse(cek, sizeof cek);
    OPENSSL_cleanse(kek, sizeof kek);
    if (ct)
        OPENSSL_cleanse(ct, len);
    free(ct);
    free(prot);
    EVP_PKEY_free(eph);
    json_object_put(hdr);
    json_object_put(jwe);
    return rc;
}

int keys_jwe_decrypt(const char *json, size_t json_len, EVP_PKEY *priv, uint8_t **pt, size_t *pt_len)
{
    struct json_object *jwe = NULL, *hdr = NULL, *epk_obj;
    struct json_tokener *tok = json_tokener_new();
    uint8_t *hdr_raw = NULL, *ek = NULL, *iv = NULL, *ct = NULL, *tag = NULL, *out = NULL;
    size_t hdr_len, ek_len, iv_len, ct_len, tag_len;
    uint8_t cek[1024], kek[32];
    size_t cek_len = sizeof cek;
    const char *prot, *alg, *enc, *aad_member;
    char *aad = NULL;
    EVP_PKEY *epk = NULL;
    int rc;

    *pt = NULL;
    *pt_len = 0;
    if (tok == NULL)
        return ENOMEM;
    jwe = json_tokener_parse_ex(tok, json, (int)json_len);
    json_tokener_free(tok);
    if (jwe == NULL || !json_object_is_type(jwe, json_type_object)) {
        rc = ccr_err_set(EINVAL, "JWE: not a JSON object (flattened serialization expected)");
        goto out;
    }
    if ((rc = get_str(jwe, "protected", &prot)) != 0 ||
        (rc = get_b64(jwe, "protected", &hdr_raw, &hdr_len)) != 0 ||
        (rc = get_b64(jwe, "encrypted_key", &ek, &ek_len)) != 0 ||
        (rc = get_b64(jwe, "iv", &iv, &iv_len)) != 0 ||
        (rc = get_b64(jwe, "ciphertext", &ct, &ct_len)) != 0 ||
        (rc = get_b64(jwe, "tag", &tag, &tag_len)) != 0) {
        rc = ccr_err_wrap(EINVAL, "JWE: ");
        goto out;
    }
    tok = json_tokener_new();
    hdr = tok ? json_tokener_parse_ex(tok, (const char *)hdr_raw, (int)hdr_len) : NULL;
    json_tokener_free(tok);
    if (hdr == NULL || !json_object_is_type(hdr, json_type_object)) {
        rc = ccr_err_set(EINVAL, "JWE: the protected header is not a JSON object");
        goto out;
    }
    if ((rc = get_str(hdr, "alg", &alg)) != 0 || (rc = get_str(hdr, "enc", &enc)) != 0) {
        rc = ccr_err_wrap(EINVAL, "JWE protected header: ");
        goto out;
    }
    if (strcmp(enc, "A256GCM") != 0) {
        rc = ccr_err_set(EINVAL, "JWE: content encryption '%s' is not supported (A256GCM)", enc);
        goto out;
    }
    if (ct_len > JWE_MAX_PLAINTEXT) {
        rc = ccr_err_set(EINVAL, "JWE: %zu bytes of ciphertext is more than a key resource holds", ct_len);
        goto out;
    }
    if (strcmp(alg, KEYS_JWE_ALG_RSA) == 0) {
        if (EVP_PKEY_get_base_id(priv) != EVP_PKEY_RSA) {
            rc = ccr_err_set(EINVAL, "JWE: alg %s but our key is not RSA", alg);
            goto out;
        }
        if ((rc = rsa_oaep256(priv, 0, ek, ek_len, cek, &cek_len)) != 0)
            goto out;
    } else if (strcmp(alg, KEYS_JWE_ALG_ECDH) == 0) {
        if (!json_object_object_get_ex(hdr, "epk", &epk_obj)) {
            rc = ccr_err_set(EINVAL, "JWE: ECDH-ES+A256KW without \"epk\" in the protected header");
            goto out;
        }
        if ((rc = keys_jwk_parse_public(epk_obj, &epk, NULL, 0)) != 0) {
            rc = ccr_err_wrap(rc, "JWE epk: ");
            goto out;
        }
        if ((rc = ecdh_kek(priv, epk, alg, kek)) != 0)
            goto out;
        if (ek_len != CEK_LEN + 8) {
            rc = ccr_err_set(
                EINVAL, "JWE: \"encrypted_key\" is %zu bytes, expected 40 for a wrapped 256-bit key", ek_len);
            goto out;
        }
        if ((rc = keys_aes_kw_unwrap(kek, ek, ek_len, cek)) != 0)
            goto out;
        cek_len = CEK_LEN;
    } else {
        rc = ccr_err_set(EINVAL, "JWE: key algorithm '%s' is not supported (%s, %s)", alg, KEYS_JWE_ALG_RSA,
                         KEYS_JWE_ALG_ECDH);
        goto out;
    }
    if (cek_len != CEK_LEN) {
        rc = ccr_err_set(EBADMSG, "JWE: the content key is %zu bytes, A256GCM needs 32", cek_len);
        goto out;
    }
    /* RFC 7516 5.1 step 14: AAD = ASCII(protected), or protected '.' aad when "aad" is present. */
    if (get_str(jwe, "aad", &aad_member) == 0) {
        size_t n = strlen(prot) + 1 + strlen(aad_member) + 1;
        aad = malloc(n);
        if (aad)
            snprintf(aad, n, "%s.%s", prot, aad_member);
    } else {
        aad = strdup(prot);
    }
    ccr_err_clear();
    out = ccr_secmem_alloc(ct_len ? ct_len : 1);
    if (aad == NULL || out == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if ((rc = keys_jwe_gcm_open(cek, iv, iv_len, aad, ct, ct_len, tag, tag_len, out)) != 0)
        goto out;
    *pt = out;
    *pt_len = ct_len;
    out = NULL;
out:
    if (out)
        ccr_secmem_free(out, ct_len ? ct_len : 1);
    OPENSSL_cleanse(cek, sizeof cek);
    OPENSSL_cleanse(kek, sizeof kek);
    EVP_PKEY_free(epk);
    json_object_put(jwe);
    json_object_put(hdr);
    free(hdr_raw);
    free(ek);
    free(iv);
    if (ct)
        OPENSSL_cleanse(ct, ct_len);
    free(ct);
    free(tag);
    free(aad);
    return rc;
}
