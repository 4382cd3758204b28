/* ccrfs unpack: the exact plaintext tree back, with modes and mtimes. Built in a hidden
 * sibling folder and renamed into place only when every file authenticated. */
#include "cli/commands.h"
#include "cli/keysrc.h"
#include "cli/util.h"
#include "common/err.h"
#include "common/fileio.h"
#include "launch/dataset.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char unpack_usage[] =
    "usage: ccrfs unpack KEY_SOURCE [--id sha256:...] DATASET DEST_DIR\n"
    "Decrypts DATASET (a dataset folder or a store URL) into DEST_DIR, which must not exist.\n"
    "Every block is authenticated and every file's SHA-256 checked before DEST_DIR appears.\n";

struct unpack_out {
    int fd;
    struct cli_progress *bar;
};

static int unpack_sink(void *arg, const uint8_t *plain, size_t len, uint64_t offset)
{
    struct unpack_out *o = arg;
    (void)offset;
    cli_progress_add(o->bar, len);
    return ccr_write_all(o->fd, plain, len);
}

static int set_times(const char *path, const struct fmt_manifest_entry *e)
{
    struct timespec ts[2];
    ts[0].tv_sec = ts[1].tv_sec = e->mtime_sec;
    ts[0].tv_nsec = ts[1].tv_nsec = e->mtime_nsec;
    if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0)
        return ccr_err_set(errno, "%s: cannot set times: %s", path, strerror(errno));
    return 0;
}

static int unpack_file(struct fmt_dataset *ds, const struct fmt_manifest_entry *e, const char *path,
                       struct cli_progress *bar)
{
    struct unpack_out o = {-1, bar};
    int rc;

    o.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (o.fd < 0)
        return ccr_err_set(errno, "%s: %s", path, strerror(errno));
    rc = fmt_dataset_stream_file(ds, e, unpack_sink, &o);
    if (rc == 0 && fchmod(o.fd, e->mode) != 0)
        rc = ccr_err_set(errno, "%s: cannot set mode: %s", path, strerror(errno));
    if (close(o.fd) != 0 && rc == 0)
        rc = ccr_err_set(errno, "%s: %s", path, strerror(errno));
    if (rc == 0)
        rc = set_times(path, e);
    return rc;
}

int cli_cmd_unpack(int argc, char **argv)
{
    static const struct option opts[] = {CLI_KEYSRC_LONG_OPTIONS,
                                         CLI_STORE_LONG_OPTIONS,
                                         {"id", required_argument, 0, 'i'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    struct keys_release_request keysrc = {0};
    const char *id_text = NULL, *dest;
    char id[FMT_DATASET_ID_LEN + 1];
    struct launch_dataset d;
    struct fmt_dataset *ds;
    struct cli_progress bar;
    struct stat st;
    uint64_t total = 0;
    char *tmp = NULL;
    int c, rc = 0, status = CLI_EXIT_FAIL;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            id_text = optarg;
            break;
        case 'h':
            fputs(unpack_usage, stdout);
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
    if (argc - optind != 2)
        return cli_usage("expected DATASET and DEST_DIR");
    if (id_text != NULL && fmt_dataset_id_parse(id_text, id) != 0)
        return cli_usage("%s", ccr_err_msg(EINVAL));
    dest = argv[optind + 1];
    if (lstat(dest, &st) == 0)
        return cli_fail("%s: already exists; give a new folder", dest);
    if (cli_open_dataset(argv[optind], &keysrc, id_text ? id : NULL, &d) != CLI_EXIT_OK)
        return CLI_EXIT_FAIL;
    ds = d.ds;
    tmp = cli_temp_sibling(dest);
    if (tmp == NULL || mkdir(tmp, 0700) != 0) {
        cli_fail("cannot create %s: %s", dest, tmp ? strerror(errno) : "out of memory");
        free(tmp);
        tmp = NULL;
        goto out;
    }
    for (size_t i = 0; i < ds->manifest.count; i++)
        total += ds->manifest.entries[i].size;
    cli_progress_start(&bar, "unpacking", total);
    /* Sorted order puts every folder before what it holds. Folders stay writable until the end. */
    for (size_t i = 0; i < ds->manifest.count && rc == 0; i++) {
        const struct fmt_manifest_entry *e = &ds->manifest.entries[i];
        char *path = ccr_path_join(tmp, e->path);
        if (path == NULL) {
            rc = ENOMEM;
            break;
        }
        if (e->type == FMT_ENTRY_DIR) {
            if (mkdir(path, 0700) != 0)
                rc = ccr_err_set(errno, "%s: %s", path, strerror(errno));
        } else {
            rc = unpack_file(ds, e, path, &bar);
        }
        free(path);
    }
    cli_progress_finish(&bar);
    /* Folder modes and times last, deepest first, so writing inside them cannot change them. */
    for (size_t i = ds->manifest.count; rc == 0 && i-- > 0;) {
        const struct fmt_manifest_entry *e = &ds->manifest.entries[i];
        char *path;
        if (e->type != FMT_ENTRY_DIR)
            continue;
        path = ccr_path_join(tmp, e->path);
        if (path == NULL) {
            rc = ENOMEM;
            break;
        }
        if (chmod(path, e->mode) != 0)
            rc = ccr_err_set(errno, "%s: %s", path, strerror(errno));
        if (rc == 0)
            rc = set_times(path, e);
        free(path);
    }
    if (rc == 0 && chmod(tmp, 0755) != 0)
        rc = errno;
    if (rc != 0) {
        cli_fail("%s", ccr_err_msg(rc));
        goto out;
    }
    if (rename(tmp, dest) != 0) {
        cli_fail("cannot create %s: %s", dest, strerror(errno));
        goto out;
    }
    free(tmp);
    tmp = NULL;
    printf("unpacked %zu entries (%llu bytes) of %s into %s\n", ds->manifest.count, (unsigned long long)total,
           ds->id, dest);
    status = CLI_EXIT_OK;
out:
    if (tmp != NULL) {
        cli_remove_tree(tmp);
        free(tmp);
    }
    cli_close_dataset(&d);
    return status;
}
