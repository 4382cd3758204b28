/* `ccrfs kbs serve`: a local key broker speaking the Trustee KBS protocol (RCAR 0.4.0) on
 * loopback, for the tees "snp" (SEV-SNP evidence) and "az-snp-vtpm" (Azure vTPM evidence),
 * with per-resource release policies, durable encrypted resources, and an admin
 * API authenticated by a bearer token. Every release and refusal is logged with the claims
 * that decided it, never the value. */
#ifndef CCRFS_KEYS_BROKER_BROKER_H
#define CCRFS_KEYS_BROKER_BROKER_H

struct keys_broker_conf {
    const char *host;               /* listen address, default 127.0.0.1 */
    unsigned port;                  /* 0: an ephemeral port */
    const char *state_dir;          /* master.key and resources/ */
    const char *admin_token;        /* ccrfs's /admin/v0 bearer token; NULL: that API is closed */
    const char *admin_jwt_key;      /* PEM public key for Trustee's admin API (POST/DELETE
                                       /kbs/v0/resource/...); NULL: that API is closed */
    const char *admin_jwt_role;     /* the role claim admitted (NULL: any role) */
    const char *default_policy;     /* release policy (JSON text) for a resource first registered
                                       through Trustee's admin API; NULL: such a POST is refused */
    const char *kds_url;            /* where VCEKs missing from evidence come from (NULL: AMD's) */
    const char *kds_cache_dir;      /* kept certificates (NULL: STATE/kds-cache) */
    const char *kds_ca;             /* extra CA for an https KDS mirror */
    int no_kds;                     /* never fetch a VCEK: evidence must carry it */
    const char *sim_root;           /* trust this simulator folder's test root too (NULL: AMD only) */
    const char *tls_cert, *tls_key; /* PEM files: serve https */
    unsigned session_ttl;           /* seconds a session lives after /auth, default 300 */
    int allow_debug;                /* accept evidence from guests whose policy allows debugging */
    unsigned min_report_version;    /* oldest SEV-SNP report version accepted, 2 to 5 (0: 2, as
                                       Azure and Milan machines emit; Trustee demands 3) */
};

struct keys_broker;

int keys_broker_start(const struct keys_broker_conf *conf, struct keys_broker **out);
unsigned keys_broker_port(const struct keys_broker *b);
void keys_broker_stop(struct keys_broker *b);

#endif
