/* The pending-range journal (see pending.h). */
#include "governance/pending.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/hash.h"
#include "common/log.h"
#include "governance/canon.h"
#include "governance/ranges.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A new generation starts past this size, once the one before it is drained; a generation
 * is allocated and mapped in steps of this size. */
#define PENDING_GEN_BYTES (1024u * 1024)
/* Replay reads at most this much of one file (a generation is about 1 MiB; the slack covers
 * a generation that could not be switched while the one before it was held). */
#define PENDING_FILE_MAX (256u * 1024 * 1024)
/* A marker line names at most this many files (an access event's batch is 64). */
#define PENDING_MARK_FILES 256

struct gov_pending {
    pthread_mutex_t lock;
    char *dir;
    int fd;
    char *map;                    /* the current generation, mapped shared: a store is in the page cache */
    size_t cap;                   /* bytes mapped (allocated on disk) */
    uint64_t gen, prev_gen;       /* prev_gen 0: none kept */
    _Atomic uint64_t gen_now;     /* gen, for a guess without the lock */
    uint64_t refs_cur, refs_prev; /* files with unsealed ranges in each */
    uint64_t next_id;             /* fids and marks */
    uint64_t drained_gen;         /* an older generation every range of which is sealed: removed
                                   * by the next gov_pending_sync, outside the lock */
    pthread_mutex_t prepare_lock; /* one gov_pending_sync's preparation at a time; alone */
    _Atomic uint64_t bytes;       /* in the current generation */
    atomic_int dirty;             /* written since the last sync */
};

static char *gen_path(const struct gov_pending *p, uint64_t gen)
{
    char name[48];
    snprintf(name, sizeof name, "pending-%020" PRIu64 ".log", gen);
    return ccr_path_join(p->dir, name);
}

/* Allocates (on disk: a store into the mapping never meets a full disk) and maps cap bytes
 * of the current generation's file. */
static int map_gen(struct gov_pending *p, size_t cap)
{
    void *m;
    int rc = fallocate(p->fd, 0, 0, (off_t)cap);
    if (rc != 0 && (errno == EOPNOTSUPP || errno == ENOSYS))
        rc = ftruncate(p->fd, (off_t)cap);
    if (rc != 0)
        return ccr_err_set(errno, "audit spool: pending range journal: cannot allocate %zu bytes: %s", cap,
                           strerror(errno));
    m = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
    if (m == MAP_FAILED)
        return ccr_err_set(errno, "audit spool: pending range journal: mmap: %s", strerror(errno));
    if (p->map != NULL)
        munmap(p->map, p->cap);
    p->map = m;
    p->cap = cap;
    return 0;
}

static void unmap_gen(struct gov_pending *p)
{
    if (p->map != NULL) {
        /* What it holds may still be needed after a power loss: durable before it is let go
         * (about once per MiB of records). */
        if (atomic_exchange(&p->dirty, 0))
            fdatasync(p->fd);
        munmap(p->map, p->cap);
        p->map = NULL;
        p->cap = 0;
    }
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

/* Makes gen the current generation, its records ending at used. */
static int open_gen(struct gov_pending *p, uint64_t gen, uint64_t used)
{
    char *path = gen_path(p, gen);
    int fd;
    if (path == NULL)
        return ENOMEM;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        ccr_err_set(e, "%s: %s", path, strerror(e));
        free(path);
        return e;
    }
    free(path);
    unmap_gen(p);
    p->fd = fd;
    p->gen = gen;
    atomic_store(&p->gen_now, gen);
    p->bytes = used;
    ccr_fsync_parent(p->dir); /* best effort: the records are synced later */
    return map_gen(p, ((size_t)used / PENDING_GEN_BYTES + 1) * PENDING_GEN_BYTES);
}

static void unlink_gen(struct gov_pending *p, uint64_t gen)
{
    char *path = gen_path(p, gen);
    if (path != NULL && unlink(path) != 0 && errno != ENOENT)
        ccr_log_warn("audit spool: cannot remove %s: %s", path, strerror(errno));
    free(path);
}

/* One record, stored into the shared mapping: in the page cache at once, so it outlives the
 * process being killed. The newline goes last, after a fence: a record cut short by a kill has
 * none, and replay drops it. */
static int put(struct gov_pending *p, const char *buf, size_t len)
{
    uint64_t at = p->bytes;
    int rc;
    if (at + len > p->cap && (rc = map_gen(p, p->cap + PENDING_GEN_BYTES)) != 0)
        return rc;
    memcpy(p->map + at, buf, len - 1);
    atomic_thread_fence(memory_order_release);
    p->map[at + len - 1] = '\n';
    p->bytes = at + len;
    atomic_store(&p->dirty, 1);
    return 0;
}

/* ---- replay -------------------------------------------------------------------------- */

struct replay {
    struct ccr_hash files;      /* decimal fid -> struct gov_pending_recovered */
    struct ccr_array order;     /* struct gov_pending_recovered *, first seen first */
    struct ccr_array cancelled; /* uint64_t marks */
    uint64_t next_seq, max_id;
    uint64_t last_end; /* where the last generation's records end */
};

static struct gov_pending_recovered *replay_file(struct replay *r, uint64_t fid, int create)
{
    char key[24];
    struct gov_pending_recovered *f;
    snprintf(key, sizeof key, "%" PRIu64, fid);
    if ((f = ccr_hash_get(&r->files, key)) != NULL || !create)
        return f;
    if ((f = calloc(1, sizeof *f)) == NULL)
        return NULL;
    f->fid = fid;
    ccr_array_init(&f->ranges, sizeof(struct gov_range));
    if (ccr_array_append(&r->order, &f) != 0 || ccr_hash_put(&r->files, key, f, NULL) != 0) {
        if (r->order.len > 0 &&
            CCR_ARRAY_AT(&r->order, struct gov_pending_recovered *, r->order.len - 1) == f)
            r->order.len--;
        ccr_array_free(&f->ranges);
        free(f);
        return NULL;
    }
    return f;
}

static int is_cancelled(const struct replay *r, uint64_t mark)
{
    for (size_t i = 0; i < r->cancelled.len; i++)
        if (CCR_ARRAY_AT(&r->cancelled, uint64_t, i) == mark)
            return 1;
    return 0;
}

/* Parses "N" at *s, stepping over one following space; EINVAL when absent. */
static int take_u64(const char **s, const char *end, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    if (p >= end || *p < '0' || *p > '9')
        return EINVAL;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p < end && *p != ' ')
        return EINVAL;
    if (p < end)
        p++;
    *s = p;
    *out = v;
    return 0;
}

static void note_id(struct replay *r, uint64_t id)
{
    if (id > r->max_id)
        r->max_id = id;
}

/* One line (without its newline). pass 1 collects cancelled marks; pass 2 applies the rest. */
static int replay_line(struct replay *r, const char *line, size_t len, int pass)
{
    const char *s = line + 2, *end = line + len;
    struct gov_pending_recovered *f;
    uint64_t a, b, c;

    if (len < 3 || line[1] != ' ')
        return EINVAL;
    switch (line[0]) {
    case 'c':
        if (take_u64(&s, end, &a) != 0 || s != end)
            return EINVAL;
        note_id(r, a);
        return pass == 1 ? ccr_array_append(&r->cancelled, &a) : 0;
    case 'f': {
        json_object *info = NULL;
        long long open_seq;
        if (take_u64(&s, end, &a) != 0 || a == 0)
            return EINVAL;
        note_id(r, a);
        if (pass == 1)
            return 0;
        if (gov_json_parse(s, (size_t)(end - s), "pending file record", &info) != 0 ||
            gov_json_str(info, "path") == NULL || gov_json_int(info, "open", &open_seq) != 0) {
            json_object_put(info);
            return EINVAL;
        }
        if ((f = replay_file(r, a, 1)) == NULL) {
            json_object_put(info);
            return ENOMEM;
        }
        json_object_put(f->info);
        f->info = info;
        /* open -1: the open itself is in no event until a marker covers this file. */
        f->open_owed = open_seq < 0;
        return 0;
    }
    case 'r':
        if (take_u64(&s, end, &a) != 0 || take_u64(&s, end, &b) != 0 || take_u64(&s, end, &c) != 0 ||
            s != end || c == 0 || b + c < b)
            return EINVAL;
        if (pass == 1)
            return 0;
        if ((f = replay_file(r, a, 0)) == NULL || f->info == NULL)
            return EINVAL; /* a range before the record naming its file */
        if (gov_ranges_add(&f->ranges, b, c) != 0)
            return ENOMEM;
        f->reads++;
        f->bytes += c;
        return 0;
    case 's': {
        int covers;
        if (take_u64(&s, end, &a) != 0 || take_u64(&s, end, &b) != 0 || s == end)
            return EINVAL;
        note_id(r, a);
        /* The event exists when the chain went past its seq and it was not called off. */
        covers = pass == 2 && b < r->next_seq && !is_cancelled(r, a);
        while (s < end) {
            if (take_u64(&s, end, &c) != 0)
                return EINVAL;
            if (covers && (f = replay_file(r, c, 0)) != NULL) {
                f->ranges.len = 0;
                f->reads = f->bytes = 0;
                f->open_owed = 0;
            }
        }
        return 0;
    }
    default:
        return EINVAL;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The generations in dir, oldest first. */
static int list_gens(const char *dir, struct ccr_array *gens)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    if (d == NULL)
        return ccr_err_set(errno, "spool %s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        unsigned long long g;
        int n = 0;
        if (sscanf(de->d_name, "pending-%20llu.log%n", &g, &n) == 1 && n == (int)strlen(de->d_name) &&
            g > 0) {
            uint64_t v = g;
            if (ccr_array_append(gens, &v) != 0) {
                closedir(d);
                return ENOMEM;
            }
        }
    }
    closedir(d);
    if (gens->len > 1)
        qsort(gens->items, gens->len, sizeof(uint64_t), cmp_u64);
    return 0;
}

/* Zeroes [from, len) of path: a torn record is gone, and appends continue at from. */
static int zero_tail(const char *path, size_t from, size_t len)
{
    char zeros[512] = {0};
    int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return ccr_err_set(errno, "%s: cannot cut the torn last record: %s", path, strerror(errno));
    for (size_t at = from; at < len && rc == 0; at += sizeof zeros) {
        size_t n = len - at < sizeof zeros ? len - at : sizeof zeros;
        if (pwrite(fd, zeros, n, (off_t)at) != (ssize_t)n)
            rc = ccr_err_set(errno ? errno : EIO, "%s: cannot cut the torn last record: %s", path,
                             strerror(errno ? errno : EIO));
    }
    close(fd);
    return rc;
}

static int replay_pass(struct gov_pending *p, struct replay *r, const struct ccr_array *gens, int pass)
{
    for (size_t i = 0; i < gens->len; i++) {
        uint64_t gen = CCR_ARRAY_AT(gens, uint64_t, i);
        int last = i + 1 == gens->len;
        char *path = gen_path(p, gen);
        uint8_t *data = NULL;
        size_t len = 0, pos = 0, lineno = 0;
        int rc;

        if (path == NULL)
            return ENOMEM;
        if ((rc = ccr_read_file(path, PENDING_FILE_MAX, &data, &len)) != 0) {
            free(path);
            return rc;
        }
        /* The file is allocated ahead: its records end where a line starts with a zero byte. */
        while (pos < len && data[pos] != '\0') {
            char *nl = memchr(data + pos, '\n', len - pos);
            lineno++;
            if (nl == NULL || memchr(data + pos, '\0', (size_t)(nl - (char *)data) - pos) != NULL) {
                /* No newline before the zeros: a record cut short by a kill (its newline is
                 * stored last), so its read was never served. Only at the very end. */
                if (!last || nl != NULL) {
                    rc = ccr_err_set(EBADMSG, "%s: line %zu: damaged pending range record", path, lineno);
                    break;
                }
                if (pass == 2)
                    rc = zero_tail(path, pos, len);
                break;
            }
            rc = replay_line(r, (char *)data + pos, (size_t)(nl - (char *)data) - pos, pass);
            if (rc == ENOMEM)
                break;
            if (rc != 0) {
                rc = ccr_err_set(EBADMSG, "%s: line %zu: damaged pending range record", path, lineno);
                break;
            }
            pos = (size_t)(nl - (char *)data) + 1;
        }
        if (last)
            r->last_end = pos;
        free(data);
        free(path);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void recovered_clear(struct gov_pending_recovered *f)
{
    json_object_put(f->info);
    ccr_array_free(&f->ranges);
}

void gov_pending_recovered_free(struct gov_pending_recovered *rec, size_t n)
{
    for (size_t i = 0; rec != NULL && i < n; i++)
        recovered_clear(&rec[i]);
    free(rec);
}

/* Moves the files with ranges left into a plain array; frees the rest. */
static int replay_result(struct replay *r, struct gov_pending_recovered **rec, size_t *nrec)
{
    size_t n = 0;
    struct gov_pending_recovered *out = calloc(r->order.len ? r->order.len : 1, sizeof *out);
    if (out == NULL)
        return ENOMEM;
    for (size_t i = 0; i < r->order.len; i++) {
        struct gov_pending_recovered *f = CCR_ARRAY_AT(&r->order, struct gov_pending_recovered *, i);
        if (f->ranges.len > 0 || f->open_owed) {
            out[n++] = *f;
        } else {
            recovered_clear(f);
        }
        free(f);
    }
    r->order.len = 0;
    *rec = out;
    *nrec = n;
    return 0;
}

static void replay_free(struct replay *r)
{
    for (size_t i = 0; i < r->order.len; i++) {
        struct gov_pending_recovered *f = CCR_ARRAY_AT(&r->order, struct gov_pending_recovered *, i);
        recovered_clear(f);
        free(f);
    }
    ccr_array_free(&r->order);
    ccr_array_free(&r->cancelled);
    ccr_hash_free(&r->files, NULL);
}

int gov_pending_open(const char *dir, uint64_t next_seq, struct gov_pending **out,
                     struct gov_pending_recovered **rec, size_t *nrec)
{
    struct gov_pending *p = calloc(1, sizeof *p);
    struct ccr_array gens = CCR_ARRAY_INIT(uint64_t);
    struct replay r;
    int rc;

    *rec = NULL;
    *nrec = 0;
    if (p == NULL)
        return ENOMEM;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->prepare_lock, NULL);
    p->fd = -1;
    memset(&r, 0, sizeof r);
    ccr_hash_init(&r.files);
    ccr_array_init(&r.order, sizeof(struct gov_pending_recovered *));
    ccr_array_init(&r.cancelled, sizeof(uint64_t));
    r.next_seq = next_seq;
    if ((p->dir = strdup(dir)) == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if ((rc = list_gens(dir, &gens)) != 0 || (rc = replay_pass(p, &r, &gens, 1)) != 0 ||
        (rc = replay_pass(p, &r, &gens, 2)) != 0 || (rc = replay_result(&r, rec, nrec)) != 0)
        goto out;
    p->next_id = r.max_id + 1;
    /* Replayed files are sealed with markers in the last generation, so a crash during the
     * replay replays only what is still uncovered. */
    /* Replayed files are sealed with markers in the last generation, so a crash during the
     * replay replays only what is still uncovered; gov_pending_restart then removes them all. */
    rc = gens.len > 0 ? open_gen(p, CCR_ARRAY_AT(&gens, uint64_t, gens.len - 1), r.last_end)
                      : open_gen(p, 1, 0);
    for (size_t i = 0; rc == 0 && i < *nrec; i++) {
        struct gov_pending_file *pf = &(*rec)[i].file;
        pf->fid = (*rec)[i].fid;
        pf->info_open = -1;
        pf->ref_gen = p->gen;
        p->refs_cur++;
    }
out:
    replay_free(&r);
    ccr_array_free(&gens);
    if (rc != 0) {
        gov_pending_recovered_free(*rec, *nrec);
        *rec = NULL;
        *nrec = 0;
        gov_pending_close(p);
        return rc;
    }
    *out = p;
    return 0;
}

int gov_pending_restart(struct gov_pending *p)
{
    struct ccr_array gens = CCR_ARRAY_INIT(uint64_t);
    uint64_t old = p->gen;
    int rc;

    pthread_mutex_lock(&p->lock);
    if ((rc = list_gens(p->dir, &gens)) == 0 && (rc = open_gen(p, old + 1, 0)) == 0) {
        for (size_t i = 0; i < gens.len; i++)
            unlink_gen(p, CCR_ARRAY_AT(&gens, uint64_t, i));
        p->refs_cur = p->refs_prev = 0;
        p->prev_gen = 0;
        p->drained_gen = 0;
    }
    pthread_mutex_unlock(&p->lock);
    ccr_array_free(&gens);
    return rc;
}

/* ---- recording ------------------------------------------------------------------------ */

/* Drops pf's hold on its generation (the lock held); a drained older one is left for
 * gov_pending_sync to remove (an unlink may wait on the disk: not under the lock). */
static void release_ref(struct gov_pending *p, struct gov_pending_file *pf)
{
    if (pf->ref_gen == 0)
        return;
    if (pf->ref_gen == p->gen && p->refs_cur > 0) {
        p->refs_cur--;
    } else if (pf->ref_gen == p->prev_gen && p->refs_prev > 0 && --p->refs_prev == 0) {
        p->drained_gen = p->prev_gen;
        p->prev_gen = 0;
    }
    pf->ref_gen = 0;
}

/* The journal's lock is held by the hooks for one store into the mapping; what needs system
 * calls that may wait on the disk (a new generation's file, a larger mapping, syncing and
 * removing the old one) is made here, by the delivery thread, with the lock taken only to swap
 * pointers. A hook grows the mapping itself only when it is full before this ran (more than
 * PENDING_GEN_BYTES / 2 of records within one delivery round). */
static void prepare(struct gov_pending *p)
{
    uint64_t gen, drained, cap, bytes;
    int fd, switch_due;

    pthread_mutex_lock(&p->prepare_lock);
    pthread_mutex_lock(&p->lock);
    gen = p->gen;
    cap = p->cap;
    bytes = p->bytes;
    drained = p->drained_gen;
    p->drained_gen = 0;
    switch_due = bytes >= PENDING_GEN_BYTES && p->prev_gen == 0;
    fd = p->fd >= 0 ? dup(p->fd) : -1;
    pthread_mutex_unlock(&p->lock);
    if (drained != 0)
        unlink_gen(p, drained);
    if (fd < 0)
        goto out;
    if (switch_due) {
        /* Only this function changes gen (besides open and restart, before the hooks run), and
         * bytes only grow, prev_gen only drains: the switch is still due under the lock. */
        char *path = gen_path(p, gen + 1);
        int nfd = path != NULL ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;
        void *m = MAP_FAILED;
        if (nfd >= 0 &&
            (fallocate(nfd, 0, 0, PENDING_GEN_BYTES) == 0 ||
             ((errno == EOPNOTSUPP || errno == ENOSYS) && ftruncate(nfd, PENDING_GEN_BYTES) == 0)))
            m = mmap(NULL, PENDING_GEN_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, nfd, 0);
        if (m == MAP_FAILED) {
            ccr_log_warn("audit spool: pending range journal: cannot start generation %" PRIu64
                         ": %s (the journal keeps growing)",
                         gen + 1, strerror(errno));
            if (nfd >= 0) {
                close(nfd);
                unlink(path);
            }
            free(path);
        } else {
            char *old_map;
            size_t old_cap;
            int old_fd, drop;
            free(path);
            ccr_fsync_parent(p->dir); /* best effort: the records are synced later */
            pthread_mutex_lock(&p->lock);
            old_map = p->map;
            old_cap = p->cap;
            old_fd = p->fd;
            drop = p->refs_cur == 0;
            if (!drop) {
                p->prev_gen = gen;
                p->refs_prev = p->refs_cur;
            }
            p->refs_cur = 0;
            p->map = m;
            p->cap = PENDING_GEN_BYTES;
            p->fd = nfd;
            p->gen = gen + 1;
            atomic_store(&p->gen_now, gen + 1);
            p->bytes = 0;
            pthread_mutex_unlock(&p->lock);
            /* What the old generation holds may still be needed after a power loss. */
            fdatasync(old_fd);
            munmap(old_map, old_cap);
            close(old_fd);
            if (drop)
                unlink_gen(p, gen);
        }
    } else if (cap - bytes < PENDING_GEN_BYTES / 2) {
        /* Room ahead: the file allocated and mapped larger, swapped in under the lock. */
        size_t ncap = cap + PENDING_GEN_BYTES;
        void *m = MAP_FAILED;
        if (fallocate(fd, 0, 0, (off_t)ncap) == 0 ||
            ((errno == EOPNOTSUPP || errno == ENOSYS) && ftruncate(fd, (off_t)ncap) == 0))
            m = mmap(NULL, ncap, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            void *old = m;
            size_t old_cap = ncap;
            pthread_mutex_lock(&p->lock);
            if (p->cap == cap && p->gen == gen) {
                old = p->map;
                old_cap = p->cap;
                p->map = m;
                p->cap = ncap;
            }
            pthread_mutex_unlock(&p->lock);
            munmap(old, old_cap); /* the one replaced, or ours when a hook grew it first */
        }
    }
    close(fd);
out:
    pthread_mutex_unlock(&p->prepare_lock);
}

/* The JSON of an "f" record (built before the journal's lock is taken). */
static int info_json(const struct gov_pending_info *info, char **out, size_t *len)
{
    json_object *o = json_object_new_object();
    const char *text;
    size_t tlen;
    int rc = 0;

    json_object_object_add(o, "path", json_object_new_string(info->path ? info->path : ""));
    json_object_object_add(o, "open", json_object_new_int64(info->open_seq));
    json_object_object_add(o, "flags", json_object_new_int(info->flags));
    json_object_object_add(o, "pid", json_object_new_int64(info->pid));
    json_object_object_add(o, "uid", json_object_new_int64(info->uid));
    json_object_object_add(o, "gid", json_object_new_int64(info->gid));
    json_object_object_add(o, "process", json_object_new_string(info->process ? info->process : ""));
    if (info->have_size)
        json_object_object_add(o, "size", json_object_new_int64((int64_t)info->size));
    json_object_object_add(o, "opened_ms", json_object_new_int64(info->opened_wall_ms));
    text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &tlen);
    if ((*out = malloc(tlen + 1)) == NULL) {
        rc = ENOMEM;
    } else {
        memcpy(*out, text, tlen + 1);
        *len = tlen;
    }
    json_object_put(o);
    return rc;
}

/* Room for "f <fid> " and a range record around an "f" record's JSON. */
#define PENDING_LINE_SLACK 128

/* Writes pf's "f" record (json, jlen) and, with rlen > 0, a range record after it, in one
 * store: a range never lands without the record naming its file. buf has jlen +
 * PENDING_LINE_SLACK bytes. The journal's lock held. */
static int put_info(struct gov_pending *p, struct gov_pending_file *pf, int64_t open_seq, char *buf,
                    const char *json, size_t jlen, const char *rline, size_t rlen)
{
    int n = snprintf(buf, PENDING_LINE_SLACK / 2, "f %" PRIu64 " ", pf->fid);
    int rc;
    memcpy(buf + n, json, jlen);
    buf[(size_t)n + jlen] = '\n';
    memcpy(buf + (size_t)n + jlen + 1, rline, rlen);
    if ((rc = put(p, buf, (size_t)n + jlen + 1 + rlen)) != 0)
        return rc;
    pf->info_gen = p->gen;
    pf->info_open = open_seq;
    return 0;
}

static void hold_gen(struct gov_pending *p, struct gov_pending_file *pf)
{
    if (pf->ref_gen == 0) {
        pf->ref_gen = p->gen;
        p->refs_cur++;
    }
}

int gov_pending_open_file(struct gov_pending *p, struct gov_pending_file *pf,
                          const struct gov_pending_info *info)
{
    char *json = NULL, *buf;
    size_t jlen = 0;
    int rc;

    /* The JSON is made outside the lock: under it only the fid and a copy into the mapping. */
    if ((rc = info_json(info, &json, &jlen)) != 0)
        return rc;
    if ((buf = malloc(jlen + PENDING_LINE_SLACK)) == NULL) {
        free(json);
        return ENOMEM;
    }
    pthread_mutex_lock(&p->lock);
    if (pf->fid == 0)
        pf->fid = p->next_id++;
    if ((rc = put_info(p, pf, info->open_seq, buf, json, jlen, "", 0)) == 0)
        hold_gen(p, pf);
    pthread_mutex_unlock(&p->lock);
    free(buf);
    free(json);
    return rc;
}

int gov_pending_read(struct gov_pending *p, struct gov_pending_file *pf, const struct gov_pending_info *info,
                     uint64_t off, uint64_t len)
{
    char rline[80], *json = NULL, *buf = NULL;
    size_t jlen = 0;
    int rc = 0, need_info, n;

    /* Most reads need no "f" record: it is built (outside the lock) only when this generation
     * may lack it; gen changes only under the lock, so a stale guess is caught below. */
    if ((pf->info_gen != atomic_load(&p->gen_now) || pf->info_open != info->open_seq) &&
        ((rc = info_json(info, &json, &jlen)) != 0 || (buf = malloc(jlen + PENDING_LINE_SLACK)) == NULL)) {
        free(json);
        return rc != 0 ? rc : ENOMEM;
    }
    pthread_mutex_lock(&p->lock);
    if (pf->fid == 0)
        pf->fid = p->next_id++;
    n = snprintf(rline, sizeof rline, "r %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", pf->fid, off, len);
    need_info = pf->info_gen != p->gen || pf->info_open != info->open_seq;
    if (need_info && json == NULL) {
        /* The generation switched since the guess: rare, built under the lock. */
        if ((rc = info_json(info, &json, &jlen)) != 0 || (buf = malloc(jlen + PENDING_LINE_SLACK)) == NULL) {
            rc = rc != 0 ? rc : ENOMEM;
            goto out;
        }
    }
    if (need_info)
        rc = put_info(p, pf, info->open_seq, buf, json, jlen, rline, (size_t)n);
    else
        rc = put(p, rline, (size_t)n);
    if (rc == 0)
        hold_gen(p, pf);
out:
    pthread_mutex_unlock(&p->lock);
    free(buf);
    free(json);
    return rc;
}

int gov_pending_mark(struct gov_pending *p, uint64_t seq, struct gov_pending_file *const *files, size_t n,
                     uint64_t *mark)
{
    struct ccr_array line = CCR_ARRAY_INIT(char);
    char num[48];
    size_t named = 0;
    int rc = 0;

    *mark = 0;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < n; i++) {
        int k;
        if (files[i] == NULL || files[i]->ref_gen == 0)
            continue;
        if (named == 0) {
            *mark = p->next_id++;
            k = snprintf(num, sizeof num, "s %" PRIu64 " %" PRIu64, *mark, seq);
            if (ccr_array_reserve(&line,
                                  (size_t)k + 24 * (n < PENDING_MARK_FILES ? n : PENDING_MARK_FILES)) != 0) {
                rc = ENOMEM;
                break;
            }
            memcpy(line.items, num, (size_t)k);
            line.len = (size_t)k;
        }
        k = snprintf(num, sizeof num, " %" PRIu64, files[i]->fid);
        if (ccr_array_reserve(&line, line.len + (size_t)k + 1) != 0) {
            rc = ENOMEM;
            break;
        }
        memcpy((char *)line.items + line.len, num, (size_t)k);
        line.len += (size_t)k;
        named++;
    }
    if (rc == 0 && named > 0) {
        ((char *)line.items)[line.len++] = '\n';
        rc = put(p, line.items, line.len);
    }
    if (rc != 0)
        *mark = 0;
    pthread_mutex_unlock(&p->lock);
    ccr_array_free(&line);
    return rc;
}

int gov_pending_mark_done(struct gov_pending *p, uint64_t mark, struct gov_pending_file *const *files,
                          size_t n, int ok)
{
    int rc = 0;
    if (mark == 0)
        return 0;
    pthread_mutex_lock(&p->lock);
    if (ok) {
        for (size_t i = 0; i < n; i++)
            if (files[i] != NULL)
                release_ref(p, files[i]);
    } else {
        char line[40];
        int k = snprintf(line, sizeof line, "c %" PRIu64 "\n", mark);
        rc = put(p, line, (size_t)k);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int gov_pending_sync(struct gov_pending *p)
{
    int fd, rc = 0;
    if (p == NULL)
        return 0;
    prepare(p);
    if (!atomic_exchange(&p->dirty, 0))
        return 0;
    pthread_mutex_lock(&p->lock);
    fd = dup(p->fd);
    pthread_mutex_unlock(&p->lock);
    if (fd < 0 || fdatasync(fd) != 0) {
        rc = ccr_err_set(errno, "audit spool: pending range journal: sync failed: %s", strerror(errno));
        atomic_store(&p->dirty, 1);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

uint64_t gov_pending_bytes(struct gov_pending *p)
{
    return atomic_load(&p->bytes);
}

void gov_pending_close(struct gov_pending *p)
{
    if (p == NULL)
        return;
    /* Every range in the chain: nothing to replay. */
    if (p->fd >= 0 && p->refs_cur == 0 && p->prev_gen == 0 && p->dir != NULL) {
        atomic_store(&p->dirty, 0);
        unlink_gen(p, p->gen);
    }
    if (p->drained_gen != 0 && p->dir != NULL)
        unlink_gen(p, p->drained_gen);
    unmap_gen(p);
    free(p->dir);
    pthread_mutex_destroy(&p->prepare_lock);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
