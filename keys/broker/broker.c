/* The local key broker. */
#include "keys/broker/broker.h"
#include "common/dynbuf.h"
#include "common/encoding.h"
#include "common/random.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/secmem.h"
#include "keys/attest/az_vtpm.h"
#include "keys/attest/roots.h"
#include "keys/attest/snp.h"
#include "keys/broker/admin_jwt.h"
#include "keys/broker/gate_probe.h"
#include "keys/broker/govcheck.h"
#include "keys/broker/initdata_claims.h"
#include "keys/broker/kds.h"
#include "keys/broker/policy.h"
#include "keys/broker/store.h"
#include "keys/broker/vtpm.h"
#include "format/crypto.h"
#include "keys/kbs/jwe.h"
#include "keys/kbs/protocol.h"
#include "keys/kbs/snp_evidence.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Defaults of the limits under abuse (keys_broker_conf). */
#define DEFAULT_MAX_SESSIONS       4096u
#define DEFAULT_MAX_PENDING_PER_IP 32u
#define DEFAULT_HANDSHAKE_TIMEOUT  20u
#define DEFAULT_MAX_CONNECTIONS    1000u
#define DEFAULT_MAX_PER_IP         64u
#define DEFAULT_IDLE_TIMEOUT       15u
/* The runtime-data hash Trustee hands an az-snp-vtpm verifier: SHA-384, not padded. */
#define RUNTIME_DATA_HASH_LEN 48
#define DEFAULT_MAX_BODY      (256u * 1024u)
/* Requests served at once: one guest waiting on a KDS fetch does not hold up the others. */
#define BROKER_THREADS 4u

enum session_state { S_FREE = 0, S_CHALLENGED, S_NONCE_USED, S_ATTESTED };

struct session {
    enum session_state state;
    char id[33];
    char nonce[64];
    char tee[16];              /* the Request's tee: "snp" or "az-snp-vtpm" */
    char ip[INET6_ADDRSTRLEN]; /* the client address of /auth */
    time_t created, expires;
    EVP_PKEY *tee_key;
    char alg[32];
    struct json_object *claims;
    char root[64];
};

struct keys_broker {
    struct MHD_Daemon *mhd;
    struct keys_rstore *store;
    struct keys_snp_roots *roots;
    struct keys_kds *kds;
    EVP_PKEY *admin_jwt_key; /* Trustee's admin API; NULL: it refuses every call */
    char *admin_jwt_role;
    char *default_policy; /* for resources first registered through Trustee's admin API */
    int has_token;
    uint8_t token_hash[FMT_SHA256_LEN];
    uint8_t jwt_key[32];
    unsigned ttl;
    unsigned min_report_version;
    int allow_debug;
    unsigned port;
    char *tls_cert, *tls_key;
    pthread_mutex_t lock;
    struct keys_govcheck *gov;        /* the contract gate, or NULL */
    struct json_object *res_datasets; /* resource -> dataset id for the gate */
    unsigned max_body, max_sessions, max_pending_per_ip, handshake_timeout;
    struct session *sessions;
};

struct request {
    struct ccr_dynbuf body; /* capped at max_body */
    int too_big;
};

static void session_clear(struct session *s)
{
    EVP_PKEY_free(s->tee_key);
    json_object_put(s->claims);
    memset(s, 0, sizeof *s);
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *ctype,
                                 const char *text, const char *cookie)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (cookie != NULL)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, struct json_object *o,
                                 const char *cookie)
{
    enum MHD_Result r = send_text(
        c, status, "application/json",
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), cookie);
    json_object_put(o);
    return r;
}

static enum MHD_Result kbs_error_v(struct MHD_Connection *c, unsigned status, const char *variant,
                                   const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
static enum MHD_Result kbs_error_v(struct MHD_Connection *c, unsigned status, const char *variant,
                                   const char *fmt, va_list ap)
{
    char detail[1024], *text;
    enum MHD_Result r;

    vsnprintf(detail, sizeof detail, fmt, ap);
    if ((text = keys_kbs_error_json(variant, detail)) == NULL)
        return MHD_NO;
    r = send_text(c, status, "application/json", text, NULL);
    free(text);
    return r;
}

/* Trustee's error answer: {"type": ".../kbs/errors/VARIANT", "detail"}, status 401 for every
 * variant but InvalidRequestPath and PluginNotFound (404), as kbs/src/error.rs does. */
static enum MHD_Result kbs_error(struct MHD_Connection *c, const char *variant, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result kbs_error(struct MHD_Connection *c, const char *variant, const char *fmt, ...)
{
    unsigned status =
        strcmp(variant, "InvalidRequestPath") == 0 || strcmp(variant, "PluginNotFound") == 0 ? 404 : 401;
    enum MHD_Result r;
    va_list ap;

    va_start(ap, fmt);
    r = kbs_error_v(c, status, variant, fmt, ap);
    va_end(ap);
    return r;
}

/* The same body with a status Trustee has no variant for: 429 and 503 when the broker sheds
 * load, so a client can tell "later" from "never". */
static enum MHD_Result kbs_error_status(struct MHD_Connection *c, unsigned status, const char *variant,
                                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result kbs_error_status(struct MHD_Connection *c, unsigned status, const char *variant,
                                        const char *fmt, ...)
{
    enum MHD_Result r;
    va_list ap;

    va_start(ap, fmt);
    r = kbs_error_v(c, status, variant, fmt, ap);
    va_end(ap);
    return r;
}

static void client_ip(struct MHD_Connection *c, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    snprintf(out, len, "unknown");
    if (sa != NULL && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa != NULL && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)len);
}

/* RFC 7807 problem details for ccrfs's own admin API (/admin/v0). */
static enum MHD_Result send_problem(struct MHD_Connection *c, unsigned status, const char *type,
                                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result send_problem(struct MHD_Connection *c, unsigned status, const char *type,
                                    const char *fmt, ...)
{
    struct json_object *o = json_object_new_object();
    char detail[1024], uri[256];
    enum MHD_Result r;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    snprintf(uri, sizeof uri, KEYS_KBS_ERROR_PREFIX "%s", type);
    json_object_object_add(o, "type", json_object_new_string(uri));
    json_object_object_add(o, "title", json_object_new_string(type));
    json_object_object_add(o, "status", json_object_new_int((int)status));
    json_object_object_add(o, "detail", json_object_new_string(detail));
    r = send_text(c, status, "application/problem+json",
                  json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
                  NULL);
    json_object_put(o);
    return r;
}

/* The claims a decision is logged with: never a key, only what the evidence said. */
static const char *claims_summary(struct json_object *claims, char *buf, size_t len)
{
    struct json_object *m, *h, *d, *v, *bl, *tee, *snp, *uc, *chip;
    if (claims == NULL || !json_object_object_get_ex(claims, "measurement", &m) ||
        !json_object_object_get_ex(claims, "host_data", &h) ||
        !json_object_object_get_ex(claims, "debug", &d) || !json_object_object_get_ex(claims, "vmpl", &v) ||
        !json_object_object_get_ex(claims, "reported_tcb_bootloader", &bl) ||
        !json_object_object_get_ex(claims, "reported_tcb_tee", &tee) ||
        !json_object_object_get_ex(claims, "reported_tcb_snp", &snp) ||
        !json_object_object_get_ex(claims, "reported_tcb_microcode", &uc) ||
        !json_object_object_get_ex(claims, "chip_id", &chip)) {
        snprintf(buf, len, "(no verified claims)");
        return buf;
    }
    snprintf(buf, len,
             "measurement=%s host_data=%s debug=%s vmpl=%d tcb=bl:%d,tee:%d,snp:%d,ucode:%d chip_id=%.16s...",
             json_object_get_string(m), json_object_get_string(h), json_object_get_string(d),
             json_object_get_int(v), json_object_get_int(bl), json_object_get_int(tee),
             json_object_get_int(snp), json_object_get_int(uc), json_object_get_string(chip));
    return buf;
}

static struct session *find_session(struct keys_broker *b, struct MHD_Connection *c)
{
    const char *id = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, KEYS_KBS_COOKIE);
    if (id == NULL || strlen(id) != 32)
        return NULL;
    for (size_t i = 0; i < b->max_sessions; i++)
        if (b->sessions[i].state != S_FREE && CRYPTO_memcmp(b->sessions[i].id, id, 32) == 0)
            return &b->sessions[i];
    return NULL;
}

static enum MHD_Result handle_auth(struct keys_broker *b, struct MHD_Connection *c, struct request *rq)
{
    struct json_object *req = json_tokener_parse(rq->body.data ? rq->body.data : ""), *v, *resp;
    struct session *s = NULL, *oldest = NULL, *oldest_here = NULL;
    unsigned pending_here = 0;
    uint8_t rnd[32];
    char cookie[128], nonce_b64[64], tee[16], ip[INET6_ADDRSTRLEN];
    time_t now = time(NULL);

    if (req == NULL || !json_object_is_type(req, json_type_object)) {
        json_object_put(req);
        return kbs_error(c, "AttestationError",
                         "Attestation error: RCAR handshake Auth failed: the Request is not a JSON object");
    }
    if (!json_object_object_get_ex(req, "version", &v) || !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), KEYS_KBS_PROTOCOL_VERSION) != 0) {
        enum MHD_Result r = kbs_error(
            c, "AttestationError",
            "Attestation error: RCAR handshake Auth failed: KBS Client Protocol Version Mismatch: expect =%s "
            "while the request is %.32s",
            KEYS_KBS_PROTOCOL_VERSION,
            v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "(none)");
        json_object_put(req);
        return r;
    }
    if (!json_object_object_get_ex(req, "tee", &v) || !json_object_is_type(v, json_type_string) ||
        (strcmp(json_object_get_string(v), KEYS_KBS_TEE) != 0 &&
         strcmp(json_object_get_string(v), KEYS_AZ_VTPM_TEE) != 0)) {
        enum MHD_Result r =
            kbs_error(c, "AttestationError",
                      "Attestation error: RCAR handshake Auth failed: TEE type %.32s is not "
                      "supported (only \"" KEYS_KBS_TEE "\" and \"" KEYS_AZ_VTPM_TEE "\")",
                      v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "(none)");
        json_object_put(req);
        return r;
    }
    /* Trustee keeps the Request in the session and verifies /attest by its tee. */
    snprintf(tee, sizeof tee, "%s", json_object_get_string(v));
    json_object_put(req);
    client_ip(c, ip, sizeof ip);
    pthread_mutex_lock(&b->lock);
    /* Room for a new session is never made at the cost of one that has attested, or whose
     * evidence is being checked, before its expiry: only a session still waiting for /attest
     * past the handshake deadline may go, and one address holds a bounded number of those. */
    for (size_t i = 0; i < b->max_sessions; i++) {
        struct session *t = &b->sessions[i];
        int stale;
        if (t->state != S_FREE && t->expires <= now)
            session_clear(t);
        if (t->state == S_FREE) {
            if (s == NULL)
                s = t;
            continue;
        }
        if (t->state != S_CHALLENGED)
            continue;
        stale = t->created + (time_t)b->handshake_timeout <= now;
        if (strcmp(t->ip, ip) == 0) {
            pending_here++;
            if (stale && (oldest_here == NULL || t->created < oldest_here->created))
                oldest_here = t;
        }
        if (stale && (oldest == NULL || t->created < oldest->created))
            oldest = t;
    }
    if (pending_here >= b->max_pending_per_ip) {
        if (oldest_here == NULL) {
            pthread_mutex_unlock(&b->lock);
            ccr_log_warn("auth refused: %s already has %u unfinished handshakes", ip, pending_here);
            return kbs_error_status(c, 429, "AttestationError",
                                    "Attestation error: RCAR handshake Auth failed: too many unfinished "
                                    "handshakes from this address (%u); finish or wait %u s",
                                    pending_here, b->handshake_timeout);
        }
        session_clear(oldest_here);
        s = oldest_here;
    } else if (s == NULL) {
        if (oldest == NULL) {
            pthread_mutex_unlock(&b->lock);
            ccr_log_warn("auth refused: the session table is full (%u sessions)", b->max_sessions);
            return kbs_error_status(c, 503, "AttestationError",
                                    "Attestation error: RCAR handshake Auth failed: the broker holds %u "
                                    "sessions; try again later",
                                    b->max_sessions);
        }
        session_clear(oldest);
        s = oldest;
    }
    if (ccr_random(rnd, sizeof rnd) != 0) {
        pthread_mutex_unlock(&b->lock);
        return kbs_error(c, "AttestationError",
                         "Attestation error: RCAR handshake Auth failed: no randomness");
    }
    ccr_hex_encode(rnd, 16, s->id);
    if (ccr_random(rnd, sizeof rnd) != 0) {
        session_clear(s);
        pthread_mutex_unlock(&b->lock);
        return kbs_error(c, "AttestationError",
                         "Attestation error: RCAR handshake Auth failed: no randomness");
    }
    ccr_b64_encode(rnd, sizeof rnd, nonce_b64, CCR_B64_STD);
    snprintf(s->nonce, sizeof s->nonce, "%s", nonce_b64);
    s->state = S_CHALLENGED;
    snprintf(s->tee, sizeof s->tee, "%s", tee);
    snprintf(s->ip, sizeof s->ip, "%s", ip);
    s->created = now;
    s->expires = now + b->ttl;
    snprintf(cookie, sizeof cookie, KEYS_KBS_COOKIE "=%s; Path=/; HttpOnly", s->id);
    resp = json_object_new_object();
    json_object_object_add(resp, "nonce", json_object_new_string(s->nonce));
    /* Trustee sends "" for every TEE but IBM SE: the client then binds with SHA-384. */
    json_object_object_add(resp, "extra-params", json_object_new_string(""));
    pthread_mutex_unlock(&b->lock);
    return send_json(c, 200, resp, cookie);
}

static char *make_token(struct keys_broker *b, struct json_object *claims, struct json_object *jwk,
                        time_t exp)
{
    struct json_object *hdr = json_object_new_object(), *body = json_object_new_object();
    const char *h, *p;
    char *hb, *pb, *out = NULL, *sig_b64;
    uint8_t mac[32];
    size_t mac_len = 0, n;

    json_object_object_add(hdr, "alg", json_object_new_string("HS256"));
    json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
    json_object_object_add(body, "iss", json_object_new_string("ccrfs-kbs"));
    json_object_object_add(body, "iat", json_object_new_int64((int64_t)time(NULL)));
    json_object_object_add(body, "exp", json_object_new_int64((int64_t)exp));
    json_object_object_add(body, "tee-pubkey", json_object_get(jwk));
    json_object_object_add(body, "tcb-status", json_object_get(claims));
    h = json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN);
    p = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    hb = malloc(ccr_b64_encoded_size(strlen(h), CCR_B64_URL));
    pb = malloc(ccr_b64_encoded_size(strlen(p), CCR_B64_URL));
    sig_b64 = malloc(ccr_b64_encoded_size(sizeof mac, CCR_B64_URL));
    if (hb && pb && sig_b64) {
        ccr_b64_encode((const uint8_t *)h, strlen(h), hb, CCR_B64_URL);
        ccr_b64_encode((const uint8_t *)p, strlen(p), pb, CCR_B64_URL);
        n = strlen(hb) + strlen(pb) + 2 + ccr_b64_encoded_size(sizeof mac, CCR_B64_URL);
        out = malloc(n);
        if (out != NULL) {
            snprintf(out, n, "%s.%s", hb, pb);
            if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, b->jwt_key, sizeof b->jwt_key,
                          (const uint8_t *)out, strlen(out), mac, sizeof mac, &mac_len) == NULL) {
                free(out);
                out = NULL;
            } else {
                ccr_b64_encode(mac, mac_len, sig_b64, CCR_B64_URL);
                snprintf(out + strlen(out), n - strlen(out), ".%s", sig_b64);
            }
        }
    }
    free(hb);
    free(pb);
    free(sig_b64);
    json_object_put(hdr);
    json_object_put(body);
    return out;
}

static enum MHD_Result attest_refuse(struct MHD_Connection *c, struct json_object *claims, const char *check,
                                     const char *reason)
{
    char sum[512];
    ccr_log_warn("attestation refused (%s): %s; %s", check, reason, claims_summary(claims, sum, sizeof sum));
    /* Trustee says only "RCAR handshake Attest failed"; the reason helps whoever reads it. */
    return kbs_error(c, "AttestationError", "Attestation error: RCAR handshake Attest failed: %s", reason);
}

static struct session *find_session_id(struct keys_broker *b, const char *id)
{
    for (size_t i = 0; i < b->max_sessions; i++)
        if (b->sessions[i].state != S_FREE && CRYPTO_memcmp(b->sessions[i].id, id, 32) == 0)
            return &b->sessions[i];
    return NULL;
}

/* The init-data digest Trustee's attestation service computes: the TOML body hashed by the
 * top-level `algorithm` it names. *dlen is 0 when there is no init-data. */
static int init_data_digest(struct json_object *init, uint8_t digest[EVP_MAX_MD_SIZE], unsigned int *dlen,
                            char *why, size_t why_len)
{
    struct json_object *fmt, *body;
    const char *text, *p, *alg = NULL;
    const EVP_MD *md = NULL;

    *dlen = 0;
    if (init == NULL || json_object_is_type(init, json_type_null))
        return 0;
    if (!json_object_object_get_ex(init, "format", &fmt) || !json_object_is_type(fmt, json_type_string) ||
        !json_object_object_get_ex(init, "body", &body) || !json_object_is_type(body, json_type_string)) {
        snprintf(why, why_len, "init-data needs string members \"format\" and \"body\"");
        return EINVAL;
    }
    if (strcmp(json_object_get_string(fmt), "toml") != 0) {
        snprintf(why, why_len, "Unsupported initdata format: %.32s", json_object_get_string(fmt));
        return EINVAL;
    }
    text = json_object_get_string(body);
    for (p = text; p && *p && *p != '['; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        size_t sp = strspn(p, " \t");
        if (strncmp(p + sp, "algorithm", 9) == 0) {
            const char *v = p + sp + 9;
            v += strspn(v, " \t");
            if (*v == '=') {
                v++;
                v += strspn(v, " \t");
                alg = v;
                break;
            }
        }
    }
    if (alg != NULL)
        md = strncmp(alg, "\"sha256\"", 8) == 0   ? EVP_sha256()
             : strncmp(alg, "\"sha384\"", 8) == 0 ? EVP_sha384()
             : strncmp(alg, "\"sha512\"", 8) == 0 ? EVP_sha512()
                                                  : NULL;
    if (md == NULL) {
        snprintf(why, why_len, "init-data: the TOML names no algorithm of sha256, sha384, sha512");
        return EINVAL;
    }
    if (EVP_Digest(text, strlen(text), digest, dlen, md, NULL) != 1) {
        *dlen = 0;
        snprintf(why, why_len, "init-data: cannot hash it");
        return EIO;
    }
    return 0;
}

/* The init-data binding Trustee checks for SNP: HOST_DATA equals the digest, zero-padded or
 * cut to 32 bytes. */
static int check_init_data(struct json_object *init, const struct keys_snp_report *r, char *why,
                           size_t why_len)
{
    uint8_t digest[EVP_MAX_MD_SIZE], want[KEYS_SNP_HOST_DATA_LEN] = {0};
    unsigned int dlen = 0;
    int rc;

    if ((rc = init_data_digest(init, digest, &dlen, why, why_len)) != 0 || dlen == 0)
        return rc;
    memcpy(want, digest, dlen < sizeof want ? dlen : sizeof want);
    if (CRYPTO_memcmp(want, r->host_data, sizeof want) != 0) {
        snprintf(why, why_len, "init-data does not match the report's HOST_DATA");
        return EACCES;
    }
    return 0;
}

/* Once the evidence bound the init-data: its claims (digest, ccrfs's entry) join the
 * session's as "init_data", for release policies and the contract gate. */
static int add_init_data_claims(struct json_object *init, struct json_object *claims, char *why,
                                size_t why_len)
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    struct json_object *body, *ic = NULL;
    int rc;

    if ((rc = init_data_digest(init, digest, &dlen, why, why_len)) != 0 || dlen == 0)
        return rc;
    json_object_object_get_ex(init, "body", &body);
    if ((rc = keys_initdata_claims(json_object_get_string(body), digest, dlen, &ic)) != 0) {
        snprintf(why, why_len, "%s", ccr_err_msg(rc));
        return rc;
    }
    json_object_object_add(claims, "init_data", ic);
    return 0;
}

/* What an evidence check found: the claims for the session (or, refused, for the log), or
 * which check refused and why. */
struct evidence_result {
    struct json_object *claims;
    char root[64];
    int is_test;
    char vcek_source[32];
    const char *check;
    char reason[CCR_ERR_MSG_MAX + 64];
};

static int refused(struct evidence_result *res, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refused(struct evidence_result *res, const char *check, const char *fmt, ...)
{
    va_list ap;
    res->check = check;
    va_start(ap, fmt);
    vsnprintf(res->reason, sizeof res->reason, fmt, ap);
    va_end(ap);
    return EACCES;
}

/* tee "snp": the SEV-SNP report, its VCEK (from the evidence or the KDS), report_data and
 * HOST_DATA bindings. */
static int verify_snp(struct keys_broker *b, struct json_object *evidence, const char *nonce,
                      struct json_object *jwk, const char *additional, struct json_object *init,
                      struct evidence_result *res)
{
    struct keys_snp_report report;
    struct keys_snp_verdict verdict;
    struct keys_snp_verify_opts opts = {.min_version = b->min_report_version, .key = KEYS_SNP_KEY_ANY};
    uint8_t *vcek_der = NULL, expect[KEYS_SNP_REPORT_DATA_LEN];
    size_t vcek_len = 0;
    X509 *vcek = NULL, *ask, *ark;
    const char *root_name = "";
    char why[CCR_ERR_MSG_MAX + 64];
    int rc, from_cache = 0;

    snprintf(res->vcek_source, sizeof res->vcek_source, "evidence");
    if ((rc = keys_kbs_snp_evidence_parse(evidence, &report, &vcek_der, &vcek_len)) != 0)
        return refused(res, "evidence", "Deserialize SNP Evidence failed: %s", ccr_err_msg(rc));
    if (vcek_der == NULL) {
        if (b->kds == NULL)
            rc = ccr_err_set(ENOENT,
                             "the evidence carries no VCEK in cert_chain, and this broker fetches none "
                             "(no KDS configured)");
        else
            rc = keys_kds_vcek(b->kds, report.raw, &vcek_der, &vcek_len, &from_cache);
        if (rc != 0)
            return refused(res, "vcek", "%s", ccr_err_msg(rc));
        snprintf(res->vcek_source, sizeof res->vcek_source, "%s", from_cache ? "KDS cache" : "KDS");
    }
    if ((rc = keys_x509_from_der(vcek_der, vcek_len, &vcek)) != 0) {
        rc = refused(res, "vcek", "VCEK (from the %s): %s", res->vcek_source, ccr_err_msg(rc));
        goto out;
    }
    if ((rc = keys_snp_roots_find(b->roots, vcek, &ask, &ark, &root_name, &res->is_test)) != 0) {
        rc = refused(res, "root", "evidence: %s", ccr_err_msg(rc));
        goto out;
    }
    if ((rc = keys_snp_verify_ex(&report, vcek, ask, ark, 0, &opts, &verdict)) != 0) {
        rc = refused(res, "verify", "evidence: %s", ccr_err_msg(rc));
        goto out;
    }
    snprintf(res->root, sizeof res->root, "%s", root_name);
    /* A version 2 report names no product: the chain that verified it does. */
    res->claims = keys_snp_claims_verified(&report, &verdict);
    json_object_object_add(res->claims, "root", json_object_new_string(root_name));
    /* Trustee hashes with SHA-384 for SNP whatever was negotiated (coco/builtin.rs). */
    if ((rc = keys_kbs_report_data("sha384", nonce, jwk, additional, expect)) != 0 ||
        CRYPTO_memcmp(expect, report.report_data, sizeof expect) != 0) {
        rc = refused(res, "report_data",
                     "Report Data Mismatch: report_data is not the SHA-384 of the canonical JSON of "
                     "{additional-evidence, nonce, tee-pubkey}: the evidence is not bound to this session");
        goto out;
    }
    if ((rc = check_init_data(init, &report, why, sizeof why)) != 0) {
        rc = refused(res, "init-data", "%s", why);
        goto out;
    }
    if (report.vmpl != 0) {
        rc = refused(res, "vmpl", "the report was made at VMPL %u; only VMPL 0 evidence is accepted",
                     report.vmpl);
        goto out;
    }
    if (verdict.debug && !b->allow_debug)
        rc = refused(res, "debug",
                     "the guest policy allows debugging (DEBUG bit 19 set): its memory is not confidential");
out:
    X509_free(vcek);
    free(vcek_der);
    return rc;
}

/* tee "az-snp-vtpm": Trustee gives its verifier the runtime-data hash itself (48 bytes of
 * SHA-384, not padded) as the report data the vTPM quote's nonce must equal, and the init-data
 * digest as the value bound in PCR8. */
static int verify_vtpm(struct keys_broker *b, struct json_object *evidence, const char *nonce,
                       struct json_object *jwk, const char *additional, struct json_object *init,
                       struct evidence_result *res)
{
    struct keys_broker_vtpm_opts opts = {.min_report_version = b->min_report_version,
                                         .allow_debug = b->allow_debug};
    uint8_t expect[KEYS_SNP_REPORT_DATA_LEN], digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    struct json_object *product;
    char why[CCR_ERR_MSG_MAX + 64];
    int rc;

    snprintf(res->vcek_source, sizeof res->vcek_source, "evidence");
    if ((rc = init_data_digest(init, digest, &dlen, why, sizeof why)) != 0)
        return refused(res, "init-data", "%s", why);
    if (dlen != 0 && dlen != 32)
        return refused(res, "init-data",
                       "init-data: az-snp-vtpm binds a 32-byte digest in PCR8; the TOML's algorithm gives %u "
                       "bytes (use sha256)",
                       dlen);
    if ((rc = keys_kbs_report_data("sha384", nonce, jwk, additional, expect)) != 0)
        return refused(res, "report_data", "cannot compute the runtime-data hash: %s", ccr_err_msg(rc));
    rc = keys_broker_vtpm_check(evidence, expect, RUNTIME_DATA_HASH_LEN, dlen ? digest : NULL, b->roots,
                                &opts, &res->claims, &res->is_test);
    if (res->claims != NULL) {
        snprintf(res->root, sizeof res->root, "%sARK-%s", res->is_test ? "test " : "",
                 json_object_object_get_ex(res->claims, "product", &product) ? json_object_get_string(product)
                                                                             : "unknown");
        json_object_object_add(res->claims, "root", json_object_new_string(res->root));
    }
    if (rc == EINVAL)
        return refused(res, "evidence", "Deserialize Azure vTPM SEV-SNP evidence failed: %s",
                       ccr_err_msg(rc));
    if (rc != 0)
        return refused(res, "verify", "evidence: %s", ccr_err_msg(rc));
    return 0;
}

static enum MHD_Result handle_attest(struct keys_broker *b, struct MHD_Connection *c, struct request *rq)
{
    struct json_object *req = NULL, *rt, *nonce, *jwk, *tee_ev, *prim, *add = NULL, *init = NULL, *resp;
    struct evidence_result res = {0};
    EVP_PKEY *key = NULL;
    const char *additional = "";
    char alg[32], reason[CCR_ERR_MSG_MAX + 64], *token, sid[33], snonce[64], tee[16];
    struct session *s;
    enum MHD_Result ret;
    int rc;
    time_t now = time(NULL), expires;

    pthread_mutex_lock(&b->lock);
    s = find_session(b, c);
    if (s == NULL || s->expires <= now || s->state != S_CHALLENGED) {
        const char *why =
            s == NULL ? "no session: call /kbs/v0/auth first (missing or unknown kbs-session-id cookie)"
            : s->expires <= now ? "the session expired: start again at /kbs/v0/auth"
                                : "this session's challenge nonce was already used: a nonce is good for one "
                                  "attestation";
        if (s != NULL && s->expires <= now)
            session_clear(s);
        pthread_mutex_unlock(&b->lock);
        return attest_refuse(c, NULL, "session", why);
    }
    s->state = S_NONCE_USED; /* whatever happens next, this nonce is spent */
    memcpy(sid, s->id, sizeof sid);
    snprintf(snonce, sizeof snonce, "%s", s->nonce);
    snprintf(tee, sizeof tee, "%s", s->tee);
    expires = s->expires;
    pthread_mutex_unlock(&b->lock);

    /* The evidence is checked without the lock: a KDS fetch may take seconds. */
    req = json_tokener_parse(rq->body.data ? rq->body.data : "");
    if (req == NULL || !json_object_object_get_ex(req, "runtime-data", &rt) ||
        !json_object_object_get_ex(rt, "nonce", &nonce) || !json_object_is_type(nonce, json_type_string) ||
        !json_object_object_get_ex(rt, "tee-pubkey", &jwk) ||
        !json_object_object_get_ex(req, "tee-evidence", &tee_ev)) {
        ret = attest_refuse(
            c, NULL, "request",
            "the Attestation needs runtime-data.nonce, runtime-data.tee-pubkey and tee-evidence");
        goto out;
    }
    if (strlen(json_object_get_string(nonce)) != strlen(snonce) ||
        CRYPTO_memcmp(json_object_get_string(nonce), snonce, strlen(snonce)) != 0) {
        ret = attest_refuse(c, NULL, "nonce",
                            "the nonce in the handshake session is different from the client side in KBS "
                            "protocol's Attestation message (replayed or stale evidence)");
        goto out;
    }
    if ((rc = keys_jwk_parse_public(jwk, &key, alg, sizeof alg)) != 0) {
        snprintf(reason, sizeof reason, "tee-pubkey: %s", ccr_err_msg(rc));
        ret = attest_refuse(c, NULL, "tee-pubkey", reason);
        goto out;
    }
    if (!((strcmp(alg, KEYS_JWE_ALG_ECDH) == 0 && EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) ||
          (strcmp(alg, KEYS_JWE_ALG_RSA) == 0 && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA))) {
        snprintf(reason, sizeof reason,
                 "tee-pubkey: alg '%s' does not fit the key (ECDH-ES+A256KW with EC, "
                 "RSA-OAEP-256 with RSA)",
                 alg);
        ret = attest_refuse(c, NULL, "tee-pubkey", reason);
        goto out;
    }
    /* kbs-types 0.18 CompositeEvidence {primary_evidence, additional_evidence}; an older
     * client sends the SNP evidence itself. */
    if (json_object_object_get_ex(tee_ev, "primary_evidence", &prim)) {
        if (json_object_object_get_ex(tee_ev, "additional_evidence", &add) &&
            !json_object_is_type(add, json_type_string)) {
            ret = attest_refuse(c, NULL, "request", "tee-evidence.additional_evidence must be a string");
            goto out;
        }
        if (add != NULL)
            additional = json_object_get_string(add);
    } else {
        prim = tee_ev;
    }
    json_object_object_get_ex(req, "init-data", &init);
    rc = strcmp(tee, KEYS_AZ_VTPM_TEE) == 0 ? verify_vtpm(b, prim, snonce, jwk, additional, init, &res)
                                            : verify_snp(b, prim, snonce, jwk, additional, init, &res);
    if (rc != 0) {
        ret = attest_refuse(c, res.claims, res.check, res.reason);
        goto out;
    }
    if ((rc = add_init_data_claims(init, res.claims, reason, sizeof reason)) != 0) {
        ret = attest_refuse(c, res.claims, "init-data", reason);
        goto out;
    }
    pthread_mutex_lock(&b->lock);
    s = find_session_id(b, sid);
    if (s == NULL || s->state != S_NONCE_USED) {
        pthread_mutex_unlock(&b->lock);
        ret = attest_refuse(c, res.claims, "session", "the session ended while its evidence was checked");
        goto out;
    }
    s->tee_key = key;
    key = NULL;
    snprintf(s->alg, sizeof s->alg, "%s", alg);
    s->claims = json_object_get(res.claims);
    snprintf(s->root, sizeof s->root, "%s", res.root);
    s->state = S_ATTESTED;
    pthread_mutex_unlock(&b->lock);
    token = make_token(b, res.claims, jwk, expires);
    {
        char sum[512];
        ccr_log_info("attestation accepted (tee %s, root: %s%s, VCEK from the %s): %s", tee, res.root,
                     res.is_test ? ", TEST ONLY" : "", res.vcek_source,
                     claims_summary(res.claims, sum, sizeof sum));
    }
    resp = json_object_new_object();
    json_object_object_add(resp, "token", json_object_new_string(token ? token : ""));
    free(token);
    ret = send_json(c, 200, resp, NULL);
out:
    json_object_put(req);
    json_object_put(res.claims);
    EVP_PKEY_free(key);
    return ret;
}

/* The contract gate, without the broker's lock (governance is asked over the network): 0 when
 * governance admitted and counted this release, else EACCES or the transport errno with
 * reason filled. */
static int gate_release(struct keys_broker *b, struct json_object *claims, const char *name, char *gate_note,
                        size_t note_len, char *reason, size_t reason_len)
{
    struct keys_govcheck_use use;
    const char *contract = NULL;
    char dataset[72], mode[16];
    int rc;

    if ((rc = keys_govcheck_target(claims, name, b->res_datasets, dataset, mode, &contract, reason,
                                   reason_len)) != 0)
        return rc;
    if ((rc = keys_govcheck_release(b->gov, contract, dataset, mode, &use, reason, reason_len)) != 0)
        return rc;
    snprintf(gate_note, note_len, "contract=%s dataset=%s mode=%s use=%llu/%llu", contract, dataset, mode,
             (unsigned long long)use.used, (unsigned long long)use.max_mounts);
    return 0;
}

static enum MHD_Result handle_resource(struct keys_broker *b, struct MHD_Connection *c, const char *name)
{
    struct session *s;
    struct keys_policy *pol = NULL;
    struct json_object *claims = NULL;
    EVP_PKEY *tee_key = NULL;
    char *pol_text = NULL, *jwe = NULL, reason[1024], sum[512], alg[32], root[64], gate_note[400] = "";
    uint8_t *value = NULL;
    size_t len = 0;
    enum MHD_Result ret;
    int rc;

    pthread_mutex_lock(&b->lock);
    s = find_session(b, c);
    if (s == NULL || s->state != S_ATTESTED) {
        pthread_mutex_unlock(&b->lock);
        ccr_log_warn("release refused: resource=%s reason=not attested", name);
        ret = kbs_error(c, "TokenNotFound", "Attestation Token not found");
        goto out;
    }
    if (s->expires <= time(NULL)) {
        ccr_log_warn("release refused: resource=%s reason=session expired; %s", name,
                     claims_summary(s->claims, sum, sizeof sum));
        session_clear(s);
        pthread_mutex_unlock(&b->lock);
        ret =
            kbs_error(c, "TokenNotFound", "Attestation Token not found (the session expired: attest again)");
        goto out;
    }
    /* What the release needs, taken out of the session so that the lock is not held while
     * governance is asked. */
    claims = json_object_get(s->claims);
    if (EVP_PKEY_up_ref(s->tee_key) == 1)
        tee_key = s->tee_key;
    snprintf(alg, sizeof alg, "%s", s->alg);
    snprintf(root, sizeof root, "%s", s->root);
    rc = tee_key == NULL ? ENOMEM : keys_rstore_get(b->store, name, &pol_text, &value, &len);
    pthread_mutex_unlock(&b->lock);
    if (rc == ENOENT) {
        ccr_log_warn("release refused: resource=%s reason=no such resource; %s", name,
                     claims_summary(claims, sum, sizeof sum));
        /* Trustee's resource plugin fails the read: a missing resource is not a 404. */
        ret = kbs_error(c, "PluginInternalError", "Plugin internal error: no resource named %s", name);
        goto out;
    }
    if (rc != 0 || keys_policy_parse(pol_text, strlen(pol_text), &pol) != 0) {
        ccr_log_error("release failed: resource=%s: %s", name, ccr_err_msg(rc ? rc : EINVAL));
        ret = kbs_error(c, "PluginInternalError", "Plugin internal error: resource %s cannot be read", name);
        goto out;
    }
    if (keys_policy_eval(pol, claims, reason, sizeof reason) != 0) {
        ccr_log_warn("release refused: resource=%s reason=%s; %s", name, reason,
                     claims_summary(claims, sum, sizeof sum));
        ret = kbs_error(c, "PolicyDeny", "Access denied by policy: the release policy of %s refused: %s",
                        name, reason);
        goto out;
    }
    /* Sealed before governance counts the use: a release that cannot be made costs none. */
    if ((rc = keys_jwe_encrypt(tee_key, alg, value, len, &jwe)) != 0) {
        ret = kbs_error(c, "JweError", "JWE failed: %s", ccr_err_msg(rc));
        goto out;
    }
    if (b->gov != NULL &&
        (rc = gate_release(b, claims, name, gate_note, sizeof gate_note, reason, sizeof reason)) != 0) {
        ccr_log_warn("release refused: resource=%s reason=contract gate: %s; %s", name, reason,
                     claims_summary(claims, sum, sizeof sum));
        ret = kbs_error(c, "PolicyDeny", "Access denied by policy: the contract gate refused %s: %s", name,
                        reason);
        goto out;
    }
    ccr_log_info("released: resource=%s to %s (root: %s)%s%s; %s", name, alg, root, gate_note[0] ? "; " : "",
                 gate_note, claims_summary(claims, sum, sizeof sum));
    ret = send_text(c, 200, "application/json", jwe, NULL);
out:
    if (value)
        ccr_secmem_free(value, len);
    free(pol_text);
    free(jwe);
    keys_policy_free(pol);
    json_object_put(claims);
    EVP_PKEY_free(tee_key);
    return ret;
}

/* Trustee's resource admin API: POST (the raw value as the body) or DELETE
 * /kbs/v0/resource/REPO/TYPE/TAG under an admin JWT. A new resource gets the broker's
 * default release policy; an existing one keeps its own. */
static enum MHD_Result handle_trustee_admin(struct keys_broker *b, struct MHD_Connection *c,
                                            const char *method, const char *name, struct request *rq)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    char role[64], *pol_text = NULL;
    uint8_t *old = NULL;
    size_t old_len = 0;
    int rc;

    if (b->admin_jwt_key == NULL) {
        ccr_log_warn("admin call refused: %s /kbs/v0/resource/%s: no admin key configured", method, name);
        return kbs_error(
            c, "AdminAuthInitialization",
            "failed to initialize [admin] configuration: Admin access denied: this broker has no "
            "admin JWT key (--admin-jwt-key)");
    }
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0) {
        ccr_log_warn("admin call refused: %s /kbs/v0/resource/%s: no bearer token", method, name);
        return kbs_error(c, "AdminAuthInitialization",
                         "failed to initialize [admin] configuration: Admin access denied: no Bearer token");
    }
    if ((rc = keys_admin_jwt_verify(b->admin_jwt_key, h + 7, 0, b->admin_jwt_role, role, sizeof role)) != 0) {
        ccr_log_warn("admin call refused: %s /kbs/v0/resource/%s: %s", method, name, ccr_err_msg(rc));
        return kbs_error(c, "AdminAuthInitialization",
                         "failed to initialize [admin] configuration: Admin access denied: %s",
                         ccr_err_msg(rc));
    }
    if (strcmp(method, "DELETE") == 0) {
        pthread_mutex_lock(&b->lock);
        rc = keys_rstore_delete(b->store, name);
        pthread_mutex_unlock(&b->lock);
        if (rc != 0)
            return kbs_error(c, "PluginInternalError", "Plugin internal error: %s", ccr_err_msg(rc));
        ccr_log_info("admin (role %s): deleted resource %s", role, name);
        return send_text(c, 200, "text/xml", "", NULL);
    }
    if (rq->body.len == 0)
        return kbs_error(c, "PluginInternalError", "Plugin internal error: the resource value is empty");
    pthread_mutex_lock(&b->lock);
    rc = keys_rstore_get(b->store, name, &pol_text, &old, &old_len);
    if (rc == ENOENT && b->default_policy != NULL) {
        rc = keys_rstore_put(b->store, name, b->default_policy, (const uint8_t *)rq->body.data, rq->body.len);
    } else if (rc == ENOENT) {
        rc = ccr_err_set(ENOENT,
                         "%s is a new resource and this broker has no default release policy "
                         "(--default-policy FILE), or register it with /admin/v0 first",
                         name);
    } else if (rc == 0) {
        rc = keys_rstore_put(b->store, name, pol_text, (const uint8_t *)rq->body.data, rq->body.len);
    }
    pthread_mutex_unlock(&b->lock);
    if (old)
        ccr_secmem_free(old, old_len);
    free(pol_text);
    if (rc != 0)
        return kbs_error(c, "PluginInternalError", "Plugin internal error: %s", ccr_err_msg(rc));
    ccr_log_info("admin (role %s): stored resource %s (%zu bytes)", role, name, rq->body.len);
    return send_text(c, 200, "text/xml", "", NULL);
}

static int admin_ok(struct keys_broker *b, struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    uint8_t got[FMT_SHA256_LEN];
    if (!b->has_token || h == NULL || strncmp(h, "Bearer ", 7) != 0)
        return 0;
    fmt_sha256(h + 7, strlen(h + 7), got);
    return CRYPTO_memcmp(got, b->token_hash, sizeof got) == 0;
}

static int list_cb(void *arg, const char *name, const char *policy_json)
{
    struct json_object *arr = arg, *e = json_object_new_object();
    json_object_object_add(e, "name", json_object_new_string(name));
    json_object_object_add(e, "policy", json_tokener_parse(policy_json));
    json_object_array_add(arr, e);
    return 0;
}

static enum MHD_Result handle_admin(struct keys_broker *b, struct MHD_Connection *c, const char *method,
                                    const char *url, struct request *rq)
{
    static const char res_prefix[] = "/admin/v0/resource/";
    const char *name =
        strncmp(url, res_prefix, sizeof res_prefix - 1) == 0 ? url + sizeof res_prefix - 1 : NULL;
    int rc;

    if (!admin_ok(b, c)) {
        ccr_log_warn("admin call refused: %s %s: missing or wrong token", method, url);
        return send_problem(c, 401, "AdminAuth", "the admin token is missing or wrong");
    }
    if (strcmp(url, "/admin/v0/resources") == 0 && strcmp(method, "GET") == 0) {
        struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
        pthread_mutex_lock(&b->lock);
        rc = keys_rstore_list(b->store, list_cb, arr);
        pthread_mutex_unlock(&b->lock);
        json_object_object_add(o, "resources", arr);
        if (rc != 0) {
            json_object_put(o);
            return send_problem(c, 500, "Internal", "%s", ccr_err_msg(rc));
        }
        return send_json(c, 200, o, NULL);
    }
    if (name == NULL || keys_kbs_resource_check(name) != 0)
        return send_problem(c, 404, "NotFound", "no admin endpoint %s %s", method, url);
    if (strcmp(method, "DELETE") == 0) {
        pthread_mutex_lock(&b->lock);
        rc = keys_rstore_delete(b->store, name);
        pthread_mutex_unlock(&b->lock);
        if (rc == ENOENT)
            return send_problem(c, 404, "ResourceNotFound", "no resource named %s", name);
        if (rc != 0)
            return send_problem(c, 500, "Internal", "%s", ccr_err_msg(rc));
        ccr_log_info("admin: deleted resource %s", name);
        return send_text(c, 204, "application/json", "", NULL);
    }
    if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
        struct json_object *o = json_tokener_parse(rq->body.data ? rq->body.data : ""), *pol, *val;
        struct keys_policy *p = NULL;
        uint8_t *raw = NULL;
        size_t raw_len = 0;
        const char *ptext, *vtext;
        enum MHD_Result ret;

        if (o == NULL || !json_object_object_get_ex(o, "policy", &pol) ||
            !json_object_object_get_ex(o, "value", &val) || !json_object_is_type(val, json_type_string)) {
            json_object_put(o);
            return send_problem(c, 400, "InvalidRequest",
                                "expected {\"policy\": {...}, \"value\": \"<base64>\"}");
        }
        ptext = json_object_to_json_string_ext(pol, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if ((rc = keys_policy_parse(ptext, strlen(ptext), &p)) != 0) {
            ret = send_problem(c, 400, "InvalidPolicy", "%s", ccr_err_msg(rc));
            json_object_put(o);
            return ret;
        }
        keys_policy_free(p);
        vtext = json_object_get_string(val);
        if (ccr_b64_decode(vtext, strlen(vtext), &raw, &raw_len, CCR_B64_STD) != 0 || raw_len == 0) {
            json_object_put(o);
            return send_problem(c, 400, "InvalidRequest", "\"value\" must be non-empty base64");
        }
        pthread_mutex_lock(&b->lock);
        rc = keys_rstore_put(b->store, name, ptext, raw, raw_len);
        pthread_mutex_unlock(&b->lock);
        ccr_freezero(raw, raw_len);
        json_object_put(o);
        if (rc != 0)
            return send_problem(c, 400, "InvalidRequest", "%s", ccr_err_msg(rc));
        ccr_log_info("admin: stored resource %s (%zu bytes) with its release policy", name, raw_len);
        o = json_object_new_object();
        json_object_object_add(o, "resource", json_object_new_string(name));
        return send_json(c, 201, o, NULL);
    }
    return send_problem(c, 405, "MethodNotAllowed", "%s is not allowed on %s", method, url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size,
                                  void **con_cls)
{
    struct keys_broker *b = cls;
    struct request *rq = *con_cls;
    static const char res_prefix[] = "/kbs/v0/resource/";
    (void)version;

    if (rq == NULL) {
        rq = calloc(1, sizeof *rq);
        if (rq == NULL)
            return MHD_NO;
        ccr_dynbuf_init(&rq->body, b->max_body);
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        int rc = rq->too_big ? 0 : ccr_dynbuf_add(&rq->body, upload, *upload_size);
        if (rc == EFBIG)
            rq->too_big = 1;
        else if (rc != 0)
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (strncmp(url, "/admin/", 7) == 0) {
        if (rq->too_big)
            return send_problem(c, 413, "PayloadTooLarge", "the request body is larger than %u bytes",
                                b->max_body);
        return handle_admin(b, c, method, url, rq);
    }
    /* Trustee's KBS paths: errors as Trustee answers them. */
    if (rq->too_big)
        return kbs_error(c, "SerdeError",
                         "Serialize/Deserialize failed: the request body is larger than %u bytes",
                         b->max_body);
    if (strcmp(url, KEYS_BROKER_GATE_PATH) == 0 && strcmp(method, "GET") == 0) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "governance", json_object_new_boolean(b->gov != NULL));
        return send_json(c, 200, o, NULL);
    }
    if (strcmp(url, "/kbs/v0/auth") == 0 && strcmp(method, "POST") == 0)
        return handle_auth(b, c, rq);
    if (strcmp(url, "/kbs/v0/attest") == 0 && strcmp(method, "POST") == 0)
        return handle_attest(b, c, rq);
    if (strncmp(url, res_prefix, sizeof res_prefix - 1) == 0) {
        const char *name = url + sizeof res_prefix - 1;
        if (keys_kbs_resource_check(name) != 0)
            return kbs_error(c, "InvalidRequestPath", "Request path %.300s is invalid", url);
        if (strcmp(method, "GET") == 0)
            return handle_resource(b, c, name);
        if (strcmp(method, "POST") == 0 || strcmp(method, "DELETE") == 0)
            return handle_trustee_admin(b, c, method, name, rq);
        return kbs_error(c, "InvalidRequestPath", "Request path %.300s is invalid for %.16s", url, method);
    }
    if (strncmp(url, "/kbs/v0/", 8) == 0 && url[8] != '\0' && strcmp(url, "/kbs/v0/auth") != 0 &&
        strcmp(url, "/kbs/v0/attest") != 0) {
        char plugin[64];
        size_t n = strcspn(url + 8, "/");
        snprintf(plugin, sizeof plugin, "%.*s", (int)(n < sizeof plugin - 1 ? n : sizeof plugin - 1),
                 url + 8);
        return kbs_error(c, "PluginNotFound", "Plugin %s not found", plugin);
    }
    return kbs_error(c, "InvalidRequestPath", "Request path %.300s is invalid", url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct request *rq = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (rq != NULL) {
        ccr_dynbuf_free_wiped(&rq->body); /* admin bodies carry values */
        free(rq);
    }
    *con_cls = NULL;
}

/* libmicrohttpd's messages, into the log; the ones a flood of connections provokes (one per
 * connection refused at a limit) at most once every ten seconds, so a flood cannot fill it. */
static void mhd_logger(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static time_t last;
    static unsigned dropped;
    char msg[512];
    size_t n;
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (strstr(msg, "limit") != NULL) {
        time_t now = time(NULL);
        unsigned skipped;
        pthread_mutex_lock(&mu);
        if (now - last < 10) {
            dropped++;
            pthread_mutex_unlock(&mu);
            return;
        }
        last = now;
        skipped = dropped;
        dropped = 0;
        pthread_mutex_unlock(&mu);
        ccr_log_warn("http: %s (%u more like it since the last report)", msg, skipped);
        return;
    }
    ccr_log_warn("http: %s", msg);
}

/* "REPO/TYPE/TAG=sha256:..." entries as {resource: dataset id}. */
static int parse_resource_datasets(const char *const *list, struct json_object **out)
{
    *out = NULL;
    if (list == NULL || list[0] == NULL)
        return 0;
    *out = json_object_new_object();
    for (size_t i = 0; list[i] != NULL; i++) {
        const char *eq = strchr(list[i], '=');
        char res[256];
        size_t n = eq ? (size_t)(eq - list[i]) : 0;
        if (eq == NULL || n == 0 || n >= sizeof res)
            return ccr_err_set(EINVAL, "resource dataset '%.300s': expected REPO/TYPE/TAG=sha256:...",
                               list[i]);
        memcpy(res, list[i], n);
        res[n] = '\0';
        if (keys_kbs_resource_check(res) != 0)
            return ccr_err_set(EINVAL, "resource dataset '%.300s': '%s' is not REPO/TYPE/TAG", list[i], res);
        if (strlen(eq + 1) != 71 || strncmp(eq + 1, "sha256:", 7) != 0 ||
            strspn(eq + 8, "0123456789abcdef") != 64)
            return ccr_err_set(
                EINVAL,
                "resource dataset '%.300s': the dataset id must be \"sha256:\" and 64 lowercase "
                "hex digits",
                list[i]);
        if (json_object_object_get_ex(*out, res, NULL))
            return ccr_err_set(EINVAL, "resource dataset: %s is given twice", res);
        json_object_object_add(*out, res, json_object_new_string(eq + 1));
    }
    return 0;
}

int keys_broker_start(const struct keys_broker_conf *conf, struct keys_broker **out)
{
    struct keys_broker *b = calloc(1, sizeof *b);
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;
    /* poll/epoll rather than select: a descriptor number above FD_SETSIZE must not refuse
     * every new client. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
    unsigned max_conn = conf->max_connections ? conf->max_connections : DEFAULT_MAX_CONNECTIONS,
             per_ip = conf->max_per_ip ? conf->max_per_ip : DEFAULT_MAX_PER_IP,
             idle = conf->idle_timeout ? conf->idle_timeout : DEFAULT_IDLE_TIMEOUT;
    uint8_t *cert = NULL, *key = NULL;
    size_t cl, kl;
    int rc;

    if (b == NULL)
        return ENOMEM;
    pthread_mutex_init(&b->lock, NULL);
    b->ttl = conf->session_ttl ? conf->session_ttl : 300;
    b->max_body = conf->max_body ? conf->max_body : DEFAULT_MAX_BODY;
    b->max_sessions = conf->max_sessions ? conf->max_sessions : DEFAULT_MAX_SESSIONS;
    b->max_pending_per_ip = conf->max_pending_per_ip ? conf->max_pending_per_ip : DEFAULT_MAX_PENDING_PER_IP;
    /* A short session lifetime shortens the default handshake deadline with it. */
    b->handshake_timeout = conf->handshake_timeout                  ? conf->handshake_timeout
                           : b->ttl / 2 < DEFAULT_HANDSHAKE_TIMEOUT ? (b->ttl / 2 ? b->ttl / 2 : 1)
                                                                    : DEFAULT_HANDSHAKE_TIMEOUT;
    if ((b->sessions = calloc(b->max_sessions, sizeof *b->sessions)) == NULL) {
        free(b);
        return ENOMEM;
    }
    if (b->handshake_timeout >= b->ttl && b->ttl > 1) {
        rc = ccr_err_set(EINVAL,
                         "the handshake timeout (%u s) must be shorter than the session lifetime (%u s)",
                         b->handshake_timeout, b->ttl);
        goto fail;
    }
    if (per_ip > max_conn) {
        rc = ccr_err_set(EINVAL, "connections per client (%u) cannot exceed connections in all (%u)", per_ip,
                         max_conn);
        goto fail;
    }
    if (conf->governance_url != NULL && (rc = keys_govcheck_new(conf->governance_url, conf->governance_token,
                                                                conf->governance_ca, &b->gov)) != 0)
        goto fail;
    if ((rc = parse_resource_datasets(conf->resource_datasets, &b->res_datasets)) != 0)
        goto fail;
    b->allow_debug = conf->allow_debug;
    b->min_report_version = conf->min_report_version ? conf->min_report_version : 2;
    if (b->min_report_version < 2 || b->min_report_version > 5) {
        rc = ccr_err_set(EINVAL, "minimum report version %u: SEV-SNP reports are versions 2 to 5",
                         conf->min_report_version);
        goto fail;
    }
    if (conf->admin_token == NULL && conf->admin_jwt_key == NULL) {
        rc = ccr_err_set(EINVAL, "no admin credential: give an admin token, an admin JWT key, or both");
        goto fail;
    }
    if (conf->admin_token != NULL) {
        if (strlen(conf->admin_token) < 16) {
            rc = ccr_err_set(EINVAL, "the admin token must be at least 16 characters");
            goto fail;
        }
        fmt_sha256(conf->admin_token, strlen(conf->admin_token), b->token_hash);
        b->has_token = 1;
    }
    if (conf->admin_jwt_key != NULL &&
        (rc = keys_admin_jwt_load_public(conf->admin_jwt_key, &b->admin_jwt_key)) != 0)
        goto fail;
    if (conf->admin_jwt_role != NULL && (b->admin_jwt_role = strdup(conf->admin_jwt_role)) == NULL) {
        rc = ENOMEM;
        goto fail;
    }
    if (conf->default_policy != NULL) {
        struct keys_policy *p = NULL;
        if ((rc = keys_policy_parse(conf->default_policy, strlen(conf->default_policy), &p)) != 0) {
            rc = ccr_err_wrap(rc, "default release policy: ");
            goto fail;
        }
        keys_policy_free(p);
        if ((b->default_policy = strdup(conf->default_policy)) == NULL) {
            rc = ENOMEM;
            goto fail;
        }
    }
    if (!conf->no_kds) {
        char *cache = conf->kds_cache_dir ? NULL : ccr_path_join(conf->state_dir, "kds-cache");
        rc = keys_kds_new(conf->kds_url, conf->kds_cache_dir ? conf->kds_cache_dir : cache, conf->kds_ca,
                          &b->kds);
        free(cache);
        if (rc != 0)
            goto fail;
    }
    if ((rc = ccr_random(b->jwt_key, sizeof b->jwt_key)) != 0)
        goto fail;
    if ((rc = keys_rstore_open(conf->state_dir, &b->store)) != 0 || (rc = keys_snp_roots_amd(&b->roots)) != 0)
        goto fail;
    if (conf->sim_root != NULL && (rc = keys_snp_roots_add_sim(b->roots, conf->sim_root)) != 0) {
        rc = ccr_err_wrap(rc, "--trust-sim-root %s: ", conf->sim_root);
        goto fail;
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)conf->port);
    if (inet_pton(AF_INET, conf->host ? conf->host : "127.0.0.1", &sa.sin_addr) != 1) {
        rc = ccr_err_set(EINVAL, "listen address '%s' is not an IPv4 address", conf->host);
        goto fail;
    }
    if (conf->tls_cert != NULL || conf->tls_key != NULL) {
        if (conf->tls_cert == NULL || conf->tls_key == NULL) {
            rc = ccr_err_set(EINVAL, "TLS needs both a certificate and a key");
            goto fail;
        }
        if ((rc = ccr_read_file(conf->tls_cert, 1 << 20, &cert, &cl)) != 0 ||
            (rc = ccr_read_file(conf->tls_key, 1 << 20, &key, &kl)) != 0)
            goto fail;
        b->tls_cert = (char *)cert;
        b->tls_key = (char *)key;
        flags |= MHD_USE_TLS;
        b->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, b, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger,
                                  NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                                  NULL, MHD_OPTION_THREAD_POOL_SIZE, BROKER_THREADS,
                                  MHD_OPTION_CONNECTION_LIMIT, max_conn, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                  per_ip, MHD_OPTION_CONNECTION_TIMEOUT, idle, MHD_OPTION_HTTPS_MEM_CERT,
                                  b->tls_cert, MHD_OPTION_HTTPS_MEM_KEY, b->tls_key, MHD_OPTION_END);
    } else {
        b->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, b, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger,
                                  NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                                  NULL, MHD_OPTION_THREAD_POOL_SIZE, BROKER_THREADS,
                                  MHD_OPTION_CONNECTION_LIMIT, max_conn, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                  per_ip, MHD_OPTION_CONNECTION_TIMEOUT, idle, MHD_OPTION_END);
    }
    if (b->mhd == NULL) {
        rc = ccr_err_set(EADDRINUSE, "cannot listen on %s:%u (in use, or TLS not available)",
                         conf->host ? conf->host : "127.0.0.1", conf->port);
        goto fail;
    }
    ccr_log_info("limits: %u connections (%u per client, idle %u s), bodies up to %u bytes, %u sessions "
                 "(%u unfinished per client, evictable after %u s)%s",
                 max_conn, per_ip, idle, b->max_body, b->max_sessions, b->max_pending_per_ip,
                 b->handshake_timeout, b->gov ? "; releases gated on governance" : "");
    info = MHD_get_daemon_info(b->mhd, MHD_DAEMON_INFO_BIND_PORT);
    b->port = info ? info->port : conf->port;
    *out = b;
    return 0;
fail:
    keys_broker_stop(b);
    return rc;
}

unsigned keys_broker_port(const struct keys_broker *b)
{
    return b->port;
}

void keys_broker_stop(struct keys_broker *b)
{
    if (b == NULL)
        return;
    if (b->mhd)
        MHD_stop_daemon(b->mhd);
    for (size_t i = 0; b->sessions != NULL && i < b->max_sessions; i++)
        session_clear(&b->sessions[i]);
    free(b->sessions);
    keys_govcheck_free(b->gov);
    json_object_put(b->res_datasets);
    keys_rstore_close(b->store);
    keys_snp_roots_free(b->roots);
    keys_kds_free(b->kds);
    EVP_PKEY_free(b->admin_jwt_key);
    free(b->admin_jwt_role);
    free(b->default_policy);
    free(b->tls_cert);
    if (b->tls_key)
        ccr_freezero(b->tls_key, strlen(b->tls_key));
    pthread_mutex_destroy(&b->lock);
    OPENSSL_cleanse(b, sizeof *b);
    free(b);
}
