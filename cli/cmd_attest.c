/* ccrfs attest: SEV-SNP evidence. sim-init creates a simulated guest, report produces a
 * signed report, verify checks a report against its VCEK and chain. */
#include "cli/commands.h"
#include "cli/util.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "keys/attest/evidence.h"
#include "keys/attest/sim.h"
#include "keys/attest/snp.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char attest_usage[] =
    "usage: ccrfs attest sim-init DIR [--host-data HEX] [--measurement HEX] [--debug] [--vmpl N]\n"
    "       ccrfs attest report --attest sim:DIR|snp --report-data HEX -o FILE [--vcek-out FILE]\n"
    "       ccrfs attest verify REPORT --vcek CERT --chain CERTS [--at TIME]\n"
    "sim-init creates a simulated SEV-SNP guest in DIR: a test ARK -> ASK -> VCEK chain that\n"
    "nothing trusts unless told to, and the guest's settings (sim.json). The measurement is the\n"
    "SHA-384 of the ccrfs executable unless --measurement is given.\n"
    "report writes a signed 1184-byte report binding HEX (up to 64 bytes, zero-padded).\n"
    "verify checks the report signature with the VCEK, the VCEK -> ASK -> ARK chain (CERTS holds\n"
    "the ASK then the ARK, PEM), the reported TCB and chip id against the VCEK, and prints the\n"
    "claims. REPORT is binary or hex text. TIME is seconds since the epoch or YYYY-MM-DD[THH:MM:SSZ].\n";

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
    OPT_VCEK_OUT
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
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    struct keys_sim_config cfg = {0};
    uint64_t v;
    int c, rc;

    optind = 1;
    opterr = 0;
    cfg.policy = KEYS_SNP_POLICY_SMT | KEYS_SNP_POLICY_RESERVED1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_HOST_DATA:
            cfg.host_data_hex = optarg;
            break;
        case OPT_MEASUREMENT:
            cfg.measurement_hex = optarg;
            break;
        case OPT_DEBUG:
            cfg.policy |= KEYS_SNP_POLICY_DEBUG;
            break;
        case OPT_VMPL:
            if (cli_parse_uint(optarg, 0, 3, &v) != 0)
                return cli_usage("--vmpl: expected 0-3, got '%s'", optarg);
            cfg.vmpl = (uint32_t)v;
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
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *spec = NULL, *rd_hex = "", *out = NULL, *vcek_out = NULL;
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
    if (rc == 0 && vcek_out != NULL && ev.vcek_der != NULL)
        rc = ccr_write_file_atomic(vcek_out, ev.vcek_der, ev.vcek_len, 0644);
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
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *vcek_path = NULL, *chain_path = NULL;
    struct keys_snp_report r;
    struct keys_snp_verdict verdict;
    STACK_OF(X509) *chain = NULL;
    X509 *vcek = NULL;
    time_t at = 0;
    struct json_object *claims;
    int c, rc, status = CLI_EXIT_FAIL;

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
        case 'h':
            fputs(attest_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (argc - optind != 1 || vcek_path == NULL || chain_path == NULL)
        return cli_usage("verify needs REPORT, --vcek CERT and --chain CERTS");
    if ((rc = keys_snp_report_load(argv[optind], &r)) != 0)
        return cli_fail_rc(rc, NULL);
    if ((rc = keys_x509_load(vcek_path, &vcek)) != 0) {
        cli_fail_rc(rc, vcek_path);
        goto out;
    }
    if ((rc = keys_x509_load_all(chain_path, &chain)) != 0) {
        cli_fail_rc(rc, chain_path);
        goto out;
    }
    if (sk_X509_num(chain) != 2) {
        cli_fail("%s: expected two certificates (ASK then ARK), found %d", chain_path, sk_X509_num(chain));
        goto out;
    }
    if ((rc = keys_snp_verify(&r, vcek, sk_X509_value(chain, 0), sk_X509_value(chain, 1), at, &verdict)) !=
        0) {
        cli_fail("%s: FAILED: %s", argv[optind], ccr_err_msg(rc));
        goto out;
    }
    claims = keys_snp_claims(&r);
    printf("%s\n",
           json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(claims);
    printf("verified: signature, VCEK -> ASK -> %s chain, reported TCB and chip id\n", verdict.ark_cn);
    if (verdict.debug)
        printf("WARNING: the guest policy allows debugging (DEBUG bit set): the host can read its memory\n");
    if (verdict.migrate_ma)
        printf("note: the guest policy allows a migration agent\n");
    status = CLI_EXIT_OK;
out:
    X509_free(vcek);
    sk_X509_pop_free(chain, X509_free);
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
