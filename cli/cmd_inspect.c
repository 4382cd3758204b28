/* ccrfs inspect: what a blob's or a manifest's header says (no key needed); with --key,
 * a dataset's file list. */
#include "cli/commands.h"
#include "cli/util.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "format/blob.h"
#include "format/dataset.h"
#include "format/manifest.h"
#include "fetch/http.h"
#include "keys/release.h"
#include "launch/dataset.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char inspect_usage[] =
    "usage: ccrfs inspect [--key FILE] PATH\n"
    "PATH is a blob, a manifest.ccrfs, a dataset folder or a store URL.\n"
    "Without a key, prints what the headers say; with --key, the dataset's files.\n";

static void print_blob_header(const struct fmt_blob_header *h, uint64_t actual_size)
{
    char salt[2 * FMT_SALT_LEN + 1], tag[2 * FMT_TAG_LEN + 1];
    ccr_hex_encode(h->salt, FMT_SALT_LEN, salt);
    ccr_hex_encode(h->tag, FMT_TAG_LEN, tag);
    printf("kind:             ccrfs blob, format version %d, AES-256-GCM\n", FMT_BLOB_VERSION);
    printf("block size:       %zu bytes\n", fmt_blob_block_size(h));
    printf("plaintext length: %llu bytes in %llu blocks\n", (unsigned long long)h->plain_len,
           (unsigned long long)fmt_blob_block_count(h));
    printf("object size:      %llu bytes expected, %llu present%s\n",
           (unsigned long long)fmt_blob_object_size(h), (unsigned long long)actual_size,
           fmt_blob_object_size(h) == actual_size ? "" : "  (MISMATCH)");
    printf("salt:             %s\n", salt);
    printf("header tag:       %s\n", tag);
}

static void print_manifest_header(const uint8_t *obj, size_t len)
{
    char id[FMT_DATASET_ID_LEN + 1];
    uint64_t plen;
    fmt_dataset_id(obj, len, id);
    if (fmt_manifest_peek(obj, len, &plen) == 0) {
        printf("kind:             ccrfs manifest, format version %d, AES-256-GCM\n", FMT_MANIFEST_VERSION);
        printf("payload:          %llu encrypted bytes\n", (unsigned long long)plen);
    }
    printf("dataset id:       %s\n", id);
}

static void print_entries(const struct fmt_manifest *m)
{
    for (size_t i = 0; i < m->count; i++) {
        const struct fmt_manifest_entry *e = &m->entries[i];
        char when[32];
        time_t t = (time_t)e->mtime_sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%c%04o %12llu %s %-32s %s%s\n", e->type == FMT_ENTRY_DIR ? 'd' : '-', e->mode,
               (unsigned long long)e->size, when, e->type == FMT_ENTRY_FILE ? e->blob : "-", e->path,
               e->type == FMT_ENTRY_DIR ? "/" : "");
    }
}

static int count_blob(void *arg, const char *key, const struct fetch_object_info *info)
{
    (void)key;
    (void)info;
    (*(size_t *)arg)++;
    return 0;
}

static int inspect_file(const char *path, const char *key_file)
{
    uint8_t *buf = NULL;
    size_t len;
    struct stat st;
    int rc, status = CLI_EXIT_FAIL;

    if (stat(path, &st) != 0)
        return cli_fail("%s: %s", path, strerror(errno));
    /* A blob's header is enough; a manifest is read whole. */
    if ((rc = ccr_read_file(path, FMT_MANIFEST_MAX, &buf, &len)) != 0)
        return cli_fail_rc(rc, NULL);
    if (len >= 8 && memcmp(buf, FMT_BLOB_MAGIC, 8) == 0) {
        struct fmt_blob_header h;
        if ((rc = fmt_blob_header_parse(buf, len, &h)) != 0) {
            cli_fail_rc(rc, path);
        } else {
            print_blob_header(&h, (uint64_t)st.st_size);
            status = CLI_EXIT_OK;
        }
    } else if (len >= 8 && memcmp(buf, FMT_MANIFEST_MAGIC, 8) == 0) {
        uint64_t plen;
        if ((rc = fmt_manifest_peek(buf, len, &plen)) != 0) {
            cli_fail_rc(rc, path);
        } else {
            print_manifest_header(buf, len);
            status = CLI_EXIT_OK;
            if (key_file != NULL) {
                struct fmt_dek *dek;
                struct fmt_manifest m;
                if ((rc = fmt_dek_load_file(key_file, &dek)) != 0) {
                    status = cli_fail_rc(rc, NULL);
                } else {
                    if ((rc = fmt_manifest_open(dek, buf, len, &m)) != 0) {
                        status = cli_fail_rc(rc, path);
                    } else {
                        print_entries(&m);
                        fmt_manifest_free(&m);
                    }
                    fmt_dek_free(dek);
                }
            }
        }
    } else {
        cli_fail("%s: not a ccrfs blob or manifest", path);
    }
    free(buf);
    return status;
}

int cli_cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, 0, 'k'}, {"help", no_argument, 0, 'h'}, {0}};
    const char *key_file = NULL, *path;
    struct stat st;
    int c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            key_file = optarg;
            break;
        case 'h':
            fputs(inspect_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return cli_usage("expected one PATH");
    path = argv[optind];
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return inspect_file(path, key_file);
    if (key_file != NULL) {
        struct launch_dataset d;
        struct keys_release_request keysrc = {0};
        keysrc.key_file = key_file;
        if (cli_open_dataset(path, &keysrc, NULL, &d) != CLI_EXIT_OK)
            return CLI_EXIT_FAIL;
        printf("dataset id:       %s\n", d.ds->id);
        print_entries(&d.ds->manifest);
        cli_close_dataset(&d);
        return CLI_EXIT_OK;
    } else {
        struct fetch_store *store;
        uint8_t *obj;
        size_t len, blobs = 0;
        uint64_t plen;
        char shown[512];
        if ((rc = launch_store_open(path, &store)) != 0)
            return cli_fail_rc(rc, NULL);
        fetch_url_scrub(path, shown, sizeof shown); /* a SAS or pre-signed query is a secret */
        rc = fetch_read_object(store, FMT_MANIFEST_NAME, FMT_MANIFEST_MAX, &obj, &len);
        if (rc != 0) {
            fetch_store_destroy(store);
            return rc == ENOENT ? cli_fail("%s: not a dataset: no %s", shown, FMT_MANIFEST_NAME)
                                : cli_fail_rc(rc, shown);
        }
        if ((rc = fmt_manifest_peek(obj, len, &plen)) != 0) {
            free(obj);
            fetch_store_destroy(store);
            return cli_fail_rc(rc, FMT_MANIFEST_NAME);
        }
        print_manifest_header(obj, len);
        (void)fetch_list(store, "blobs/", count_blob, &blobs);
        printf("blobs:            %zu\n", blobs);
        free(obj);
        fetch_store_destroy(store);
        return CLI_EXIT_OK;
    }
}
