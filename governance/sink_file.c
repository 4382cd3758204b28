/* The audit log file sink: one canonical event line per line, synced per batch; rotated by
 * size or age into PATH.1, PATH.2, ... (logset.h), the chain running on into the new file. */
#include "common/clock.h"
#include "common/err.h"
#include "common/fileio.h"
#include "governance/canon.h"
#include "governance/event.h"
#include "governance/logset.h"
#include "governance/sink.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct file_sink {
    struct gov_sink base;
    char *path;
    int fd;
    int have_any;
    uint64_t last_seq;  /* of our chain, valid when have_any */
    uint64_t max_bytes; /* rotate past this size; 0: never */
    int64_t max_age_ms; /* rotate when the first event is this old; 0: never */
    uint64_t size;      /* of the file fd writes */
    int64_t first_ms;   /* wall time of the file's first event; 0: unknown or empty */
};

/* Scans a log for the highest seq of our chain (and, for the file we append to, the time of
 * its first event). A torn last line (crash mid-append) is cut off so the next line starts
 * cleanly. */
static int scan_existing(struct file_sink *f, const char *path, const char *chain_id, int current)
{
    FILE *in = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    off_t good = 0;
    int torn = 0;

    if (in == NULL)
        return errno == ENOENT ? 0 : ccr_err_set(errno, "audit log %s: %s", path, strerror(errno));
    while ((n = getline(&line, &cap, in)) > 0) {
        json_object *ev = NULL;
        long long seq;
        const char *cid, *time;
        if (line[n - 1] != '\n') {
            torn = 1;
            break;
        }
        good += n;
        if (gov_json_parse(line, (size_t)n - 1, "audit log line", &ev) != 0) {
            ccr_err_clear();
            continue;
        }
        cid = gov_json_str(ev, "chain");
        time = gov_json_str(ev, "time");
        if (current && f->first_ms == 0 && time != NULL && gov_time_parse_ms(time, &f->first_ms) != 0) {
            f->first_ms = 0;
            ccr_err_clear();
        }
        if (cid != NULL && strcmp(cid, chain_id) == 0 && gov_json_int(ev, "seq", &seq) == 0 && seq >= 0 &&
            (!f->have_any || (uint64_t)seq > f->last_seq)) {
            f->last_seq = (uint64_t)seq;
            f->have_any = 1;
        }
        json_object_put(ev);
    }
    free(line);
    fclose(in);
    if (current)
        f->size = (uint64_t)good;
    if (torn && truncate(path, good) != 0)
        return ccr_err_set(errno, "audit log %s: cannot cut a torn last line: %s", path, strerror(errno));
    return 0;
}

static int open_current(struct file_sink *f)
{
    f->fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (f->fd < 0)
        return ccr_err_set(errno, "audit log %s: %s", f->path, strerror(errno));
    return 0;
}

/* Another writer of the same log (a second mount) rotated it: append to the new file. */
static int follow_rotation(struct file_sink *f)
{
    struct stat ours, named;
    if (fstat(f->fd, &ours) != 0)
        return ccr_err_set(errno, "audit log %s: %s", f->path, strerror(errno));
    if (stat(f->path, &named) == 0 && named.st_ino == ours.st_ino && named.st_dev == ours.st_dev)
        return 0;
    close(f->fd);
    f->fd = -1;
    f->size = 0;
    f->first_ms = 0;
    if (stat(f->path, &named) == 0) {
        f->size = (uint64_t)named.st_size;
        f->first_ms = (int64_t)ccr_clock_wall_ms(); /* not read back: its age counts from now */
    }
    return open_current(f);
}

static int rotate_if_due(struct file_sink *f)
{
    unsigned long last;
    char *to;
    size_t len;
    int due, rc;

    if (f->size == 0)
        return 0;
    due = (f->max_bytes != 0 && f->size >= f->max_bytes) ||
          (f->max_age_ms != 0 && f->first_ms != 0 &&
           (int64_t)ccr_clock_wall_ms() - f->first_ms >= f->max_age_ms);
    if (!due)
        return 0;
    if ((rc = gov_logset_last(f->path, &last)) != 0)
        return rc;
    len = strlen(f->path) + 24;
    if ((to = malloc(len)) == NULL)
        return ENOMEM;
    snprintf(to, len, "%s.%lu", f->path, last + 1);
    /* link, not rename: never replaces a file, so two mounts rotating at once cannot lose one. */
    if (link(f->path, to) != 0 || unlink(f->path) != 0) {
        rc = ccr_err_set(errno, "audit log %s: cannot rotate to %s: %s", f->path, to, strerror(errno));
        free(to);
        return rc;
    }
    free(to);
    close(f->fd);
    f->fd = -1;
    f->size = 0;
    f->first_ms = 0;
    return open_current(f);
}

static int file_deliver(struct gov_sink *s, const struct gov_spool_entry *e, size_t n)
{
    struct file_sink *f = s->priv;
    uint64_t last = f->last_seq;
    int any = f->have_any, rc;
    size_t total = 0, used = 0;
    char *buf;

    if ((f->max_bytes != 0 || f->max_age_ms != 0) &&
        ((rc = follow_rotation(f)) != 0 || (rc = rotate_if_due(f)) != 0))
        return rc;
    for (size_t i = 0; i < n; i++)
        total += e[i].len + 1;
    if ((buf = malloc(total ? total : 1)) == NULL)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (any && e[i].seq <= last)
            continue; /* already in the log (replay after a crash) */
        memcpy(buf + used, e[i].line, e[i].len);
        buf[used + e[i].len] = '\n';
        used += e[i].len + 1;
        last = e[i].seq;
        any = 1;
    }
    /* One append per batch, so logs shared by several mounts never mix halves of lines. */
    rc = used > 0 ? ccr_write_all(f->fd, buf, used) : 0;
    free(buf);
    if (rc != 0)
        return ccr_err_set(rc, "audit log %s: write failed: %s", f->path, strerror(rc));
    if (fdatasync(f->fd) != 0)
        return ccr_err_set(errno, "audit log %s: sync failed: %s", f->path, strerror(errno));
    if (used > 0 && f->size == 0)
        f->first_ms = (int64_t)ccr_clock_wall_ms();
    f->size += used;
    f->last_seq = last;
    f->have_any = any;
    return 0;
}

static void file_destroy(struct gov_sink *s)
{
    struct file_sink *f = s->priv;
    if (f->fd >= 0)
        close(f->fd);
    free(f->path);
    free(f);
}

int gov_sink_file_open(const struct gov_sink_file_config *cfg, const char *chain_id, struct gov_sink **out)
{
    struct file_sink *f = calloc(1, sizeof *f);
    unsigned long last = 0;
    int rc;

    if (f == NULL)
        return ENOMEM;
    f->fd = -1;
    f->path = strdup(cfg->path);
    if (f->path == NULL) {
        free(f);
        return ENOMEM;
    }
    f->max_bytes = cfg->max_bytes;
    f->max_age_ms = (int64_t)cfg->max_age_s * 1000;
    f->base.name = "audit log";
    f->base.deliver = file_deliver;
    f->base.destroy = file_destroy;
    f->base.priv = f;
    rc = scan_existing(f, f->path, chain_id, 1);
    /* Just rotated: what we delivered last may be in the newest rotated file. */
    if (rc == 0 && !f->have_any && (rc = gov_logset_last(f->path, &last)) == 0 && last > 0) {
        size_t len = strlen(f->path) + 24;
        char *prev = malloc(len);
        if (prev == NULL) {
            rc = ENOMEM;
        } else {
            snprintf(prev, len, "%s.%lu", f->path, last);
            rc = scan_existing(f, prev, chain_id, 0);
            free(prev);
        }
    }
    if (rc == 0)
        rc = open_current(f);
    if (rc != 0) {
        file_destroy(&f->base);
        return rc;
    }
    *out = &f->base;
    return 0;
}
