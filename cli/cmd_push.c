/* ccrfs push: uploads a packed dataset folder to a store, several objects at once. Blobs go
 * first and the manifest last, so a reader never sees a manifest naming a missing blob; an
 * object already present with the right size is skipped, so running it again after an
 * interruption finishes the job without uploading twice. */
#include "cli/commands.h"
#include "cli/util.h"
#include "common/array.h"
#include "common/err.h"
#include "common/fileio.h"
#include "fetch/http.h"
#include "fetch/store.h"
#include "format/manifest.h"

#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char push_usage[] =
    "usage: ccrfs push [OPTIONS] DATASET_DIR STORE_URL\n"
    "Uploads a dataset folder made by 'ccrfs pack' (manifest.ccrfs, blobs/...) to STORE_URL:\n"
    "az://ACCOUNT/CONTAINER/PREFIX, s3://BUCKET/PREFIX, http(s)://HOST/PATH[?SAS or pre-signed query],\n"
    "or a folder.\n"
    "Blobs go first, several at once, skipping those already there with the right size; the\n"
    "manifest goes last. Safe to run again after an interruption. Prints the dataset id last.\n"
    "  --jobs N               objects uploaded at once (1 to 64, default 16)\n"
    "  --ca-file FILE         extra CA certificates for https\n"
    "  --endpoint URL         az://: the Blob service endpoint (Azurite: http://HOST:PORT/ACCOUNT)\n"
    "  --account-key-file F   az://: the storage account key (base64) is in file F\n"
    "  --sas-file F           az://: a SAS token is in file F\n"
    "  --token-file F         az://: an OAuth bearer token is in file F (re-read as it changes)\n"
    "  --managed-identity     az://: get bearer tokens from the managed-identity endpoint\n" CLI_STORE_USAGE
    "Secrets are never taken from the command line; see docs/STORES.md for the environment\n"
    "variables (AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, AWS_*, CCRFS_STORE_*, CCRFS_AZURE_*).\n";

struct push_item {
    char *key;
    uint64_t size;
    int listed; /* the store's listing was read: remote_size is what it holds */
    int remote_present;
    uint64_t remote_size;
};

struct push_job {
    const char *dir;
    struct fetch_store *dst;
    struct ccr_array items; /* struct push_item, sorted by key once the store was listed */
    size_t next;
    size_t uploaded, skipped;
    uint64_t bytes_uploaded;
    int failed;
    char first_error[CCR_ERR_MSG_MAX];
    struct cli_progress bar;
    pthread_mutex_t lock;
};

static int collect(void *arg, const char *key, const struct fetch_object_info *info)
{
    struct push_job *job = arg;
    struct push_item it = {0};

    if (strcmp(key, FMT_MANIFEST_NAME) == 0)
        return 0;
    if ((it.key = strdup(key)) == NULL)
        return ENOMEM;
    it.size = info->size;
    if (ccr_array_append(&job->items, &it) != 0) {
        free(it.key);
        return ENOMEM;
    }
    return 0;
}

/* Uploads one local file as key, unless the store holds it with that size already. */
static int push_one(const char *dir, struct fetch_store *dst, const struct push_item *it, int *skipped,
                    uint64_t *size)
{
    struct fetch_object_info there;
    struct fetch_source src;
    struct stat st;
    const char *key = it->key;
    char *path = ccr_path_join(dir, key);
    int fd, rc;

    *skipped = 0;
    if (path == NULL)
        return ENOMEM;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = ccr_err_set(errno, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(path);
        return rc;
    }
    *size = (uint64_t)st.st_size;
    if (it->listed) {
        rc = it->remote_present ? 0 : ENOENT;
        there.size = it->remote_size;
    } else {
        rc = fetch_stat(dst, key, &there);
    }
    if (rc == 0 && there.size == (uint64_t)st.st_size) {
        *skipped = 1;
    } else if (rc == 0 || rc == ENOENT) {
        ccr_err_clear();
        fetch_source_fd(&src, fd, (uint64_t)st.st_size);
        rc = fetch_put(dst, key, &src);
    }
    close(fd);
    free(path);
    return rc;
}

static void *push_worker(void *arg)
{
    struct push_job *job = arg;

    for (;;) {
        struct push_item *it;
        uint64_t size = 0;
        int skipped, rc;

        pthread_mutex_lock(&job->lock);
        if (job->next == job->items.len || job->failed) {
            pthread_mutex_unlock(&job->lock);
            break;
        }
        it = &CCR_ARRAY_AT(&job->items, struct push_item, job->next++);
        pthread_mutex_unlock(&job->lock);
        rc = push_one(job->dir, job->dst, it, &skipped, &size);
        pthread_mutex_lock(&job->lock);
        if (rc != 0) {
            if (!job->failed)
                snprintf(job->first_error, sizeof job->first_error, "%s: %s", it->key, ccr_err_msg(rc));
            job->failed = 1;
        } else if (skipped) {
            job->skipped++;
        } else {
            job->uploaded++;
            job->bytes_uploaded += size;
        }
        cli_progress_add(&job->bar, it->size);
        pthread_mutex_unlock(&job->lock);
    }
    return NULL;
}

static int item_cmp(const void *a, const void *b)
{
    return strcmp(((const struct push_item *)a)->key, ((const struct push_item *)b)->key);
}

static int mark_remote(void *arg, const char *key, const struct fetch_object_info *info)
{
    struct push_job *job = arg;
    struct push_item probe = {.key = (char *)key};
    struct push_item *it = bsearch(&probe, job->items.items, job->items.len, sizeof *it, item_cmp);

    if (it != NULL) {
        it->remote_present = 1;
        it->remote_size = info->size;
    }
    return 0;
}

/* One listing of the store replaces a request per object where the store can list; where it
 * cannot (plain HTTP), each object is asked about on its own. */
static int read_remote_listing(struct push_job *job)
{
    int rc;

    if (job->items.len > 1)
        qsort(job->items.items, job->items.len, sizeof(struct push_item), item_cmp);
    rc = fetch_list(job->dst, "", mark_remote, job);
    if (rc == ENOTSUP) {
        ccr_err_clear();
        return 0;
    }
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < job->items.len; i++)
        CCR_ARRAY_AT(&job->items, struct push_item, i).listed = 1;
    return 0;
}

/* The manifest goes last, and only when it differs from what the store holds. */
static int push_manifest(const char *dir, struct fetch_store *dst, const uint8_t *obj, size_t len, int *same)
{
    struct fetch_source src;
    uint8_t *there = NULL;
    size_t there_len = 0;
    int rc = fetch_read_object(dst, FMT_MANIFEST_NAME, FMT_MANIFEST_MAX, &there, &there_len);

    (void)dir;
    *same = rc == 0 && there_len == len && memcmp(there, obj, len) == 0;
    free(there);
    if (rc != 0 && rc != ENOENT && rc != EFBIG)
        return rc;
    if (*same)
        return 0;
    ccr_err_clear();
    fetch_source_memory(&src, obj, len);
    return fetch_put(dst, FMT_MANIFEST_NAME, &src);
}

int cli_cmd_push(int argc, char **argv)
{
    static const struct option opts[] = {{"jobs", required_argument, 0, 'j'},
                                         {"ca-file", required_argument, 0, 'c'},
                                         {"endpoint", required_argument, 0, 'e'},
                                         {"account-key-file", required_argument, 0, 'K'},
                                         {"sas-file", required_argument, 0, 'S'},
                                         {"token-file", required_argument, 0, 'T'},
                                         {"managed-identity", no_argument, 0, 'M'},
                                         CLI_STORE_LONG_OPTIONS,
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    struct fetch_options opt;
    struct push_job job;
    struct fetch_store *src = NULL, *dst = NULL;
    pthread_t threads[64];
    size_t started = 0;
    /* Small objects are bound by round trips, not bandwidth: as many in flight as a store
     * connection pool holds by default (fetch/http.c). */
    uint64_t jobs = 16, total = 0, payload_len;
    uint8_t *manifest = NULL;
    size_t manifest_len = 0;
    char *manifest_path = NULL, shown[512], id[FMT_DATASET_ID_LEN + 1];
    int c, rc, status = CLI_EXIT_FAIL, same = 0;

    memset(&opt, 0, sizeof opt);
    memset(&job, 0, sizeof job);
    ccr_array_init(&job.items, sizeof(struct push_item));
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "j:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            if (cli_parse_uint(optarg, 1, 64, &jobs) != 0)
                return cli_usage("--jobs: expected a number from 1 to 64, got \"%s\"", optarg);
            break;
        case 'c':
            opt.ca_file = optarg;
            break;
        case 'e':
            opt.endpoint = optarg;
            break;
        case 'K':
            opt.az_key_file = optarg;
            break;
        case 'S':
            opt.az_sas_file = optarg;
            break;
        case 'T':
            opt.az_token_file = optarg;
            break;
        case 'M':
            opt.az_managed_identity = 1;
            break;
        case 'h':
            fputs(push_usage, stdout);
            return CLI_EXIT_OK;
        default:
            switch (cli_store_option_take(c, optarg)) {
            case 1:
                break;
            case 0:
                return cli_usage("unknown option or missing value: %s", argv[optind - 1]);
            default:
                return CLI_EXIT_USAGE;
            }
        }
    }
    if (argc - optind != 2)
        return cli_usage("expected DATASET_DIR and STORE_URL");
    job.dir = argv[optind];
    fetch_url_scrub(argv[optind + 1], shown, sizeof shown);
    if ((manifest_path = ccr_path_join(job.dir, FMT_MANIFEST_NAME)) == NULL)
        return cli_fail("out of memory");
    if ((rc = ccr_read_file(manifest_path, FMT_MANIFEST_MAX, &manifest, &manifest_len)) != 0) {
        cli_fail("%s is not a packed dataset: %s", job.dir, ccr_err_msg(rc));
        goto out;
    }
    if ((rc = fmt_manifest_peek(manifest, manifest_len, &payload_len)) != 0) {
        cli_fail_rc(rc, manifest_path);
        goto out;
    }
    fmt_dataset_id(manifest, manifest_len, id);
    if ((rc = fetch_options_from_env(&opt)) != 0) {
        cli_fail_rc(rc, NULL);
        goto out;
    }
    if ((rc = fetch_file_create(job.dir, &src)) != 0 || (rc = fetch_list(src, "", collect, &job)) != 0) {
        cli_fail_rc(rc, job.dir);
        goto out;
    }
    if ((rc = fetch_store_open(argv[optind + 1], &opt, &dst)) != 0) {
        cli_fail_rc(rc, shown);
        goto out;
    }
    job.dst = dst;
    if ((rc = read_remote_listing(&job)) != 0) {
        cli_fail_rc(rc, shown);
        goto out;
    }
    for (size_t i = 0; i < job.items.len; i++)
        total += CCR_ARRAY_AT(&job.items, struct push_item, i).size;
    pthread_mutex_init(&job.lock, NULL);
    cli_progress_start(&job.bar, "pushing", total);
    for (; started < jobs && started < job.items.len; started++) {
        if (pthread_create(&threads[started], NULL, push_worker, &job) != 0)
            break;
    }
    if (started == 0 && job.items.len > 0)
        push_worker(&job);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    cli_progress_finish(&job.bar);
    pthread_mutex_destroy(&job.lock);
    if (job.failed) {
        cli_fail("%s", job.first_error);
        cli_fail("%zu objects uploaded, %zu already there; the manifest was not uploaded; run push again to "
                 "finish",
                 job.uploaded, job.skipped);
        goto out;
    }
    if ((rc = push_manifest(job.dir, dst, manifest, manifest_len, &same)) != 0) {
        cli_fail_rc(rc, FMT_MANIFEST_NAME);
        goto out;
    }
    printf("pushed to %s: %zu objects uploaded (%llu bytes), %zu already there, manifest %s\n", shown,
           job.uploaded, (unsigned long long)job.bytes_uploaded, job.skipped,
           same ? "already there" : "uploaded");
    printf("%s\n", id);
    status = CLI_EXIT_OK;
out:
    for (size_t i = 0; i < job.items.len; i++)
        free(CCR_ARRAY_AT(&job.items, struct push_item, i).key);
    ccr_array_free(&job.items);
    fetch_store_destroy(src);
    fetch_store_destroy(dst);
    free(manifest);
    free(manifest_path);
    return status;
}
