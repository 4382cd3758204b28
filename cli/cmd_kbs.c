/* ccrfs kbs: a local key broker (serve) and its admin calls (put, list, delete). */
#include "cli/commands.h"
#include "cli/util.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/secmem.h"
#include "governance/http.h"
#include "keys/broker/admin_jwt.h"
#include "keys/broker/broker.h"
#include "keys/broker/kds.h"
#include "keys/broker/policy.h"
#include "keys/kbs/client.h"
#include "keys/kbs/http.h"
#include "keys/kbs/protocol.h"

#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_ENV        "CCRFS_KBS_ADMIN_TOKEN"
#define GOV_TOKEN_ENV    "CCRFS_GOV_TOKEN"
#define MAX_RES_DATASETS 64

static const char kbs_usage[] =
    "usage: ccrfs kbs serve --state DIR [--listen HOST:PORT] [--admin-token-file FILE]\n"
    "                       [--admin-jwt-key PEM [--admin-role ROLE]] [--default-policy FILE]\n"
    "                       [--kds-url URL | --no-kds] [--kds-cache DIR] [--kds-ca PEM]\n"
    "                       [--trust-sim-root DIR] [--tls-cert PEM --tls-key PEM]\n"
    "                       [--session-ttl SECONDS] [--allow-debug] [--min-report-version N]\n"
    "                       [--port-file FILE]\n"
    "                       [--governance URL [--governance-token-file FILE] [--governance-ca PEM]\n"
    "                        [--resource-dataset REPO/TYPE/TAG=sha256:...]...]\n"
    "                       [--max-connections N] [--max-connections-per-ip N] [--idle-timeout SECONDS]\n"
    "                       [--max-body BYTES] [--max-sessions N] [--max-pending-per-ip N]\n"
    "                       [--handshake-timeout SECONDS]\n"
    "       ccrfs kbs put --url URL --resource REPO/TYPE/TAG --policy FILE --value-file FILE [--token-file "
    "FILE]\n"
    "       ccrfs kbs put --trustee --url URL --resource REPO/TYPE/TAG --value-file FILE\n"
    "                     (--admin-key PEM [--admin-role ROLE] [--jwt-ttl SECONDS] | --admin-jwt-file FILE)\n"
    "       ccrfs kbs delete --trustee --url URL --resource REPO/TYPE/TAG (--admin-key PEM | "
    "--admin-jwt-file FILE)\n"
    "       ccrfs kbs list --url URL [--token-file FILE]\n"
    "       ccrfs kbs delete --url URL --resource REPO/TYPE/TAG [--token-file FILE]\n"
    "serve runs a key broker speaking the Trustee KBS protocol (RCAR 0.4.0); --listen defaults to\n"
    "127.0.0.1:0, any free port (written to --port-file and the log). It trusts AMD's Milan, Genoa\n"
    "and Turin roots, and a simulator's test root only with --trust-sim-root. Resources are\n"
    "sealed under STATE/master.key.\n"
    "The admin token comes from --token-file / --admin-token-file or $" TOKEN_ENV ", never argv.\n"
    "Policies use the Azure Key Vault release policy grammar (anyOf/allOf/claim/equals).\n"
    "Trustee's resource admin API (POST/DELETE /kbs/v0/resource/...) is served with --admin-jwt-key,\n"
    "the PEM public key admin JWTs are checked with (EdDSA, ES256/384, RS*/PS*; exp and role\n"
    "required); a resource first registered that way gets --default-policy. put --trustee speaks\n"
    "that API to a Trustee KBS or this broker, signing a JWT with --admin-key (role \"admin\" by\n"
    "default, valid --jwt-ttl seconds, 300 by default) or sending a ready one from --admin-jwt-file.\n"
    "Evidence without a VCEK gets one from --kds-url (default " KEYS_KDS_DEFAULT_URL "), kept in\n"
    "--kds-cache (default STATE/kds-cache); --no-kds requires the VCEK in the evidence.\n"
    "Guests attest with SEV-SNP evidence (tee \"snp\") or Azure vTPM evidence (tee \"az-snp-vtpm\");\n"
    "SEV-SNP reports older than --min-report-version (2 to 5, default 2, as Azure and Milan machines\n"
    "emit; Trustee demands 3) are refused. Release policies may name product, signing_key,\n"
    "reported_tcb_fmc and current_firmware besides the report's fields.\n"
    "With --governance URL (ccrfs's governance service; token from --governance-token-file or\n"
    "$" GOV_TOKEN_ENV ") a key is released only to evidence whose init-data names a contract, and only\n"
    "when that service says the contract is active, names the resource's dataset in the init-data's\n"
    "mode, and has a use left; the release is counted there. A resource's dataset is the one\n"
    "--resource-dataset gives, else the init-data's only dataset that needs a key.\n"
    "Limits (defaults): --max-connections 1000, --max-connections-per-ip 64, --idle-timeout 15,\n"
    "--max-body 262144, --max-sessions 4096, --max-pending-per-ip 32 (sessions not yet attested),\n"
    "--handshake-timeout 20 (after which such a session may be evicted to make room).\n"
    "Common: --broker-ca FILE trusts an extra CA for an https broker.\n";

enum {
    OPT_STATE = 0x3000,
    OPT_LISTEN,
    OPT_TOKEN,
    OPT_SIM,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TTL,
    OPT_DEBUG,
    OPT_PORT_FILE,
    OPT_URL,
    OPT_RESOURCE,
    OPT_POLICY,
    OPT_VALUE,
    OPT_CA,
    OPT_JWT_KEY,
    OPT_ROLE,
    OPT_DEFAULT_POLICY,
    OPT_KDS_URL,
    OPT_NO_KDS,
    OPT_KDS_CACHE,
    OPT_KDS_CA,
    OPT_TRUSTEE,
    OPT_ADMIN_KEY,
    OPT_JWT_FILE,
    OPT_JWT_TTL,
    OPT_MIN_REPORT_VERSION,
    OPT_GOVERNANCE,
    OPT_GOV_TOKEN,
    OPT_GOV_CA,
    OPT_RES_DATASET,
    OPT_MAX_CONN,
    OPT_MAX_PER_IP,
    OPT_IDLE,
    OPT_MAX_BODY,
    OPT_MAX_SESSIONS,
    OPT_MAX_PENDING,
    OPT_HANDSHAKE
};

static const struct option kbs_opts[] = {{"state", required_argument, 0, OPT_STATE},
                                         {"listen", required_argument, 0, OPT_LISTEN},
                                         {"admin-token-file", required_argument, 0, OPT_TOKEN},
                                         {"token-file", required_argument, 0, OPT_TOKEN},
                                         {"trust-sim-root", required_argument, 0, OPT_SIM},
                                         {"tls-cert", required_argument, 0, OPT_TLS_CERT},
                                         {"tls-key", required_argument, 0, OPT_TLS_KEY},
                                         {"session-ttl", required_argument, 0, OPT_TTL},
                                         {"allow-debug", no_argument, 0, OPT_DEBUG},
                                         {"port-file", required_argument, 0, OPT_PORT_FILE},
                                         {"url", required_argument, 0, OPT_URL},
                                         {"resource", required_argument, 0, OPT_RESOURCE},
                                         {"policy", required_argument, 0, OPT_POLICY},
                                         {"value-file", required_argument, 0, OPT_VALUE},
                                         {"broker-ca", required_argument, 0, OPT_CA},
                                         {"admin-jwt-key", required_argument, 0, OPT_JWT_KEY},
                                         {"admin-role", required_argument, 0, OPT_ROLE},
                                         {"default-policy", required_argument, 0, OPT_DEFAULT_POLICY},
                                         {"kds-url", required_argument, 0, OPT_KDS_URL},
                                         {"no-kds", no_argument, 0, OPT_NO_KDS},
                                         {"kds-cache", required_argument, 0, OPT_KDS_CACHE},
                                         {"kds-ca", required_argument, 0, OPT_KDS_CA},
                                         {"trustee", no_argument, 0, OPT_TRUSTEE},
                                         {"admin-key", required_argument, 0, OPT_ADMIN_KEY},
                                         {"admin-jwt-file", required_argument, 0, OPT_JWT_FILE},
                                         {"jwt-ttl", required_argument, 0, OPT_JWT_TTL},
                                         {"min-report-version", required_argument, 0, OPT_MIN_REPORT_VERSION},
                                         {"governance", required_argument, 0, OPT_GOVERNANCE},
                                         {"governance-token-file", required_argument, 0, OPT_GOV_TOKEN},
                                         {"governance-ca", required_argument, 0, OPT_GOV_CA},
                                         {"resource-dataset", required_argument, 0, OPT_RES_DATASET},
                                         {"max-connections", required_argument, 0, OPT_MAX_CONN},
                                         {"max-connections-per-ip", required_argument, 0, OPT_MAX_PER_IP},
                                         {"idle-timeout", required_argument, 0, OPT_IDLE},
                                         {"max-body", required_argument, 0, OPT_MAX_BODY},
                                         {"max-sessions", required_argument, 0, OPT_MAX_SESSIONS},
                                         {"max-pending-per-ip", required_argument, 0, OPT_MAX_PENDING},
                                         {"handshake-timeout", required_argument, 0, OPT_HANDSHAKE},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};

struct kbs_args {
    const char *state, *listen, *token_file, *sim, *tls_cert, *tls_key, *port_file, *url, *resource, *policy,
        *value_file, *ca, *jwt_key, *role, *default_policy, *kds_url, *kds_cache, *kds_ca, *admin_key,
        *jwt_file;
    const char *governance, *gov_token_file, *gov_ca;
    const char *res_datasets[MAX_RES_DATASETS + 1];
    size_t nres_datasets;
    unsigned ttl, jwt_ttl, min_report_version, max_conn, max_per_ip, idle, max_body, max_sessions,
        max_pending, handshake;
    int allow_debug, no_kds, trustee;
};

/* The admin token, from the file or the environment; malloc'd and trimmed. */
static int read_token(const char *file, char **out)
{
    uint8_t *buf;
    size_t len;
    int rc;

    if (file == NULL) {
        const char *env = getenv(TOKEN_ENV);
        if (env == NULL || env[0] == '\0')
            return ccr_err_set(EINVAL, "no admin token: give --token-file FILE or set $" TOKEN_ENV);
        *out = strdup(env);
        return *out ? 0 : ENOMEM;
    }
    if ((rc = ccr_read_file(file, 4096, &buf, &len)) != 0)
        return rc;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    if (len == 0) {
        free(buf);
        return ccr_err_set(EINVAL, "%s: the admin token file is empty", file);
    }
    *out = (char *)buf;
    return 0;
}

static void free_token(char *t)
{
    if (t)
        ccr_freezero(t, strlen(t));
}

static int cmd_serve(struct kbs_args *a)
{
    struct keys_broker_conf conf = {0};
    struct keys_broker *b;
    char host[64] = "127.0.0.1", *token = NULL, *gov_token = NULL, portbuf[32];
    uint8_t *default_policy = NULL;
    uint64_t port = 0;
    sigset_t set;
    int rc, sig;

    if (a->state == NULL)
        return cli_usage("serve needs --state DIR");
    if (a->listen != NULL) {
        const char *colon = strrchr(a->listen, ':');
        if (colon == NULL || (size_t)(colon - a->listen) >= sizeof host ||
            cli_parse_uint(colon + 1, 0, 65535, &port) != 0)
            return cli_usage("--listen: expected HOST:PORT, got '%s'", a->listen);
        memcpy(host, a->listen, (size_t)(colon - a->listen));
        host[colon - a->listen] = '\0';
    }
    if (a->no_kds && (a->kds_url || a->kds_cache || a->kds_ca))
        return cli_usage("--no-kds cannot go with --kds-url, --kds-cache or --kds-ca");
    if (a->default_policy != NULL) {
        struct keys_policy *pol = NULL;
        size_t plen;
        if ((rc = ccr_read_file(a->default_policy, 1 << 16, &default_policy, &plen)) != 0)
            return cli_fail_rc(rc, a->default_policy);
        if ((rc = keys_policy_parse((const char *)default_policy, plen, &pol)) != 0) {
            free(default_policy);
            return cli_fail("%s: %s", a->default_policy, ccr_err_msg(rc));
        }
        keys_policy_free(pol);
    }
    if ((a->gov_token_file || a->gov_ca || a->nres_datasets) && a->governance == NULL)
        return cli_usage(
            "--governance-token-file, --governance-ca and --resource-dataset go with --governance URL");
    /* The broker's own governance credential: a token, or a credential line "TOKEN PARTY
     * ROLES" as the service's token file holds it. */
    if (a->governance != NULL && (rc = gov_token_load(a->gov_token_file, &gov_token)) != 0) {
        free(default_policy);
        return cli_fail_rc(rc, "governance token");
    }
    /* The /admin/v0 token is optional when Trustee's admin API is the way in. */
    if ((a->jwt_key == NULL || a->token_file != NULL || getenv(TOKEN_ENV) != NULL) &&
        (rc = read_token(a->token_file, &token)) != 0) {
        free(default_policy);
        free_token(gov_token);
        return cli_fail_rc(rc, "admin token");
    }
    conf.admin_jwt_key = a->jwt_key;
    conf.admin_jwt_role = a->role;
    conf.default_policy = (const char *)default_policy;
    conf.kds_url = a->kds_url;
    conf.kds_cache_dir = a->kds_cache;
    conf.kds_ca = a->kds_ca;
    conf.no_kds = a->no_kds;
    conf.host = host;
    conf.port = (unsigned)port;
    conf.state_dir = a->state;
    conf.admin_token = token;
    conf.sim_root = a->sim;
    conf.tls_cert = a->tls_cert;
    conf.tls_key = a->tls_key;
    conf.session_ttl = a->ttl;
    conf.allow_debug = a->allow_debug;
    conf.min_report_version = a->min_report_version;
    conf.governance_url = a->governance;
    conf.governance_token = gov_token;
    conf.governance_ca = a->gov_ca;
    conf.resource_datasets = a->nres_datasets ? a->res_datasets : NULL;
    conf.max_connections = a->max_conn;
    conf.max_per_ip = a->max_per_ip;
    conf.idle_timeout = a->idle;
    conf.max_body = a->max_body;
    conf.max_sessions = a->max_sessions;
    conf.max_pending_per_ip = a->max_pending;
    conf.handshake_timeout = a->handshake;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* the server thread inherits the mask */
    ccr_secmem_harden_process();            /* the broker holds every resource's key: no core dumps */
    rc = keys_broker_start(&conf, &b);
    free_token(token);
    free_token(gov_token);
    free(default_policy);
    if (rc != 0)
        return cli_fail_rc(rc, "kbs serve");
    ccr_log_set_level(CCR_LOG_INFO);
    if (a->sim != NULL)
        ccr_log_warn("trusting the simulated SEV-SNP test root in %s: TEST ONLY, never in production",
                     a->sim);
    if (a->allow_debug)
        ccr_log_warn("accepting evidence from debuggable guests (--allow-debug)");
    if (a->no_kds)
        ccr_log_info("VCEKs come only with the evidence (--no-kds)");
    else
        ccr_log_info("VCEKs missing from evidence come from %s",
                     a->kds_url ? a->kds_url : KEYS_KDS_DEFAULT_URL);
    if (a->governance != NULL)
        ccr_log_info("every release is gated on the contract its init-data names, asked of %s",
                     a->governance);
    ccr_log_info("SEV-SNP reports of version %u or later are accepted",
                 a->min_report_version ? a->min_report_version : 2);
    ccr_log_info("listening on %s://%s:%u (KBS protocol %s)", a->tls_cert ? "https" : "http", host,
                 keys_broker_port(b), KEYS_KBS_PROTOCOL_VERSION);
    if (a->port_file != NULL) {
        snprintf(portbuf, sizeof portbuf, "%u\n", keys_broker_port(b));
        if ((rc = ccr_write_file_atomic(a->port_file, portbuf, strlen(portbuf), 0644)) != 0) {
            keys_broker_stop(b);
            return cli_fail_rc(rc, a->port_file);
        }
    }
    sigwait(&set, &sig);
    ccr_log_info("stopping on signal %d", sig);
    keys_broker_stop(b);
    return CLI_EXIT_OK;
}

static int admin_call(struct kbs_args *a, const char *method, const char *path, const char *body, int want)
{
    struct keys_http *h = NULL;
    struct keys_http_reply reply = {0};
    char *token = NULL;
    int rc;

    if (a->url == NULL)
        return cli_usage("give the broker with --url URL");
    if ((rc = read_token(a->token_file, &token)) != 0)
        return cli_fail_rc(rc, "admin token");
    if ((rc = keys_http_open(a->url, a->ca, &h)) == 0 &&
        (rc = keys_http_do(h, method, path, body, body ? strlen(body) : 0, token, &reply)) == 0 &&
        reply.status != want)
        rc = keys_http_refusal(&reply, "the broker");
    free_token(token);
    keys_http_close(h);
    if (rc != 0) {
        keys_http_reply_free(&reply);
        return cli_fail_rc(rc, NULL);
    }
    if (want == 200)
        printf("%s\n", reply.body);
    keys_http_reply_free(&reply);
    return CLI_EXIT_OK;
}

/* put/delete --trustee: Trustee's POST (the raw value as the body) or DELETE
 * /kbs/v0/resource/REPO/TYPE/TAG, under an admin JWT signed here or read from a file. */
static int cmd_trustee_admin(struct kbs_args *a, const char *sub)
{
    struct keys_http *h = NULL;
    struct keys_http_reply reply = {0};
    EVP_PKEY *key = NULL;
    uint8_t *val = NULL, *jwt_file = NULL;
    size_t vlen = 0, jlen = 0;
    char path[600], *jwt = NULL;
    int rc, put = strcmp(sub, "put") == 0;

    if (a->url == NULL || a->resource == NULL || (put && a->value_file == NULL))
        return cli_usage(put ? "put --trustee needs --url, --resource and --value-file"
                             : "delete --trustee needs --url and --resource");
    if ((a->admin_key == NULL) == (a->jwt_file == NULL))
        return cli_usage("%s --trustee needs one of --admin-key PEM (to sign a JWT) or --admin-jwt-file FILE",
                         sub);
    if (a->policy != NULL)
        return cli_usage(
            "%s --trustee takes no --policy: Trustee decides releases with its resource policy (Rego)", sub);
    if (keys_kbs_resource_check(a->resource) != 0)
        return cli_usage("%s", ccr_err_msg(EINVAL));
    if (put && ((rc = ccr_read_file(a->value_file, 1 << 20, &val, &vlen)) != 0 || vlen == 0)) {
        free(val);
        return rc ? cli_fail_rc(rc, NULL) : cli_fail("%s: the value is empty", a->value_file);
    }
    if (a->admin_key != NULL) {
        if ((rc = keys_admin_jwt_load_private(a->admin_key, &key)) == 0)
            rc = keys_admin_jwt_sign(key, a->role, 0, a->jwt_ttl ? a->jwt_ttl : 300, &jwt);
        EVP_PKEY_free(key);
    } else if ((rc = ccr_read_file(a->jwt_file, 8192, &jwt_file, &jlen)) == 0) {
        while (jlen > 0 &&
               (jwt_file[jlen - 1] == '\n' || jwt_file[jlen - 1] == '\r' || jwt_file[jlen - 1] == ' '))
            jwt_file[--jlen] = '\0';
        jwt = (char *)jwt_file;
    }
    snprintf(path, sizeof path, "/kbs/v0/resource/%s", a->resource);
    if (rc == 0 && (rc = keys_http_open(a->url, a->ca, &h)) == 0 &&
        (rc = keys_http_send(h, put ? "POST" : "DELETE", path, val, vlen,
                             put ? "application/octet-stream" : NULL, jwt, &reply)) == 0 &&
        (reply.status < 200 || reply.status > 299))
        rc = keys_kbs_refusal(&reply, "the KBS admin API");
    keys_http_reply_free(&reply);
    keys_http_close(h);
    free_token(jwt);
    if (val)
        ccr_freezero(val, vlen);
    if (rc != 0)
        return cli_fail_rc(rc, NULL);
    if (put)
        printf("stored %s (%zu bytes) through Trustee's resource API\n", a->resource, vlen);
    else
        printf("deleted %s through Trustee's resource API\n", a->resource);
    return CLI_EXIT_OK;
}

static int cmd_put(struct kbs_args *a)
{
    struct keys_policy *pol = NULL;
    struct json_object *body, *pol_obj;
    uint8_t *ptext = NULL, *val = NULL;
    size_t plen, vlen;
    char path[600], *b64 = NULL, *text = NULL;
    int rc, status;

    if (a->resource == NULL || a->policy == NULL || a->value_file == NULL)
        return cli_usage("put needs --resource, --policy FILE and --value-file FILE");
    if (keys_kbs_resource_check(a->resource) != 0)
        return cli_usage("%s", ccr_err_msg(EINVAL));
    if ((rc = ccr_read_file(a->policy, 1 << 16, &ptext, &plen)) != 0)
        return cli_fail_rc(rc, NULL);
    /* Refuse a malformed policy here, with the reason, before anything is sent. */
    if ((rc = keys_policy_parse((const char *)ptext, plen, &pol)) != 0) {
        free(ptext);
        return cli_fail("%s: %s", a->policy, ccr_err_msg(rc));
    }
    keys_policy_free(pol);
    if ((rc = ccr_read_file(a->value_file, 1 << 16, &val, &vlen)) != 0) {
        free(ptext);
        return cli_fail_rc(rc, NULL);
    }
    b64 = malloc(ccr_b64_encoded_size(vlen, CCR_B64_STD));
    pol_obj = json_tokener_parse((const char *)ptext);
    body = json_object_new_object();
    if (b64 == NULL || pol_obj == NULL || body == NULL) {
        status = cli_fail("out of memory");
        goto out;
    }
    ccr_b64_encode(val, vlen, b64, CCR_B64_STD);
    json_object_object_add(body, "policy", pol_obj);
    pol_obj = NULL;
    json_object_object_add(body, "value", json_object_new_string(b64));
    text =
        strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    snprintf(path, sizeof path, "/admin/v0/resource/%s", a->resource);
    status = text ? admin_call(a, "PUT", path, text, 201) : cli_fail("out of memory");
    if (status == CLI_EXIT_OK)
        printf("stored %s (%zu bytes) with its release policy\n", a->resource, vlen);
out:
    if (text)
        ccr_freezero(text, strlen(text));
    if (b64)
        ccr_freezero(b64, strlen(b64));
    /* the json-c copy of the value is wiped before it is freed */
    if (body) {
        struct json_object *v;
        if (json_object_object_get_ex(body, "value", &v))
            OPENSSL_cleanse((void *)(uintptr_t)json_object_get_string(v),
                            (size_t)json_object_get_string_len(v));
    }
    json_object_put(body);
    json_object_put(pol_obj);
    ccr_freezero(val, vlen);
    free(ptext);
    return status;
}

int cli_cmd_kbs(int argc, char **argv)
{
    struct kbs_args a = {0};
    const char *sub;
    uint64_t v;
    char path[600];
    int c;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(kbs_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    sub = argv[1];
    argc--;
    argv++;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", kbs_opts, NULL)) != -1) {
        switch (c) {
        case OPT_STATE:
            a.state = optarg;
            break;
        case OPT_LISTEN:
            a.listen = optarg;
            break;
        case OPT_TOKEN:
            a.token_file = optarg;
            break;
        case OPT_SIM:
            a.sim = optarg;
            break;
        case OPT_TLS_CERT:
            a.tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            a.tls_key = optarg;
            break;
        case OPT_TTL:
            if (cli_parse_uint(optarg, 1, 86400, &v) != 0)
                return cli_usage("--session-ttl: expected 1-86400 seconds, got '%s'", optarg);
            a.ttl = (unsigned)v;
            break;
        case OPT_DEBUG:
            a.allow_debug = 1;
            break;
        case OPT_PORT_FILE:
            a.port_file = optarg;
            break;
        case OPT_URL:
            a.url = optarg;
            break;
        case OPT_RESOURCE:
            a.resource = optarg;
            break;
        case OPT_POLICY:
            a.policy = optarg;
            break;
        case OPT_VALUE:
            a.value_file = optarg;
            break;
        case OPT_CA:
            a.ca = optarg;
            break;
        case OPT_JWT_KEY:
            a.jwt_key = optarg;
            break;
        case OPT_ROLE:
            a.role = optarg;
            break;
        case OPT_DEFAULT_POLICY:
            a.default_policy = optarg;
            break;
        case OPT_KDS_URL:
            a.kds_url = optarg;
            break;
        case OPT_NO_KDS:
            a.no_kds = 1;
            break;
        case OPT_KDS_CACHE:
            a.kds_cache = optarg;
            break;
        case OPT_KDS_CA:
            a.kds_ca = optarg;
            break;
        case OPT_TRUSTEE:
            a.trustee = 1;
            break;
        case OPT_ADMIN_KEY:
            a.admin_key = optarg;
            break;
        case OPT_JWT_FILE:
            a.jwt_file = optarg;
            break;
        case OPT_JWT_TTL:
            if (cli_parse_uint(optarg, 1, 86400, &v) != 0)
                return cli_usage("--jwt-ttl: expected 1-86400 seconds, got '%s'", optarg);
            a.jwt_ttl = (unsigned)v;
            break;
        case OPT_GOVERNANCE:
            a.governance = optarg;
            break;
        case OPT_GOV_TOKEN:
            a.gov_token_file = optarg;
            break;
        case OPT_GOV_CA:
            a.gov_ca = optarg;
            break;
        case OPT_RES_DATASET:
            if (a.nres_datasets == MAX_RES_DATASETS)
                return cli_usage("--resource-dataset: at most %d", MAX_RES_DATASETS);
            a.res_datasets[a.nres_datasets++] = optarg;
            break;
        case OPT_MAX_CONN:
        case OPT_MAX_PER_IP:
        case OPT_IDLE:
        case OPT_MAX_BODY:
        case OPT_MAX_SESSIONS:
        case OPT_MAX_PENDING:
        case OPT_HANDSHAKE: {
            static const struct {
                int opt;
                const char *name;
                uint64_t min, max;
            } lim[] = {{OPT_MAX_CONN, "--max-connections", 2, 100000},
                       {OPT_MAX_PER_IP, "--max-connections-per-ip", 1, 100000},
                       {OPT_IDLE, "--idle-timeout", 1, 3600},
                       {OPT_MAX_BODY, "--max-body", 65536, 64u << 20},
                       {OPT_MAX_SESSIONS, "--max-sessions", 1, 1000000},
                       {OPT_MAX_PENDING, "--max-pending-per-ip", 1, 1000000},
                       {OPT_HANDSHAKE, "--handshake-timeout", 1, 3600}};
            size_t i = 0;
            while (lim[i].opt != c)
                i++;
            if (cli_parse_uint(optarg, lim[i].min, lim[i].max, &v) != 0)
                return cli_usage("%s: expected %llu to %llu, got '%s'", lim[i].name,
                                 (unsigned long long)lim[i].min, (unsigned long long)lim[i].max, optarg);
            *(c == OPT_MAX_CONN       ? &a.max_conn
              : c == OPT_MAX_PER_IP   ? &a.max_per_ip
              : c == OPT_IDLE         ? &a.idle
              : c == OPT_MAX_BODY     ? &a.max_body
              : c == OPT_MAX_SESSIONS ? &a.max_sessions
              : c == OPT_MAX_PENDING  ? &a.max_pending
                                      : &a.handshake) = (unsigned)v;
            break;
        }
        case OPT_MIN_REPORT_VERSION:
            if (cli_parse_uint(optarg, 2, 5, &v) != 0)
                return cli_usage("--min-report-version: expected a SEV-SNP report version 2 to 5, got '%s'",
                                 optarg);
            a.min_report_version = (unsigned)v;
            break;
        case 'h':
            fputs(kbs_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage("unexpected argument '%s'", argv[optind]);
    if (strcmp(sub, "serve") == 0)
        return cmd_serve(&a);
    if (strcmp(sub, "put") == 0)
        return a.trustee ? cmd_trustee_admin(&a, sub) : cmd_put(&a);
    if (strcmp(sub, "list") == 0)
        return admin_call(&a, "GET", "/admin/v0/resources", NULL, 200);
    if (strcmp(sub, "delete") == 0 && a.trustee)
        return cmd_trustee_admin(&a, sub);
    if (strcmp(sub, "delete") == 0) {
        if (a.resource == NULL || keys_kbs_resource_check(a.resource) != 0)
            return cli_usage("delete needs --resource REPO/TYPE/TAG");
        snprintf(path, sizeof path, "/admin/v0/resource/%s", a.resource);
        if (admin_call(&a, "DELETE", path, NULL, 204) != CLI_EXIT_OK)
            return CLI_EXIT_FAIL;
        printf("deleted %s\n", a.resource);
        return CLI_EXIT_OK;
    }
    return cli_usage("unknown kbs command '%s' (serve, put, list, delete)", sub);
}
