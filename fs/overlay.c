/* The mutable namespace over the dataset tree: see fs/overlay.h for the model and locking. */
#include "fs/overlay.h"
#include "common/array.h"
#include "common/clock.h"
#include "common/err.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROOT_INO  1
#define MAX_DEPTH 4096

struct ovl_ent {
    char *name;
    uint64_t ino; /* 0: a whiteout hiding the dataset child of that name */
};

struct fs_ovl_node {
    struct fs_ovl *ov;
    uint64_t ino, parent;
    char *name;            /* NULL: the dataset name (lower->name) */
    struct fs_node *lower; /* the dataset node, NULL for nodes made on the mount */
    mode_t mode;
    uid_t uid;
    gid_t gid;
    struct timespec atime, mtime, ctime;
    struct fs_ephemeral_file *data; /* files: written bytes; NULL reads the dataset file */
    struct ccr_array ents;          /* folders: struct ovl_ent, overrides of the dataset children, by name */
    atomic_uint_least64_t nlookup;  /* counted under the shared lock by lookups */
    unsigned nopen;
    int removed, dirty;
};

struct fs_ovl {
    struct fs_ovl_conf c;
    pthread_rwlock_t lock;
    struct fs_ovl_node **ds; /* by dataset inode - 1; NULL while untouched */
    struct ccr_array
        made_arr; /* struct fs_ovl_node *: made[i] has inode tree->count + 1 + i; NULL once freed */
};

#define ENT(d, i)   CCR_ARRAY_AT(&(d)->ents, struct ovl_ent, i)
#define MADE(ov, i) CCR_ARRAY_AT(&(ov)->made_arr, struct fs_ovl_node *, i)

static struct timespec now_ts(void)
{
    double t = ccr_clock_wall();
    struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
    return ts;
}

static struct fs_node *lower_of(struct fs_ovl *ov, uint64_t ino)
{
    return fs_tree_node(ov->c.tree, ino);
}

static struct fs_ovl_node *rec_of(struct fs_ovl *ov, uint64_t ino)
{
    uint64_t n = ov->c.tree->count;
    if (ino == 0)
        return NULL;
    if (ino <= n)
        return ov->ds[ino - 1];
    if (ino - n - 1 < ov->made_arr.len)
        return MADE(ov, ino - n - 1);
    return NULL;
}

/* Whether ino names a node of the mount (a removed node still exists while held). */
static int known(struct fs_ovl *ov, uint64_t ino)
{
    return lower_of(ov, ino) != NULL || rec_of(ov, ino) != NULL;
}

static int is_dir(struct fs_ovl *ov, uint64_t ino)
{
    struct fs_ovl_node *r = rec_of(ov, ino);
    struct fs_node *l;
    if (r != NULL)
        return S_ISDIR(r->mode);
    l = lower_of(ov, ino);
    return l != NULL && (l->e == NULL || l->e->type == FMT_ENTRY_DIR);
}

static int removed(struct fs_ovl *ov, uint64_t ino)
{
    struct fs_ovl_node *r = rec_of(ov, ino);
    return r != NULL && r->removed;
}

static uint64_t parent_of(struct fs_ovl *ov, uint64_t ino)
{
    struct fs_ovl_node *r = rec_of(ov, ino);
    struct fs_node *l;
    if (r != NULL)
        return r->parent;
    l = lower_of(ov, ino);
    return l != NULL ? (uint64_t)l->parent + 1 : ROOT_INO;
}

static const char *name_of(struct fs_ovl *ov, uint64_t ino)
{
    struct fs_ovl_node *r = rec_of(ov, ino);
    if (r != NULL && r->name != NULL)
        return r->name;
    return r != NULL && r->lower != NULL ? r->lower->name : lower_of(ov, ino)->name;
}

/* The record of a dataset node, made from its manifest entry the first time. */
static struct fs_ovl_node *materialize(struct fs_ovl *ov, uint64_t ino)
{
    struct fs_ovl_node *r = rec_of(ov, ino);
    struct fs_node *l;
    if (r != NULL)
        return r;
    if ((l = lower_of(ov, ino)) == NULL || (r = calloc(1, sizeof *r)) == NULL)
        return NULL;
    r->ov = ov;
    r->ino = ino;
    r->parent = (uint64_t)l->parent + 1;
    r->lower = l;
    r->uid = ov->c.uid;
    r->gid = ov->c.gid;
    if (l->e == NULL) {
        r->mode = S_IFDIR | 0755;
        r->mtime.tv_sec = ov->c.root_time;
    } else {
        r->mode = (l->e->type == FMT_ENTRY_DIR ? S_IFDIR : S_IFREG) | (l->e->mode & 07777);
        r->mtime.tv_sec = l->e->mtime_sec;
        r->mtime.tv_nsec = l->e->mtime_nsec;
    }
    r->atime = r->ctime = r->mtime;
    ov->ds[ino - 1] = r;
    return r;
}

/* Binary search of a folder's overrides; *pos is where name is or would go. */
static int ents_find(const struct fs_ovl_node *d, const char *name, size_t *pos)
{
    size_t lo = 0, hi = d->ents.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(name, ENT(d, mid).name);
        if (cmp == 0) {
            *pos = mid;
            return 1;
        }
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *pos = lo;
    return 0;
}

static int ents_reserve(struct fs_ovl_node *d, size_t more)
{
    if (d->ents.elem_size == 0)
        ccr_array_init(&d->ents, sizeof(struct ovl_ent)); /* nodes are calloc'd */
    return ccr_array_reserve(&d->ents, d->ents.len + more);
}

/* Sets name in folder d to ino (0: removed). Capacity was reserved and *spare holds a copy
 * of name, taken when a new override is inserted. Never fails. */
static void dir_set(struct fs_ovl *ov, struct fs_ovl_node *d, const char *name, uint64_t ino, char **spare)
{
    size_t pos;
    int found = ents_find(d, name, &pos);
    int in_lower = d->lower != NULL && fs_tree_lookup(ov->c.tree, d->lower, name) != NULL;

    if (ino == 0 && !in_lower) {
        /* Nothing beneath to hide: drop the override. */
        if (found) {
            free(ENT(d, pos).name);
            memmove(&ENT(d, pos), &ENT(d, pos + 1), (d->ents.len - pos - 1) * sizeof(struct ovl_ent));
            d->ents.len--;
        }
    } else if (found) {
        ENT(d, pos).ino = ino;
    } else {
        memmove(&ENT(d, pos + 1), &ENT(d, pos), (d->ents.len - pos) * sizeof(struct ovl_ent));
        ENT(d, pos).name = *spare;
        ENT(d, pos).ino = ino;
        *spare = NULL;
        d->ents.len++;
    }
    d->mtime = d->ctime = now_ts();
}

/* The node called name in folder dir: ENOENT, ENOTDIR. */
static int resolve(struct fs_ovl *ov, uint64_t dir, const char *name, uint64_t *ino)
{
    struct fs_ovl_node *d = rec_of(ov, dir);
    struct fs_node *l = lower_of(ov, dir), *c;
    size_t pos;

    if (!known(ov, dir))
        return ENOENT;
    if (!is_dir(ov, dir))
        return ENOTDIR;
    if (removed(ov, dir))
        return ENOENT;
    if (d != NULL && ents_find(d, name, &pos)) {
        *ino = ENT(d, pos).ino;
        return *ino == 0 ? ENOENT : 0;
    }
    if (l != NULL && (c = fs_tree_lookup(ov->c.tree, l, name)) != NULL) {
        *ino = fs_tree_ino(ov->c.tree, c);
        return 0;
    }
    return ENOENT;
}

static void fill_stat(struct fs_ovl *ov, uint64_t ino, struct stat *st)
{
    struct fs_ovl_node *r = rec_of(ov, ino);
    struct fs_node *l = r != NULL ? r->lower : lower_of(ov, ino);

    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_blksize = 4096;
    if (r == NULL) {
        /* Untouched dataset node: what its manifest entry says. */
        st->st_uid = ov->c.uid;
        st->st_gid = ov->c.gid;
        if (l->e == NULL || l->e->type == FMT_ENTRY_DIR) {
            st->st_mode = S_IFDIR | (l->e ? (l->e->mode & 07777) : 0755);
            st->st_nlink = 2 + l->nsubdirs;
        } else {
            st->st_mode = S_IFREG | (l->e->mode & 07777);
            st->st_nlink = 1;
            st->st_size = (off_t)l->e->size;
        }
        if (l->e != NULL) {
            st->st_mtim.tv_sec = l->e->mtime_sec;
            st->st_mtim.tv_nsec = l->e->mtime_nsec;
        } else {
            st->st_mtim.tv_sec = ov->c.root_time;
        }
        st->st_atim = st->st_ctim = st->st_mtim;
    } else {
        st->st_mode = r->mode;
        st->st_uid = r->uid;
        st->st_gid = r->gid;
        st->st_nlink = S_ISDIR(r->mode) ? 2 : (r->removed ? 0 : 1);
        if (r->data != NULL)
            st->st_size = (off_t)fs_ephemeral_file_size(r->data);
        else if (l != NULL && l->e != NULL && l->e->type == FMT_ENTRY_FILE)
            st->st_size = (off_t)l->e->size;
        st->st_atim = r->atime;
        st->st_mtim = r->mtime;
        st->st_ctim = r->ctime;
    }
    st->st_blocks = (blkcnt_t)(((uint64_t)st->st_size + 511) / 512);
}

static void node_free(struct fs_ovl_node *r)
{
    for (size_t i = 0; i < r->ents.len; i++)
        free(ENT(r, i).name);
    ccr_array_free(&r->ents);
    free(r->name);
    fs_ephemeral_file_free(r->data);
    free(r);
}

/* A removed node made on the mount goes once neither the kernel nor an open file holds it.
 * Dataset records stay (their inode numbers are fixed) but drop their written bytes. */
static void maybe_free(struct fs_ovl *ov, struct fs_ovl_node *r)
{
    if (!r->removed || r->nopen > 0)
        return;
    if (r->lower != NULL) {
        fs_ephemeral_file_free(r->data);
        r->data = NULL;
        return;
    }
    if (atomic_load(&r->nlookup) > 0)
        return;
    MADE(ov, r->ino - ov->c.tree->count - 1) = NULL;
    node_free(r);
}

static int lower_trampoline(void *arg, void *buf, size_t len, uint64_t off)
{
    struct fs_ovl_node *r = arg;
    return r->ov->c.lower_read(r->ov->c.lower_arg, r->lower, buf, len, off);
}

/* Gives a file its ephemeral copy: empty, or reading through to the dataset file. */
static int copy_up(struct fs_ovl *ov, struct fs_ovl_node *r, int empty)
{
    uint64_t size;
    if (r->data != NULL)
        return 0;
    size = r->lower != NULL && !empty ? r->lower->e->size : 0;
    return fs_ephemeral_file_new(ov->c.eph, size, size > 0 ? lower_trampoline : NULL, size > 0 ? r : NULL,
                                 &r->data);
}

int fs_ovl_create(const struct fs_ovl_conf *c, struct fs_ovl **out)
{
    struct fs_ovl *ov = calloc(1, sizeof *ov);
    if (ov == NULL)
        return ENOMEM;
    ov->c = *c;
    ccr_array_init(&ov->made_arr, sizeof(struct fs_ovl_node *));
    if ((ov->ds = calloc(c->tree->count, sizeof *ov->ds)) == NULL) {
        free(ov);
        return ENOMEM;
    }
    pthread_rwlock_init(&ov->lock, NULL);
    *out = ov;
    return 0;
}

void fs_ovl_destroy(struct fs_ovl *ov)
{
    if (ov == NULL)
        return;
    for (uint32_t i = 0; i < ov->c.tree->count; i++)
        if (ov->ds[i] != NULL)
            node_free(ov->ds[i]);
    for (uint64_t i = 0; i < ov->made_arr.len; i++)
        if (MADE(ov, i) != NULL)
            node_free(MADE(ov, i));
    free(ov->ds);
    ccr_array_free(&ov->made_arr);
    pthread_rwlock_destroy(&ov->lock);
    free(ov);
}

int fs_ovl_lookup(struct fs_ovl *ov, uint64_t parent, const char *name, struct stat *st)
{
    uint64_t ino;
    struct fs_ovl_node *r;
    int rc;

    pthread_rwlock_rdlock(&ov->lock);
    if ((rc = resolve(ov, parent, name, &ino)) == 0) {
        fill_stat(ov, ino, st);
        if ((r = rec_of(ov, ino)) != NULL)
            atomic_fetch_add(&r->nlookup, 1);
    }
    pthread_rwlock_unlock(&ov->lock);
    return rc;
}

int fs_ovl_getattr(struct fs_ovl *ov, uint64_t ino, struct stat *st)
{
    int rc = 0;
    pthread_rwlock_rdlock(&ov->lock);
    if (known(ov, ino))
        fill_stat(ov, ino, st);
    else
        rc = ENOENT;
    pthread_rwlock_unlock(&ov->lock);
    return rc;
}

int fs_ovl_setattr(struct fs_ovl *ov, uint64_t ino, const struct stat *attr, int to_set, struct stat *st)
{
    struct fs_ovl_node *r;
    struct timespec now = now_ts();
    int rc = 0;

    pthread_rwlock_wrlock(&ov->lock);
    if (!known(ov, ino)) {
        rc = ENOENT;
        goto out;
    }
    if ((r = materialize(ov, ino)) == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if (to_set & FS_OVL_SET_SIZE) {
        if (S_ISDIR(r->mode)) {
            rc = EISDIR;
            goto out;
        }
        if (attr->st_size < 0) {
            rc = EINVAL;
            goto out;
        }
        if ((rc = copy_up(ov, r, attr->st_size == 0)) != 0 ||
            (rc = fs_ephemeral_file_truncate(r->data, (uint64_t)attr->st_size)) != 0)
            goto out;
        r->dirty = 1;
        r->mtime = now;
    }
    if (to_set & FS_OVL_SET_MODE)
        r->mode = (r->mode & S_IFMT) | (attr->st_mode & 07777);
    if (to_set & FS_OVL_SET_UID)
        r->uid = attr->st_uid;
    if (to_set & FS_OVL_SET_GID)
        r->gid = attr->st_gid;
    if (to_set & FS_OVL_SET_ATIME_NOW)
        r->atime = now;
    else if (to_set & FS_OVL_SET_ATIME)
        r->atime = attr->st_atim;
    if (to_set & FS_OVL_SET_MTIME_NOW)
        r->mtime = now;
    else if (to_set & FS_OVL_SET_MTIME)
        r->mtime = attr->st_mtim;
    r->ctime = (to_set & FS_OVL_SET_CTIME) ? attr->st_ctim : now;
out:
    if (rc == 0)
        fill_stat(ov, ino, st);
    pthread_rwlock_unlock(&ov->lock);
    return rc;
}

int fs_ovl_mknod(struct fs_ovl *ov, uint64_t parent, const char *name, mode_t mode, uid_t uid, gid_t gid,
                 struct stat *st)
{
    struct fs_ovl_node *d, *r = NULL;
    char *spare = NULL;
    uint64_t ino;
    int rc;

    if (!S_ISREG(mode) && !S_ISDIR(mode))
        return EPERM;
    if (strlen(name) > 255)
        return ENAMETOOLONG;
    pthread_rwlock_wrlock(&ov->lock);
    rc = resolve(ov, parent, name, &ino);
    if (rc == 0) {
        rc = EEXIST;
        goto out;
    }
    if (rc != ENOENT || !known(ov, parent) || !is_dir(ov, parent) || removed(ov, parent))
        goto out;
    rc = ENOMEM;
    if ((d = materialize(ov, parent)) == NULL || ents_reserve(d, 1) != 0 || (spare = strdup(name)) == NULL ||
        (r = calloc(1, sizeof *r)) == NULL)
        goto out;
    if (ccr_array_reserve(&ov->made_arr, ov->made_arr.len + 1) != 0)
        goto out;
    if (S_ISREG(mode) && (rc = fs_ephemeral_file_new(ov->c.eph, 0, NULL, NULL, &r->data)) != 0)
        goto out;
    r->ov = ov;
    r->ino = ov->c.tree->count + 1 + ov->made_arr.len;
    r->parent = parent;
    r->name = strdup(name);
    if (r->name == NULL) {
        rc = ENOMEM;
        goto out;
    }
    r->mode = mode;
    r->uid = uid;
    r->gid = gid;
    r->atime = r->mtime = r->ctime = now_ts();
    atomic_init(&r->nlookup, 1);
    r->dirty = S_ISREG(mode);         /* an empty output file is an output too */
    MADE(ov, ov->made_arr.len++) = r; /* room was reserved above */
    dir_set(ov, d, name, r->ino, &spare);
    fill_stat(ov, r->ino, st);
    r = NULL;
    rc = 0;
out:
    pthread_rwlock_unlock(&ov->lock);
    if (r != NULL)
        node_free(r);
    free(spare);
    return rc;
}

/* A folder with no visible entry. */
static int dir_empty(struct fs_ovl *ov, uint64_t ino)
{
    struct fs_ovl_node *d = rec_of(ov, ino);
    struct fs_node *l = d != NULL ? d->lower : lower_of(ov, ino);
    size_t pos;

    if (d != NULL)
        for (size_t i = 0; i < d->ents.len; i++)
            if (ENT(d, i).ino != 0)
                return 0;
    if (l != NULL)
        for (uint32_t i = 0; i < l->nchildren; i++)
            if (d == NULL || !ents_find(d, ov->c.tree->nodes[l->children[i]].name, &pos))
                return 0;
    return 1;
}

int fs_ovl_unlink(struct fs_ovl *ov, uint64_t parent, const char *name, int dir)
{
    struct fs_ovl_node *d, *r;
    char *spare = NULL;
    uint64_t ino;
    int rc;

    pthread_rwlock_wrlock(&ov->lock);
    if ((rc = resolve(ov, parent, name, &ino)) != 0)
        goto out;
    if (dir && !is_dir(ov, ino)) {
        rc = ENOTDIR;
        goto out;
    }
    if (!dir && is_dir(ov, ino)) {
        rc = EISDIR;
        goto out;
    }
    if (dir && !dir_empty(ov, ino)) {
        rc = ENOTEMPTY;
        goto out;
    }
    rc = ENOMEM;
    if ((d = materialize(ov, parent)) == NULL || (r = materialize(ov, ino)) == NULL ||
        ents_reserve(d, 1) != 0 || (spare = strdup(name)) == NULL)
        goto out;
    dir_set(ov, d, name, 0, &spare);
    r->removed = 1;
    r->ctime = now_ts();
    maybe_free(ov, r);
    rc = 0;
out:
    pthread_rwlock_unlock(&ov->lock);
    free(spare);
    return rc;
}

int fs_ovl_rename(struct fs_ovl *ov, uint64_t parent, const char *name, uint64_t newparent,
                  const char *newname, unsigned flags)
{
    struct fs_ovl_node *sd, *dd, *r, *t = NULL;
    char *spare1 = NULL, *spare2 = NULL, *newcopy = NULL;
    uint64_t ino, tino = 0;
    int rc;

    if (flags & ~(unsigned)RENAME_NOREPLACE)
        return EINVAL;
    if (strlen(newname) > 255)
        return ENAMETOOLONG;
    pthread_rwlock_wrlock(&ov->lock);
    if ((rc = resolve(ov, parent, name, &ino)) != 0)
        goto out;
    rc = resolve(ov, newparent, newname, &tino);
    if (rc != 0 && rc != ENOENT)
        goto out;
    if (rc == ENOENT && (!known(ov, newparent) || removed(ov, newparent)))
        goto out;
    if (rc == 0) {
        if (tino == ino) {
            rc = 0; /* the same node: nothing to do */
            goto out;
        }
        if (flags & RENAME_NOREPLACE) {
            rc = EEXIST;
            goto out;
        }
        if (is_dir(ov, ino) && !is_dir(ov, tino)) {
            rc = ENOTDIR;
            goto out;
        }
        if (!is_dir(ov, ino) && is_dir(ov, tino)) {
            rc = EISDIR;
            goto out;
        }
        if (is_dir(ov, tino) && !dir_empty(ov, tino)) {
            rc = ENOTEMPTY;
            goto out;
        }
    } else {
        tino = 0;
    }
    if (is_dir(ov, ino)) {
        /* A folder may not move into itself or below itself. */
        uint64_t up = newparent;
        for (int depth = 0; depth < MAX_DEPTH; depth++) {
            if (up == ino) {
                rc = EINVAL;
                goto out;
            }
            if (up == ROOT_INO)
                break;
            up = parent_of(ov, up);
        }
    }
    rc = ENOMEM;
    if ((sd = materialize(ov, parent)) == NULL || (dd = materialize(ov, newparent)) == NULL ||
        (r = materialize(ov, ino)) == NULL || (tino != 0 && (t = materialize(ov, tino)) == NULL) ||
        ents_reserve(sd, 2) != 0 || ents_reserve(dd, 2) != 0 || (spare1 = strdup(name)) == NULL ||
        (spare2 = strdup(newname)) == NULL || (newcopy = strdup(newname)) == NULL)
        goto out;
    dir_set(ov, sd, name, 0, &spare1);
    dir_set(ov, dd, newname, ino, &spare2);
    r->parent = newparent;
    free(r->name);
    r->name = newcopy;
    newcopy = NULL;
    r->ctime = now_ts();
    if (t != NULL) {
        t->removed = 1;
        t->ctime = r->ctime;
        maybe_free(ov, t);
    }
    rc = 0;
out:
    pthread_rwlock_unlock(&ov->lock);
    free(spare1);
    free(spare2);
    free(newcopy);
    return rc;
}

void fs_ovl_forget(struct fs_ovl *ov, uint64_t ino, uint64_t nlookup)
{
    struct fs_ovl_node *r;
    pthread_rwlock_wrlock(&ov->lock);
    if ((r = rec_of(ov, ino)) != NULL && r->lower == NULL) {
        uint64_t have = atomic_load(&r->nlookup);
        atomic_store(&r->nlookup, have > nlookup ? have - nlookup : 0);
        maybe_free(ov, r);
    }
    pthread_rwlock_unlock(&ov->lock);
}

int fs_ovl_open(struct fs_ovl *ov, uint64_t ino, int flags, struct fs_ovl_open *o)
{
    struct fs_ovl_node *r;
    int write = (flags & O_ACCMODE) != O_RDONLY, trunc = (flags & O_TRUNC) != 0, rc = 0;

    memset(o, 0, sizeof *o);
    pthread_rwlock_wrlock(&ov->lock);
    if (!known(ov, ino)) {
        rc = ENOENT;
        goto out;
    }
    if (is_dir(ov, ino)) {
        rc = EISDIR;
        goto out;
    }
    if ((r = materialize(ov, ino)) == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if (write || trunc) {
        if ((rc = copy_up(ov, r, trunc)) != 0)
            goto out;
        if (trunc && fs_ephemeral_file_size(r->data) > 0 &&
            (rc = fs_ephemeral_file_truncate(r->data, 0)) != 0)
            goto out;
        if (trunc) {
            r->dirty = 1;
            r->mtime = r->ctime = now_ts();
        }
    }
    r->nopen++;
    o->node = r;
    o->lower = r->lower;
    o->copied = r->data != NULL;
out:
    pthread_rwlock_unlock(&ov->lock);
    return rc;
}

struct fs_ephemeral_file *fs_ovl_data(struct fs_ovl *ov, struct fs_ovl_node *n)
{
    struct fs_ephemeral_file *f;
    pthread_rwlock_rdlock(&ov->lock);
    f = n->data;
    pthread_rwlock_unlock(&ov->lock);
    return f;
}

void fs_ovl_wrote(struct fs_ovl *ov, struct fs_ovl_node *n)
{
    pthread_rwlock_wrlock(&ov->lock);
    n->mtime = n->ctime = now_ts();
    n->dirty = 1;
    pthread_rwlock_unlock(&ov->lock);
}

int fs_ovl_last_dirty(struct fs_ovl *ov, struct fs_ovl_node *n)
{
    int last;
    pthread_rwlock_wrlock(&ov->lock);
    last = n->nopen == 1 && n->dirty && !n->removed && n->data != NULL;
    if (last)
        n->dirty = 0;
    pthread_rwlock_unlock(&ov->lock);
    return last;
}

void fs_ovl_close(struct fs_ovl *ov, struct fs_ovl_node *n)
{
    pthread_rwlock_wrlock(&ov->lock);
    if (n->nopen > 0)
        n->nopen--;
    maybe_free(ov, n);
    pthread_rwlock_unlock(&ov->lock);
}

uint64_t fs_ovl_node_ino(const struct fs_ovl_node *n)
{
    return n->ino;
}

int fs_ovl_path(struct fs_ovl *ov, uint64_t ino, char *buf, size_t len)
{
    size_t pos;
    int rc = 0;

    if (len == 0)
        return ENAMETOOLONG;
    pos = len - 1;
    buf[pos] = '\0';
    pthread_rwlock_rdlock(&ov->lock);
    for (int depth = 0; ino != ROOT_INO; depth++) {
        const char *name;
        size_t n;
        if (!known(ov, ino) || removed(ov, ino) || depth >= MAX_DEPTH) {
            rc = ENOENT;
            break;
        }
        name = name_of(ov, ino);
        n = strlen(name);
        if (n + (pos < len - 1 ? 1 : 0) > pos) {
            rc = ENAMETOOLONG;
            break;
        }
        if (pos < len - 1)
            buf[--pos] = '/';
        pos -= n;
        memcpy(buf + pos, name, n);
        ino = parent_of(ov, ino);
    }
    pthread_rwlock_unlock(&ov->lock);
    if (rc == 0)
        memmove(buf, buf + pos, len - pos);
    return rc;
}

static int dir_add(struct ccr_array *list, struct fs_ovl *ov, const char *name, uint64_t ino)
{
    struct fs_ovl_dirent *e = ccr_array_push(list);

    if (e == NULL)
        return ENOMEM;
    if ((e->name = strdup(name)) == NULL) {
        list->len--;
        return ENOMEM;
    }
    e->ino = ino;
    e->mode = is_dir(ov, ino) ? S_IFDIR : S_IFREG;
    return 0;
}

int fs_ovl_opendir(struct fs_ovl *ov, uint64_t ino, struct fs_ovl_dir **out)
{
    struct fs_ovl_dir *d = calloc(1, sizeof *d);
    struct fs_ovl_node *r;
    struct fs_node *l;
    struct ccr_array list = CCR_ARRAY_INIT(struct fs_ovl_dirent);
    size_t pos;
    int rc = 0;

    if (d == NULL)
        return ENOMEM;
    pthread_rwlock_rdlock(&ov->lock);
    if (!known(ov, ino) || removed(ov, ino)) {
        rc = ENOENT;
        goto out;
    }
    if (!is_dir(ov, ino)) {
        rc = ENOTDIR;
        goto out;
    }
    r = rec_of(ov, ino);
    l = r != NULL ? r->lower : lower_of(ov, ino);
    d->ino = ino;
    d->parent = parent_of(ov, ino);
    if (l != NULL)
        for (uint32_t i = 0; i < l->nchildren && rc == 0; i++) {
            struct fs_node *c = &ov->c.tree->nodes[l->children[i]];
            if (r == NULL || !ents_find(r, c->name, &pos))
                rc = dir_add(&list, ov, c->name, fs_tree_ino(ov->c.tree, c));
        }
    if (r != NULL)
        for (size_t i = 0; i < r->ents.len && rc == 0; i++)
            if (ENT(r, i).ino != 0)
                rc = dir_add(&list, ov, ENT(r, i).name, ENT(r, i).ino);
out:
    pthread_rwlock_unlock(&ov->lock);
    d->ents = ccr_array_steal(&list, &d->count);
    if (rc != 0) {
        fs_ovl_dir_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void fs_ovl_dir_free(struct fs_ovl_dir *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->count; i++)
        free(d->ents[i].name);
    free(d->ents);
    free(d);
}

int fs_ovl_copied(struct fs_ovl *ov, uint64_t ino)
{
    struct fs_ovl_node *r;
    int copied;
    pthread_rwlock_rdlock(&ov->lock);
    r = rec_of(ov, ino);
    copied = r != NULL && r->data != NULL;
    pthread_rwlock_unlock(&ov->lock);
    return copied;
}

uint64_t fs_ovl_created(struct fs_ovl *ov)
{
    uint64_t n;
    pthread_rwlock_rdlock(&ov->lock);
    n = ov->made_arr.len;
    pthread_rwlock_unlock(&ov->lock);
    return n;
}
