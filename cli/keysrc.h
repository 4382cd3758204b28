/* Command-line options that say where the DEK comes from, shared by every command that
 * reads a dataset (verify, unpack, inspect, mount):
 *   --key FILE / --key-file FILE           a local key file (unattested)
 *   --kbs URL --resource R --attest SPEC   a Trustee KBS after attestation (sim:DIR, snp or aa:URL)
 *   --skr URL --skr-maa HOST --skr-akv HOST --skr-kid KID   Azure Secure Key Release
 *   --broker-ca FILE                       extra CA bundle for https brokers
 *   --unwrap-key PRIVATE.pem               a recipient's key unwraps dek.wrapped.json (sink outputs) */
#ifndef CCRFS_CLI_KEYSRC_H
#define CCRFS_CLI_KEYSRC_H

#include "keys/release.h"

#include <getopt.h>

/* Option codes above any single character. */
enum {
    CLI_KEYSRC_OPT_KEY = 0x1000,
    CLI_KEYSRC_OPT_KBS,
    CLI_KEYSRC_OPT_RESOURCE,
    CLI_KEYSRC_OPT_ATTEST,
    CLI_KEYSRC_OPT_SKR,
    CLI_KEYSRC_OPT_SKR_MAA,
    CLI_KEYSRC_OPT_SKR_AKV,
    CLI_KEYSRC_OPT_SKR_KID,
    CLI_KEYSRC_OPT_BROKER_CA,
    CLI_KEYSRC_OPT_UNWRAP_KEY,
};

/* Spliced into a command's struct option table. */
#define CLI_KEYSRC_LONG_OPTIONS                                                                              \
    {"key", required_argument, 0, CLI_KEYSRC_OPT_KEY},                                                       \
        {"key-file", required_argument, 0, CLI_KEYSRC_OPT_KEY},                                              \
        {"kbs", required_argument, 0, CLI_KEYSRC_OPT_KBS},                                                   \
        {"resource", required_argument, 0, CLI_KEYSRC_OPT_RESOURCE},                                         \
        {"attest", required_argument, 0, CLI_KEYSRC_OPT_ATTEST},                                             \
        {"skr", required_argument, 0, CLI_KEYSRC_OPT_SKR},                                                   \
        {"skr-maa", required_argument, 0, CLI_KEYSRC_OPT_SKR_MAA},                                           \
        {"skr-akv", required_argument, 0, CLI_KEYSRC_OPT_SKR_AKV},                                           \
        {"skr-kid", required_argument, 0, CLI_KEYSRC_OPT_SKR_KID},                                           \
        {"broker-ca", required_argument, 0, CLI_KEYSRC_OPT_BROKER_CA},                                       \
    {                                                                                                        \
        "unwrap-key", required_argument, 0, CLI_KEYSRC_OPT_UNWRAP_KEY                                        \
    }

#define CLI_KEYSRC_USAGE                                                                                     \
    "key source (one of):\n"                                                                                 \
    "  --key FILE             a local key file; unattested, for data providers testing\n"                    \
    "  --kbs URL --resource REPO/TYPE/TAG --attest sim:DIR|snp|aa:URL\n"                                     \
    "                         a Trustee KBS releases the key after attestation\n"                            \
    "                         (aa:URL: evidence from the CoCo attestation agent, e.g.\n"                     \
    "                         aa:http://127.0.0.1:8006)\n"                                                   \
    "  --skr URL --skr-maa HOST --skr-akv HOST --skr-kid KID\n"                                              \
    "                         Azure Secure Key Release unwraps dek.wrapped.json\n"                           \
    "  --broker-ca FILE       extra CA bundle for an https broker\n"                                         \
    "  --unwrap-key PEM       a recipient's RSA private key unwraps dek.wrapped.json (sink outputs)\n"

/* Takes one option if it is a key-source option: returns 1 when consumed, 0 when not ours. */
int cli_keysrc_take(struct keys_release_request *req, int opt, const char *arg);
/* Checks that exactly one complete source was given; prints a usage error otherwise and
 * returns CLI_EXIT_USAGE, else 0. */
int cli_keysrc_check(const struct keys_release_request *req);

#endif
