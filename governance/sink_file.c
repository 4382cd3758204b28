/* The audit log file sink: one canonical event line per line, synced per batch. */
#include "governance/sink.h"
#include "common/err.h"
#include "common/fileio.h"
#include "governance/canon.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct file_sink {
    struct gov_sink base;
    char *path;
    int fd;
    int have_any;
    uint64_t last_seq; /* of our chain, valid when have_any */
};

static int file_deliver(struct gov_sink *s, const struct gov_spool_entry *e, size_t n)
{
    struct file_sink *f = s->priv;
    uint64_t last = f->last_seq;
    int any = f->have_any, rc;
    size_t total = 0, used = 0;
    char *buf;

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

/* Scans the log for the highest seq of our chain. A torn last line (crash mid-append) is
 * cut off so the next line starts cleanly. */
static int scan_existing(struct file_sink *f, const char *chain_id)
{
    FILE *in = fopen(f->path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    off_t good = 0;
    int torn = 0;

    if (in == NULL)
        return errno == ENOENT ? 0 : ccr_err_set(errno, "audit log %s: %s", f->path, strerror(errno));
    while ((n = getline(&line, &cap, in)) > 0) {
        json_object *ev = NULL;
        long long seq;
        const char *cid;
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
        if (cid != NULL && strcmp(cid, chain_id) == 0 && gov_json_int(ev, "seq", &seq) == 0 && seq >= 0 &&
            (!f->have_any || (uint64_t)seq > f->last_seq)) {
            f->last_seq = (uint64_t)seq;
            f->have_any = 1;
        }
        json_object_put(ev);
    }
    free(line);
    fclose(in);
    if (torn && truncate(f->path, good) != 0)
        return ccr_err_set(errno, "audit log %s: cannot cut a torn last line: %s", f->path, strerror(errno));
    return 0;
}

int gov_sink_file_open(const char *path, const char *chain_id, struct gov_sink **out)
{
    struct file_sink *f = calloc(1, sizeof *f);
    int rc;

    if (f == NULL)
        return ENOMEM;
    f->fd = -1;
    f->path = strdup(path);
    if (f->path == NULL) {
        free(f);
        return ENOMEM;
    }
    f->base.name = "audit log";
    f->base.deliver = file_deliver;
    f->base.destroy = file_destroy;
    f->base.priv = f;
    if ((rc = scan_existing(f, chain_id)) != 0) {
        file_destroy(&f->base);
        return rc;
    }
    f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (f->fd < 0) {
        rc = ccr_err_set(errno, "audit log %s: %s", path, strerror(errno));
        file_destroy(&f->base);
        return rc;
    }
    *out = &f->base;
    return 0;
}
