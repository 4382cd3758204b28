/* ccrfs wrap: wraps a data key under an Azure Key Vault key's public half (RSA-OAEP-256)
 * into dek.wrapped.json, for Azure Secure Key Release. */
#include "cli/commands.h"
#include "cli/util.h"
#include "common/err.h"
#include "common/fileio.h"
#include "format/dek.h"
#include "keys/skr/skr.h"

#include <getopt.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char wrap_usage[] =
    "usage: ccrfs wrap --key FILE --kek-pub PEM [--kid KID] -o dek.wrapped.json\n"
    "Wraps the 32-byte data key in FILE with RSA-OAEP-256 under the public key in PEM (the\n"
    "Key Vault key whose release policy guards the dataset). Store the output beside the\n"
    "dataset; a clean room unwraps it with the key Azure Secure Key Release gives it.\n";

int cli_cmd_wrap(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, 0, 'k'},
                                         {"key-file", required_argument, 0, 'k'},
                                         {"kek-pub", required_argument, 0, 'p'},
                                         {"kid", required_argument, 0, 'i'},
                                         {"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *key_path = NULL, *pub_path = NULL, *kid = NULL, *out = NULL;
    struct fmt_dek *dek = NULL;
    EVP_PKEY *pub = NULL;
    FILE *f;
    char *doc = NULL;
    int c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            key_path = optarg;
            break;
        case 'p':
            pub_path = optarg;
            break;
        case 'i':
            kid = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            fputs(wrap_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (key_path == NULL || pub_path == NULL || out == NULL || optind != argc)
        return cli_usage("wrap needs --key FILE, --kek-pub PEM and -o FILE");
    f = fopen(pub_path, "re");
    if (f == NULL)
        return cli_fail("%s: %s", pub_path, strerror(errno));
    pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (pub == NULL)
        return cli_fail("%s: not a PEM public key", pub_path);
    if ((rc = fmt_dek_load_file(key_path, &dek)) != 0) {
        EVP_PKEY_free(pub);
        return cli_fail_rc(rc, NULL);
    }
    rc = fmt_dek_wrap(dek->bytes, FMT_DEK_LEN, pub, kid, &doc);
    fmt_dek_free(dek);
    EVP_PKEY_free(pub);
    if (rc == 0)
        rc = ccr_write_file_atomic(out, doc, strlen(doc), 0644);
    free(doc);
    if (rc != 0)
        return cli_fail_rc(rc, out);
    printf("wrote %s (RSA-OAEP-256)\n", out);
    return CLI_EXIT_OK;
}
