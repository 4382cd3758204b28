/* ccrfs gov: the local governance service, party signing keys, and the contract registry
 * from the command line (propose, sign, revoke, show, list, use). */
#include "cli/cmd_gov_registry.h"
#include "cli/commands.h"
#include "cli/util.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/secmem.h"
#include "governance/canon.h"
#include "governance/client.h"
#include "governance/contract.h"
#include "governance/cose.h"
#include "governance/event.h"
#include "governance/http.h"
#include "governance/service/options.h"
#include "governance/service/service.h"
#include "governance/sign.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char gov_usage[] =
    "usage: ccrfs gov serve --db FILE [--listen ADDR] [--port N] [--port-file FILE] [--token-file FILE]\n"
    "                       [--contract ID] [--put-delay-ms N] [--allow-unattested-use]\n"
    "                       [--max-connections N] [--max-per-client N] [--idle-timeout SECONDS]\n"
    "       ccrfs gov keygen [--alg ed25519|p256] --out FILE\n"
    "       ccrfs gov contract propose --url URL CONTRACT.json\n"
    "       ccrfs gov contract sign    --url URL --party ID --key FILE [--file CONTRACT.json]\n"
    "                                  [--cose [--alg ES256|ES384|EdDSA|PS256]] ID\n"
    "       ccrfs gov contract revoke  --url URL --party ID --key FILE ID\n"
    "       ccrfs gov contract show    --url URL ID\n"
    "       ccrfs gov contract list    --url URL [--party ID]\n"
    "       ccrfs gov contract use     --url URL --dataset sha256:... ID\n"
    "       ccrfs gov events --url URL --contract ID [--from TIME] [--to TIME] [--path PATH]\n"
    "       ccrfs gov party|dataset register|list|show ... (ccrfs gov party --help)\n"
    "serve: runs the governance service on ADDR (default 127.0.0.1) port N (default 0: any free\n"
    "  port, written to --port-file) until SIGINT/SIGTERM; data lives in the SQLite file --db.\n"
    "  Credentials: lines \"TOKEN PARTY ROLE[,ROLE...]\" in --token-file (roles provider, consumer,\n"
    "  cleanroom, auditor, broker, admin; see docs/GOVERNANCE.md), or one in $CCRFS_GOV_TOKEN (a bare\n"
    "  token there is an admin credential). Uses are counted for role broker only, or also for a\n"
    "  clean room party of the contract with --allow-unattested-use. Limits: --max-connections\n"
    "  (default 256) overall, --max-per-client (default 32) per client address, answered 503/429;\n"
    "  a connection idle --idle-timeout seconds (default 30) is closed.\n"
    "  It also stands in for Azure Clean Room's governance sidecar: PUT /events (any JSON object,\n"
    "  optional id and scope) for the contract --contract (or the API path prefix header), each\n"
    "  answered after --put-delay-ms; GET /contracts/ID/events pages through their history.\n"
    "keygen: writes a party's private signing key (PEM, mode 0600) and prints its public key,\n"
    "  the \"publicKey\" of that party in contracts.\n"
    "contract: talks to the service at --url with the token from --token-file (its first field, so\n"
    "  a party's credential line works), $CCRFS_GOV_TOKEN or the file $CCRFS_GOV_TOKEN_FILE.\n"
    "  sign fetches the contract, signs its canonical bytes with the party's key; with --file,\n"
    "  refuses unless the service's contract is exactly that file's; with --cose, the signature is\n"
    "  a COSE_Sign1 (RFC 9052, detached payload, kid = the party id), --alg defaulting to the key's\n"
    "  (Ed25519 EdDSA, P-256 ES256, P-384 ES384, RSA PS256). use counts one mount of a\n"
    "  dataset against its use budget (refused when spent).\n"
    "events: the service's events for a contract as JSON lines, optionally within a time range\n"
    "  (YYYY-MM-DDTHH:MM:SSZ, inclusive) or for one path; a full, unfiltered listing is an audit\n"
    "  log that 'ccrfs audit verify' checks.\n";

struct gov_opts {
    const char *db, *listen, *port_file, *token_file, *alg, *out, *url, *party, *key, *file, *dataset;
    const char *contract, *from, *to, *path;
    uint64_t port, put_delay_ms, max_connections, max_per_client, idle_timeout;
    int cose, allow_unattested_use;
};

static volatile sig_atomic_t gov_stop;

static void on_signal(int sig)
{
    (void)sig;
    gov_stop = 1;
}

static int run_serve(const struct gov_opts *o)
{
    struct gov_service_config cfg = {o->db, o->listen, (uint16_t)o->port, o->token_file};
    struct gov_service_options so = {(unsigned)o->max_connections, (unsigned)o->max_per_client,
                                     (unsigned)o->idle_timeout, o->allow_unattested_use};
    struct gov_service *s;
    struct sigaction sa;
    sigset_t mask, old;
    char num[16];
    int rc;

    if (o->db == NULL)
        return cli_usage("serve needs --db FILE");
    ccr_secmem_harden_process(); /* the accepted tokens stay in memory: no core dumps */
    if ((rc = gov_service_start_opts(&cfg, &so, &s)) != 0)
        return cli_fail_rc(rc, NULL);
    if ((rc = gov_service_sidecar(s, o->contract, (unsigned)o->put_delay_ms)) != 0) {
        gov_service_stop(s);
        return cli_fail_rc(rc, NULL);
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (o->port_file != NULL) {
        snprintf(num, sizeof num, "%u\n", gov_service_port(s));
        if ((rc = ccr_write_file_atomic(o->port_file, num, strlen(num), 0644)) != 0) {
            gov_service_stop(s);
            return cli_fail_rc(rc, NULL);
        }
    }
    printf("governance service listening on http://%s:%u (database %s)\n",
           o->listen ? o->listen : "127.0.0.1", gov_service_port(s), o->db);
    fflush(stdout);
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, &old);
    while (!gov_stop)
        sigsuspend(&old);
    sigprocmask(SIG_SETMASK, &old, NULL);
    gov_service_stop(s);
    printf("governance service stopped\n");
    return CLI_EXIT_OK;
}

static int run_keygen(const struct gov_opts *o)
{
    struct gov_key *k;
    char *pub;
    int rc;

    if (o->out == NULL)
        return cli_usage("keygen needs --out FILE");
    if ((rc = gov_key_generate_file(o->out, o->alg ? o->alg : "ed25519")) != 0)
        return rc == EINVAL ? cli_usage("%s", ccr_err_msg(rc)) : cli_fail_rc(rc, NULL);
    if ((rc = gov_key_load_private(o->out, &k)) != 0 || (rc = gov_key_public_b64(k, &pub)) != 0)
        return cli_fail_rc(rc, NULL);
    printf("%s\n", pub);
    free(pub);
    gov_key_free(k);
    return CLI_EXIT_OK;
}

int cli_gov_call(const char *url, const char *token_file, const char *method, const char *path,
                 const char *body, size_t len, json_object **reply_out)
{
    struct gov_http *h;
    char *resp = NULL, msg[512];
    size_t rlen = 0;
    long status = 0;
    json_object *v = NULL;
    int rc;

    if ((rc = gov_http_open(url, token_file, 30000, &h)) != 0)
        return cli_fail_rc(rc, NULL);
    rc = gov_http_request(h, method, path, body, len, &status, &resp, &rlen);
    gov_http_free(h);
    if (rc != 0)
        return cli_fail_rc(rc, NULL);
    if (status < 200 || status > 299) {
        gov_http_error_text(resp, msg, sizeof msg);
        free(resp);
        return cli_fail("governance answered HTTP %ld: %s", status, msg);
    }
    if (gov_json_parse(resp ? resp : "", rlen, "governance reply", &v) != 0) {
        free(resp);
        return cli_fail_rc(EPROTO, NULL);
    }
    free(resp);
    if (reply_out != NULL)
        *reply_out = v;
    else {
        printf("%s\n",
               json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(v);
    }
    return CLI_EXIT_OK;
}

static int call(const struct gov_opts *o, const char *method, const char *path, const char *body, size_t len,
                json_object **reply_out)
{
    return cli_gov_call(o->url, o->token_file, method, path, body, len, reply_out);
}

static int contract_path(char *out, size_t len, const char *id, const char *action)
{
    char *esc = gov_http_escape(id);
    if (esc == NULL)
        return ENOMEM;
    snprintf(out, len, "/contracts/%s%s%s", esc, action ? "/" : "", action ? action : "");
    free(esc);
    return 0;
}

static int run_sign_or_revoke(const struct gov_opts *o, const char *id, int revoke)
{
    char path[512], *bytes = NULL, *sig = NULL;
    const char *text;
    json_object *req;
    struct gov_contract *c = NULL, *local = NULL;
    struct gov_key *k = NULL;
    size_t len;
    int rc, ret = CLI_EXIT_FAIL;

    if (o->party == NULL || o->key == NULL)
        return cli_usage("%s needs --party ID and --key FILE", revoke ? "revoke" : "sign");
    if (o->cose && revoke)
        return cli_usage("--cose is for sign");
    if (o->alg != NULL && !o->cose)
        return cli_usage("--alg goes with --cose");
    if (!o->cose && (rc = gov_key_load_private(o->key, &k)) != 0)
        return cli_fail_rc(rc, NULL);
    if ((rc = gov_client_contract(o->url, o->token_file, id, &c)) != 0) {
        cli_fail_rc(rc, NULL);
        goto out;
    }
    if (o->file != NULL) {
        if ((rc = gov_contract_load_file(o->file, &local)) != 0) {
            cli_fail_rc(rc, NULL);
            goto out;
        }
        if (strcmp(local->digest, c->digest) != 0) {
            cli_fail("the service's contract %s (digest %s) is not the one in %s (digest %s): not signing",
                     id, c->digest, o->file, local->digest);
            goto out;
        }
    }
    rc = revoke ? gov_contract_revoke_bytes(c, &bytes, &len) : gov_contract_signed_bytes(c, &bytes, &len);
    if (rc == 0 && o->cose)
        rc = gov_cose_sign_file_b64(o->key, o->alg, o->party, bytes, len, 1, &sig);
    else if (rc == 0)
        rc = gov_key_sign_b64(k, bytes, len, &sig);
    if (rc == 0 && o->cose) {
        char *prefixed = NULL;
        rc = asprintf(&prefixed, "%s%s", GOV_COSE_SIG_PREFIX, sig) < 0 ? ENOMEM : 0;
        if (rc == 0)
            rc = gov_contract_check_sig(c, o->party, bytes, len, prefixed);
        free(prefixed);
    } else if (rc == 0) {
        rc = gov_contract_check_sig(c, o->party, bytes, len, sig);
    }
    if (rc != 0) {
        cli_fail_rc(rc, "this key cannot sign for that party");
        goto out;
    }
    req = json_object_new_object();
    json_object_object_add(req, "party", json_object_new_string(o->party));
    json_object_object_add(req, o->cose ? "cose" : "signature", json_object_new_string(sig));
    text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    contract_path(path, sizeof path, id, revoke ? "revoke" : "sign");
    ret = call(o, "POST", path, text, strlen(text), NULL);
    json_object_put(req);
out:
    free(bytes);
    free(sig);
    gov_contract_free(c);
    gov_contract_free(local);
    gov_key_free(k);
    return ret;
}

static int run_contract(const struct gov_opts *o, const char *sub, int nargs, char **args)
{
    char path[1024];

    if (o->url == NULL)
        return cli_usage("contract %s needs --url URL", sub);
    if (strcmp(sub, "list") == 0) {
        char *esc = o->party ? gov_http_escape(o->party) : NULL;
        if (nargs != 0) {
            free(esc);
            return cli_usage("contract list takes no arguments");
        }
        snprintf(path, sizeof path, "/contracts%s%s", esc ? "?party=" : "", esc ? esc : "");
        free(esc);
        return call(o, "GET", path, NULL, 0, NULL);
    }
    if (nargs != 1)
        return cli_usage("contract %s expects one argument", sub);
    if (strcmp(sub, "propose") == 0) {
        struct gov_contract *c;
        int rc = gov_contract_load_file(args[0], &c), ret;
        if (rc != 0)
            return cli_fail_rc(rc, NULL);
        ret = call(o, "POST", "/contracts", c->canonical, c->canonical_len, NULL);
        gov_contract_free(c);
        return ret;
    }
    if (strcmp(sub, "show") == 0) {
        contract_path(path, sizeof path, args[0], NULL);
        return call(o, "GET", path, NULL, 0, NULL);
    }
    if (strcmp(sub, "sign") == 0 || strcmp(sub, "revoke") == 0)
        return run_sign_or_revoke(o, args[0], strcmp(sub, "revoke") == 0);
    if (strcmp(sub, "use") == 0) {
        struct gov_use u;
        int rc;
        if (o->dataset == NULL)
            return cli_usage("contract use needs --dataset sha256:...");
        if ((rc = gov_client_use(o->url, o->token_file, args[0], o->dataset, &u)) != 0)
            return cli_fail_rc(rc, NULL);
        printf(
            "use %llu of %llu counted for %s under %s (%llu left); access %s, byte budget per mount %s%llu\n",
            (unsigned long long)u.used, (unsigned long long)u.max_mounts, o->dataset, args[0],
            (unsigned long long)u.remaining, u.access_mode, u.max_bytes_per_mount ? "" : "none ",
            (unsigned long long)u.max_bytes_per_mount);
        return CLI_EXIT_OK;
    }
    return cli_usage("unknown contract command '%s'", sub);
}

/* Appends "&name=<escaped value>" to buf when value is set. */
static int add_query(char *buf, size_t len, const char *name, const char *value)
{
    char *esc;
    size_t used = strlen(buf);
    if (value == NULL)
        return 0;
    if ((esc = gov_http_escape(value)) == NULL)
        return ENOMEM;
    snprintf(buf + used, len - used, "&%s=%s", name, esc);
    free(esc);
    return 0;
}

/* The service's events for a contract, filtered, one JSON line each, page by page. */
static int run_events(const struct gov_opts *o)
{
    char base[2048] = "/events?limit=10000", path[2200], *next = NULL;
    int64_t ms;
    int ret = CLI_EXIT_OK;

    if (o->url == NULL || o->contract == NULL)
        return cli_usage("events needs --url URL and --contract ID");
    if ((o->from != NULL && gov_time_parse_ms(o->from, &ms) != 0) ||
        (o->to != NULL && gov_time_parse_ms(o->to, &ms) != 0))
        return cli_usage("%s", ccr_err_msg(EINVAL));
    if (add_query(base, sizeof base, "contract", o->contract) != 0 ||
        add_query(base, sizeof base, "from", o->from) || add_query(base, sizeof base, "to", o->to) ||
        add_query(base, sizeof base, "path", o->path))
        return cli_fail_rc(ENOMEM, NULL);
    do {
        json_object *v = NULL, *events, *nx;
        snprintf(path, sizeof path, "%s%s%s", base, next ? "&after=" : "", next ? next : "");
        free(next);
        next = NULL;
        if ((ret = call(o, "GET", path, NULL, 0, &v)) != CLI_EXIT_OK)
            break;
        if (!json_object_object_get_ex(v, "events", &events) ||
            !json_object_is_type(events, json_type_array)) {
            json_object_put(v);
            ret = cli_fail("governance event list: no \"events\" array");
            break;
        }
        for (size_t i = 0; i < json_object_array_length(events); i++) {
            char *line;
            if (gov_canon_json(json_object_array_get_idx(events, i), NULL, &line, NULL) != 0) {
                ret = cli_fail_rc(EINVAL, "governance event");
                break;
            }
            printf("%s\n", line);
            free(line);
        }
        if (ret == CLI_EXIT_OK && json_object_object_get_ex(v, "next", &nx) &&
            json_object_is_type(nx, json_type_string))
            next = gov_http_escape(json_object_get_string(nx));
        json_object_put(v);
    } while (ret == CLI_EXIT_OK && next != NULL);
    free(next);
    return ret;
}

int cli_cmd_gov(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"listen", required_argument, 0, 'l'},
                                         {"port", required_argument, 0, 'p'},
                                         {"port-file", required_argument, 0, 'P'},
                                         {"token-file", required_argument, 0, 't'},
                                         {"alg", required_argument, 0, 'a'},
                                         {"out", required_argument, 0, 'o'},
                                         {"url", required_argument, 0, 'u'},
                                         {"party", required_argument, 0, 'y'},
                                         {"key", required_argument, 0, 'k'},
                                         {"file", required_argument, 0, 'f'},
                                         {"dataset", required_argument, 0, 's'},
                                         {"contract", required_argument, 0, 'c'},
                                         {"from", required_argument, 0, 'F'},
                                         {"to", required_argument, 0, 'T'},
                                         {"path", required_argument, 0, 'Q'},
                                         {"put-delay-ms", required_argument, 0, 'D'},
                                         {"cose", no_argument, 0, 'C'},
                                         {"allow-unattested-use", no_argument, 0, 'U'},
                                         {"max-connections", required_argument, 0, 'M'},
                                         {"max-per-client", required_argument, 0, 'K'},
                                         {"idle-timeout", required_argument, 0, 'I'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    struct gov_opts o = {0};
    const char *sub;
    int c, skip;

    if (argc >= 2 && (strcmp(argv[1], "party") == 0 || strcmp(argv[1], "dataset") == 0))
        return cli_cmd_gov_registry(argc, argv);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (argc < 2)
            return cli_usage("expected serve, keygen or contract");
        fputs(gov_usage, stdout);
        return CLI_EXIT_OK;
    }
    sub = argv[1];
    skip = strcmp(sub, "contract") == 0 ? 2 : 1;
    if (skip == 2 && (argc < 3 || argv[2][0] == '-')) {
        if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            fputs(gov_usage, stdout);
            return CLI_EXIT_OK;
        }
        return cli_usage("expected propose, sign, revoke, show, list or use after 'contract'");
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc - skip, argv + skip, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.db = optarg;
            break;
        case 'l':
            o.listen = optarg;
            break;
        case 'p':
            if (cli_parse_uint(optarg, 0, 65535, &o.port) != 0)
                return cli_usage("--port must be a number from 0 to 65535");
            break;
        case 'P':
            o.port_file = optarg;
            break;
        case 't':
            o.token_file = optarg;
            break;
        case 'a':
            o.alg = optarg;
            break;
        case 'o':
            o.out = optarg;
            break;
        case 'C':
            o.cose = 1;
            break;
        case 'u':
            o.url = optarg;
            break;
        case 'y':
            o.party = optarg;
            break;
        case 'k':
            o.key = optarg;
            break;
        case 'f':
            o.file = optarg;
            break;
        case 's':
            o.dataset = optarg;
            break;
        case 'c':
            o.contract = optarg;
            break;
        case 'F':
            o.from = optarg;
            break;
        case 'T':
            o.to = optarg;
            break;
        case 'Q':
            o.path = optarg;
            break;
        case 'D':
            if (cli_parse_uint(optarg, 0, 600000, &o.put_delay_ms) != 0)
                return cli_usage("--put-delay-ms must be a number from 0 to 600000");
            break;
        case 'U':
            o.allow_unattested_use = 1;
            break;
        case 'M':
            if (cli_parse_uint(optarg, 1, 100000, &o.max_connections) != 0)
                return cli_usage("--max-connections must be a number from 1 to 100000");
            break;
        case 'K':
            if (cli_parse_uint(optarg, 1, 100000, &o.max_per_client) != 0)
                return cli_usage("--max-per-client must be a number from 1 to 100000");
            break;
        case 'I':
            if (cli_parse_uint(optarg, 1, 86400, &o.idle_timeout) != 0)
                return cli_usage("--idle-timeout must be a number of seconds from 1 to 86400");
            break;
        case 'h':
            fputs(gov_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage("unknown option or missing value: %s", argv[skip + optind - 1]);
        }
    }
    if (strcmp(sub, "serve") == 0) {
        if (argc - skip != optind)
            return cli_usage("serve takes no arguments");
        return run_serve(&o);
    }
    if (strcmp(sub, "keygen") == 0) {
        if (argc - skip != optind)
            return cli_usage("keygen takes no arguments");
        return run_keygen(&o);
    }
    if (strcmp(sub, "contract") == 0)
        return run_contract(&o, argv[2], argc - skip - optind, argv + skip + optind);
    if (strcmp(sub, "events") == 0) {
        if (argc - skip != optind)
            return cli_usage("events takes no arguments");
        return run_events(&o);
    }
    return cli_usage("unknown gov command '%s' (serve, keygen, contract or events)", sub);
}
