/* dek.wrapped.json with alg ECDH-ES+A256KW. */
#include "keys/skr/wrap_ec.h"
#include "common/err.h"
#include "common/secmem.h"
#include "format/wrapped.h"
#include "keys/kbs/jwe.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int keys_skr_wrap_ec(const uint8_t *dek, size_t dek_len, EVP_PKEY *kek_pub, const char *kid, char **doc)
{
    struct json_object *o, *jwe;
    char *jwe_text = NULL;
    int rc;

    *doc = NULL;
    if (EVP_PKEY_get_base_id(kek_pub) != EVP_PKEY_EC)
        return ccr_err_set(EINVAL, "%s: the key-encryption key must be an EC key", KEYS_SKR_ALG_EC);
    if ((rc = keys_jwe_encrypt(kek_pub, KEYS_JWE_ALG_ECDH, dek, dek_len, &jwe_text)) != 0)
        return rc;
    jwe = parse_object(jwe_text, strlen(jwe_text));
    free(jwe_text);
    if (jwe == NULL)
        return ccr_err_set(EIO, "%s: the JWE could not be re-read", KEYS_SKR_ALG_EC);
    o = json_object_new_object();
    json_object_object_add(o, "version", json_object_new_int(1));
    json_object_object_add(o, "alg", json_object_new_string(KEYS_SKR_ALG_EC));
    if (kid)
        json_object_object_add(o, "kid", json_object_new_string(kid));
    json_object_object_add(o, "jwe", jwe);
    *doc = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return *doc ? 0 : ccr_err_set(ENOMEM, "out of memory");
}

int keys_skr_unwrap_ec(const char *doc, size_t len, EVP_PKEY *kek, struct fmt_dek **dek)
{
    struct json_object *o = parse_object(doc, len), *v, *jwe;
    const char *jwe_text;
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    int rc;

    *dek = NULL;
    if (o == NULL)
        return ccr_err_set(EINVAL, FMT_WRAPPED_DEK_OBJECT ": not a JSON object");
    if (!json_object_object_get_ex(o, "version", &v) || !json_object_is_type(v, json_type_int) ||
        json_object_get_int(v) != 1) {
        rc = ccr_err_set(EINVAL, FMT_WRAPPED_DEK_OBJECT ": \"version\" must be 1");
        goto out;
    }
    if (!json_object_object_get_ex(o, "alg", &v) || !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), KEYS_SKR_ALG_EC) != 0) {
        rc =
            ccr_err_set(EINVAL, FMT_WRAPPED_DEK_OBJECT ": \"alg\" must be " KEYS_SKR_ALG_EC " for an EC key");
        goto out;
    }
    if (!json_object_object_get_ex(o, "jwe", &jwe) || !json_object_is_type(jwe, json_type_object)) {
        rc = ccr_err_set(EINVAL, FMT_WRAPPED_DEK_OBJECT ": \"jwe\" (a flattened JSON JWE) is missing");
        goto out;
    }
    jwe_text = json_object_to_json_string_ext(jwe, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if ((rc = keys_jwe_decrypt(jwe_text, strlen(jwe_text), kek, &pt, &pt_len)) != 0) {
        rc = ccr_err_wrap(rc, FMT_WRAPPED_DEK_OBJECT ": the DEK does not unwrap with the released EC key: ");
        goto out;
    }
    if (pt_len != FMT_DEK_LEN) {
        rc = ccr_err_set(EINVAL, FMT_WRAPPED_DEK_OBJECT ": the wrapped value is %zu bytes, a DEK is %d",
                         pt_len, FMT_DEK_LEN);
        goto out;
    }
    rc = fmt_dek_from_bytes(pt, pt_len, dek);
out:
    ccr_secmem_free(pt, pt_len);
    json_object_put(o);
    return rc;
}

void keys_skr_wrapped_alg(const char *doc, size_t len, char *alg, size_t alg_len)
{
    struct json_object *o = parse_object(doc, len), *v;

    alg[0] = '\0';
    if (o != NULL && json_object_object_get_ex(o, "alg", &v) && json_object_is_type(v, json_type_string))
        snprintf(alg, alg_len, "%s", json_object_get_string(v));
    json_object_put(o);
}
