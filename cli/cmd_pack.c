/* ccrfs pack: encrypts a folder tree into a dataset folder (manifest.ccrfs + blobs/) with
 * format/pack.h. Everything is written into a hidden sibling folder first and renamed into
 * place at the end, so a failure leaves nothing half-written. */
#include "cli/commands.h"
#include "cli/util.h"
#include "common/err.h"
#include "common/fileio.h"
#include "format/blob.h"
#include "format/manifest.h"
#include "format/pack.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char pack_usage[] =
    "usage: ccrfs pack --key FILE [--block-size SIZE] [--jobs N] SRC_DIR OUT_DIR\n"
    "Encrypts every file and folder below SRC_DIR into OUT_DIR (which must not exist):\n"
    "OUT_DIR/manifest.ccrfs and OUT_DIR/blobs/<random names>. Keeps modes and mtimes;\n"
    "skips, with a warning, anything that is not a regular file or folder.\n"
    "The last line printed is the dataset id, sha256:<64 hex>.\n"
    "  --key FILE         the data encryption key (from 'ccrfs keygen')\n"
    "  --block-size SIZE  4K to 1M, a power of two (default 64K)\n"
    "  --jobs N           files encrypted at once (1 to 256, default: one per processor)\n";

static void pack_progress_cb(void *arg, uint64_t bytes)
{
    cli_progress_add(arg, bytes);
}

int cli_cmd_pack(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, 0, 'k'},
                                         {"block-size", required_argument, 0, 'b'},
                                         {"jobs", required_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *key_file = NULL, *src, *out_dir;
    uint64_t block_size = 1u << FMT_LOG2_BLOCK_DEFAULT;
    unsigned log2_block = FMT_LOG2_BLOCK_DEFAULT;
    struct fmt_pack_list list;
    struct fmt_pack_options popt = {0};
    struct fmt_manifest m = {0};
    struct fmt_dek *dek = NULL;
    struct cli_progress bar;
    struct stat st;
    char *tmp = NULL;
    uint64_t jobs = 0;
    uint8_t *obj = NULL;
    size_t obj_len;
    char id[FMT_DATASET_ID_LEN + 1];
    int c, rc, status = CLI_EXIT_FAIL;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "k:b:j:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            key_file = optarg;
            break;
        case 'b':
            if (cli_parse_size(optarg, &block_size) != 0 || block_size < 4096 || block_size > (1u << 20) ||
                (block_size & (block_size - 1)) != 0)
                return cli_usage("--block-size %s: must be a power of two from 4K to 1M", optarg);
            for (log2_block = 0; (UINT64_C(1) << log2_block) < block_size; log2_block++)
                ;
            break;
        case 'j':
            if (cli_parse_uint(optarg, 1, 256, &jobs) != 0)
                return cli_usage("--jobs: expected a number from 1 to 256, got \"%s\"", optarg);
            break;
        case 'h':
            fputs(pack_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (key_file == NULL)
        return cli_usage("missing --key FILE");
    if (argc - optind != 2)
        return cli_usage("expected SRC_DIR and OUT_DIR");
    src = argv[optind];
    out_dir = argv[optind + 1];
    if (stat(src, &st) != 0)
        return cli_fail("%s: %s", src, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cli_fail("%s: not a folder", src);
    if (lstat(out_dir, &st) == 0)
        return cli_fail("%s: already exists; give a new folder", out_dir);
    if ((rc = fmt_dek_load_file(key_file, &dek)) != 0)
        return cli_fail_rc(rc, NULL);
    if ((rc = fmt_pack_scan(src, &list)) != 0) {
        cli_fail_rc(rc, NULL);
        goto out;
    }
    tmp = cli_temp_sibling(out_dir);
    if (tmp == NULL) {
        cli_fail("out of memory");
        goto out;
    }
    if (mkdir(tmp, 0755) != 0) {
        cli_fail("cannot create %s: %s", out_dir, strerror(errno));
        goto out;
    }
    popt.log2_block = log2_block;
    popt.jobs = (unsigned)jobs;
    popt.progress = pack_progress_cb;
    popt.progress_arg = &bar;
    cli_progress_start(&bar, "packing", list.total_bytes);
    rc = fmt_pack_run(dek, src, &list, tmp, &popt, &m, &obj, &obj_len);
    cli_progress_finish(&bar);
    if (rc != 0) {
        cli_fail_rc(rc, NULL);
        goto out;
    }
    if (rename(tmp, out_dir) != 0) {
        cli_fail("cannot create %s: %s", out_dir, strerror(errno));
        goto out;
    }
    (void)ccr_fsync_parent(out_dir);
    free(tmp);
    tmp = NULL;
    fmt_dataset_id(obj, obj_len, id);
    {
        size_t files = 0, dirs = 0;
        for (size_t i = 0; i < m.count; i++)
            m.entries[i].type == FMT_ENTRY_FILE ? files++ : dirs++;
        printf("packed %zu files and %zu folders (%llu bytes) into %s%s\n", files, dirs,
               (unsigned long long)list.total_bytes, out_dir, list.skipped ? " (some entries skipped)" : "");
    }
    printf("%s\n", id);
    status = CLI_EXIT_OK;
out:
    if (tmp != NULL)
        cli_remove_tree(tmp);
    fmt_pack_list_free(&list);
    fmt_manifest_free(&m);
    free(obj);
    free(tmp);
    fmt_dek_free(dek);
    return status;
}
