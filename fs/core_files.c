/* Open files of either namespace: open, read, write, release. Dataset bytes come through the
 * block-read routine (fs/core_read.c); bytes written on a no-egress or sink mount from the
 * overlay's ephemeral files. Every path passes the gate (fs/core_gate.c) first. */
#include "fs/internal.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fs_open_file_link(struct fs_mount *m, struct fs_open_file *of)
{
    pthread_mutex_init(&of->lock, NULL);
    fs_window_init(&of->win, FS_WINDOW_MIN, m->window_max);
    pthread_mutex_lock(&m->open_lock);
    of->next = m->open_files;
    if (of->next != NULL)
        of->next->prev = of;
    m->open_files = of;
    pthread_mutex_unlock(&m->open_lock);
    atomic_fetch_add(&m->opens, 1);
}

void fs_open_file_free(struct fs_mount *m, struct fs_open_file *of)
{
    pthread_mutex_lock(&m->open_lock);
    if (of->prev != NULL)
        of->prev->next = of->next;
    else
        m->open_files = of->next;
    if (of->next != NULL)
        of->next->prev = of->prev;
    pthread_mutex_unlock(&m->open_lock);
    fs_gate_release(m, of->handle);
    if (of->onode != NULL)
        fs_ovl_close(m->ovl, of->onode);
    if (of->key_node != NULL)
        fs_key_drop(m, of->key_node);
    pthread_mutex_destroy(&of->lock);
    free(of);
}

/* page_cache=drop (the default under a contract, fs_mount_create): the kernel drops a file's
 * pages at each open, so pages of an earlier open are never served without a read. */
static int keep_pages(const struct fs_mount *m)
{
    return m->opts.page_cache != FS_PAGE_CACHE_DROP;
}

/* Registers an open file the gate allowed (handle); on ENOMEM the overlay node is unpinned
 * and governance told the open ended. */
static int open_file_new(struct fs_mount *m, struct fs_node *n, struct fs_node *key_node,
                         const struct fs_ovl_open *o, uint64_t handle, int flags, struct fs_open_file **out)
{
    struct fs_open_file *of = calloc(1, sizeof *of);

    if (of == NULL) {
        atomic_fetch_add(&m->memory_errors, 1);
        if (key_node != NULL)
            fs_key_drop(m, key_node);
        if (o != NULL)
            fs_ovl_close(m->ovl, o->node);
        fs_gate_release(m, handle);
        return ENOMEM;
    }
    of->node = n;
    of->key_node = key_node;
    of->handle = handle;
    if (o != NULL) {
        of->onode = o->node;
        of->writable = (flags & O_ACCMODE) != O_RDONLY;
        /* Dataset bytes never change; written ones do (the kernel's cache follows our writes,
         * but not what another open's truncate did). */
        of->keep_cache = !o->copied && o->lower != NULL && keep_pages(m);
    } else {
        /* Blobs never change: keep the kernel's page cache across opens, unless page_cache=drop
         * (no direct_io: mmap and the page cache within one open keep working). */
        of->keep_cache = keep_pages(m);
    }
    fs_open_file_link(m, of);
    *out = of;
    return 0;
}

int fs_core_keep_cache(const struct fs_open_file *of)
{
    return of->keep_cache;
}

/* Once access is revoked an open is refused before it reads a blob header from the store. */
static int gate_before_io(struct fs_mount *m)
{
    return fs_gate(m, &(struct fs_gate_req){.op = FS_GATE_ACCESS});
}

static int is_dir(const struct fs_node *n)
{
    return n->e == NULL || n->e->type == FMT_ENTRY_DIR;
}

int fs_core_open(struct fs_mount *m, uint64_t ino, int flags, const struct fs_caller *who,
                 struct fs_open_file **out)
{
    struct fs_node *n = fs_tree_node(&m->tree, ino);
    uint64_t handle = 0;
    int rc;

    if (n == NULL)
        return ENOENT;
    if (is_dir(n))
        return EISDIR;
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
        return EROFS;
    if ((rc = gate_before_io(m)) != 0)
        return rc;
    /* A fetch-ahead of this file under way is waited for, not fetched a second time. */
    fs_ahead_claim(m, n);
    /* Check the blob before anyone records an open that could not succeed; the key stays
     * while the file is open. */
    if ((rc = fs_key_hold(m, n)) != 0)
        return rc;
    if ((rc = fs_gate(
             m,
             &(struct fs_gate_req){
                 .op = FS_GATE_OPEN, .path = n->e->path, .flags = flags, .who = who, .handle = &handle})) !=
        0) {
        fs_key_drop(m, n);
        return rc;
    }
    if ((rc = open_file_new(m, n, n, NULL, handle, flags, out)) == 0)
        fs_ahead_on_open(m, n, who);
    return rc;
}

/* Dataset files need their key before their bytes can be read through: held while open
 * (*held, NULL when the file has no dataset bytes). */
static int prepare_lower(struct fs_mount *m, uint64_t ino, struct fs_node **held)
{
    struct fs_node *n = fs_tree_node(&m->tree, ino);
    int rc;

    *held = NULL;
    if (n == NULL || n->e == NULL || n->e->type != FMT_ENTRY_FILE)
        return 0;
    if ((rc = fs_key_hold(m, n)) == 0)
        *held = n;
    return rc;
}

int fs_core_ovl_open(struct fs_mount *m, uint64_t ino, int flags, const struct fs_caller *who,
                     struct fs_open_file **out)
{
    struct fs_ovl_open o;
    struct fs_node *held;
    char path[FMT_PATH_MAX + 1];
    uint64_t handle = 0;
    int rc;

    if ((rc = gate_before_io(m)) != 0)
        return rc;
    if ((rc = fs_ovl_path(m->ovl, ino, path, sizeof path)) != 0)
        return rc;
    /* Check the blob before anyone records an open that could not succeed. */
    if ((rc = prepare_lower(m, ino, &held)) != 0)
        return rc;
    if ((rc = fs_gate(
             m, &(struct fs_gate_req){
                    .op = FS_GATE_OPEN, .path = path, .flags = flags, .who = who, .handle = &handle})) != 0) {
        if (held != NULL)
            fs_key_drop(m, held);
        return rc;
    }
    if ((rc = fs_ovl_open(m->ovl, ino, flags, &o)) != 0) {
        if (held != NULL)
            fs_key_drop(m, held);
        fs_gate_release(m, handle);
        return rc;
    }
    return open_file_new(m, o.lower, held, &o, handle, flags, out);
}

int fs_core_ovl_create(struct fs_mount *m, uint64_t parent, const char *name, mode_t mode, int flags,
                       const struct fs_caller *who, struct stat *st, struct fs_open_file **out)
{
    struct fs_ovl_open o;
    char path[FMT_PATH_MAX + 1];
    uint64_t handle = 0;
    size_t len;
    int rc;

    if ((rc = gate_before_io(m)) != 0)
        return rc;
    if ((rc = fs_ovl_path(m->ovl, parent, path, sizeof path)) != 0)
        return rc;
    len = strlen(path);
    if (len + strlen(name) + 2 > sizeof path)
        return ENAMETOOLONG;
    snprintf(path + len, sizeof path - len, "%s%s", len > 0 ? "/" : "", name);
    /* Asked before the file exists, so a refusal leaves nothing behind. */
    if ((rc = fs_gate(m, &(struct fs_gate_req){.op = FS_GATE_OPEN,
                                               .path = path,
                                               .flags = flags | O_CREAT,
                                               .who = who,
                                               .handle = &handle})) != 0)
        return rc;
    rc = fs_ovl_mknod(m->ovl, parent, name, S_IFREG | (mode & 07777), who->uid, who->gid, st);
    if (rc == EEXIST && !(flags & O_EXCL)) {
        /* Another creator won the race: open what is there. */
        rc = fs_ovl_lookup(m->ovl, parent, name, st);
        if (rc == 0 && S_ISDIR(st->st_mode)) {
            fs_ovl_forget(m->ovl, st->st_ino, 1);
            rc = EISDIR;
        }
    }
    if (rc == 0 && (rc = fs_ovl_open(m->ovl, st->st_ino, flags, &o)) != 0)
        fs_ovl_forget(m->ovl, st->st_ino, 1);
    if (rc != 0) {
        fs_gate_release(m, handle);
        return rc;
    }
    if ((rc = open_file_new(m, o.lower, NULL, &o, handle, flags, out)) != 0)
        fs_ovl_forget(m->ovl, st->st_ino, 1);
    return rc;
}

/* A read of a file whose bytes are in the overlay (written on the mount). */
static int read_written(struct fs_mount *m, struct fs_ephemeral_file *f, uint64_t off, size_t size,
                        struct fs_read_reply *r)
{
    uint8_t *buf;
    size_t got = 0;
    int rc;

    if ((rc = fs_read_pins_buffer(size, &r->pins, &buf)) != 0)
        return rc;
    if ((rc = fs_ephemeral_file_read(f, buf, size, off, &got)) != 0) {
        ccr_log_error("read of a written file failed: %s", ccr_err_msg(rc));
        fs_read_unpin(m, r->pins);
        r->pins = NULL;
        return rc;
    }
    fs_read_pins_trim(r->pins, got);
    r->iov = fs_read_pins_iov(r->pins, &r->iovcnt);
    r->bytes = got;
    atomic_fetch_add(&m->bytes_served, got);
    return 0;
}

int fs_core_read(struct fs_mount *m, struct fs_open_file *of, uint64_t off, size_t size,
                 struct fs_read_reply *r)
{
    struct fs_node *n = of->node;
    struct fs_ephemeral_file *f = of->onode != NULL ? fs_ovl_data(m->ovl, of->onode) : NULL;
    int rc, stalled = 0;

    memset(r, 0, sizeof *r);
    /* Bytes written on a mutable mount come from the overlay; the rest from the dataset. */
    if (f == NULL && n == NULL)
        return 0; /* cannot happen: files made on the mount are in the overlay */
    if (f == NULL && off < n->e->size && size > n->e->size - off)
        size = (size_t)(n->e->size - off);
    if (f == NULL && off >= n->e->size)
        size = 0;
    if ((rc = fs_gate(m, &(struct fs_gate_req){.op = FS_GATE_READ, .of = of, .off = off, .len = size})) != 0)
        return rc;
    if (size == 0)
        return 0;
    if (f != NULL)
        return read_written(m, f, off, size, r);
    atomic_fetch_add(&m->reads, 1);
    /* Fetch-ahead first, so it runs while this read fetches what it needs. */
    fs_read_ahead(m, of, off, size);
    rc = fs_read_pin(m, n, off, size, &r->pins, &stalled);
    atomic_store(&of->stalled, stalled);
    if (rc == ENOMEM)
        atomic_fetch_add(&m->memory_errors, 1);
    if (rc != 0)
        return rc;
    r->iov = fs_read_pins_iov(r->pins, &r->iovcnt);
    r->bytes = size;
    atomic_fetch_add(&m->bytes_served, size);
    return 0;
}

void fs_core_read_done(struct fs_mount *m, struct fs_read_reply *r)
{
    fs_read_unpin(m, r->pins);
    memset(r, 0, sizeof *r);
}

int fs_core_write(struct fs_mount *m, struct fs_open_file *of, const void *buf, size_t size, uint64_t off)
{
    struct fs_ephemeral_file *f;
    int rc;

    if (m->ovl == NULL)
        return EROFS;
    if ((rc = fs_gate(m, &(struct fs_gate_req){.op = FS_GATE_WRITE})) != 0)
        return rc;
    if (of == NULL || of->onode == NULL || !of->writable || (f = fs_ovl_data(m->ovl, of->onode)) == NULL)
        return EBADF;
    if ((rc = fs_ephemeral_file_write(f, buf, size, off)) != 0) {
        if (rc != ENOSPC)
            ccr_log_error("write to the overlay failed: %s", ccr_err_msg(rc));
        return rc;
    }
    fs_ovl_wrote(m->ovl, of->onode);
    atomic_fetch_add(&m->bytes_written, size);
    return 0;
}

/* Sink mounts: the last close of a written output uploads it. */
static void upload_if_last(struct fs_mount *m, struct fs_open_file *of)
{
    char path[FMT_PATH_MAX + 1];
    struct stat st;
    uint64_t ino;

    if (m->opts.mode != FS_MODE_SINK || of->onode == NULL || !fs_ovl_last_dirty(m->ovl, of->onode))
        return;
    ino = fs_ovl_node_ino(of->onode);
    if (fs_ovl_path(m->ovl, ino, path, sizeof path) != 0 || fs_ovl_getattr(m->ovl, ino, &st) != 0) {
        ccr_log_warn("sink: a closed output file was removed before its upload; nothing uploaded");
        return;
    }
    /* Errors are counted and logged inside: the close itself reports nothing. */
    (void)fs_sink_upload(m, path, fs_ovl_data(m->ovl, of->onode), st.st_mode, &st.st_mtim);
}

void fs_core_release(struct fs_mount *m, struct fs_open_file *of)
{
    if (of == NULL)
        return;
    upload_if_last(m, of);
    fs_open_file_free(m, of);
}
