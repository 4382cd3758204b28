#include "fs/ephemeral.h"
#include "common/array.h"
#include "common/random.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/secmem.h"
#include "format/crypto.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EPH_BS   FS_EPHEMERAL_BLOCK
#define EPH_SLOT (EPH_BS + FMT_TAG_LEN)

/* Lock order: a file's lock, then the store's lock. */
struct fs_ephemeral {
    int fd;       /* the unlinked backing file: an array of slots of sealed blocks */
    uint8_t *key; /* FMT_KEY_LEN bytes of locked memory */
    uint64_t max_bytes;
    atomic_uint_least64_t next_nonce; /* never repeats under this key */
    atomic_uint_least64_t next_file_id;
    atomic_int wiped;            /* the key is gone (revocation) */
    pthread_mutex_t lock;        /* protects the fields below */
    struct ccr_array free_slots; /* uint32_t: slots to reuse */
    uint32_t slots_total;        /* slots ever allocated in the backing file */
    uint64_t blocks_used, files;
};

struct eph_block {
    uint32_t slot_plus1; /* 0: not written here (hole, or read through to the lower file) */
    uint64_t nonce;
};

#define BLOCK(f, b) CCR_ARRAY_AT(&(f)->blocks, struct eph_block, b)

struct fs_ephemeral_file {
    struct fs_ephemeral *e;
    uint64_t id;
    pthread_mutex_t lock; /* protects the fields below */
    uint64_t size;
    uint64_t lower_size; /* bytes still read through to the lower file */
    fs_ephemeral_lower_read lower;
    void *lower_arg;
    struct ccr_array blocks; /* struct eph_block, by block number */
    int written;
};

int fs_ephemeral_create(const char *dir, uint64_t max_bytes, struct fs_ephemeral **out)
{
    struct fs_ephemeral *e = calloc(1, sizeof *e);
    int rc;

    if (e == NULL)
        return ENOMEM;
    ccr_array_init(&e->free_slots, sizeof(uint32_t));
    e->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (e->fd < 0) {
        rc = ccr_err_set(errno, "overlay folder %s: %s", dir, strerror(errno));
        free(e);
        return rc;
    }
    e->key = ccr_secmem_alloc(FMT_KEY_LEN);
    if (e->key == NULL || (rc = ccr_random(e->key, FMT_KEY_LEN)) != 0) {
        rc = e->key == NULL ? ENOMEM : rc;
        ccr_secmem_free(e->key, FMT_KEY_LEN);
        close(e->fd);
        free(e);
        return rc;
    }
    e->max_bytes = max_bytes;
    pthread_mutex_init(&e->lock, NULL);
    *out = e;
    return 0;
}

void fs_ephemeral_destroy(struct fs_ephemeral *e)
{
    if (e == NULL)
        return;
    ccr_secmem_free(e->key, FMT_KEY_LEN);
    close(e->fd);
    ccr_array_free(&e->free_slots);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

void fs_ephemeral_get_stats(struct fs_ephemeral *e, struct fs_ephemeral_stats *out)
{
    pthread_mutex_lock(&e->lock);
    out->files = e->files;
    out->blocks_used = e->blocks_used;
    out->bytes_stored = e->blocks_used * EPH_BS;
    out->max_bytes = e->max_bytes;
    pthread_mutex_unlock(&e->lock);
}

void fs_ephemeral_wipe(struct fs_ephemeral *e)
{
    if (!atomic_exchange(&e->wiped, 1))
        OPENSSL_cleanse(e->key, FMT_KEY_LEN);
}

static int eph_revoked(struct fs_ephemeral *e)
{
    return atomic_load(&e->wiped) ? ccr_err_set(EACCES, "access revoked: the overlay's key was wiped") : 0;
}

static int eph_slot_alloc(struct fs_ephemeral *e, uint32_t *slot)
{
    int rc = 0;
    pthread_mutex_lock(&e->lock);
    if (e->max_bytes != 0 && (e->blocks_used + 1) * EPH_BS > e->max_bytes) {
        rc = ccr_err_set(ENOSPC, "the overlay is full (%llu bytes)", (unsigned long long)e->max_bytes);
    } else if (e->free_slots.len > 0) {
        *slot = CCR_ARRAY_AT(&e->free_slots, uint32_t, --e->free_slots.len);
        e->blocks_used++;
    } else if (e->slots_total == UINT32_MAX - 1) {
        rc = ENOSPC;
    } else {
        *slot = e->slots_total++;
        e->blocks_used++;
    }
    pthread_mutex_unlock(&e->lock);
    return rc;
}

static void eph_slot_free(struct fs_ephemeral *e, uint32_t slot)
{
    pthread_mutex_lock(&e->lock);
    /* Out of memory: the slot is simply not reused; the space comes back at unmount. */
    (void)ccr_array_append(&e->free_slots, &slot);
    e->blocks_used--;
    pthread_mutex_unlock(&e->lock);
}

/* Binds a sealed block to its file and position, so blocks cannot be moved between files or
 * offsets inside the backing file. */
static void eph_aad(const struct fs_ephemeral_file *f, uint64_t block, uint8_t aad[16])
{
    ccr_put_le64(aad, f->id);
    ccr_put_le64(aad + 8, block);
}

static void eph_nonce(uint64_t counter, uint8_t nonce[FMT_NONCE_LEN])
{
    memset(nonce, 0, FMT_NONCE_LEN);
    ccr_put_le64(nonce + 4, counter);
}

int fs_ephemeral_file_new(struct fs_ephemeral *e, uint64_t lower_size, fs_ephemeral_lower_read lower,
                          void *lower_arg, struct fs_ephemeral_file **out)
{
    struct fs_ephemeral_file *f = calloc(1, sizeof *f);

    if (f == NULL)
        return ENOMEM;
    if (lower_size > 0 && lower == NULL) {
        free(f);
        return ccr_err_set(EINVAL, "a lower size without a lower file");
    }
    f->e = e;
    ccr_array_init(&f->blocks, sizeof(struct eph_block));
    f->id = atomic_fetch_add(&e->next_file_id, 1);
    f->size = lower_size;
    f->lower_size = lower_size;
    f->lower = lower;
    f->lower_arg = lower_arg;
    pthread_mutex_init(&f->lock, NULL);
    pthread_mutex_lock(&e->lock);
    e->files++;
    pthread_mutex_unlock(&e->lock);
    *out = f;
    return 0;
}

static void eph_drop_blocks_from(struct fs_ephemeral_file *f, uint64_t first)
{
    for (uint64_t b = first; b < f->blocks.len; b++) {
        if (BLOCK(f, b).slot_plus1 != 0)
            eph_slot_free(f->e, BLOCK(f, b).slot_plus1 - 1);
        BLOCK(f, b).slot_plus1 = 0;
    }
}

void fs_ephemeral_file_free(struct fs_ephemeral_file *f)
{
    if (f == NULL)
        return;
    eph_drop_blocks_from(f, 0);
    pthread_mutex_lock(&f->e->lock);
    f->e->files--;
    pthread_mutex_unlock(&f->e->lock);
    ccr_array_free(&f->blocks);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

uint64_t fs_ephemeral_file_size(struct fs_ephemeral_file *f)
{
    uint64_t s;
    pthread_mutex_lock(&f->lock);
    s = f->size;
    pthread_mutex_unlock(&f->lock);
    return s;
}

int fs_ephemeral_file_untouched(struct fs_ephemeral_file *f)
{
    int r;
    pthread_mutex_lock(&f->lock);
    r = !f->written && f->size == f->lower_size;
    pthread_mutex_unlock(&f->lock);
    return r;
}

/* The current plaintext of block b (a whole block; zeros past the data). f->lock held. */
static int eph_load_block(struct fs_ephemeral_file *f, uint64_t b, uint8_t *out)
{
    uint64_t start = b * EPH_BS;

    memset(out, 0, EPH_BS);
    if (b < f->blocks.len && BLOCK(f, b).slot_plus1 != 0) {
        uint8_t sealed[EPH_SLOT], nonce[FMT_NONCE_LEN], aad[16];
        int rc = eph_revoked(f->e);
        if (rc != 0)
            return rc;
        rc = ccr_pread_all(f->e->fd, sealed, EPH_SLOT, (uint64_t)(BLOCK(f, b).slot_plus1 - 1) * EPH_SLOT);
        if (rc != 0)
            return ccr_err_set(EIO, "overlay backing file: read failed");
        eph_nonce(BLOCK(f, b).nonce, nonce);
        eph_aad(f, b, aad);
        if (fmt_gcm_open(f->e->key, nonce, aad, sizeof aad, sealed, EPH_BS, sealed + EPH_BS, out) != 0)
            return ccr_err_set(EBADMSG, "overlay block %llu does not authenticate", (unsigned long long)b);
        return 0;
    }
    if (start < f->lower_size) {
        size_t n = f->lower_size - start < EPH_BS ? (size_t)(f->lower_size - start) : EPH_BS;
        return f->lower(f->lower_arg, out, n, start);
    }
    return 0;
}

static int eph_store_block(struct fs_ephemeral_file *f, uint64_t b, const uint8_t *plain)
{
    uint8_t sealed[EPH_SLOT], nonce[FMT_NONCE_LEN], aad[16];
    uint64_t counter = atomic_fetch_add(&f->e->next_nonce, 1);
    uint32_t slot = 0;
    int rc;

    if ((rc = eph_revoked(f->e)) != 0)
        return rc;
    if (b >= SIZE_MAX / sizeof(struct eph_block) || ccr_array_reserve(&f->blocks, (size_t)b + 1) != 0)
        return ENOMEM;
    while (f->blocks.len <= b)
        (void)ccr_array_push(&f->blocks); /* room was reserved: zeroed entries, holes */
    if (BLOCK(f, b).slot_plus1 != 0) {
        slot = BLOCK(f, b).slot_plus1 - 1;
    } else if ((rc = eph_slot_alloc(f->e, &slot)) != 0) {
        return rc;
    }
    eph_nonce(counter, nonce);
    eph_aad(f, b, aad);
    if ((rc = fmt_gcm_seal(f->e->key, nonce, aad, sizeof aad, plain, EPH_BS, sealed, sealed + EPH_BS)) == 0) {
        ssize_t w = pwrite(f->e->fd, sealed, EPH_SLOT, (off_t)((uint64_t)slot * EPH_SLOT));
        if (w != EPH_SLOT)
            rc = ccr_err_set(w < 0 ? errno : ENOSPC, "overlay backing file: write failed");
    }
    if (rc != 0) {
        if (BLOCK(f, b).slot_plus1 == 0)
            eph_slot_free(f->e, slot);
        return rc;
    }
    BLOCK(f, b).slot_plus1 = slot + 1;
    BLOCK(f, b).nonce = counter;
    return 0;
}

int fs_ephemeral_file_read(struct fs_ephemeral_file *f, void *buf, size_t len, uint64_t off, size_t *got)
{
    uint8_t *block = ccr_secmem_alloc(EPH_BS);
    uint8_t *dst = buf;
    size_t done = 0;
    int rc = 0;

    if (block == NULL)
        return ENOMEM;
    pthread_mutex_lock(&f->lock);
    if (off < f->size && len > f->size - off)
        len = (size_t)(f->size - off);
    if (off >= f->size)
        len = 0;
    while (done < len) {
        uint64_t pos = off + done, b = pos / EPH_BS;
        size_t in = (size_t)(pos % EPH_BS), n = EPH_BS - in < len - done ? EPH_BS - in : len - done;
        if ((rc = eph_load_block(f, b, block)) != 0)
            break;
        memcpy(dst + done, block + in, n);
        done += n;
    }
    pthread_mutex_unlock(&f->lock);
    ccr_secmem_free(block, EPH_BS);
    if (rc != 0) {
        OPENSSL_cleanse(buf, done);
        return rc;
    }
    *got = done;
    return 0;
}

int fs_ephemeral_file_write(struct fs_ephemeral_file *f, const void *buf, size_t len, uint64_t off)
{
    uint8_t *block = ccr_secmem_alloc(EPH_BS);
    const uint8_t *src = buf;
    size_t done = 0;
    int rc = 0;

    if (block == NULL)
        return ENOMEM;
    if (off > UINT64_MAX - len || (off + len) / EPH_BS >= UINT32_MAX) {
        ccr_secmem_free(block, EPH_BS);
        return EFBIG;
    }
    pthread_mutex_lock(&f->lock);
    while (done < len) {
        uint64_t pos = off + done, b = pos / EPH_BS;
        size_t in = (size_t)(pos % EPH_BS), n = EPH_BS - in < len - done ? EPH_BS - in : len - done;
        /* A partial block keeps what it held; a whole block needs no read. Past the end of the
         * file, the old bytes are zeros by definition. */
        if (n != EPH_BS) {
            if (b * EPH_BS < f->size) {
                if ((rc = eph_load_block(f, b, block)) != 0)
                    break;
                /* Bytes past the old size inside this block must read as zeros, even if the
                 * lower file had more there before a truncate. */
                if (f->size < (b + 1) * EPH_BS && f->size > b * EPH_BS)
                    memset(block + (f->size - b * EPH_BS), 0, (size_t)((b + 1) * EPH_BS - f->size));
            } else {
                memset(block, 0, EPH_BS);
            }
        }
        memcpy(block + in, src + done, n);
        if ((rc = eph_store_block(f, b, block)) != 0)
            break;
        done += n;
        f->written = 1;
        if (pos + n > f->size)
            f->size = pos + n;
    }
    pthread_mutex_unlock(&f->lock);
    ccr_secmem_free(block, EPH_BS);
    return rc;
}

int fs_ephemeral_file_truncate(struct fs_ephemeral_file *f, uint64_t size)
{
    int rc = 0;

    if (size / EPH_BS >= UINT32_MAX)
        return EFBIG;
    pthread_mutex_lock(&f->lock);
    if (size < f->size) {
        uint64_t keep = (size + EPH_BS - 1) / EPH_BS; /* blocks that still hold data */
        if (size % EPH_BS != 0) {
            /* The block the new end falls in keeps its head and must read zeros after it. */
            uint8_t *block = ccr_secmem_alloc(EPH_BS);
            if (block == NULL) {
                rc = ENOMEM;
            } else {
                uint64_t b = size / EPH_BS;
                rc = eph_load_block(f, b, block);
                if (rc == 0) {
                    memset(block + size % EPH_BS, 0, EPH_BS - size % EPH_BS);
                    rc = eph_store_block(f, b, block);
                }
                ccr_secmem_free(block, EPH_BS);
            }
        }
        if (rc == 0) {
            if (keep < f->blocks.len)
                eph_drop_blocks_from(f, keep);
            if (f->lower_size > size)
                f->lower_size = size;
        }
    }
    if (rc == 0) {
        f->size = size;
        f->written = 1;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}
