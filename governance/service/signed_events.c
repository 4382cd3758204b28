/* Signed event bodies and chain owners (see signed_events.h). Checked against
 * Azure/azure-cleanroom a2d263e00d2879f10b5dad71965727cc23ac6136 (events.ts putEvent,
 * utils.ts verifySignature and verifyReportData). */
#include "governance/service/signed_events.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/err.h"
#include "governance/attest_key.h"
#include "governance/canon.h"
#include "governance/event.h"
#include "governance/service/store.h"
#include "governance/sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Owners live in the store's keyed history, under a contract no request can name (ids are
 * never empty) and a scope of their own: the last write of a chain id is its owner. */
#define OWNER_CONTRACT ""
#define OWNER_SCOPE    "ccrfs-chain-owner"
#define TIMESTAMP_MAX  13 /* digits, as upstream: enough until the year 2286 */

struct owner {
    char *key; /* base64 DER SPKI */
    char *ark, *measurement, *host_data;
};

static void owner_clear(struct owner *o)
{
    free(o->key);
    free(o->ark);
    free(o->measurement);
    free(o->host_data);
    memset(o, 0, sizeof *o);
}

static int owner_read(void *arg, int64_t seqno, const char *timestamp, const char *data, size_t len)
{
    struct owner *o = arg;
    json_object *v = NULL;
    (void)seqno;
    (void)timestamp;
    if (gov_json_parse(data, len, "chain owner", &v) != 0)
        return EIO;
    owner_clear(o);
    o->key = gov_json_str(v, "key") ? strdup(gov_json_str(v, "key")) : NULL;
    o->ark = gov_json_str(v, "ark") ? strdup(gov_json_str(v, "ark")) : NULL;
    o->measurement = gov_json_str(v, "measurement") ? strdup(gov_json_str(v, "measurement")) : NULL;
    o->host_data = gov_json_str(v, "host_data") ? strdup(gov_json_str(v, "host_data")) : NULL;
    json_object_put(v);
    return o->key != NULL && o->ark != NULL && o->measurement != NULL && o->host_data != NULL ? 0 : EIO;
}

/* 0 with o filled, ENOENT when nobody owns the chain. */
static int owner_get(struct gov_store *st, const char *chain, struct owner *o)
{
    int64_t last;
    int rc;

    memset(o, 0, sizeof *o);
    if ((rc = gov_store_stream_last(st, OWNER_CONTRACT, OWNER_SCOPE, chain, &last)) != 0)
        return rc;
    if (last == 0)
        return ENOENT;
    rc = gov_store_stream_range(st, OWNER_CONTRACT, OWNER_SCOPE, chain, last, last, owner_read, o);
    if (rc == 0 && o->key == NULL)
        rc = EIO;
    if (rc != 0)
        owner_clear(o);
    return rc;
}

static int owner_put(struct gov_store *st, const char *chain, const struct gov_attest_claims *cl)
{
    json_object *v = json_object_new_object();
    char stamp[24];
    const char *text;
    int64_t seqno;
    int rc;

    json_object_object_add(v, "key", json_object_new_string(cl->key_b64));
    json_object_object_add(v, "ark", json_object_new_string(cl->ark_fingerprint));
    json_object_object_add(v, "measurement", json_object_new_string(cl->measurement));
    json_object_object_add(v, "host_data", json_object_new_string(cl->host_data));
    text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
    snprintf(stamp, sizeof stamp, "%013llu", (unsigned long long)ccr_clock_wall_ms());
    rc = gov_store_stream_put(st, OWNER_CONTRACT, OWNER_SCOPE, chain, stamp, text, strlen(text), &seqno);
    json_object_put(v);
    return rc;
}

/* The one chain the events of a body belong to: a ccrfs event, or {"events": [...]} of them.
 * *chain NULL when the body holds no ccrfs event. EINVAL when events of several chains. */
static int body_chain(json_object *v, const char **chain)
{
    json_object *events;

    *chain = NULL;
    if (!json_object_is_type(v, json_type_object))
        return 0;
    if (json_object_object_get_ex(v, "events", &events) && json_object_is_type(events, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(events); i++) {
            const char *c = gov_json_str(json_object_array_get_idx(events, i), "chain");
            if (c == NULL)
                continue;
            if (*chain != NULL && strcmp(*chain, c) != 0)
                return EINVAL;
            *chain = c;
        }
        return 0;
    }
    *chain = gov_json_str(v, "chain");
    return 0;
}

static int refuse_not_owner(struct gov_svc_reply *r, const char *chain, const char *why)
{
    gov_svc_reply_error(r, 403, "NotChainOwner",
                        "chain %s was begun by an attested key: only events signed by that key may be "
                        "appended (%s)",
                        chain, why);
    return EACCES;
}

/* An unsigned body: stored as it is unless its chain has an owner. */
static int admit_unsigned(struct gov_store *st, json_object *v, struct gov_svc_reply *r)
{
    const char *chain;
    struct owner o;
    int rc;

    if (body_chain(v, &chain) != 0) {
        gov_svc_reply_error(r, 400, "BadRequest", "a batch holds events of one chain");
        return EINVAL;
    }
    if (chain == NULL)
        return 0;
    rc = owner_get(st, chain, &o);
    if (rc == ENOENT)
        return 0;
    if (rc != 0) {
        gov_svc_reply_error(r, 500, "StorageError", "chain owners cannot be read: %s", ccr_err_msg(rc));
        return rc;
    }
    owner_clear(&o);
    return refuse_not_owner(r, chain, "this body is not signed");
}

/* The signature and, when given, the attestation; *claims filled when the attestation holds. */
static int check_signed(json_object *v, uint8_t **data, size_t *data_len, struct gov_key **key,
                        struct gov_attest_claims *claims, int *attested, struct gov_svc_reply *r)
{
    json_object *sign = json_object_object_get(v, "sign"), *att = json_object_object_get(v, "attestation");
    const char *sig = gov_json_str(sign, "signature"), *pub = gov_json_str(sign, "publicKey");
    const char *ts = gov_json_str(v, "timestamp"), *d = gov_json_str(v, "data");
    uint8_t *pem = NULL;
    size_t pem_len = 0, n;
    int rc;

    *attested = 0;
    if (!json_object_is_type(sign, json_type_object) || sig == NULL || pub == NULL) {
        gov_svc_reply_error(r, 400, "SignatureMissing", "Signature payload must be supplied.");
        return EINVAL;
    }
    if (ts == NULL || ts[0] == '\0') {
        gov_svc_reply_error(r, 400, "TimestampMissing", "Timestamp must be supplied.");
        return EINVAL;
    }
    n = strspn(ts, "0123456789");
    if (ts[n] != '\0' || n > TIMESTAMP_MAX) {
        gov_svc_reply_error(r, 400, "TimestampTooLarge", "Timestamp value is too large or not a number.");
        return EINVAL;
    }
    if (d == NULL || ccr_b64_decode(d, strlen(d), data, data_len, CCR_B64_STD) != 0) {
        gov_svc_reply_error(r, 400, "BadRequest", "\"data\" must be base64");
        return EINVAL;
    }
    if (ccr_b64_decode(pub, strlen(pub), &pem, &pem_len, CCR_B64_STD) != 0 ||
        gov_key_from_public_pem((const char *)pem, pem_len, key) != 0) {
        free(pem);
        gov_svc_reply_error(r, 400, "SignatureMismatch", "sign.publicKey is not base64 of a PEM public key");
        return EINVAL;
    }
    free(pem);
    if (gov_key_verify_b64(*key, *data, *data_len, sig) != 0) {
        gov_svc_reply_error(r, 400, "SignatureMismatch", "Signature verification was not successful.");
        return EINVAL;
    }
    if (att == NULL)
        return 0;
    if ((rc = gov_attestation_verify_parts(att, pub, NULL, claims)) != 0) {
        const char *msg = ccr_err_msg(rc);
        gov_svc_reply_error(r, 400,
                            strstr(msg, "report_data") ? "ReportDataMismatch" : "VerifySnpAttestationFailed",
                            "%s", msg);
        return EINVAL;
    }
    *attested = 1;
    return 0;
}

static int admit_signed(struct gov_store *st, json_object *v, char **plain, size_t *plain_len,
                        struct gov_svc_reply *r)
{
    struct gov_attest_claims cl;
    struct gov_key *key = NULL;
    struct owner o;
    uint8_t *data = NULL;
    size_t data_len = 0;
    json_object *inner = NULL;
    const char *chain;
    char *key_b64 = NULL;
    int attested = 0, rc;

    memset(&cl, 0, sizeof cl);
    memset(&o, 0, sizeof o);
    if ((rc = check_signed(v, &data, &data_len, &key, &cl, &attested, r)) != 0)
        goto out;
    if (gov_json_parse((const char *)data, data_len, "signed data", &inner) != 0 ||
        !json_object_is_type(inner, json_type_object)) {
        ccr_err_clear();
        gov_svc_reply_error(r, 400, "BadRequest", "the signed data must be a JSON object");
        rc = EINVAL;
        goto out;
    }
    if (body_chain(inner, &chain) != 0) {
        gov_svc_reply_error(r, 400, "BadRequest", "a batch holds events of one chain");
        rc = EINVAL;
        goto out;
    }
    if ((rc = gov_key_public_b64(key, &key_b64)) != 0) {
        gov_svc_reply_error(r, 500, "InternalError", "%s", ccr_err_msg(rc));
        goto out;
    }
    if (chain != NULL) {
        rc = owner_get(st, chain, &o);
        if (rc == ENOENT) {
            /* The first attested signer of a chain owns it; unattested signatures own nothing. */
            rc = attested ? owner_put(st, chain, &cl) : 0;
        } else if (rc == 0 && strcmp(o.key, key_b64) != 0) {
            /* Another key: only the same guest, with evidence for its new key, takes over. */
            if (!attested)
                rc = refuse_not_owner(r, chain, "signed by another key, without attestation evidence");
            else if (strcmp(o.ark, cl.ark_fingerprint) != 0 || strcmp(o.measurement, cl.measurement) != 0 ||
                     strcmp(o.host_data, cl.host_data) != 0)
                rc = refuse_not_owner(r, chain, "signed by another key, whose evidence is of another guest");
            else
                rc = owner_put(st, chain, &cl);
            if (rc == EACCES)
                goto out;
        }
        if (rc != 0) {
            gov_svc_reply_error(r, 500, "StorageError", "chain owners: %s", ccr_err_msg(rc));
            goto out;
        }
    }
    if ((*plain = malloc(data_len + 1)) == NULL) {
        rc = ENOMEM;
        gov_svc_reply_error(r, 500, "NoMemory", "out of memory");
        goto out;
    }
    memcpy(*plain, data, data_len);
    (*plain)[data_len] = '\0';
    *plain_len = data_len;
out:
    json_object_put(inner);
    owner_clear(&o);
    gov_attest_claims_clear(&cl);
    gov_key_free(key);
    free(key_b64);
    free(data);
    return rc;
}

int gov_signed_events_admit(struct gov_store *st, const char *body, size_t len, char **plain,
                            size_t *plain_len, struct gov_svc_reply *r)
{
    json_object *v = NULL;
    int rc;

    *plain = NULL;
    *plain_len = 0;
    if (gov_json_parse(body != NULL ? body : "", len, "event", &v) != 0) {
        /* Not JSON: the handlers refuse it with their own words; nothing of a chain in it. */
        ccr_err_clear();
        return 0;
    }
    if (json_object_is_type(v, json_type_object) && json_object_object_get(v, "sign") != NULL &&
        json_object_object_get(v, "data") != NULL)
        rc = admit_signed(st, v, plain, plain_len, r);
    else
        rc = admit_unsigned(st, v, r);
    json_object_put(v);
    return rc;
}
