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
    /* The contract gate (keys/broker/govcheck.h): NULL governance_url: releases follow the
       release policy alone. */
    const char *governance_url;
    const char *governance_token;         /* its bearer token, or NULL */
    const char *governance_ca;            /* extra CA for an https service */
    const char *const *resource_datasets; /* "REPO/TYPE/TAG=sha256:...", NULL-terminated, or NULL */
    /* Limits under abuse (0: the default in parentheses). */
    unsigned max_connections;    /* connections at once (1000) */
    unsigned max_per_ip;         /* connections at once from one client address (64) */
    unsigned idle_timeout;       /* seconds a connection may stay silent (15) */
    unsigned max_body;           /* bytes of a request body on any route (256 KiB) */
    unsigned max_sessions;       /* sessions held at once (4096) */
    unsigned max_pending_per_ip; /* sessions from one address that have not attested yet (32) */
    unsigned handshake_timeout;  /* seconds after /auth before an unattested session may be
                                    evicted to make room (20) */
};

struct keys_broker;

int keys_broker_start(const struct keys_broker_conf *conf, struct keys_broker **out);
unsigned keys_broker_port(const struct keys_broker *b);
void keys_broker_stop(struct keys_broker *b);

#endif
