/* The KBS client. */
#include "keys/kbs/client.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/secmem.h"
#include "keys/attest/evidence.h"
#include "keys/kbs/http.h"
#include "keys/kbs/jwe.h"
#include "keys/kbs/protocol.h"
#include "keys/kbs/snp_evidence.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct keys_kbs_session {
    struct keys_http *http;
    char url[512];
    char alg[32];
    char nonce[256];
    char hash[16];     /* the report_data hash the KBS selected; sha384 unless it says otherwise */
    EVP_PKEY *tee_key; /* the ephemeral key: its private half never leaves this struct */
    char *init_data;   /* TOML text sent with each attestation; NULL: none */
};

static pthread_mutex_t guest_init_data_lock = PTHREAD_MUTEX_INITIALIZER;
static char *guest_init_data;

int keys_kbs_set_guest_init_data(const char *toml)
{
    char *copy = NULL;

    if (toml != NULL && (copy = strdup(toml)) == NULL)
        return ENOMEM;
    pthread_mutex_lock(&guest_init_data_lock);
    free(guest_init_data);
    guest_init_data = copy;
    pthread_mutex_unlock(&guest_init_data_lock);
    return 0;
}

int keys_kbs_session_set_init_data(struct keys_kbs_session *s, const char *toml)
{
    char *copy = NULL;

    if (toml != NULL && (copy = strdup(toml)) == NULL)
        return ENOMEM;
    free(s->init_data);
    s->init_data = copy;
    return 0;
}

int keys_kbs_session_new(const char *url, const char *ca_file, const char *key_alg,
                         struct keys_kbs_session **out)
{
    struct keys_kbs_session *s = calloc(1, sizeof *s);
    int rc;
    if (s == NULL)
        return ENOMEM;
    snprintf(s->url, sizeof s->url, "%s", url);
    snprintf(s->alg, sizeof s->alg, "%s", key_alg ? key_alg : KEYS_JWE_ALG_ECDH);
    snprintf(s->hash, sizeof s->hash, "sha384");
    pthread_mutex_lock(&guest_init_data_lock);
    rc = guest_init_data != NULL ? keys_kbs_session_set_init_data(s, guest_init_data) : 0;
    pthread_mutex_unlock(&guest_init_data_lock);
    if (rc != 0 || (rc = keys_http_open(url, ca_file, &s->http)) != 0) {
        free(s->init_data);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

const char *keys_kbs_nonce(const struct keys_kbs_session *s)
{
    return s->nonce;
}

static int post_json(struct keys_kbs_session *s, const char *path, struct json_object *body,
                     struct keys_http_reply *reply)
{
    const char *text =
        json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    return keys_http_do(s->http, "POST", path, text, strlen(text), NULL, reply);
}

/* A refusal in Trustee's terms: the error type decides the errno, so a policy denial and a
 * resource the KBS cannot serve are told apart; other bodies fall back to the status. */
int keys_kbs_refusal(const struct keys_http_reply *reply, const char *who)
{
    static const struct {
        const char *variant;
        int code;
        const char *meaning;
    } map[] = {
        {"PolicyDeny", EACCES, "denied by the KBS resource policy"},
        {"PluginInternalError", ENOENT, "the KBS cannot serve it (no such resource, or its store failed)"},
        {"TokenNotFound", EACCES, "no attested session or token (attest first, or the session expired)"},
        {"TokenVerifierError", EACCES, "the attestation token was not accepted"},
        {"AttestationError", EACCES, "attestation failed"},
        {"JweError", EIO, "the KBS could not encrypt the resource to the TEE key"},
        {"InvalidRequestPath", EINVAL, "the KBS does not know this path"},
        {"PluginNotFound", ENOENT, "the KBS has no such plugin"},
        {"AdminAuthInitialization", EACCES, "admin authentication failed"},
        {"AdminAuthAccess", EACCES, "admin access denied"},
        {"PolicyEngineError", EIO, "the KBS policy engine failed"},
        {"SerdeError", EINVAL, "the KBS could not read the request"},
    };
    char variant[64], *detail = NULL;
    int rc;

    if (keys_kbs_error_parse(reply->body, variant, sizeof variant, &detail) != 0)
        return keys_http_refusal(reply, who);
    rc = ccr_err_set(EIO, "%s refused (HTTP %ld, %s): %s", who, reply->status, variant,
                     detail ? detail : "no detail");
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(variant, map[i].variant) == 0) {
            rc = ccr_err_set(map[i].code, "%s refused: %s (HTTP %ld, %s: %s)", who, map[i].meaning,
                             reply->status, variant, detail ? detail : "no detail");
            break;
        }
    free(detail);
    return rc;
}

int keys_kbs_auth(struct keys_kbs_session *s)
{
    struct json_object *req = json_object_new_object(), *resp = NULL, *v, *extra, *algs, *sel;
    struct keys_http_reply reply;
    int rc;

    /* As guest-components sends it: extra-params lists the hashes report_data may use. */
    extra = json_object_new_object();
    algs = json_object_new_array();
    for (size_t i = 0; keys_kbs_hash_algorithms[i] != NULL; i++)
        json_object_array_add(algs, json_object_new_string(keys_kbs_hash_algorithms[i]));
    json_object_object_add(extra, "supported-hash-algorithms", algs);
    json_object_object_add(req, "version", json_object_new_string(KEYS_KBS_PROTOCOL_VERSION));
    json_object_object_add(req, "tee", json_object_new_string(KEYS_KBS_TEE));
    json_object_object_add(req, "extra-params", extra);
    rc = post_json(s, "/kbs/v0/auth", req, &reply);
    json_object_put(req);
    if (rc != 0)
        return rc;
    if (reply.status != 200) {
        rc = keys_kbs_refusal(&reply, "KBS auth");
        goto out;
    }
    resp = json_tokener_parse(reply.body);
    if (resp == NULL || !json_object_object_get_ex(resp, "nonce", &v) ||
        !json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
        (size_t)json_object_get_string_len(v) >= sizeof s->nonce) {
        rc = ccr_err_set(EIO, "KBS auth: the challenge has no usable \"nonce\"");
        goto out;
    }
    snprintf(s->nonce, sizeof s->nonce, "%s", json_object_get_string(v));
    /* Trustee's challenge carries extra-params "" (SHA-384 then); a KBS may select a hash. */
    snprintf(s->hash, sizeof s->hash, "sha384");
    if (json_object_object_get_ex(resp, "extra-params", &extra) &&
        json_object_is_type(extra, json_type_object) &&
        json_object_object_get_ex(extra, "selected-hash-algorithm", &sel)) {
        size_t i;
        for (i = 0; keys_kbs_hash_algorithms[i] != NULL; i++)
            if (json_object_is_type(sel, json_type_string) &&
                strcmp(json_object_get_string(sel), keys_kbs_hash_algorithms[i]) == 0)
                break;
        if (keys_kbs_hash_algorithms[i] == NULL) {
            rc = ccr_err_set(EIO,
                             "KBS auth: the challenge selects hash algorithm %.32s, which was not offered",
                             json_object_get_string(sel));
            goto out;
        }
        snprintf(s->hash, sizeof s->hash, "%s", keys_kbs_hash_algorithms[i]);
    }
out:
    json_object_put(resp);
    keys_http_reply_free(&reply);
    return rc;
}

int keys_kbs_attest(struct keys_kbs_session *s, const char *attest_spec,
                    const struct keys_kbs_attest_faults *faults, char *detail, size_t detail_len)
{
    struct json_object *jwk = NULL, *rt = NULL, *body = NULL, *tee_ev, *prim, *other_jwk = NULL;
    EVP_PKEY *other = NULL;
    uint8_t report_data[KEYS_SNP_REPORT_DATA_LEN];
    struct keys_evidence ev = {0};
    struct keys_http_reply reply = {0};
    const char *nonce = faults && faults->nonce ? faults->nonce : s->nonce;
    /* The additional devices' evidence, as a string: "" with none (guest-components' native
     * provider); it is both sent and hashed into report_data. */
    const char *additional = faults && faults->additional_evidence ? faults->additional_evidence : "";
    const char *init_body = faults && faults->init_data_body ? faults->init_data_body : s->init_data;
    int rc;

    if (detail_len)
        detail[0] = '\0';
    /* A fresh key for every attestation: it is valid until the next challenge. */
    EVP_PKEY_free(s->tee_key);
    s->tee_key = NULL;
    if ((rc = keys_jwk_generate(s->alg, &s->tee_key)) != 0)
        return rc;
    jwk = keys_jwk_public(s->tee_key, s->alg);
    rt = keys_kbs_runtime_data(nonce, jwk);
    if (jwk == NULL || rt == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if (faults && faults->bind_other_key) {
        if ((rc = keys_jwk_generate(s->alg, &other)) != 0)
            goto out;
        other_jwk = keys_jwk_public(other, s->alg);
        rc = keys_kbs_report_data(s->hash, nonce, other_jwk, additional, report_data);
    } else {
        rc = keys_kbs_report_data(s->hash, nonce, jwk, additional, report_data);
    }
    if (rc != 0)
        goto out;
    if ((rc = keys_evidence_get(attest_spec, report_data, &ev)) != 0)
        goto out;
    if (faults && faults->flip_signature_byte)
        ev.report[KEYS_SNP_SIG_OFFSET + 7] ^= 0x40;
    if (detail_len) {
        char hex[2 * KEYS_SNP_MEASUREMENT_LEN + 1];
        ccr_hex_encode(ev.report + KEYS_SNP_OFF_MEASUREMENT, KEYS_SNP_MEASUREMENT_LEN, hex);
        snprintf(detail, detail_len, "evidence %s, measurement %s", ev.kind, hex);
    }
    body = json_object_new_object();
    tee_ev = json_object_new_object();
    if (faults && faults->omit_vcek) {
        free(ev.vcek_der);
        ev.vcek_der = NULL;
        ev.vcek_len = 0;
    }
    prim = keys_kbs_snp_evidence(&ev);
    json_object_object_add(tee_ev, "primary_evidence", prim);
    json_object_object_add(tee_ev, "additional_evidence",
                           json_object_new_string(faults && faults->send_additional_evidence
                                                      ? faults->send_additional_evidence
                                                      : additional));
    if (init_body != NULL) {
        /* kbs-types' InitData {format, body}: Trustee accepts only "toml". */
        struct json_object *init = json_object_new_object();
        json_object_object_add(
            init, "format",
            json_object_new_string(faults && faults->init_data_format ? faults->init_data_format : "toml"));
        json_object_object_add(init, "body", json_object_new_string(init_body));
        json_object_object_add(body, "init-data", init);
    } else {
        json_object_object_add(body, "init-data", NULL);
    }
    json_object_object_add(body, "runtime-data", json_object_get(rt));
    json_object_object_add(body, "tee-evidence", tee_ev);
    if ((rc = post_json(s, "/kbs/v0/attest", body, &reply)) != 0)
        goto out;
    if (reply.status != 200)
        rc = keys_kbs_refusal(&reply, "KBS attestation");
out:
    keys_http_reply_free(&reply);
    keys_evidence_clear(&ev);
    json_object_put(jwk);
    json_object_put(other_jwk);
    json_object_put(rt);
    json_object_put(body);
    EVP_PKEY_free(other);
    return rc;
}

int keys_kbs_get_resource(struct keys_kbs_session *s, const char *resource, uint8_t **value, size_t *len)
{
    struct keys_http_reply reply;
    char path[600];
    int rc;

    *value = NULL;
    *len = 0;
    if ((rc = keys_kbs_resource_check(resource)) != 0)
        return rc;
    if (s->tee_key == NULL)
        return ccr_err_set(EINVAL, "KBS: request a resource only after attestation");
    snprintf(path, sizeof path, "/kbs/v0/resource/%s", resource);
    if ((rc = keys_http_do(s->http, "GET", path, NULL, 0, NULL, &reply)) != 0)
        return rc;
    if (reply.status != 200) {
        char who[600];
        snprintf(who, sizeof who, "KBS resource %s", resource);
        rc = keys_kbs_refusal(&reply, who);
    } else if ((rc = keys_jwe_decrypt(reply.body, reply.len, s->tee_key, value, len)) != 0)
        rc = ccr_err_wrap(rc, "KBS resource %s: ", resource);
    keys_http_reply_free(&reply);
    return rc;
}

void keys_kbs_session_free(struct keys_kbs_session *s)
{
    if (s == NULL)
        return;
    EVP_PKEY_free(s->tee_key); /* OpenSSL clears private key material when freeing it */
    keys_http_close(s->http);
    free(s->init_data);
    OPENSSL_cleanse(s, sizeof *s);
    free(s);
}

int keys_kbs_fetch(const char *url, const char *ca_file, const char *resource, const char *attest_spec,
                   uint8_t **value, size_t *len, char *detail, size_t detail_len)
{
    struct keys_kbs_session *s;
    int rc;

    if ((rc = keys_kbs_resource_check(resource)) != 0)
        return rc;
    if ((rc = keys_kbs_session_new(url, ca_file, NULL, &s)) != 0)
        return rc;
    if ((rc = keys_kbs_auth(s)) == 0 && (rc = keys_kbs_attest(s, attest_spec, NULL, detail, detail_len)) == 0)
        rc = keys_kbs_get_resource(s, resource, value, len);
    keys_kbs_session_free(s);
    return rc;
}
