/* The KBS client: the RCAR handshake (auth, attest) and resource requests against a Trustee
 * KBS or `ccrfs kbs serve`. The ephemeral TEE key lives only in this session and is destroyed
 * with it; released values land in locked memory. */
#ifndef CCRFS_KEYS_KBS_CLIENT_H
#define CCRFS_KEYS_KBS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct keys_kbs_session;
struct keys_http_reply;

/* A non-2xx KBS answer as an error: Trustee's {"type", "detail"} decides the errno
 * (PolicyDeny and the attestation and token errors EACCES, PluginInternalError - what a
 * missing resource gives - ENOENT, InvalidRequestPath EINVAL, ...) and the message names the
 * type and the detail; any other body falls back to keys_http_refusal. */
int keys_kbs_refusal(const struct keys_http_reply *reply, const char *who);

/* Deliberate faults, for tests of the broker's refusals only. */
struct keys_kbs_attest_faults {
    const char *nonce;                    /* send this nonce instead of the challenge's */
    int bind_other_key;                   /* put the hash of a different tee-pubkey in report_data */
    int flip_signature_byte;              /* corrupt the report's signature after it is made */
    int omit_vcek;                        /* send cert_chain null, as a guest whose host supplies no VCEK */
    const char *additional_evidence;      /* bind (and send) this additional-evidence string */
    const char *send_additional_evidence; /* send this instead of what was bound */
    const char *init_data_format;         /* send "init-data": {"format": F, "body": B} instead of */
    const char *init_data_body;           /* the session's (keys_kbs_session_set_init_data) */
};

int keys_kbs_session_new(const char *url, const char *ca_file, const char *key_alg,
                         struct keys_kbs_session **out);
/* The guest's init-data (Confidential Containers' TOML text, keys/initdata.h), sent with every
 * attestation of the session as the request's "init-data": {"format": "toml", "body": TEXT},
 * as guest-components' KBS client sends it; the broker then checks the report's HOST_DATA
 * against its digest. NULL: "init-data": null, as without init-data. */
int keys_kbs_session_set_init_data(struct keys_kbs_session *s, const char *toml);
/* The init-data of the guest this process runs in: every session created afterwards (also
 * keys_kbs_fetch's) starts with a copy, as CoCo's attestation agent holds one init-data for
 * its guest. NULL clears it. */
int keys_kbs_set_guest_init_data(const char *toml);
/* POST /kbs/v0/auth: gets the challenge nonce and the session cookie. */
int keys_kbs_auth(struct keys_kbs_session *s);
const char *keys_kbs_nonce(const struct keys_kbs_session *s);
/* POST /kbs/v0/attest with evidence from the provider spec (sim:DIR, snp or aa:URL). detail gets
 * the measurement the evidence carried (hex), for the caller's records. */
int keys_kbs_attest(struct keys_kbs_session *s, const char *attest_spec,
                    const struct keys_kbs_attest_faults *faults, char *detail, size_t detail_len);
/* GET /kbs/v0/resource/REPO/TYPE/TAG and decrypt the JWE. *value is locked memory of *len
 * bytes (ccr_secmem_free(*value, *len)). */
int keys_kbs_get_resource(struct keys_kbs_session *s, const char *resource, uint8_t **value, size_t *len);
void keys_kbs_session_free(struct keys_kbs_session *s);

/* The whole exchange: auth, attest, resource. */
int keys_kbs_fetch(const char *url, const char *ca_file, const char *resource, const char *attest_spec,
                   uint8_t **value, size_t *len, char *detail, size_t detail_len);

#endif
