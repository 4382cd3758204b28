/* ccrfs audit: the auditor's tools. `verify` checks an audit log (or the events a governance
 * service holds for a contract): hash chain, sequence, checkpoint signatures and counts.
 * `report` says, per file or per process, who opened and read what, how much and when. */
#include "cli/commands.h"
#include "cli/util.h"
#include "common/dynbuf.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/secmem.h"
#include "common/array.h"
#include "governance/attest_key.h"
#include "governance/audit.h"
#include "governance/canon.h"
#include "governance/history.h"
#include "governance/http.h"
#include "governance/logset.h"
#include "governance/sign.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char audit_usage[] =
    "usage: ccrfs audit verify [--key PUBKEY.pem] [--strict] SOURCE...\n"
    "       ccrfs audit verify --attested [--trust DIR] [--measurement HEX] [--host-data HEX] SOURCE...\n"
    "       ccrfs audit report [--format table|json|csv] [--by file|process] SOURCE...\n"
    "       ccrfs audit fetch --url URL --contract ID --id STREAM [--scope S] -o FILE\n"
    "SOURCE is an audit log file (with its rotated files LOG.1, LOG.2, ... read first, oldest\n"
    "first; a missing one fails), several log files read in the order given, or a governance\n"
    "URL with --contract ID (the service's events\n"
    "for that contract, fetched --page N events at a time (default 10000); its token from\n"
    "--token-file FILE or $CCRFS_GOV_TOKEN).\n"
    "verify: checks every event's hash, the chain linking each event to the one before, that no\n"
    "  sequence number is missing or repeated, and each checkpoint's signature and count. With\n"
    "  --key, checkpoints must be signed by that key. Exits 0 when all holds; otherwise names the\n"
    "  first bad event and why, and exits 1. --strict also fails when events follow the last\n"
    "  signed checkpoint (a log still being written, or cut short).\n"
    "  --attested: the log must prove it came from an attested daemon: every mount event carries\n"
    "  SEV-SNP evidence whose report_data is SHA-256 of its signing key's PEM and 32 zero bytes,\n"
    "  the report verifies (signature, VCEK -> ASK -> ARK, TCB, chip id) against AMD's roots or\n"
    "  the simulator root of --trust DIR, and every checkpoint is signed by such a key (implies\n"
    "  --strict). --measurement and --host-data refuse evidence of any other guest. Prints what\n"
    "  the log is bound to.\n"
    "report: per file, the opens, reads, bytes read, the byte ranges covered and their share of\n"
    "  the extent read, which processes, first and last access, denials, integrity failures.\n"
    "fetch: reads a mount's event stream back from Azure Clean Room governance (CGS) or\n"
    "  'ccrfs gov serve' (GET URL/contracts/ID/events, every page), unpacks the batches, and\n"
    "  writes the events ordered by chain and seq as an audit log FILE for verify and report;\n"
    "  duplicates are dropped and gaps named. Scope defaults to ccrfs.\n";

struct audit_opts {
    const char *key_file, *contract, *token_file, *format, *by, *url, *id, *scope, *out;
    const char *trust_dir, *measurement, *host_data;
    int strict, attested;
    uint64_t page;
};

#define AUDIT_PAGE 10000

typedef int (*line_fn)(void *arg, const char *line, size_t len, const char *where);

static int feed_file(const char *path, int name_file, line_fn fn, void *arg)
{
    FILE *in = fopen(path, "r");
    char *line = NULL, where[1100];
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int rc = 0;

    if (in == NULL)
        return ccr_err_set(errno, "%s: %s", path, strerror(errno));
    while ((n = getline(&line, &cap, in)) > 0) {
        lineno++;
        if (line[n - 1] == '\n')
            n--;
        if (name_file)
            snprintf(where, sizeof where, "%s line %zu", path, lineno);
        else
            snprintf(where, sizeof where, "line %zu", lineno);
        if (n == 0) {
            rc = ccr_err_set(EBADMSG, "%s: empty line", where);
            break;
        }
        if ((rc = fn(arg, line, (size_t)n, where)) != 0)
            break;
    }
    free(line);
    fclose(in);
    return rc;
}

/* Reads the service's events for the contract page by page (the reply says where the next
 * page starts), feeding each in canonical form. */
static int feed_service(const char *url, const struct audit_opts *o, line_fn fn, void *arg)
{
    struct gov_http *h = NULL;
    char *esc, *next = NULL, *resp, msg[256], where[64];
    size_t count = 0;
    int rc;

    if ((rc = gov_http_open(url, o->token_file, 60000, &h)) != 0)
        return rc;
    esc = gov_http_escape(o->contract);
    if (esc == NULL) {
        gov_http_free(h);
        return ENOMEM;
    }
    do {
        char path[1024];
        json_object *v = NULL, *events, *nx;
        long status = 0;
        size_t len = 0;

        snprintf(path, sizeof path, "/events?contract=%s&limit=%llu%s%s", esc, (unsigned long long)o->page,
                 next ? "&after=" : "", next ? next : "");
        free(next);
        next = NULL;
        resp = NULL;
        if ((rc = gov_http_request(h, "GET", path, NULL, 0, &status, &resp, &len)) != 0)
            break;
        if (status != 200) {
            gov_http_error_text(resp, msg, sizeof msg);
            free(resp);
            rc = ccr_err_set(EIO, "governance: HTTP %ld: %s", status, msg);
            break;
        }
        rc = gov_json_parse(resp ? resp : "", len, "governance event list", &v);
        free(resp);
        if (rc != 0)
            break;
        if (!json_object_object_get_ex(v, "events", &events) ||
            !json_object_is_type(events, json_type_array)) {
            json_object_put(v);
            rc = ccr_err_set(EPROTO, "governance event list: no \"events\" array");
            break;
        }
        for (size_t i = 0; rc == 0 && i < json_object_array_length(events); i++) {
            char *line;
            size_t llen;
            snprintf(where, sizeof where, "event #%zu", ++count);
            if ((rc = gov_canon_json(json_object_array_get_idx(events, i), NULL, &line, &llen)) != 0) {
                rc = ccr_err_wrap(EBADMSG, "%s: ", where);
                break;
            }
            rc = fn(arg, line, llen, where);
            free(line);
        }
        if (rc == 0 && json_object_object_get_ex(v, "next", &nx) &&
            json_object_is_type(nx, json_type_string)) {
            next = gov_http_escape(json_object_get_string(nx));
            if (next == NULL)
                rc = ENOMEM;
        }
        json_object_put(v);
    } while (rc == 0 && next != NULL);
    free(next);
    free(esc);
    gov_http_free(h);
    return rc;
}

/* Log files in chain order: one name stands for its rotated set (NAME.1, NAME.2, ..., NAME);
 * several names are read in the order given. */
static int feed_files(char **names, int count, line_fn fn, void *arg)
{
    struct ccr_array files = CCR_ARRAY_INIT(char *);
    int rc = 0;

    if (count == 1) {
        if ((rc = gov_logset_list(names[0], &files)) != 0)
            return rc;
        for (size_t i = 0; rc == 0 && i < files.len; i++)
            rc = feed_file(CCR_ARRAY_AT(&files, char *, i), files.len > 1, fn, arg);
        gov_logset_free(&files);
        return rc;
    }
    for (int i = 0; rc == 0 && i < count; i++)
        rc = feed_file(names[i], 1, fn, arg);
    return rc;
}

static int is_url(const char *source)
{
    return strncmp(source, "http://", 7) == 0 || strncmp(source, "https://", 8) == 0;
}

static int feed(char **sources, int count, const struct audit_opts *o, line_fn fn, void *arg)
{
    if (is_url(sources[0]))
        return feed_service(sources[0], o, fn, arg);
    return feed_files(sources, count, fn, arg);
}

static int add_line(void *arg, const char *line, size_t len, const char *where)
{
    return gov_audit_add(arg, line, len, where);
}

/* For reports: keep going past a bad event, remember the first one. */
struct report_feed {
    struct gov_audit *a;
    int bad;
    char first_bad[512];
};

static int add_line_lenient(void *arg, const char *line, size_t len, const char *where)
{
    struct report_feed *r = arg;
    int rc = gov_audit_add(r->a, line, len, where);
    if (rc != 0 && !r->bad) {
        r->bad = 1;
        snprintf(r->first_bad, sizeof r->first_bad, "%s", ccr_err_msg(rc));
    }
    return rc == ENOMEM ? rc : 0;
}

/* --attested: what each distinct evidence proved, printed once the log verified. */
struct attested_check {
    const struct audit_opts *o;
    struct keys_snp_roots *roots;
    struct ccr_array bound; /* char *: one line per key */
};

static int attested_accept(void *arg, struct json_object *att, const char *key_b64)
{
    struct attested_check *ac = arg;
    struct gov_attest_claims cl;
    char line[1024], **slot;
    int rc;

    if ((rc = gov_attestation_verify(att, ac->roots, &cl)) != 0)
        return rc;
    if (strcmp(cl.key_b64, key_b64) != 0)
        rc = ccr_err_set(EBADMSG, "the evidence binds key sha256:%s, not the key that signed",
                         cl.key_fingerprint);
    else if (ac->o->measurement != NULL && strcasecmp(ac->o->measurement, cl.measurement) != 0)
        rc = ccr_err_set(EBADMSG, "measurement %s, not the one expected (--measurement)", cl.measurement);
    else if (ac->o->host_data != NULL && strcasecmp(ac->o->host_data, cl.host_data) != 0)
        rc = ccr_err_set(EBADMSG, "host_data %s, not the one expected (--host-data)", cl.host_data);
    if (rc == 0) {
        snprintf(line, sizeof line,
                 "  key sha256:%s\n    measurement %s\n    host_data %s\n    chip_id %s\n"
                 "    %s, report version %u, VMPL %u, reported TCB bootloader %u tee %u snp %u microcode %u "
                 "fmc %u\n"
                 "    root %s%s%s\n",
                 cl.key_fingerprint, cl.measurement, cl.host_data, cl.chip_id, cl.product, cl.version,
                 cl.vmpl, cl.tcb.bootloader, cl.tcb.tee, cl.tcb.snp, cl.tcb.microcode, cl.tcb.fmc, cl.root,
                 cl.test_root ? " (a simulator's TEST root, trusted by --trust)" : "",
                 cl.debug ? "; WARNING: the guest policy allows debugging" : "");
        if ((slot = ccr_array_push(&ac->bound)) == NULL || (*slot = strdup(line)) == NULL)
            rc = ENOMEM;
    }
    gov_attest_claims_clear(&cl);
    return rc;
}

static int check_hex_opt(const char *name, const char *v, size_t bytes)
{
    uint8_t buf[64];
    if (v != NULL && (strlen(v) != 2 * bytes || ccr_hex_decode(v, buf, bytes) != 0))
        return cli_usage("%s: expected %zu hex digits", name, 2 * bytes);
    return 0;
}

static int run_verify(char **sources, int count, const struct audit_opts *o)
{
    struct gov_key *pin = NULL;
    struct gov_audit *a = NULL;
    struct gov_audit_summary s;
    struct attested_check ac = {.o = o, .bound = CCR_ARRAY_INIT(char *)};
    int rc;

    if (o->key_file != NULL && (rc = gov_key_load_public(o->key_file, &pin)) != 0)
        return cli_fail_rc(rc, NULL);
    if ((rc = gov_audit_new(pin, &a)) != 0) {
        gov_key_free(pin);
        return cli_fail_rc(rc, NULL);
    }
    if (o->attested) {
        if ((rc = keys_snp_roots_amd(&ac.roots)) != 0 ||
            (o->trust_dir != NULL && (rc = keys_snp_roots_add_sim(ac.roots, o->trust_dir)) != 0)) {
            cli_fail("%s%s", o->trust_dir != NULL ? "--trust: " : "", ccr_err_msg(rc));
            keys_snp_roots_free(ac.roots);
            gov_audit_free(a);
            gov_key_free(pin);
            return CLI_EXIT_FAIL;
        }
        gov_audit_require_attested(a, attested_accept, &ac);
    }
    rc = feed(sources, count, o, add_line, a);
    gov_audit_summary(a, &s);
    if (rc == 0 && o->attested && gov_audit_attested_mounts(a) == 0)
        rc = ccr_err_set(EBADMSG, "no mount event carries attestation evidence: nothing binds this log to an "
                                  "attested daemon");
    if (rc == 0 && o->attested && s.unsigned_tail > 0)
        rc = ccr_err_set(EBADMSG,
                         "%zu events follow the last signed checkpoint: they are not bound to the "
                         "attested key",
                         s.unsigned_tail);
    keys_snp_roots_free(ac.roots);
    if (rc != 0 || s.events == 0) {
        for (size_t i = 0; i < ac.bound.len; i++)
            free(CCR_ARRAY_AT(&ac.bound, char *, i));
        ccr_array_free(&ac.bound);
    }
    if (rc != 0) {
        cli_fail("FAILED: %s", ccr_err_msg(rc));
        cli_fail("%zu events before it verified", s.events);
        gov_audit_free(a);
        gov_key_free(pin);
        return CLI_EXIT_FAIL;
    }
    if (s.events == 0) {
        gov_audit_free(a);
        gov_key_free(pin);
        return cli_fail("%s holds no events", sources[0]);
    }
    printf("verified %zu events in %zu chain(s): hashes, chain links, sequence (no gaps, no duplicates), "
           "%zu signed checkpoints with matching counts\n",
           s.events, s.chains, s.checkpoints);
    if (s.keys > 0) {
        printf("checkpoint keys (alg, source, public key):\n");
        gov_audit_print_keys(a, stdout);
    }
    if (o->attested) {
        printf("attested: every checkpoint is signed by a key bound to SEV-SNP evidence; %zu attested "
               "mount(s). The log is bound to:\n",
               gov_audit_attested_mounts(a));
        for (size_t i = 0; i < ac.bound.len; i++) {
            fputs(CCR_ARRAY_AT(&ac.bound, char *, i), stdout);
            free(CCR_ARRAY_AT(&ac.bound, char *, i));
        }
        ccr_array_free(&ac.bound);
    }
    gov_audit_free(a);
    gov_key_free(pin);
    if (s.unsigned_tail > 0) {
        if (o->strict)
            return cli_fail("FAILED: %zu events follow the last signed checkpoint", s.unsigned_tail);
        fprintf(stderr,
                "%s: warning: %zu events follow the last signed checkpoint (log still open or cut short)\n",
                cli_command_name, s.unsigned_tail);
    }
    return CLI_EXIT_OK;
}

static int run_report(char **sources, int count, const struct audit_opts *o)
{
    enum gov_report_format fmt = GOV_REPORT_TABLE;
    enum gov_report_by by = GOV_REPORT_BY_FILE;
    struct report_feed r = {0};
    int rc;

    if (o->format != NULL) {
        if (strcmp(o->format, "table") == 0)
            fmt = GOV_REPORT_TABLE;
        else if (strcmp(o->format, "json") == 0)
            fmt = GOV_REPORT_JSON;
        else if (strcmp(o->format, "csv") == 0)
            fmt = GOV_REPORT_CSV;
        else
            return cli_usage("--format must be table, json or csv, not '%s'", o->format);
    }
    if (o->by != NULL) {
        if (strcmp(o->by, "file") == 0)
            by = GOV_REPORT_BY_FILE;
        else if (strcmp(o->by, "process") == 0)
            by = GOV_REPORT_BY_PROCESS;
        else
            return cli_usage("--by must be file or process, not '%s'", o->by);
    }
    if ((rc = gov_audit_new(NULL, &r.a)) != 0)
        return cli_fail_rc(rc, NULL);
    rc = feed(sources, count, o, add_line_lenient, &r);
    if (rc != 0) {
        gov_audit_free(r.a);
        return cli_fail_rc(rc, NULL);
    }
    gov_audit_report(r.a, fmt, by, stdout);
    gov_audit_free(r.a);
    if (r.bad)
        fprintf(stderr, "%s: warning: the log does not verify, the report may be incomplete: %s\n",
                cli_command_name, r.first_bad);
    return CLI_EXIT_OK;
}

struct fetch_out {
    struct ccr_dynbuf log;
};

static int fetch_line(void *arg, const char *line, size_t len)
{
    struct fetch_out *f = arg;
    int rc = ccr_dynbuf_add(&f->log, line, len);
    return rc == 0 ? ccr_dynbuf_add(&f->log, "\n", 1) : rc;
}

static void fetch_gap(void *arg, const char *chain, uint64_t after, uint64_t next)
{
    (void)arg;
    fprintf(stderr, "%s: gap in chain %s: seq %llu follows %llu (%llu events missing)\n", cli_command_name,
            chain, (unsigned long long)next, (unsigned long long)after,
            (unsigned long long)(next - after - 1));
}

static int run_fetch(const struct audit_opts *o)
{
    struct gov_history_opts h = {.url = o->url, .contract = o->contract, .id = o->id, .scope = o->scope};
    struct gov_history_stats st;
    struct fetch_out f;
    char *token = NULL;
    int rc;

    if (o->url == NULL || o->contract == NULL || o->id == NULL || o->out == NULL)
        return cli_usage("fetch needs --url URL --contract ID --id STREAM -o FILE");
    if ((rc = gov_token_load(o->token_file, &token)) != 0)
        return cli_fail_rc(rc, NULL);
    h.token = token;
    ccr_dynbuf_init(&f.log, 0);
    rc = gov_history_fetch(&h, fetch_line, &f, fetch_gap, &st);
    if (token != NULL)
        ccr_freezero(token, strlen(token));
    if (rc == 0)
        rc = ccr_write_file_atomic(o->out, f.log.data != NULL ? f.log.data : "", f.log.len, 0644);
    ccr_dynbuf_free(&f.log);
    if (rc != 0)
        return cli_fail_rc(rc, NULL);
    printf("%zu events of %zu chain(s) from %zu writes in %zu page(s) written to %s; %zu duplicates dropped, "
           "%zu gaps\n",
           st.events, st.chains, st.writes, st.pages, o->out, st.duplicates, st.gaps);
    return st.gaps > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

enum { OPT_ATTESTED = 0x100, OPT_TRUST, OPT_MEASUREMENT, OPT_HOST_DATA };

int cli_cmd_audit(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, 0, 'k'},
                                         {"contract", required_argument, 0, 'c'},
                                         {"token-file", required_argument, 0, 't'},
                                         {"format", required_argument, 0, 'f'},
                                         {"by", required_argument, 0, 'b'},
                                         {"strict", no_argument, 0, 's'},
                                         {"page", required_argument, 0, 'p'},
                                         {"url", required_argument, 0, 'u'},
                                         {"id", required_argument, 0, 'i'},
                                         {"scope", required_argument, 0, 'S'},
                                         {"out", required_argument, 0, 'o'},
                                         {"attested", no_argument, 0, OPT_ATTESTED},
                                         {"trust", required_argument, 0, OPT_TRUST},
                                         {"measurement", required_argument, 0, OPT_MEASUREMENT},
                                         {"host-data", required_argument, 0, OPT_HOST_DATA},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    struct audit_opts o = {.page = AUDIT_PAGE};
    const char *sub;
    char **sources;
    int c, count;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(audit_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (argc < 2)
        return cli_usage("expected verify or report");
    sub = argv[1];
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc - 1, argv + 1, "k:c:t:f:b:p:o:sh", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            o.key_file = optarg;
            break;
        case 'c':
            o.contract = optarg;
            break;
        case 't':
            o.token_file = optarg;
            break;
        case 'f':
            o.format = optarg;
            break;
        case 'b':
            o.by = optarg;
            break;
        case 's':
            o.strict = 1;
            break;
        case 'p':
            if (cli_parse_uint(optarg, 1, 100000, &o.page) != 0)
                return cli_usage("--page must be a number from 1 to 100000");
            break;
        case 'u':
            o.url = optarg;
            break;
        case 'i':
            o.id = optarg;
            break;
        case 'S':
            o.scope = optarg;
            break;
        case 'o':
            o.out = optarg;
            break;
        case OPT_ATTESTED:
            o.attested = 1;
            break;
        case OPT_TRUST:
            o.trust_dir = optarg;
            break;
        case OPT_MEASUREMENT:
            o.measurement = optarg;
            break;
        case OPT_HOST_DATA:
            o.host_data = optarg;
            break;
        case 'h':
            fputs(audit_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage("unknown option or missing value: %s", argv[optind]);
        }
    }
    count = argc - 1 - optind;
    sources = argv + 1 + optind;
    if (strcmp(sub, "fetch") == 0) {
        if (count != 0)
            return cli_usage("fetch takes no SOURCE: --url URL --contract ID --id STREAM -o FILE");
        return run_fetch(&o);
    }
    if (o.url != NULL || o.id != NULL || o.scope != NULL || o.out != NULL)
        return cli_usage("--url, --id, --scope and -o belong to 'audit fetch'");
    if (count < 1)
        return cli_usage("expected a SOURCE (audit log files or a governance URL)");
    for (int i = 0; i < count; i++)
        if (is_url(sources[i]) && count > 1)
            return cli_usage("a governance URL is the only SOURCE");
    if (is_url(sources[0]) && o.contract == NULL)
        return cli_usage("a governance URL needs --contract ID");
    if (!o.attested && (o.trust_dir != NULL || o.measurement != NULL || o.host_data != NULL))
        return cli_usage("--trust, --measurement and --host-data need 'audit verify --attested'");
    if (strcmp(sub, "verify") == 0) {
        if (o.format != NULL || o.by != NULL)
            return cli_usage("--format and --by belong to 'audit report'");
        if ((c = check_hex_opt("--measurement", o.measurement, KEYS_SNP_MEASUREMENT_LEN)) != 0 ||
            (c = check_hex_opt("--host-data", o.host_data, KEYS_SNP_HOST_DATA_LEN)) != 0)
            return c;
        return run_verify(sources, count, &o);
    }
    if (strcmp(sub, "report") == 0) {
        if (o.key_file != NULL || o.strict || o.attested)
            return cli_usage("--key, --strict and --attested belong to 'audit verify'");
        return run_report(sources, count, &o);
    }
    return cli_usage("unknown audit command '%s' (verify, report or fetch)", sub);
}
