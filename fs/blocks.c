/* Below the block-read routine (fs/core_read.c): fetching runs of
 * blocks with many ranged requests in flight, authenticating and decrypting them. */
#include "fs/internal.h"
#include "common/err.h"
#include "common/log.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

/* Ciphertext lands in a per-thread buffer, reused across requests (ciphertext is not
 * secret; the plaintext goes straight into locked memory). */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

struct scratch {
    uint8_t *buf;
    size_t cap;
};

static void scratch_free(void *p)
{
    struct scratch *s = p;
    if (s != NULL)
        free(s->buf);
    free(s);
}

static void scratch_init(void)
{
    (void)pthread_key_create(&scratch_key, scratch_free);
}

uint8_t *fs_scratch_get(size_t len)
{
    struct scratch *s;

    pthread_once(&scratch_once, scratch_init);
    s = pthread_getspecific(scratch_key);
    if (s == NULL) {
        if ((s = calloc(1, sizeof *s)) == NULL)
            return NULL;
        if (pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (s->cap < len) {
        uint8_t *b = realloc(s->buf, len);
        if (b == NULL)
            return NULL;
        s->buf = b;
        s->cap = len;
    }
    return s->buf;
}

void fs_report_integrity(struct fs_mount *m, struct fs_node *n, uint64_t block, const char *why)
{
    atomic_fetch_add(&m->integrity_failures, 1);
    if (block == FS_HEADER_BLOCK)
        ccr_log_error("integrity failure: %s: blob header: %s", n->e->path, why);
    else
        ccr_log_error("integrity failure: %s: block %llu does not authenticate; reads of it fail with EIO",
                      n->e->path, (unsigned long long)block);
    if (m->hooks != NULL && m->hooks->on_integrity_failure != NULL)
        m->hooks->on_integrity_failure(m->hooks->arg, n->e->path, block);
}

int fs_fetch_blocks(struct fs_mount *m, struct fs_node *n, const struct fmt_blob_key *k,
                    struct fs_fetch_item *it, size_t count)
{
    const struct fmt_blob_header *h = &k->header;
    char key[FMT_BLOB_NAME_MAX + 8];
    struct fetch_range *ranges;
    size_t nranges = 0, total = 0, *first_item;
    uint8_t *scratch;
    int first_rc = 0;

    if (count == 0)
        return 0;
    for (size_t i = 0; i < count; i++)
        total += it[i].len + FMT_TAG_LEN;
    ranges = calloc(count, sizeof *ranges);
    first_item = calloc(count, sizeof *first_item);
    scratch = fs_scratch_get(total);
    if (ranges == NULL || first_item == NULL || scratch == NULL) {
        free(ranges);
        free(first_item);
        for (size_t i = 0; i < count; i++)
            it[i].rc = ENOMEM;
        return ENOMEM;
    }
    fmt_dataset_blob_key(n->e, key, sizeof key);
    /* Adjacent blocks share one ranged request, up to FS_RANGE_MAX bytes each. */
    for (size_t i = 0, off = 0; i < count; i++) {
        size_t enc = it[i].len + FMT_TAG_LEN;
        struct fetch_range *r = nranges ? &ranges[nranges - 1] : NULL;
        if (r != NULL && it[i].block == it[i - 1].block + 1 && r->len + enc <= FS_RANGE_MAX) {
            r->len += enc;
        } else {
            r = &ranges[nranges];
            first_item[nranges++] = i;
            r->key = key;
            r->offset = fmt_blob_block_offset(h, it[i].block);
            r->len = enc;
            r->buf = scratch + off;
        }
        off += enc;
    }
    ccr_err_clear();
    (void)fetch_read_many(m->ds->store, ranges, nranges);
    for (size_t r = 0; r < nranges; r++) {
        size_t end = r + 1 < nranges ? first_item[r + 1] : count;
        const uint8_t *in = ranges[r].buf;
        if (ranges[r].result != 0) {
            atomic_fetch_add(&m->store_errors, 1);
            ccr_log_error("read %s: blocks %llu..%llu: %s", n->e->path,
                          (unsigned long long)it[first_item[r]].block, (unsigned long long)it[end - 1].block,
                          ccr_err_msg(ranges[r].result));
            for (size_t i = first_item[r]; i < end; i++)
                it[i].rc = EIO;
            if (first_rc == 0)
                first_rc = EIO;
            continue;
        }
        atomic_fetch_add(&m->bytes_fetched, ranges[r].len);
        for (size_t i = first_item[r]; i < end; i++) {
            size_t enc = it[i].len + FMT_TAG_LEN;
            it[i].rc = fmt_blob_decrypt_block(k, it[i].block, in, enc, it[i].dst);
            if (it[i].rc != 0) {
                it[i].rc = EBADMSG;
                fs_report_integrity(m, n, it[i].block, "tag mismatch");
                if (first_rc == 0)
                    first_rc = EBADMSG;
            }
            in += enc;
        }
    }
    free(ranges);
    free(first_item);
    return first_rc;
}
