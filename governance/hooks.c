/* The filesystem's hooks: open, read (coalesced ranges, the byte budget), release, integrity
 * failures and uploads. Each asks the gate and records; none waits on the network. */
#include "common/encoding.h"
#include "common/err.h"
#include "common/log.h"
#include "governance/gov_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void file_free(struct gov_file *f)
{
    f->magic = 0;
    pthread_mutex_destroy(&f->lock);
    ccr_array_free(&f->ranges);
    free(f->process);
    free(f->path);
    free(f);
}

/* The compact form (unless full_access): whether this open may wait for its record (to its
 * release, or the flush interval). Not when the spool is near its limit counting every record
 * still owed: then the open is written now, and refused if it cannot be. */
static int may_defer_open(struct gov *g)
{
    uint64_t owed = (uint64_t)atomic_load(&g->unrecorded) + 1;
    if (g->cfg.full_access)
        return 0;
    return gov_spool_bytes(g->spool) + owed * GOV_ACCESS_ROOM + 4096 <= g->cfg.spool_max_bytes;
}

static void pending_info_of(const struct gov_file *f, struct gov_pending_info *info)
{
    *info = (struct gov_pending_info){
        .path = f->path,
        .process = f->process,
        .open_seq = f->open_recorded ? (int64_t)f->open_seq : -1,
        .flags = f->flags,
        .pid = f->pid,
        .uid = f->uid,
        .gid = f->gid,
        .have_size = f->have_size,
        .size = f->size,
        .opened_wall_ms = f->opened_wall_ms,
    };
}

/* A deferred open is in the journal before the open returns: a kill before its first read or
 * its release still leaves it to be sealed (as a recovered access entry). A store into the
 * journal's mapping, no I/O; when it cannot be made the open is recorded now instead. */
static int journal_open(struct gov *g, struct gov_file *f)
{
    struct gov_pending_info info;
    if (g->pending == NULL)
        return 0;
    pending_info_of(f, &info);
    return gov_pending_open_file(g->pending, &f->journal, &info);
}

static int hook_open(void *arg, const struct fs_open_info *info, uint64_t *handle)
{
    struct gov *g = arg;
    char why[GOV_WHY_MAX];
    struct gov_file *f;
    int rc = 0;

    gov_consent_nudge(g);
    if (!gov_gate(g, why, sizeof why))
        return gov_deny(g, "open", info->path, info->pid, why);
    f = calloc(1, sizeof *f);
    if (f == NULL || (f->path = strdup(info->path ? info->path : "")) == NULL ||
        (f->process = strdup(info->process_name ? info->process_name : "")) == NULL) {
        if (f != NULL)
            free(f->path);
        free(f);
        return gov_deny(g, "open", info->path, info->pid, "out of memory");
    }
    f->magic = GOV_FILE_MAGIC;
    f->journal.info_open = -1;
    ccr_array_init(&f->ranges, sizeof(struct gov_range));
    pthread_mutex_init(&f->lock, NULL);
    f->flags = info->flags;
    f->pid = info->pid;
    f->uid = info->uid;
    f->gid = info->gid;
    f->opened_mono_ms = gov_now_ms();
    f->opened_wall_ms = (int64_t)ccr_clock_wall_ms();
    if (g->cfg.file_size != NULL && g->cfg.file_size(g->cfg.file_size_arg, f->path, &f->size) == 0)
        f->have_size = 1;
    if (may_defer_open(g) && journal_open(g, f) == 0) {
        f->deferred = 1; /* recorded at release or by the deliverer */
        atomic_fetch_add(&g->unrecorded, 1);
    } else if ((rc = gov_record_open_locked(g, f)) != 0) {
        file_free(f);
        snprintf(why, sizeof why, "the open cannot be recorded: %s", ccr_err_msg(rc));
        return gov_deny(g, "open", info->path, info->pid, why);
    }
    pthread_mutex_lock(&g->files_lock);
    f->next = g->files;
    if (g->files != NULL)
        g->files->prev = f;
    g->files = f;
    pthread_mutex_unlock(&g->files_lock);
    *handle = (uint64_t)(uintptr_t)f;
    return 0;
}

static struct gov_file *file_of(uint64_t handle)
{
    struct gov_file *f = (struct gov_file *)(uintptr_t)handle;
    if (f == NULL || f->magic != GOV_FILE_MAGIC)
        return NULL;
    return f;
}

/* The served range in the journal before the bytes go out (the file's lock held). */
static int journal_read(struct gov *g, struct gov_file *f, uint64_t offset, uint64_t len)
{
    struct gov_pending_info info;
    pending_info_of(f, &info);
    return gov_pending_read(g->pending, &f->journal, &info, offset, len);
}

static int hook_read(void *arg, uint64_t handle, uint64_t offset, uint64_t len)
{
    struct gov *g = arg;
    struct gov_file *f = file_of(handle);
    char why[GOV_WHY_MAX];
    int rc = 0;

    if (f == NULL)
        return gov_deny(g, "read", "", 0, "unknown file handle");
    if (!gov_gate(g, why, sizeof why))
        return gov_deny(g, "read", f->path, 0, why);
    if (len == 0)
        return 0;
    if (g->cfg.max_bytes_per_mount != 0) {
        /* Counted before the bytes go out; a refused read gives its share back. */
        unsigned long long before = atomic_fetch_add(&g->bytes_served, len);
        if (before + len > g->cfg.max_bytes_per_mount) {
            atomic_fetch_sub(&g->bytes_served, len);
            snprintf(why, sizeof why,
                     "byte budget spent: this mount may serve %" PRIu64 " bytes, %llu served",
                     g->cfg.max_bytes_per_mount, before);
            return gov_deny(g, "read", f->path, 0, why);
        }
    }
    pthread_mutex_lock(&f->lock);
    /* Asked again under the lock a withdrawal's flush takes: a read that passed the gate as
     * consent went away is refused rather than recorded after the revocation. */
    if (atomic_load(&g->revoked)) {
        pthread_mutex_unlock(&f->lock);
        if (g->cfg.max_bytes_per_mount != 0)
            atomic_fetch_sub(&g->bytes_served, len);
        snprintf(why, sizeof why, "consent revoked: %s", g->revoke_reason);
        return gov_deny(g, "read", f->path, 0, why);
    }
    /* Journaled first: once the reply goes out, the range survives the daemon being killed. */
    if ((rc = journal_read(g, f, offset, len)) != 0) {
        pthread_mutex_unlock(&f->lock);
        if (g->cfg.max_bytes_per_mount != 0)
            atomic_fetch_sub(&g->bytes_served, len);
        snprintf(why, sizeof why, "the read cannot be recorded: %s", ccr_err_msg(rc));
        return gov_deny(g, "read", f->path, 0, why);
    }
    if (f->ranges.len == 0)
        f->first_pending_ms = gov_now_ms();
    if (gov_ranges_add(&f->ranges, offset, len) != 0)
        rc = ENOMEM;
    f->reads_pending++;
    f->reads_total++;
    f->bytes_total += len;
    if (rc == 0 && f->ranges.len > g->cfg.flush_ranges)
        rc = gov_flush_file_locked(g, f);
    pthread_mutex_unlock(&f->lock);
    if (rc != 0) {
        snprintf(why, sizeof why, "the read cannot be recorded: %s", strerror(rc));
        return gov_deny(g, "read", f->path, 0, why);
    }
    return 0;
}

static void hook_release(void *arg, uint64_t handle)
{
    struct gov *g = arg;
    struct gov_file *f = file_of(handle);
    json_object *ev;

    if (f == NULL)
        return;
    pthread_mutex_lock(&g->files_lock);
    if (f->prev != NULL)
        f->prev->next = f->next;
    else
        g->files = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
    pthread_mutex_unlock(&g->files_lock);
    pthread_mutex_lock(&f->lock);
    if (!f->open_recorded) {
        /* Nothing recorded for this open yet: one compact entry says it all. */
        json_object *entry = gov_access_entry(f);
        if (entry != NULL) {
            pthread_mutex_unlock(&f->lock);
            gov_access_add(g, entry);
            file_free(f);
            return;
        }
        /* No memory for the entry: the open, read and release events, whose seals cover the
         * journal's record. If even the open cannot be sealed, the record stays in the journal
         * and the next run of this spool seals it. */
        if (gov_record_open_locked(g, f) != 0) {
            pthread_mutex_unlock(&f->lock);
            ccr_log_error("release %s: the open cannot be recorded now; left in the journal", f->path);
            file_free(f);
            return;
        }
    }
    gov_flush_file_locked(g, f);
    pthread_mutex_unlock(&f->lock);
    ev = gov_event_new("release");
    gov_ev_int(ev, "open", (int64_t)f->open_seq);
    gov_ev_str(ev, "path", f->path);
    gov_ev_int(ev, "reads", (int64_t)f->reads_total);
    gov_ev_int(ev, "bytes", (int64_t)f->bytes_total);
    gov_emit(g, ev, 1, NULL);
    file_free(f);
}

static void hook_integrity(void *arg, const char *path, uint64_t block)
{
    struct gov *g = arg;
    json_object *ev = gov_event_new("integrity");
    gov_ev_str(ev, "path", path);
    gov_ev_int(ev, "block", (int64_t)block);
    gov_emit(g, ev, 1, NULL);
}

static int hook_upload(void *arg, const char *path, uint64_t size, const uint8_t sha256[32],
                       const char *object)
{
    struct gov *g = arg;
    json_object *ev;
    char why[GOV_WHY_MAX], hex[65];
    int rc;

    gov_consent_nudge(g);
    if (!gov_gate(g, why, sizeof why))
        return gov_deny(g, "upload", path, 0, why);
    ccr_hex_encode(sha256, 32, hex);
    ev = gov_event_new("upload");
    gov_ev_str(ev, "path", path);
    gov_ev_int(ev, "size", (int64_t)size);
    gov_ev_str(ev, "sha256", hex);
    gov_ev_str(ev, "object", object);
    /* Nothing leaves unless its upload is in the spool first. */
    if ((rc = gov_emit(g, ev, 0, NULL)) != 0) {
        snprintf(why, sizeof why, "the upload cannot be recorded: %s", ccr_err_msg(rc));
        return gov_deny(g, "upload", path, 0, why);
    }
    return 0;
}

void gov_fs_hooks(struct gov *g, struct fs_access_hooks *out)
{
    memset(out, 0, sizeof *out);
    out->arg = g;
    /* A contract's record must hold every open's reads, not only a mount's first. */
    out->reads_every_open = g->contract != NULL;
    out->on_open = hook_open;
    out->on_read = hook_read;
    out->on_release = hook_release;
    out->on_integrity_failure = hook_integrity;
    out->on_upload = hook_upload;
}

void gov_files_free(struct gov *g)
{
    /* Open files the filesystem never released: nothing refers to them any more. */
    while (g->files != NULL) {
        struct gov_file *f = g->files;
        g->files = f->next;
        file_free(f);
    }
}
