/* ccrfs verify: authenticates the manifest and every block of every file, checks every
 * plaintext SHA-256 and, when given, the dataset id. Exit 0 only when all of it holds. */
#include "cli/commands.h"
#include "cli/keysrc.h"
#include "cli/util.h"
#include "common/err.h"
#include "launch/dataset.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char verify_usage[] =
    "usage: ccrfs verify KEY_SOURCE [--id sha256:...] DATASET\n"
    "DATASET is a dataset folder or a store URL. Authenticates the manifest and every block of\n"
    "every file, and checks each file's SHA-256; with --id, also the dataset id.\n"
    "Names each file and block that fails and exits 1; exits 0 only when everything holds.\n";

struct verify_count {
    struct cli_progress *bar;
};

static int verify_sink(void *arg, const uint8_t *plain, size_t len, uint64_t offset)
{
    struct verify_count *vc = arg;
    (void)plain;
    (void)offset;
    cli_progress_add(vc->bar, len);
    return 0;
}

int cli_cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {CLI_KEYSRC_LONG_OPTIONS,
                                         CLI_STORE_LONG_OPTIONS,
                                         {"id", required_argument, 0, 'i'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    struct keys_release_request keysrc = {0};
    const char *id_text = NULL;
    char id[FMT_DATASET_ID_LEN + 1];
    struct launch_dataset d;
    struct fmt_dataset *ds;
    struct cli_progress bar;
    struct verify_count vc = {&bar};
    uint64_t total = 0;
    size_t files = 0, failed = 0;
    int c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            id_text = optarg;
            break;
        case 'h':
            fputs(verify_usage, stdout);
            fputs(CLI_KEYSRC_USAGE, stdout);
            fputs(CLI_STORE_USAGE, stdout);
            return CLI_EXIT_OK;
        default: {
            int store_opt = cli_store_option_take(c, optarg);
            if (store_opt < 0)
                return CLI_EXIT_USAGE;
            if (store_opt == 0 && !cli_keysrc_take(&keysrc, c, optarg))
                return cli_usage("unknown option or missing value: %s", argv[optind - 1]);
        }
        }
    }
    if ((c = cli_keysrc_check(&keysrc)) != 0)
        return c;
    if (argc - optind != 1)
        return cli_usage("expected one DATASET");
    if (id_text != NULL && fmt_dataset_id_parse(id_text, id) != 0)
        return cli_usage("%s", ccr_err_msg(EINVAL));
    if (cli_open_dataset(argv[optind], &keysrc, id_text ? id : NULL, &d) != CLI_EXIT_OK)
        return CLI_EXIT_FAIL;
    ds = d.ds;
    for (size_t i = 0; i < ds->manifest.count; i++)
        total += ds->manifest.entries[i].size;
    cli_progress_start(&bar, "verifying", total);
    for (size_t i = 0; i < ds->manifest.count; i++) {
        const struct fmt_manifest_entry *e = &ds->manifest.entries[i];
        if (e->type != FMT_ENTRY_FILE)
            continue;
        files++;
        ccr_err_clear();
        rc = fmt_dataset_stream_file(ds, e, verify_sink, &vc);
        if (rc != 0) {
            failed++;
            cli_fail("FAILED %s", ccr_err_msg(rc));
        }
    }
    cli_progress_finish(&bar);
    if (failed != 0) {
        cli_fail("%zu of %zu files failed verification in %s", failed, files, ds->id);
        cli_close_dataset(&d);
        return CLI_EXIT_FAIL;
    }
    printf("verified the manifest and %zu files (%llu bytes): every block authentic, every hash matches\n",
           files, (unsigned long long)total);
    printf("%s\n", ds->id);
    cli_close_dataset(&d);
    return CLI_EXIT_OK;
}
