#include "format/wrapped.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/secmem.h"

#include <json-c/json.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

int fmt_dek_unwrap(const char *doc, size_t len, EVP_PKEY *kek, struct fmt_dek **dek)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = tok ? json_tokener_parse_ex(tok, doc, (int)len) : NULL, *v, *alg;
    uint8_t *wrapped = NULL, *plain = NULL;
    size_t wlen = 0, plen = 0;
    EVP_PKEY_CTX *ctx = NULL;
    const char *s;
    int rc;

    json_tokener_free(tok);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        rc = ccr_err_set(EINVAL, FMT_WRAPPED_DEK_OBJECT ": not a JSON object");
        goto out;
    }
    if (!json_object_object_get_ex(o, "version", &v) || json_object_get_int(v) != 1) {
        rc = ccr_err_set(EINVAL, FMT_WRAPPED_DEK_OBJECT ": \"version\" must be 1");
        goto out;
    }
    if (!json_object_object_get_ex(o, "alg", &alg) || !json_object_is_type(alg, json_type_string) ||
        strcmp(json_object_get_string(alg), "RSA-OAEP-256") != 0) {
        rc = ccr_err_set(EINVAL, FMT_WRAPPED_DEK_OBJECT ": \"alg\" must be RSA-OAEP-256");
        goto out;
    }
    if (!json_object_object_get_ex(o, "wrapped_key", &v) || !json_object_is_type(v, json_type_string)) {
        rc = ccr_err_set(EINVAL, FMT_WRAPPED_DEK_OBJECT ": \"wrapped_key\" is missing");
        goto out;
    }
    s = json_object_get_string(v);
    if (ccr_b64_decode(s, strlen(s), &wrapped, &wlen, CCR_B64_URL) != 0) {
        rc = ccr_err_set(EINVAL, FMT_WRAPPED_DEK_OBJECT ": \"wrapped_key\" is not base64url");
        goto out;
    }
    plen = (size_t)EVP_PKEY_get_size(kek);
    plain = ccr_secmem_alloc(plen);
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, kek, NULL);
    if (plain == NULL || ctx == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if (EVP_PKEY_decrypt_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1 ||
        EVP_PKEY_decrypt(ctx, plain, &plen, wrapped, wlen) != 1) {
        rc = ccr_err_set(EBADMSG,
                         FMT_WRAPPED_DEK_OBJECT ": the wrapped key does not unwrap with the released key "
                                                "(another key, or tampered)");
        goto out;
    }
    rc = fmt_dek_from_bytes(plain, plen, dek);
    if (rc != 0)
        rc = ccr_err_wrap(rc, FMT_WRAPPED_DEK_OBJECT ": ");
out:
    if (plain)
        ccr_secmem_free(plain, (size_t)EVP_PKEY_get_size(kek));
    EVP_PKEY_CTX_free(ctx);
    free(wrapped);
    json_object_put(o);
    return rc;
}

int fmt_dek_wrap(const uint8_t *dek, size_t dek_len, EVP_PKEY *kek_pub, const char *kid, char **doc)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, kek_pub, NULL);
    uint8_t out[1024];
    size_t olen = sizeof out;
    char *b64 = NULL;
    struct json_object *o;
    int rc = 0;

    *doc = NULL;
    if (EVP_PKEY_get_base_id(kek_pub) != EVP_PKEY_RSA || EVP_PKEY_get_bits(kek_pub) < 2048) {
        EVP_PKEY_CTX_free(ctx);
        return ccr_err_set(EINVAL, "the key-encryption key must be RSA of 2048 bits or more");
    }
    if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1 ||
        EVP_PKEY_encrypt(ctx, out, &olen, dek, dek_len) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return ccr_err_set(EIO, "RSA-OAEP-256 wrap failed");
    }
    EVP_PKEY_CTX_free(ctx);
    b64 = malloc(ccr_b64_encoded_size(olen, CCR_B64_URL));
    o = json_object_new_object();
    if (b64 == NULL || o == NULL) {
        free(b64);
        json_object_put(o);
        return ENOMEM;
    }
    ccr_b64_encode(out, olen, b64, CCR_B64_URL);
    json_object_object_add(o, "version", json_object_new_int(1));
    json_object_object_add(o, "alg", json_object_new_string("RSA-OAEP-256"));
    if (kid)
        json_object_object_add(o, "kid", json_object_new_string(kid));
    json_object_object_add(o, "wrapped_key", json_object_new_string(b64));
    *doc =
        strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    if (*doc == NULL)
        rc = ENOMEM;
    free(b64);
    json_object_put(o);
    return rc;
}
