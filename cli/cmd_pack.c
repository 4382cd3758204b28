/* ccrfs pack: encrypts a folder tree into a dataset folder (manifest.ccrfs + blobs/).
 * Everything is written into a hidden sibling folder first and renamed into place at the
 * end, so a failure leaves nothing half-written. */
#include "cli/commands.h"
#include "cli/util.h"
#include "common/array.h"
#include "common/encoding.h"
#include "common/random.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "format/blob.h"
#include "format/manifest.h"

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char pack_usage[] =
    "usage: ccrfs pack --key FILE [--block-size SIZE] SRC_DIR OUT_DIR\n"
    "Encrypts every file and folder below SRC_DIR into OUT_DIR (which must not exist):\n"
    "OUT_DIR/manifest.ccrfs and OUT_DIR/blobs/<random names>. Keeps modes and mtimes;\n"
    "skips, with a warning, anything that is not a regular file or folder.\n"
    "The last line printed is the dataset id, sha256:<64 hex>.\n"
    "  --key FILE         the data encryption key (from 'ccrfs keygen')\n"
    "  --block-size SIZE  4K to 1M, a power of two (default 64K)\n";

struct pack_item {
    char *rel; /* path inside SRC_DIR */
    struct stat st;
};

struct pack_list {
    struct ccr_array items; /* struct pack_item */
    uint64_t total_bytes;
    unsigned skipped;
};

static int pack_list_add(struct pack_list *l, const char *rel, const struct stat *st)
{
    struct pack_item it = {strdup(rel), *st};

    if (it.rel == NULL)
        return ENOMEM;
    if (ccr_array_append(&l->items, &it) != 0) {
        free(it.rel);
        return ENOMEM;
    }
    if (S_ISREG(st->st_mode))
        l->total_bytes += (uint64_t)st->st_size;
    return 0;
}

/* Walks src/rel without following symbolic links. */
static int pack_walk(const char *src, const char *rel, struct pack_list *l)
{
    char *dir_path = rel[0] ? ccr_path_join(src, rel) : strdup(src);
    DIR *d;
    struct dirent *de;
    int rc = 0;

    if (dir_path == NULL)
        return ENOMEM;
    d = opendir(dir_path);
    if (d == NULL) {
        rc = ccr_err_set(errno, "cannot read folder %s: %s", dir_path, strerror(errno));
        free(dir_path);
        return rc;
    }
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        struct stat st;
        char *child;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        child = rel[0] ? ccr_path_join(rel, de->d_name) : strdup(de->d_name);
        if (child == NULL) {
            rc = ENOMEM;
            break;
        }
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = ccr_err_set(errno, "cannot stat %s/%s: %s", src, child, strerror(errno));
        } else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
            const char *why = fmt_manifest_path_problem(child, strlen(child));
            if (why != NULL)
                rc = ccr_err_set(EINVAL, "%s/%s: %s", src, child, why);
            else
                rc = pack_list_add(l, child, &st);
            if (rc == 0 && S_ISDIR(st.st_mode))
                rc = pack_walk(src, child, l);
        } else {
            ccr_log_warn("skipping %s/%s: not a regular file or folder", src, child);
            l->skipped++;
        }
        free(child);
    }
    if (rc == 0 && errno != 0)
        rc = ccr_err_set(errno, "cannot read folder %s: %s", dir_path, strerror(errno));
    closedir(d);
    free(dir_path);
    return rc;
}

struct pack_file_progress {
    struct cli_progress *bar;
    uint64_t reported;
};

static void pack_file_progress_cb(void *arg, uint64_t bytes_in_file)
{
    struct pack_file_progress *p = arg;
    cli_progress_add(p->bar, bytes_in_file - p->reported);
    p->reported = bytes_in_file;
}

static int pack_one_file(const struct fmt_dek *dek, unsigned log2_block, const char *src,
                         const char *blobs_dir, const struct pack_item *it, struct fmt_manifest_entry *e,
                         struct cli_progress *bar)
{
    uint8_t name_bytes[16];
    char *in_path = ccr_path_join(src, it->rel), *out_path = NULL;
    struct fmt_blob_key *k = NULL;
    struct pack_file_progress prog = {bar, 0};
    struct stat st;
    int in_fd = -1, out_fd = -1, rc;

    if (in_path == NULL)
        return ENOMEM;
    in_fd = open(in_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in_fd < 0) {
        rc = ccr_err_set(errno, "cannot read %s: %s", in_path, strerror(errno));
        goto out;
    }
    if (fstat(in_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = ccr_err_set(EINVAL, "%s changed while packing", in_path);
        goto out;
    }
    if ((rc = ccr_random(name_bytes, sizeof name_bytes)) != 0)
        goto out;
    ccr_hex_encode(name_bytes, sizeof name_bytes, e->blob);
    out_path = ccr_path_join(blobs_dir, e->blob);
    if (out_path == NULL) {
        rc = ENOMEM;
        goto out;
    }
    out_fd = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out_fd < 0) {
        rc = ccr_err_set(errno, "cannot create %s: %s", out_path, strerror(errno));
        goto out;
    }
    if ((rc = fmt_blob_key_create(dek, log2_block, (uint64_t)st.st_size, NULL, &k)) != 0)
        goto out;
    rc = fmt_blob_encrypt_fd(k, in_fd, out_fd, e->sha256, pack_file_progress_cb, &prog);
    if (rc != 0) {
        ccr_err_wrap(rc, "%s: ", in_path);
        goto out;
    }
    if (fsync(out_fd) != 0) {
        rc = ccr_err_set(errno, "%s: %s", out_path, strerror(errno));
        goto out;
    }
    e->size = (uint64_t)st.st_size;
    e->log2_block = (uint8_t)log2_block;
    memcpy(e->salt, k->header.salt, FMT_SALT_LEN);
    memcpy(e->header_tag, k->header.tag, FMT_TAG_LEN);
out:
    fmt_blob_key_free(k);
    if (in_fd >= 0)
        close(in_fd);
    if (out_fd >= 0)
        close(out_fd);
    free(in_path);
    free(out_path);
    return rc;
}

int cli_cmd_pack(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, 0, 'k'},
                                         {"block-size", required_argument, 0, 'b'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *key_file = NULL, *src, *out_dir;
    uint64_t block_size = 1u << FMT_LOG2_BLOCK_DEFAULT;
    unsigned log2_block = FMT_LOG2_BLOCK_DEFAULT;
    struct pack_list list = {CCR_ARRAY_INIT(struct pack_item), 0, 0};
    struct fmt_manifest m = {0};
    struct fmt_dek *dek = NULL;
    struct cli_progress bar;
    struct stat st;
    char *tmp = NULL, *blobs_dir = NULL, *manifest_path = NULL;
    uint8_t *obj = NULL;
    size_t obj_len;
    char id[FMT_DATASET_ID_LEN + 1];
    int c, rc, status = CLI_EXIT_FAIL;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "k:b:h", opts, NULL)) != -1) {
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
    if ((rc = pack_walk(src, "", &list)) != 0) {
        cli_fail_rc(rc, NULL);
        goto out;
    }
    tmp = cli_temp_sibling(out_dir);
    if (tmp == NULL || (blobs_dir = ccr_path_join(tmp, "blobs")) == NULL ||
        (manifest_path = ccr_path_join(tmp, FMT_MANIFEST_NAME)) == NULL) {
        cli_fail("out of memory");
        goto out;
    }
    if (mkdir(tmp, 0755) != 0 || mkdir(blobs_dir, 0755) != 0) {
        cli_fail("cannot create %s: %s", out_dir, strerror(errno));
        goto out;
    }
    cli_progress_start(&bar, "packing", list.total_bytes);
    for (size_t i = 0; i < list.items.len; i++) {
        const struct pack_item *it = &CCR_ARRAY_AT(&list.items, struct pack_item, i);
        struct fmt_manifest_entry e;
        memset(&e, 0, sizeof e);
        e.path = it->rel;
        e.mode = it->st.st_mode & 07777;
        e.mtime_sec = it->st.st_mtim.tv_sec;
        e.mtime_nsec = (uint32_t)it->st.st_mtim.tv_nsec;
        if (S_ISDIR(it->st.st_mode)) {
            e.type = FMT_ENTRY_DIR;
        } else {
            e.type = FMT_ENTRY_FILE;
            if ((rc = pack_one_file(dek, log2_block, src, blobs_dir, it, &e, &bar)) != 0) {
                cli_progress_finish(&bar);
                cli_fail_rc(rc, NULL);
                goto out;
            }
        }
        if ((rc = fmt_manifest_add(&m, &e)) != 0) {
            cli_fail_rc(rc, NULL);
            goto out;
        }
    }
    cli_progress_finish(&bar);
    fmt_manifest_sort(&m);
    if ((rc = fmt_manifest_seal(dek, &m, NULL, &obj, &obj_len)) != 0 ||
        (rc = ccr_write_file_new(manifest_path, obj, obj_len, 0644)) != 0) {
        cli_fail_rc(rc, "manifest");
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
    for (size_t i = 0; i < list.items.len; i++)
        free(CCR_ARRAY_AT(&list.items, struct pack_item, i).rel);
    ccr_array_free(&list.items);
    fmt_manifest_free(&m);
    free(obj);
    free(tmp);
    free(blobs_dir);
    free(manifest_path);
    fmt_dek_free(dek);
    return status;
}
