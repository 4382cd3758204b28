/* The one gate: every operation that touches file bytes or changes the namespace asks here
 * first. Revocation is checked before any hook (fail closed without asking governance), a
 * refusal of any kind is counted once, and the hooks are called from nowhere else. */
#include "fs/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void fs_process_name(pid_t pid, char *out, size_t len)
{
    char path[64];
    FILE *f;

    out[0] = '\0';
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    if ((f = fopen(path, "re")) == NULL)
        return;
    if (fgets(out, (int)len, f) == NULL)
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

static int ask_open(struct fs_mount *m, const struct fs_gate_req *r)
{
    char comm[64];
    struct fs_open_info info;

    *r->handle = 0;
    if (m->hooks == NULL || m->hooks->on_open == NULL)
        return 0;
    fs_process_name(r->who->pid, comm, sizeof comm);
    info.path = r->path;
    info.flags = r->flags;
    info.pid = r->who->pid;
    info.uid = r->who->uid;
    info.gid = r->who->gid;
    info.process_name = comm;
    return m->hooks->on_open(m->hooks->arg, &info, r->handle);
}

static int ask_read(struct fs_mount *m, const struct fs_gate_req *r)
{
    /* Only bytes that may come from the dataset are governed; a file made on the mount holds
     * only what the app wrote. */
    if (r->of->node == NULL || m->hooks == NULL || m->hooks->on_read == NULL)
        return 0;
    return m->hooks->on_read(m->hooks->arg, r->of->handle, r->off, r->len);
}

int fs_gate(struct fs_mount *m, const struct fs_gate_req *r)
{
    int rc = 0;

    if (atomic_load(&m->revoked))
        rc = EACCES;
    else if (r->op == FS_GATE_OPEN)
        rc = ask_open(m, r);
    else if (r->op == FS_GATE_READ)
        rc = ask_read(m, r);
    if (rc != 0)
        atomic_fetch_add(&m->denials, 1);
    return rc;
}

void fs_gate_release(struct fs_mount *m, uint64_t handle)
{
    if (m->hooks != NULL && m->hooks->on_open != NULL && m->hooks->on_release != NULL)
        m->hooks->on_release(m->hooks->arg, handle);
}
