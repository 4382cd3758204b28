/* ccrfs keygen -o FILE: a new 32-byte data encryption key, mode 0600, never overwriting. */
#include "cli/commands.h"
#include "cli/util.h"
#include "format/dek.h"

#include <getopt.h>
#include <stdio.h>

static const char keygen_usage[] =
    "usage: ccrfs keygen -o FILE\n"
    "Writes 32 random bytes to FILE with mode 0600. Refuses to overwrite an existing file.\n";

int cli_cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0}};
    const char *out = NULL;
    int c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'h':
            fputs(keygen_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage("unexpected argument '%s'", argv[optind]);
    if (out == NULL)
        return cli_usage("missing -o FILE");
    if ((rc = fmt_dek_generate_file(out)) != 0)
        return cli_fail_rc(rc, NULL);
    fprintf(stderr, "%s: wrote a new key to %s (mode 0600); keep it secret\n", cli_command_name, out);
    return CLI_EXIT_OK;
}
