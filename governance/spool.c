/* Durable spool of sealed event lines (see spool.h). */
#include "governance/spool.h"
#include "common/array.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "governance/canon.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SPOOL_RESERVE  (64 * 1024)
#define SPOOL_LINE_MAX (1024 * 1024)

struct spool_seg {
    uint64_t first, last; /* last valid only when count > 0 */
    uint64_t bytes;
    size_t count;
};

struct gov_spool {
    pthread_mutex_t lock;
    char *dir;
    int lock_fd, fd; /* fd: the current (last) segment */
    int retired_fd;  /* the segment before it, until the next sync makes it durable; -1: none */
    uint64_t max_bytes, seg_max;
    _Atomic uint64_t total_bytes; /* read without the lock on every access check */
    struct ccr_array segs;        /* struct spool_seg, oldest first */
    struct ccr_array pend;        /* struct gov_spool_entry: unacknowledged entries, oldest first */
    size_t synced;                /* how many of pend are durable */
    uint64_t acked_next;
    int64_t last_cp; /* seq of the last checkpoint, -1 when none */
};

static int sync_retired(struct gov_spool *s);

#define SEG(s, i)  CCR_ARRAY_AT(&(s)->segs, struct spool_seg, i)
#define PEND(s, i) CCR_ARRAY_AT(&(s)->pend, struct gov_spool_entry, i)

static char *seg_path(const struct gov_spool *s, uint64_t first)
{
    char name[48];
    snprintf(name, sizeof name, "seg-%020" PRIu64 ".log", first);
    return ccr_path_join(s->dir, name);
}

static int push_pending(struct gov_spool *s, uint64_t seq, const char *line, size_t len)
{
    struct gov_spool_entry *e;
    char *copy = malloc(len + 1);
    if (copy == NULL || (e = ccr_array_push(&s->pend)) == NULL) {
        free(copy);
        return ENOMEM;
    }
    memcpy(copy, line, len);
    copy[len] = '\0';
    e->line = copy;
    e->len = len;
    e->seq = seq;
    return 0;
}

static int add_seg(struct gov_spool *s, uint64_t first)
{
    struct spool_seg *seg = ccr_array_push(&s->segs);
    if (seg == NULL)
        return ENOMEM;
    seg->first = first;
    return 0;
}

static int open_current(struct gov_spool *s)
{
    char *path = seg_path(s, SEG(s, s->segs.len - 1).first);
    if (path == NULL)
        return ENOMEM;
    s->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (s->fd < 0) {
        int e = errno;
        ccr_err_set(e, "%s: %s", path, strerror(e));
        free(path);
        return e;
    }
    free(path);
    return ccr_fsync_parent(s->dir) == 0 ? 0 : 0; /* best effort: the lines are synced later */
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Reads one segment, checking each line against the chain so far. */
static int replay_seg(struct gov_spool *s, uint64_t first, int is_last, struct gov_chain *chain,
                      int *have_chain)
{
    char *path = seg_path(s, first);
    uint8_t *data = NULL;
    size_t len = 0, pos = 0, lineno = 0;
    struct spool_seg *seg;
    int rc;

    if (path == NULL)
        return ENOMEM;
    rc = ccr_read_file(path, (size_t)s->max_bytes + SPOOL_RESERVE + SPOOL_LINE_MAX, &data, &len);
    if (rc != 0)
        goto out;
    if ((rc = add_seg(s, first)) != 0)
        goto out;
    seg = &SEG(s, s->segs.len - 1);
    while (pos < len) {
        char *nl = memchr(data + pos, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - (char *)data - pos) : len - pos;
        json_object *ev = NULL;
        char hash[GOV_HASH_HEX + 1];
        const char *h, *prev, *cid;
        long long seq;

        lineno++;
        if (nl == NULL || gov_json_parse((char *)data + pos, llen, "spool line", &ev) != 0) {
            if (is_last && (nl == NULL || pos + llen + 1 == len)) {
                /* A line torn by a crash mid-write: it never reached the sinks; drop it. */
                json_object_put(ev);
                if (truncate(path, (off_t)pos) != 0) {
                    rc = ccr_err_set(errno, "%s: cannot cut the torn last line: %s", path, strerror(errno));
                    goto out;
                }
                len = pos;
                break;
            }
            rc = ccr_err_set(EBADMSG, "%s: line %zu: damaged spool line", path, lineno);
            goto out;
        }
        if (gov_json_str(ev, "type") != NULL && strcmp(gov_json_str(ev, "type"), "checkpoint") == 0 &&
            gov_json_int(ev, "seq", &seq) == 0 && seq > s->last_cp)
            s->last_cp = seq;
        h = gov_json_str(ev, "hash");
        prev = gov_json_str(ev, "prev");
        cid = gov_json_str(ev, "chain");
        if (h == NULL || prev == NULL || cid == NULL || gov_json_int(ev, "seq", &seq) != 0 || seq < 0 ||
            gov_event_hash(ev, hash) != 0 || strcmp(hash, h) != 0) {
            json_object_put(ev);
            rc = ccr_err_set(EBADMSG, "%s: line %zu: event fails its own hash", path, lineno);
            goto out;
        }
        if (*have_chain && (strcmp(cid, chain->id) != 0 || (uint64_t)seq != chain->next_seq ||
                            strcmp(prev, chain->head) != 0)) {
            json_object_put(ev);
            rc = ccr_err_set(EBADMSG, "%s: line %zu: event %lld does not follow the previous one", path,
                             lineno, seq);
            goto out;
        }
        snprintf(chain->id, sizeof chain->id, "%s", cid);
        memcpy(chain->head, h, GOV_HASH_HEX + 1);
        chain->next_seq = (uint64_t)seq + 1;
        *have_chain = 1;
        json_object_put(ev);
        if (seg->count == 0)
            seg->first = (uint64_t)seq;
        seg->last = (uint64_t)seq;
        seg->count++;
        if ((uint64_t)seq >= s->acked_next &&
            (rc = push_pending(s, (uint64_t)seq, (char *)data + pos, llen)) != 0)
            goto out;
        pos += llen + 1;
    }
    seg->bytes = len;
    s->total_bytes += len;
out:
    free(data);
    free(path);
    return rc;
}

static int read_number(struct gov_spool *s, const char *name, uint64_t *out, int *found)
{
    char *path = ccr_path_join(s->dir, name);
    uint8_t *data;
    size_t len;
    char *end;
    int rc;

    *found = 0;
    if (path == NULL)
        return ENOMEM;
    rc = ccr_read_file(path, 64, &data, &len);
    if (rc == ENOENT) {
        free(path);
        ccr_err_clear();
        return 0;
    }
    if (rc == 0) {
        errno = 0;
        *out = strtoull((char *)data, &end, 10);
        if (errno != 0 || end == (char *)data || (*end != '\n' && *end != '\0'))
            rc = ccr_err_set(EBADMSG, "%s: not a sequence number", path);
        else
            *found = 1;
        free(data);
    }
    free(path);
    return rc;
}

static int write_number(struct gov_spool *s, const char *name, uint64_t v)
{
    char num[32], *path = ccr_path_join(s->dir, name);
    int rc;
    if (path == NULL)
        return ENOMEM;
    snprintf(num, sizeof num, "%" PRIu64 "\n", v);
    rc = ccr_write_file_atomic(path, num, strlen(num), 0600);
    free(path);
    return rc;
}

int64_t gov_spool_last_checkpoint(struct gov_spool *s)
{
    return s->last_cp;
}

int gov_spool_note_checkpoint(struct gov_spool *s, uint64_t seq)
{
    /* The checkpoint line must be durable before the note pointing at it (checkpoints are
     * rare enough for the extra sync). */
    pthread_mutex_lock(&s->lock);
    if (sync_retired(s) != 0 || fdatasync(s->fd) != 0) {
        pthread_mutex_unlock(&s->lock);
        return ccr_err_set(errno, "audit spool: sync failed: %s", strerror(errno));
    }
    s->last_cp = (int64_t)seq;
    pthread_mutex_unlock(&s->lock);
    return write_number(s, "checkpoint", seq);
}

static int read_acked(struct gov_spool *s)
{
    uint64_t cp;
    int found, rc = read_number(s, "checkpoint", &cp, &found);
    if (rc != 0)
        return rc;
    s->last_cp = found ? (int64_t)cp : -1;
    rc = read_number(s, "acked", &s->acked_next, &found);
    if (rc == 0 && !found)
        s->acked_next = 0;
    return rc;
}

/* "NAME.tmp.PID": what an atomic write leaves when its process dies before the rename. */
static int is_stale_temporary(const char *name)
{
    const char *t = strstr(name, ".tmp.");
    if (t == NULL || t == name || t[5] == '\0')
        return 0;
    for (t += 5; *t != '\0'; t++)
        if (*t < '0' || *t > '9')
            return 0;
    return 1;
}

int gov_spool_open(const char *dir, uint64_t max_bytes, struct gov_spool **out, struct gov_chain *chain,
                   size_t *replayed)
{
    struct gov_spool *s;
    DIR *d;
    struct dirent *de;
    struct ccr_array firsts = CCR_ARRAY_INIT(uint64_t);
    int rc, have_chain = 0;
    char *lock_path;

    if (max_bytes < 64 * 1024)
        return ccr_err_set(EINVAL, "spool size %" PRIu64 " is too small (at least 64K)", max_bytes);
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    ccr_array_init(&s->segs, sizeof(struct spool_seg));
    ccr_array_init(&s->pend, sizeof(struct gov_spool_entry));
    s->lock_fd = s->fd = s->retired_fd = -1;
    s->max_bytes = max_bytes;
    s->seg_max = max_bytes / 8 < 1024 * 1024 ? max_bytes / 8 : 1024 * 1024;
    s->dir = strdup(dir);
    if (s->dir == NULL) {
        free(s);
        return ENOMEM;
    }
    if ((rc = ccr_mkdirs(dir, 0700)) != 0)
        goto fail;
    lock_path = ccr_path_join(dir, "lock");
    if (lock_path == NULL) {
        rc = ENOMEM;
        goto fail;
    }
    s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(lock_path);
    if (s->lock_fd < 0) {
        rc = ccr_err_set(errno, "spool %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = ccr_err_set(EBUSY, "spool %s is in use by another ccrfs process", dir);
        goto fail;
    }
    if ((rc = read_acked(s)) != 0)
        goto fail;
    d = opendir(dir);
    if (d == NULL) {
        rc = ccr_err_set(errno, "spool %s: %s", dir, strerror(errno));
        goto fail;
    }
    while ((de = readdir(d)) != NULL) {
        unsigned long long first;
        int n = 0;
        if (is_stale_temporary(de->d_name)) {
            /* Left by a process killed in mid-write; the lock says no one else writes here. */
            char *tmp = ccr_path_join(dir, de->d_name);
            if (tmp != NULL && unlink(tmp) != 0 && errno != ENOENT)
                ccr_log_warn("spool %s: cannot remove %s: %s", dir, de->d_name, strerror(errno));
            free(tmp);
            continue;
        }
        if (sscanf(de->d_name, "seg-%20llu.log%n", &first, &n) == 1 && n == (int)strlen(de->d_name)) {
            uint64_t f = first;
            if (ccr_array_append(&firsts, &f) != 0) {
                closedir(d);
                rc = ENOMEM;
                goto fail;
            }
        }
    }
    closedir(d);
    if (firsts.len > 1)
        qsort(firsts.items, firsts.len, sizeof(uint64_t), cmp_u64);
    for (size_t i = 0; i < firsts.len; i++)
        if ((rc = replay_seg(s, CCR_ARRAY_AT(&firsts, uint64_t, i), i + 1 == firsts.len, chain,
                             &have_chain)) != 0)
            goto fail;
    if (!have_chain) {
        s->last_cp = -1;
        if ((rc = gov_chain_init(chain)) != 0)
            goto fail;
        s->segs.len = 0; /* empty leftovers */
        s->total_bytes = 0;
        if ((rc = add_seg(s, 0)) != 0)
            goto fail;
    }
    if (s->acked_next > chain->next_seq) {
        rc = ccr_err_set(EBADMSG, "spool %s: acknowledged %" PRIu64 " events but holds only %" PRIu64, dir,
                         s->acked_next, chain->next_seq);
        goto fail;
    }
    if ((rc = open_current(s)) != 0)
        goto fail;
    s->synced = s->pend.len;
    *replayed = s->pend.len;
    ccr_array_free(&firsts);
    *out = s;
    return 0;
fail:
    ccr_array_free(&firsts);
    gov_spool_close(s);
    return rc;
}

/* Syncs and closes the retired segment (the spool's lock held); 0 when there is none. */
static int sync_retired(struct gov_spool *s)
{
    int rc = 0;
    if (s->retired_fd < 0)
        return 0;
    if (fdatasync(s->retired_fd) != 0)
        rc = ccr_err_set(errno, "audit spool: sync failed: %s", strerror(errno));
    close(s->retired_fd);
    s->retired_fd = -1;
    return rc;
}

static int rotate(struct gov_spool *s, uint64_t first)
{
    /* The full segment is synced by the deliverer's next round, not here: an append is on an
     * open's path and must not wait for the disk. Only when the deliverer has not yet synced
     * the previous one (two segments filled in one round) does this sync. */
    int rc = sync_retired(s);
    if (rc != 0)
        return rc;
    s->retired_fd = s->fd;
    s->fd = -1;
    if (add_seg(s, first) != 0)
        return ENOMEM;
    return open_current(s);
}

int gov_spool_append(struct gov_spool *s, uint64_t seq, const char *line, size_t len, int reserve)
{
    struct spool_seg *cur;
    int rc = 0;

    pthread_mutex_lock(&s->lock);
    if (s->total_bytes + len + 1 > s->max_bytes + (reserve ? SPOOL_RESERVE : 0)) {
        rc = ccr_err_set(ENOSPC, "audit spool is full (%" PRIu64 " bytes unacknowledged)",
                         (uint64_t)s->total_bytes);
        goto out;
    }
    cur = &SEG(s, s->segs.len - 1);
    if (cur->bytes >= s->seg_max && cur->count > 0) {
        if ((rc = rotate(s, seq)) != 0)
            goto out;
        cur = &SEG(s, s->segs.len - 1);
    }
    {
        /* One write per line: a crash leaves whole lines or one torn last line, never a
         * line without its newline followed by another. */
        struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};
        ssize_t n;
        do
            n = writev(s->fd, iov, 2);
        while (n < 0 && errno == EINTR);
        if (n != (ssize_t)(len + 1)) {
            rc = n < 0 ? errno : EIO;
            rc = ccr_err_set(rc, "audit spool: write failed: %s", n < 0 ? strerror(rc) : "short write");
            goto out;
        }
    }
    if ((rc = push_pending(s, seq, line, len)) != 0)
        goto out;
    if (cur->count == 0)
        cur->first = seq;
    cur->last = seq;
    cur->count++;
    cur->bytes += len + 1;
    s->total_bytes += len + 1;
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int gov_spool_sync(struct gov_spool *s)
{
    size_t n;
    int fd, retired, rc = 0;

    pthread_mutex_lock(&s->lock);
    n = s->pend.len;
    retired = s->retired_fd;
    s->retired_fd = -1;
    fd = dup(s->fd);
    pthread_mutex_unlock(&s->lock);
    if (retired >= 0) {
        if (fdatasync(retired) != 0)
            rc = ccr_err_set(errno, "audit spool: sync failed: %s", strerror(errno));
        close(retired);
    }
    if (fd < 0)
        return rc != 0 ? rc : ccr_err_set(errno, "spool: %s", strerror(errno));
    /* Sync outside the lock so appends go on meanwhile; lines appended before the dup are covered. */
    if (rc == 0 && fdatasync(fd) != 0)
        rc = ccr_err_set(errno, "audit spool: sync failed: %s", strerror(errno));
    close(fd);
    if (rc == 0) {
        pthread_mutex_lock(&s->lock);
        /* Entries may have been acknowledged meanwhile; never count past what exists. */
        if (n > s->pend.len)
            n = s->pend.len;
        if (n > s->synced)
            s->synced = n;
        pthread_mutex_unlock(&s->lock);
    }
    return rc;
}

int gov_spool_peek(struct gov_spool *s, size_t max, struct gov_spool_entry **out, size_t *count)
{
    size_t n;
    struct gov_spool_entry *e;

    pthread_mutex_lock(&s->lock);
    n = s->synced < max ? s->synced : max;
    e = calloc(n ? n : 1, sizeof *e);
    if (e == NULL) {
        pthread_mutex_unlock(&s->lock);
        return ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        e[i].seq = PEND(s, i).seq;
        e[i].len = PEND(s, i).len;
        e[i].line = strdup(PEND(s, i).line);
        if (e[i].line == NULL) {
            pthread_mutex_unlock(&s->lock);
            gov_spool_entries_free(e, i);
            return ENOMEM;
        }
    }
    pthread_mutex_unlock(&s->lock);
    *out = e;
    *count = n;
    return 0;
}

void gov_spool_entries_free(struct gov_spool_entry *e, size_t count)
{
    for (size_t i = 0; e != NULL && i < count; i++)
        free(e[i].line);
    free(e);
}

int gov_spool_ack(struct gov_spool *s, uint64_t seq)
{
    size_t drop = 0, keep = 0;
    /* Durable before anything is forgotten; losing it only means duplicates, which sinks drop. */
    int rc = write_number(s, "acked", seq + 1);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    s->acked_next = seq + 1;
    while (drop < s->pend.len && PEND(s, drop).seq <= seq)
        free(PEND(s, drop++).line);
    if (drop > 0)
        memmove(&PEND(s, 0), &PEND(s, drop), (s->pend.len - drop) * sizeof(struct gov_spool_entry));
    s->pend.len -= drop;
    s->synced = s->synced > drop ? s->synced - drop : 0;
    /* Whole segments (never the current one) that hold only acknowledged events go. */
    for (size_t i = 0; i < s->segs.len; i++) {
        if (i + 1 < s->segs.len && SEG(s, i).count > 0 && SEG(s, i).last <= seq) {
            char *p = seg_path(s, SEG(s, i).first);
            if (p != NULL && unlink(p) == 0) {
                s->total_bytes -= SEG(s, i).bytes;
                free(p);
                continue;
            }
            free(p);
        }
        SEG(s, keep++) = SEG(s, i);
    }
    s->segs.len = keep;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

uint64_t gov_spool_bytes(struct gov_spool *s)
{
    return atomic_load(&s->total_bytes);
}

int gov_spool_is_full(struct gov_spool *s)
{
    /* Leave room for one more event of ordinary size. */
    return atomic_load(&s->total_bytes) + 4096 > s->max_bytes;
}

size_t gov_spool_pending(struct gov_spool *s)
{
    size_t n;
    pthread_mutex_lock(&s->lock);
    n = s->pend.len;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void gov_spool_close(struct gov_spool *s)
{
    if (s == NULL)
        return;
    sync_retired(s);
    if (s->fd >= 0) {
        fdatasync(s->fd);
        close(s->fd);
    }
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    for (size_t i = 0; i < s->pend.len; i++)
        free(PEND(s, i).line);
    ccr_array_free(&s->pend);
    ccr_array_free(&s->segs);
    free(s->dir);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
