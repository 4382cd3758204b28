#include "format/pack.h"
#include "format/blob.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/random.h"

#include <dirent.h>
#include <openssl/crypto.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PACK_JOBS_MAX 256

static int list_add(struct fmt_pack_list *l, const char *rel, const struct stat *st)
{
    struct fmt_pack_item it = {strdup(rel), *st};

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

static int walk(const char *src, const char *rel, struct fmt_pack_list *l)
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
                rc = list_add(l, child, &st);
            if (rc == 0 && S_ISDIR(st.st_mode))
                rc = walk(src, child, l);
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

int fmt_pack_scan(const char *src, struct fmt_pack_list *out)
{
    memset(out, 0, sizeof *out);
    ccr_array_init(&out->items, sizeof(struct fmt_pack_item));
    return walk(src, "", out);
}

void fmt_pack_list_free(struct fmt_pack_list *l)
{
    for (size_t i = 0; i < l->items.len; i++)
        free(CCR_ARRAY_AT(&l->items, struct fmt_pack_item, i).rel);
    ccr_array_free(&l->items);
}

/* Shared by the workers: items are handed out by index and each result lands in its own
 * slot, so the manifest comes out the same whatever order the threads finish in. */
struct pack_run {
    const struct fmt_dek *dek;
    const char *src;
    const struct fmt_pack_list *list;
    const struct fmt_pack_options *opt;
    int blobs_fd;
    struct fmt_manifest_entry *entries; /* one per item */
    pthread_mutex_t lock;
    size_t next;
    int failed;
    char first_error[CCR_ERR_MSG_MAX];
};

static int same_file_state(const struct stat *a, const struct stat *b)
{
    return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ino == b->st_ino && a->st_dev == b->st_dev;
}

/* Salts and blob names are public: one generator call serves many files instead of two each. */
struct random_pool {
    uint8_t bytes[4096];
    size_t used;
};

static int random_take(struct random_pool *p, uint8_t *out, size_t len)
{
    int rc;

    if (p->used + len > sizeof p->bytes) {
        if ((rc = ccr_random(p->bytes, sizeof p->bytes)) != 0)
            return rc;
        p->used = 0;
    }
    memcpy(out, p->bytes + p->used, len);
    p->used += len;
    return 0;
}

/* Per-thread state of a worker. */
struct pack_worker_state {
    struct fmt_blob_scratch scratch;
    struct random_pool random;
};

static int pack_file(struct pack_run *r, const struct fmt_pack_item *it, struct fmt_manifest_entry *e,
                     struct pack_worker_state *w)
{
    char *in_path = ccr_path_join(r->src, it->rel);
    struct fmt_blob_key *k = NULL;
    uint8_t name_bytes[16], salt[FMT_SALT_LEN];
    struct stat st;
    int in_fd = -1, out_fd = -1, rc;

    if (in_path == NULL)
        return ENOMEM;
    in_fd = open(in_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in_fd < 0) {
        rc = errno == ENOENT ? ccr_err_set(ENOENT, "%s vanished while packing", in_path)
                             : ccr_err_set(errno, "cannot read %s: %s", in_path, strerror(errno));
        goto out;
    }
    if (fstat(in_fd, &st) != 0 || !S_ISREG(st.st_mode) || !same_file_state(&st, &it->st)) {
        rc = ccr_err_set(EIO, "%s changed while packing", in_path);
        goto out;
    }
    if ((rc = random_take(&w->random, name_bytes, sizeof name_bytes)) != 0 ||
        (rc = random_take(&w->random, salt, sizeof salt)) != 0)
        goto out;
    ccr_hex_encode(name_bytes, sizeof name_bytes, e->blob);
    out_fd = openat(r->blobs_fd, e->blob, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out_fd < 0) {
        rc = ccr_err_set(errno, "cannot create blob %s for %s: %s", e->blob, in_path, strerror(errno));
        goto out;
    }
    if ((rc = fmt_blob_key_create(r->dek, r->opt->log2_block, (uint64_t)st.st_size, salt, &k)) != 0)
        goto out;
    if ((uint64_t)st.st_size <= FMT_BLOB_SMALL_MAX)
        rc = fmt_blob_encrypt_small_fd(k, in_fd, out_fd, e->sha256, &w->scratch);
    else
        rc = fmt_blob_encrypt_fd(k, in_fd, out_fd, e->sha256, NULL, NULL);
    if (rc != 0) {
        ccr_err_wrap(rc, "%s: ", in_path);
        goto out;
    }
    /* A file that grew, shrank or was written to while it was read has another size or mtime
     * now; the small-file path relies on this check instead of reading past the end. */
    if (fstat(in_fd, &st) != 0 || !same_file_state(&st, &it->st)) {
        rc = ccr_err_set(EIO, "%s changed while packing", in_path);
        goto out;
    }
    e->size = (uint64_t)st.st_size;
    e->log2_block = (uint8_t)r->opt->log2_block;
    memcpy(e->salt, k->header.salt, FMT_SALT_LEN);
    memcpy(e->header_tag, k->header.tag, FMT_TAG_LEN);
out:
    fmt_blob_key_free(k);
    if (in_fd >= 0)
        close(in_fd);
    if (out_fd >= 0 && close(out_fd) != 0 && rc == 0)
        rc = ccr_err_set(errno, "blob %s for %s: %s", e->blob, in_path, strerror(errno));
    free(in_path);
    return rc;
}

static void *pack_worker(void *arg)
{
    struct pack_run *r = arg;
    struct pack_worker_state *w = calloc(1, sizeof *w);
    int rc = w == NULL ? ENOMEM : fmt_blob_scratch_init(&w->scratch);

    if (rc != 0) {
        pthread_mutex_lock(&r->lock);
        if (!r->failed)
            snprintf(r->first_error, sizeof r->first_error, "out of memory for encryption buffers");
        r->failed = rc;
        pthread_mutex_unlock(&r->lock);
        free(w);
        return NULL;
    }
    w->random.used = sizeof w->random.bytes;
    for (;;) {
        const struct fmt_pack_item *it;
        size_t i;

        pthread_mutex_lock(&r->lock);
        if (r->failed || r->next == r->list->items.len) {
            pthread_mutex_unlock(&r->lock);
            break;
        }
        i = r->next++;
        pthread_mutex_unlock(&r->lock);
        it = &CCR_ARRAY_AT(&r->list->items, struct fmt_pack_item, i);
        if (!S_ISREG(it->st.st_mode))
            continue;
        rc = pack_file(r, it, &r->entries[i], w);
        pthread_mutex_lock(&r->lock);
        if (rc != 0 && !r->failed) {
            snprintf(r->first_error, sizeof r->first_error, "%s", ccr_err_msg(rc));
            r->failed = rc;
        }
        if (rc == 0 && r->opt->progress != NULL)
            r->opt->progress(r->opt->progress_arg, (uint64_t)it->st.st_size);
        pthread_mutex_unlock(&r->lock);
    }
    fmt_blob_scratch_free(&w->scratch);
    OPENSSL_cleanse(w, sizeof *w);
    free(w);
    return NULL;
}

static unsigned pack_jobs(const struct fmt_pack_options *opt, size_t items)
{
    long n = opt->jobs ? (long)opt->jobs : sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1)
        n = 1;
    if (n > PACK_JOBS_MAX)
        n = PACK_JOBS_MAX;
    if ((size_t)n > items)
        n = items ? (long)items : 1;
    return (unsigned)n;
}

static int run_workers(struct pack_run *r)
{
    pthread_t threads[PACK_JOBS_MAX];
    unsigned want = pack_jobs(r->opt, r->list->items.len), started = 0;

    for (; started < want; started++)
        if (pthread_create(&threads[started], NULL, pack_worker, r) != 0)
            break;
    if (started == 0)
        pack_worker(r);
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    if (r->failed)
        return ccr_err_set(r->failed, "%s", r->first_error);
    return 0;
}

/* One sync of the whole file system replaces an fsync per blob; the folder entries follow. */
static int sync_blobs(int blobs_fd, const char *blobs_dir)
{
    if (syncfs(blobs_fd) != 0 || fsync(blobs_fd) != 0)
        return ccr_err_set(errno, "cannot sync %s: %s", blobs_dir, strerror(errno));
    return 0;
}

int fmt_pack_run(const struct fmt_dek *dek, const char *src, const struct fmt_pack_list *l,
                 const char *out_dir, const struct fmt_pack_options *opt, struct fmt_manifest *m,
                 uint8_t **obj, size_t *obj_len)
{
    struct pack_run r;
    char *blobs_dir = ccr_path_join(out_dir, "blobs");
    char *manifest_path = ccr_path_join(out_dir, FMT_MANIFEST_NAME);
    size_t n = l->items.len;
    int rc = 0;

    memset(&r, 0, sizeof r);
    memset(m, 0, sizeof *m);
    *obj = NULL;
    r.blobs_fd = -1;
    if (blobs_dir == NULL || manifest_path == NULL ||
        (r.entries = calloc(n ? n : 1, sizeof *r.entries)) == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if (opt->log2_block < FMT_LOG2_BLOCK_MIN || opt->log2_block > FMT_LOG2_BLOCK_MAX) {
        rc = ccr_err_set(EINVAL, "block size 2^%u is out of range", opt->log2_block);
        goto out;
    }
    if (mkdir(blobs_dir, 0755) != 0 ||
        (r.blobs_fd = open(blobs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = ccr_err_set(errno, "cannot create %s: %s", blobs_dir, strerror(errno));
        goto out;
    }
    r.dek = dek;
    r.src = src;
    r.list = l;
    r.opt = opt;
    pthread_mutex_init(&r.lock, NULL);
    rc = run_workers(&r);
    pthread_mutex_destroy(&r.lock);
    if (rc != 0 || (rc = sync_blobs(r.blobs_fd, blobs_dir)) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct fmt_pack_item *it = &CCR_ARRAY_AT(&l->items, struct fmt_pack_item, i);
        struct fmt_manifest_entry *e = &r.entries[i];
        e->path = it->rel;
        e->mode = it->st.st_mode & 07777;
        e->mtime_sec = it->st.st_mtim.tv_sec;
        e->mtime_nsec = (uint32_t)it->st.st_mtim.tv_nsec;
        e->type = S_ISDIR(it->st.st_mode) ? FMT_ENTRY_DIR : FMT_ENTRY_FILE;
        if ((rc = fmt_manifest_add(m, e)) != 0)
            goto out;
    }
    fmt_manifest_sort(m);
    /* Last, and through a temporary file and a rename: whoever sees a manifest sees every blob. */
    if ((rc = fmt_manifest_seal(dek, m, NULL, obj, obj_len)) != 0 ||
        (rc = ccr_write_file_new(manifest_path, *obj, *obj_len, 0644)) != 0)
        ccr_err_wrap(rc, "%s: ", manifest_path);
out:
    if (rc != 0) {
        fmt_manifest_free(m);
        free(*obj);
        *obj = NULL;
    }
    if (r.blobs_fd >= 0)
        close(r.blobs_fd);
    free(r.entries);
    free(blobs_dir);
    free(manifest_path);
    return rc;
}
