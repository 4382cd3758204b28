/* Fetch-ahead across the files of a folder: a reader that opens the files of one folder in
 * name order (cat of a folder's files, tar, a DataLoader without shuffle) would otherwise wait for one store
 * round trip per file. Once its opens go in order, the next small files of the folder are
 * opened on the prefetch workers, as the open itself would open them (key derived, blob
 * fetched whole, authenticated, blocks decrypted into the cache), several in flight at once;
 * the real open and its reads then find everything in memory.
 *
 * Fetch-ahead only fills memory: it never hands out bytes, asks no governance hook (each real
 * open and read is still recorded) and stops at revocation. Keys it opens nobody holds, so they
 * go into the bounded LRU of recently used keys (fs/core_keys.c) like a closed file's.
 *
 * The order of each folder being read is kept in a small table (FS_AHEAD_SLOTS entries, one
 * folder each, replaced when another folder maps to the same slot), so the state stays bounded
 * whatever the number of folders. Random order makes FS_AHEAD_STEPS in-order opens of one
 * stride in a row only by rare chance, and one open out of order stops fetch-ahead for that
 * folder again. */
#include "fs/internal.h"

#include <errno.h>

static int is_small_file(const struct fs_node *n)
{
    return n->e != NULL && n->e->type == FMT_ENTRY_FILE && fs_whole_blob_len(n->e) != 0;
}

/* What the kernel's default_permissions check lets the caller open (every file belongs to the
 * mount's uid and gid). Only the caller's primary group is known here, and a caller may be in the
 * mount's group through a supplementary one, where the kernel checks the group bits and not the
 * others'. So a caller outside the primary group gets fetch-ahead only for files both group and
 * others may read: a wrong guess costs speed, never fetches what the caller may not open. */
static int caller_may_read(const struct fs_mount *m, const struct fs_node *n, const struct fs_caller *who)
{
    mode_t mode = n->e->mode;

    if (who->uid == 0)
        return 1;
    if (who->uid == m->uid)
        return (mode & S_IRUSR) != 0;
    if (who->gid == m->gid)
        return (mode & S_IRGRP) != 0;
    return (mode & S_IROTH) != 0 && (mode & S_IRGRP) != 0;
}

/* The position of node idx among the children of dir (they are kept in node order), or -1. */
static int64_t child_pos(const struct fs_node *dir, uint32_t idx)
{
    size_t lo = 0, hi = dir->nchildren;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (dir->children[mid] == idx)
            return (int64_t)mid;
        if (dir->children[mid] < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int key_present(struct fs_mount *m, const struct fs_node *n)
{
    int have;

    pthread_rwlock_rdlock(&m->key_lock);
    have = n->key != NULL;
    pthread_rwlock_unlock(&m->key_lock);
    return have;
}

void fs_ahead_forget(struct fs_mount *m, struct fs_node *n)
{
    uint_least8_t ready = FS_AHEAD_READY;

    if (atomic_compare_exchange_strong(&n->ahead, &ready, FS_AHEAD_NONE)) {
        unsigned allowed = atomic_load(&m->ahead_allowed);
        atomic_fetch_sub(&m->ahead_outstanding, 1);
        /* Fetched for nothing: keep fewer files ahead (never fewer than one). */
        while (allowed > 1 && !atomic_compare_exchange_weak(&m->ahead_allowed, &allowed, allowed - 1))
            ;
    }
}

void fs_ahead_claim(struct fs_mount *m, struct fs_node *n)
{
    uint8_t was;

    /* A file nobody fetches ahead costs its open no lock. */
    if (m->ahead_files == 0 || atomic_load(&n->ahead) == FS_AHEAD_NONE)
        return;
    pthread_mutex_lock(&m->ahead_lock);
    while (atomic_load(&n->ahead) == FS_AHEAD_RUNNING)
        pthread_cond_wait(&m->ahead_done, &m->ahead_lock);
    was = atomic_exchange(&n->ahead, FS_AHEAD_NONE);
    pthread_mutex_unlock(&m->ahead_lock);
    if (was != FS_AHEAD_NONE)
        atomic_fetch_sub(&m->ahead_outstanding, 1);
    if (was == FS_AHEAD_READY && key_present(m, n)) {
        unsigned allowed = atomic_load(&m->ahead_allowed);
        atomic_fetch_add(&m->ahead_files_used, 1);
        while (allowed < m->ahead_max &&
               !atomic_compare_exchange_weak(&m->ahead_allowed, &allowed, allowed + 1))
            ;
    }
}

void fs_ahead_run(struct fs_mount *m, uint32_t node)
{
    struct fs_node *n = &m->tree.nodes[node];
    int fetched = 0;

    pthread_mutex_lock(&m->ahead_lock);
    if (atomic_load(&n->ahead) != FS_AHEAD_QUEUED) { /* an open took it over */
        pthread_mutex_unlock(&m->ahead_lock);
        return;
    }
    atomic_store(&n->ahead, FS_AHEAD_RUNNING);
    pthread_mutex_unlock(&m->ahead_lock);
    /* Consent withdrawn or the mount ending: nothing more is fetched. The open below also
     * refuses to install a key once revoked, and fills no cache after that. Errors are counted
     * and reported there as an open's would be; the real open tries again and fails alike. */
    if (!atomic_load(&m->revoked) && !key_present(m, n))
        fetched = fs_node_open_key(m, n) == 0 && !atomic_load(&m->revoked);
    pthread_mutex_lock(&m->ahead_lock);
    atomic_store(&n->ahead, fetched ? FS_AHEAD_READY : FS_AHEAD_NONE);
    pthread_cond_broadcast(&m->ahead_done);
    pthread_mutex_unlock(&m->ahead_lock);
    if (!fetched)
        atomic_fetch_sub(&m->ahead_outstanding, 1);
    else if (!key_present(m, n))
        fs_ahead_forget(m, n); /* evicted before it was marked ready */
    /* A close that found key_lock held by this job left the LRU over its bound: trim it now. */
    fs_keys_trim_pending(m);
}

/* Follows the reader through folder dir (node index parent) after its open of the child at
 * pos; returns in cand/cpos the files to fetch ahead, already marked FS_AHEAD_QUEUED. */
static size_t ahead_pick(struct fs_mount *m, uint32_t parent, uint32_t pos, const struct fs_caller *who,
                         uint32_t *cand, uint32_t *cpos)
{
    const struct fs_node *dir = &m->tree.nodes[parent];
    struct fs_ahead_slot *s = &m->ahead_slots[parent % FS_AHEAD_SLOTS];
    size_t count = 0;

    pthread_mutex_lock(&m->ahead_lock);
    if (s->dir_plus1 != parent + 1) {
        *s = (struct fs_ahead_slot){.dir_plus1 = parent + 1, .last = pos, .queued_to = pos};
        pthread_mutex_unlock(&m->ahead_lock);
        return 0;
    }
    if (pos > s->last && pos - s->last <= FS_AHEAD_GAP) {
        /* Starting takes FS_AHEAD_STEPS steps of one stride (the next file each time, or every
         * second or third one); once started, any step forward within the gap keeps it going. */
        if (s->steps >= FS_AHEAD_STEPS || pos - s->last == s->stride) {
            if (s->steps < FS_AHEAD_STEPS)
                s->steps++;
        } else {
            s->stride = pos - s->last;
            s->steps = 1;
        }
    } else {
        /* Out of order: back off until the reader goes in order again. */
        s->steps = 0;
        s->stride = 0;
        s->queued_to = pos;
    }
    s->last = pos;
    if (s->steps >= FS_AHEAD_STEPS) {
        /* The next ahead_files files the reader will open at its stride (a reader of every
         * second file, say images beside their labels, gets the files it reads, not the others),
         * less those already considered. */
        uint32_t stride = s->stride ? s->stride : 1, end = pos;
        for (uint32_t k = 1; k <= m->ahead_files; k++) {
            uint64_t j = (uint64_t)pos + (uint64_t)k * stride;
            struct fs_node *c;
            if (j >= dir->nchildren)
                break;
            c = &m->tree.nodes[dir->children[j]];
            if (atomic_load(&m->ahead_outstanding) >= atomic_load(&m->ahead_allowed))
                break; /* the key LRU could not keep more: a later open goes on from here */
            end = (uint32_t)j;
            if (j <= s->queued_to || !is_small_file(c) || atomic_load(&c->ahead) != FS_AHEAD_NONE ||
                !caller_may_read(m, c, who))
                continue;
            atomic_store(&c->ahead, FS_AHEAD_QUEUED);
            atomic_fetch_add(&m->ahead_outstanding, 1);
            cand[count] = dir->children[j];
            cpos[count++] = (uint32_t)j;
        }
        if (end > s->queued_to)
            s->queued_to = end;
    }
    pthread_mutex_unlock(&m->ahead_lock);
    return count;
}

void fs_ahead_on_open(struct fs_mount *m, struct fs_node *n, const struct fs_caller *who)
{
    uint32_t cand[FS_AHEAD_FILES_MAX], cpos[FS_AHEAD_FILES_MAX], parent = n->parent;
    int64_t pos;
    size_t count;
    int stop = 0;

    if (m->ahead_files == 0 || m->pf == NULL || who == NULL || n->e == NULL || atomic_load(&m->revoked))
        return;
    if ((pos = child_pos(&m->tree.nodes[parent], (uint32_t)(n - m->tree.nodes))) < 0)
        return;
    count = ahead_pick(m, parent, (uint32_t)pos, who, cand, cpos);
    for (size_t i = 0; i < count; i++) {
        struct fs_node *c = &m->tree.nodes[cand[i]];
        struct fs_prefetch_job job = {.node = cand[i],
                                      .bytes = fmt_dataset_file_object_size(c->e),
                                      .first = FS_PREFETCH_OPEN_AHEAD,
                                      .count = 0};
        int queued = 0;

        /* A key in memory needs no fetch. The prefetch budget full: stop here, and let a later
         * open queue the rest. */
        if (!stop && !key_present(m, c)) {
            if (fs_prefetch_submit(m->pf, &job) == 0) {
                atomic_fetch_add(&m->ahead_files_queued, 1);
                continue;
            }
            stop = 1;
            queued = -1;
        }
        pthread_mutex_lock(&m->ahead_lock);
        if (atomic_load(&c->ahead) == FS_AHEAD_QUEUED) {
            atomic_store(&c->ahead, FS_AHEAD_NONE);
            atomic_fetch_sub(&m->ahead_outstanding, 1);
        }
        if (queued < 0) {
            struct fs_ahead_slot *s = &m->ahead_slots[parent % FS_AHEAD_SLOTS];
            if (s->dir_plus1 == parent + 1 && s->queued_to >= cpos[i])
                s->queued_to = cpos[i] - 1;
        }
        pthread_mutex_unlock(&m->ahead_lock);
    }
}
