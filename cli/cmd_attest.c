/* ccrfs attest: SEV-SNP evidence. sim-init creates a simulated guest, report produces a
 * signed report, verify checks a report against its VCEK and chain. */
#include "cli/commands.h"
#include "cli/util.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "keys/attest/evidence.h"
#include "keys/initdata.h"
#include "keys/attest/roots.h"
#include "keys/attest/sim.h"
#include "keys/attest/snp.h"
#include "keys/kbs/snp_evidence.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char attest_usage[] =
    "usage: ccrfs attest sim-init DIR [--host-data HEX | --init-data FILE] [--measurement HEX] [--debug]\n"
    "                                 [--vmpl N] [--version 2|3|5] [--product milan|genoa|turin]\n"
    "       ccrfs attest sim-init DIR --relaunch (--init-data FILE | --host-data HEX)\n"
    "       ccrfs attest report --attest sim:DIR|snp|aa:URL --report-data HEX -o FILE [--vcek-out FILE]\n"
    "                           [--evidence-out FILE]\n"
    "       ccrfs attest verify REPORT --vcek CERT (--chain CERTS | --amd-roots) [--at TIME]\n"
    "                                  [--min-version N] [--key vcek|vlek]\n"
    "sim-init creates a simulated SEV-SNP guest in DIR: a test ARK -> ASK -> VCEK chain that\n"
    "nothing trusts unless told to, and the guest's settings (sim.json). The measurement is the\n"
    "SHA-384 of the ccrfs executable unless --measurement is given. Reports are version 3 of a\n"
    "Milan part unless --version and --product say otherwise. --init-data FILE (Confidential\n"
    "Containers' init-data TOML, docs/ATTESTATION.md) sets HOST_DATA to its digest, as a CoCo host\n"
    "launching that guest does. --relaunch keeps DIR's simulated machine (its chain, which a broker\n"
    "may already trust, and its settings) and launches a new guest on it with other HOST_DATA.\n"
    "report writes a signed 1184-byte report binding HEX (up to 64 bytes, zero-padded). aa:URL\n"
    "asks the CoCo attestation agent's REST API (api-server-rest, e.g. aa:http://127.0.0.1:8006).\n"
    "--evidence-out writes the evidence as the KBS protocol carries it (the sev crate's JSON).\n"
    "verify checks the report signature with the VCEK or VLEK (CERT; the report's KEY_INFO says\n"
    "which), its chain (CERTS holds the ASK or ASVK then the ARK, PEM; --amd-roots uses AMD's\n"
    "Milan, Genoa and Turin roots built into ccrfs), the product, the reported TCB and chip id\n"
    "against the certificate, and prints the claims. --min-version refuses older reports (Trustee\n"
    "demands 3); --key refuses a report signed by the other key. REPORT is binary or hex text.\n"
    "TIME is seconds since the epoch or YYYY-MM-DD[THH:MM:SSZ].\n";

enum {
    OPT_HOST_DATA = 0x2000,
    OPT_MEASUREMENT,
    OPT_DEBUG,
    OPT_VMPL,
    OPT_ATTEST,
    OPT_REPORT_DATA,
    OPT_VCEK,
    OPT_CHAIN,
    OPT_AT,
    OPT_VCEK_OUT,
    OPT_VERSION,
    OPT_PRODUCT,
    OPT_AMD_ROOTS,
    OPT_MIN_VERSION,
    OPT_KEY,
    OPT_EVIDENCE_OUT,
    OPT_INIT_DATA,
    OPT_RELAUNCH
};

static int parse_time(const char *text, time_t *out)
{
    struct tm tm;
    uint64_t secs;
    const char *end;

    if (cli_parse_uint(text, 0, (uint64_t)1 << 40, &secs) == 0) {
        *out = (time_t)secs;
        return 0;
    }
    memset(&tm, 0, sizeof tm);
    end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0') {
        memset(&tm, 0, sizeof tm);
        end = strptime(text, "%Y-%m-%d", &tm);
    }
    if (end == NULL || *end != '\0')
        return EINVAL;
    *out = timegm(&tm);
    return 0;
}

static int cmd_sim_init(int argc, char **argv)
{
    static const struct option opts[] = {{"host-data", required_argument, 0, OPT_HOST_DATA},
                                         {"measurement", required_argument, 0, OPT_MEASUREMENT},
                                         {"debug", no_argument, 0, OPT_DEBUG},
                                         {"vmpl", required_argument, 0, OPT_VMPL},
                                         {"version", required_argument, 0, OPT_VERSION},
                                         {"product", required_argument, 0, OPT_PRODUCT},
                                         {"init-data", required_argument, 0, OPT_INIT_DATA},
                                         {"relaunch", no_argument, 0, OPT_RELAUNCH},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    struct keys_sim_config cfg = {0};
    struct keys_initdata init;
    const char *init_file = NULL;
    char host_hex[2 * KEYS_INITDATA_HOST_DATA + 1];
    uint64_t v;
    int c, rc, relaunch = 0, others = 0;

    optind = 1;
    opterr = 0;
    cfg.policy = KEYS_SNP_POLICY_SMT | KEYS_SNP_POLICY_RESERVED1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_HOST_DATA:
            cfg.host_data_hex = optarg;
            break;
        case OPT_INIT_DATA:
            init_file = optarg;
            break;
        case OPT_RELAUNCH:
            relaunch = 1;
            break;
        case OPT_MEASUREMENT:
            cfg.measurement_hex = optarg;
            others = 1;
            break;
        case OPT_DEBUG:
            cfg.policy |= KEYS_SNP_POLICY_DEBUG;
            others = 1;
            break;
        case OPT_VMPL:
            if (cli_parse_uint(optarg, 0, 3, &v) != 0)
                return cli_usage("--vmpl: expected 0-3, got '%s'", optarg);
            cfg.vmpl = (uint32_t)v;
            others = 1;
            break;
        case OPT_VERSION:
            if (cli_parse_uint(optarg, 2, 5, &v) != 0 || v == 4)
                return cli_usage("--version: expected 2, 3 or 5, got '%s'", optarg);
            cfg.version = (uint32_t)v;
            others = 1;
            break;
        case OPT_PRODUCT:
            others = 1;
            if (strcasecmp(optarg, "milan") == 0)
                cfg.product = KEYS_SNP_PRODUCT_MILAN;
            else if (strcasecmp(optarg, "genoa") == 0)
                cfg.product = KEYS_SNP_PRODUCT_GENOA;
            else if (strcasecmp(optarg, "turin") == 0)
                cfg.product = KEYS_SNP_PRODUCT_TURIN;
            else
                return cli_usage("--product: expected milan, genoa or turin, got '%s'", optarg);
            break;
        case 'h':
            fputs(attest_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return cli_usage("expected one DIR");
    if (init_file != NULL && cfg.host_data_hex != NULL)
        return cli_usage("give --init-data FILE or --host-data HEX, not both: HOST_DATA holds one of them");
    if (relaunch && others)
        return cli_usage("--relaunch keeps the machine's settings: give only --init-data or --host-data");
    if (relaunch && init_file == NULL && cfg.host_data_hex == NULL)
        return cli_usage("--relaunch needs --init-data FILE or --host-data HEX");
    if (init_file != NULL) {
        if ((rc = keys_initdata_load(init_file, &init)) != 0)
            return cli_fail_rc(rc, NULL);
        ccr_hex_encode(init.host_data, sizeof init.host_data, host_hex);
        printf("init-data %s: %s digest, HOST_DATA %s\n", init_file, init.algorithm, host_hex);
        keys_initdata_free(&init);
        cfg.host_data_hex = host_hex;
    }
    if (relaunch) {
        if ((rc = keys_sim_relaunch(argv[optind], cfg.host_data_hex)) != 0)
            return cli_fail_rc(rc, argv[optind]);
        printf("a new simulated guest on the machine in %s, HOST_DATA %s\n", argv[optind], cfg.host_data_hex);
        return CLI_EXIT_OK;
    }
    if ((rc = keys_sim_init(argv[optind], &cfg)) != 0)
        return cli_fail_rc(rc, argv[optind]);
    printf(
        "simulated SEV-SNP guest in %s (TEST ONLY: trusted only by a broker started with --trust-sim-root)\n",
        argv[optind]);
    return CLI_EXIT_OK;
}

static int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"attest", required_argument, 0, OPT_ATTEST},
                                         {"report-data", required_argument, 0, OPT_REPORT_DATA},
                                         {"output", required_argument, 0, 'o'},
                                         {"vcek-out", required_argument, 0, OPT_VCEK_OUT},
                                         {"evidence-out", required_argument, 0, OPT_EVIDENCE_OUT},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *spec = NULL, *rd_hex = "", *out = NULL, *vcek_out = NULL, *evidence_out = NULL;
    uint8_t rd[KEYS_SNP_REPORT_DATA_LEN] = {0};
    struct keys_evidence ev;
    size_t hexlen;
    int c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_ATTEST:
            spec = optarg;
            break;
        case OPT_REPORT_DATA:
            rd_hex = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case OPT_VCEK_OUT:
            vcek_out = optarg;
            break;
        case OPT_EVIDENCE_OUT:
            evidence_out = optarg;
            break;
        case 'h':
            fputs(attest_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (spec == NULL || out == NULL || argc != optind)
        return cli_usage("report needs --attest SPEC and -o FILE");
    hexlen = strlen(rd_hex);
    if (hexlen % 2 != 0 || hexlen > 2 * sizeof rd || ccr_hex_decode(rd_hex, rd, hexlen / 2) != 0)
        return cli_usage("--report-data: expected up to 128 hex digits");
    if ((rc = keys_evidence_get(spec, rd, &ev)) != 0)
        return cli_fail_rc(rc, spec);
    rc = ccr_write_file_atomic(out, ev.report, sizeof ev.report, 0644);
    if (rc == 0 && vcek_out != NULL && ev.vcek_der != NULL &&
        (rc = ccr_write_file_atomic(vcek_out, ev.vcek_der, ev.vcek_len, 0644)) != 0)
        out = vcek_out;
    if (rc == 0 && evidence_out != NULL) {
        struct json_object *j = keys_kbs_snp_evidence(&ev);
        const char *text = j ? json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN) : NULL;
        rc = text ? ccr_write_file_atomic(evidence_out, text, strlen(text), 0644) : ENOMEM;
        json_object_put(j);
        if (rc != 0)
            out = evidence_out;
    }
    keys_evidence_clear(&ev);
    if (rc != 0)
        return cli_fail_rc(rc, out);
    return CLI_EXIT_OK;
}

static int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {{"vcek", required_argument, 0, OPT_VCEK},
                                         {"chain", required_argument, 0, OPT_CHAIN},
                                         {"at", required_argument, 0, OPT_AT},
                                         {"amd-roots", no_argument, 0, OPT_AMD_ROOTS},
                                         {"min-version", required_argument, 0, OPT_MIN_VERSION},
                                         {"key", required_argument, 0, OPT_KEY},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *vcek_path = NULL, *chain_path = NULL;
    struct keys_snp_report r;
    struct keys_snp_verdict verdict;
    struct keys_snp_verify_opts vopts = {0};
    struct keys_snp_roots *roots = NULL;
    STACK_OF(X509) *chain = NULL;
    X509 *vcek = NULL, *ask, *ark;
    time_t at = 0;
    struct json_object *claims;
    uint64_t v;
    int c, rc, amd_roots = 0, status = CLI_EXIT_FAIL;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_VCEK:
            vcek_path = optarg;
            break;
        case OPT_CHAIN:
            chain_path = optarg;
            break;
        case OPT_AT:
            if (parse_time(optarg, &at) != 0)
                return cli_usage("--at: expected seconds since the epoch or YYYY-MM-DD[THH:MM:SSZ], got '%s'",
                                 optarg);
            break;
        case OPT_AMD_ROOTS:
            amd_roots = 1;
            break;
        case OPT_MIN_VERSION:
            if (cli_parse_uint(optarg, 2, 5, &v) != 0)
                return cli_usage("--min-version: expected 2 to 5, got '%s'", optarg);
            vopts.min_version = (uint32_t)v;
            break;
        case OPT_KEY:
            if (strcasecmp(optarg, "vcek") == 0)
                vopts.key = KEYS_SNP_KEY_ONLY_VCEK;
            else if (strcasecmp(optarg, "vlek") == 0)
                vopts.key = KEYS_SNP_KEY_ONLY_VLEK;
            else
                return cli_usage("--key: expected vcek or vlek, got '%s'", optarg);
            break;
        case 'h':
            fputs(attest_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (argc - optind != 1 || vcek_path == NULL || (chain_path == NULL) == !amd_roots)
        return cli_usage("verify needs REPORT, --vcek CERT and one of --chain CERTS or --amd-roots");
    if ((rc = keys_snp_report_load(argv[optind], &r)) != 0)
        return cli_fail_rc(rc, NULL);
    if ((rc = keys_x509_load(vcek_path, &vcek)) != 0) {
        cli_fail_rc(rc, vcek_path);
        goto out;
    }
    if (amd_roots) {
        if ((rc = keys_snp_roots_amd(&roots)) != 0) {
            cli_fail_rc(rc, "AMD roots");
            goto out;
        }
        if ((rc = keys_snp_roots_find(roots, vcek, &ask, &ark, NULL, NULL)) != 0) {
            cli_fail("%s: FAILED: %s", argv[optind], ccr_err_msg(rc));
            goto out;
        }
    } else {
        if ((rc = keys_x509_load_all(chain_path, &chain)) != 0) {
            cli_fail_rc(rc, chain_path);
            goto out;
        }
        if (sk_X509_num(chain) != 2) {
            cli_fail("%s: expected two certificates (ASK or ASVK, then ARK), found %d", chain_path,
                     sk_X509_num(chain));
            goto out;
        }
        ask = sk_X509_value(chain, 0);
        ark = sk_X509_value(chain, 1);
    }
    if ((rc = keys_snp_verify_ex(&r, vcek, ask, ark, at, &vopts, &verdict)) != 0) {
        cli_fail("%s: FAILED: %s", argv[optind], ccr_err_msg(rc));
        goto out;
    }
    claims = keys_snp_claims_verified(&r, &verdict);
    printf("%s\n",
           json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(claims);
    if (verdict.signing_key == KEYS_SNP_KEY_VLEK)
        printf("verified: signature, VLEK -> ASVK -> %s chain (%s), reported TCB\n", verdict.ark_cn,
               keys_snp_product_name(verdict.product));
    else
        printf("verified: signature, VCEK -> ASK -> %s chain (%s), reported TCB and chip id\n",
               verdict.ark_cn, keys_snp_product_name(verdict.product));
    if (verdict.debug)
        printf("WARNING: the guest policy allows debugging (DEBUG bit set): the host can read its memory\n");
    if (verdict.migrate_ma)
        printf("note: the guest policy allows a migration agent\n");
    status = CLI_EXIT_OK;
out:
    X509_free(vcek);
    sk_X509_pop_free(chain, X509_free);
    keys_snp_roots_free(roots);
    return status;
}

int cli_cmd_attest(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(attest_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "sim-init") == 0)
        return cmd_sim_init(argc - 1, argv + 1);
    if (strcmp(argv[1], "report") == 0)
        return cmd_report(argc - 1, argv + 1);
    if (strcmp(argv[1], "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    return cli_usage("unknown attest command '%s' (sim-init, report, verify)", argv[1]);
}
