#include "fs/tree.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

int fs_tree_build(const struct fmt_manifest *m, struct fs_tree *t)
{
    uint32_t *fill = NULL;

    memset(t, 0, sizeof *t);
    if (m->count >= UINT32_MAX - 1)
        return ccr_err_set(EFBIG, "manifest: too many entries (%zu)", m->count);
    t->count = (uint32_t)m->count + 1;
    t->nodes = calloc(t->count, sizeof *t->nodes);
    fill = calloc(t->count, sizeof *fill);
    if (t->nodes == NULL || fill == NULL)
        goto nomem;
    t->nodes[0].name = "";
    for (uint32_t i = 1; i < t->count; i++) {
        const struct fmt_manifest_entry *e = &m->entries[i - 1];
        struct fs_node *n = &t->nodes[i];
        const char *slash = strrchr(e->path, '/');

        n->e = e;
        n->name = slash ? slash + 1 : e->path;
        if (slash != NULL) {
            /* The decoder guarantees every parent is present as a folder. */
            char *parent = strndup(e->path, (size_t)(slash - e->path));
            const struct fmt_manifest_entry *pe;
            if (parent == NULL)
                goto nomem;
            pe = fmt_manifest_find(m, parent);
            free(parent);
            if (pe == NULL || pe->type != FMT_ENTRY_DIR) {
                fs_tree_free(t);
                free(fill);
                return ccr_err_set(EINVAL, "manifest: %s has no parent folder", e->path);
            }
            n->parent = (uint32_t)(pe - m->entries) + 1;
        }
        t->nodes[n->parent].nchildren++;
        if (e->type == FMT_ENTRY_DIR)
            t->nodes[n->parent].nsubdirs++;
        if (e->type == FMT_ENTRY_FILE) {
            t->total_bytes += e->size;
            if (e->log2_block > t->max_log2_block)
                t->max_log2_block = e->log2_block;
        }
    }
    for (uint32_t i = 0; i < t->count; i++) {
        if (t->nodes[i].nchildren > 0 &&
            (t->nodes[i].children = calloc(t->nodes[i].nchildren, sizeof(uint32_t))) == NULL)
            goto nomem;
    }
    /* Entries are sorted by full path, so siblings come out sorted by name. */
    for (uint32_t i = 1; i < t->count; i++) {
        struct fs_node *p = &t->nodes[t->nodes[i].parent];
        p->children[fill[t->nodes[i].parent]++] = i;
    }
    free(fill);
    return 0;
nomem:
    free(fill);
    fs_tree_free(t);
    return ENOMEM;
}

void fs_tree_free(struct fs_tree *t)
{
    if (t->nodes != NULL) {
        for (uint32_t i = 0; i < t->count; i++) {
            free(t->nodes[i].children);
            fmt_blob_key_free(t->nodes[i].key);
        }
    }
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

struct fs_node *fs_tree_node(struct fs_tree *t, uint64_t ino)
{
    if (ino == 0 || ino > t->count)
        return NULL;
    return &t->nodes[ino - 1];
}

struct fs_node *fs_tree_lookup(struct fs_tree *t, const struct fs_node *dir, const char *name)
{
    size_t lo = 0, hi = dir->nchildren;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct fs_node *c = &t->nodes[dir->children[mid]];
        int cmp = strcmp(name, c->name);
        if (cmp == 0)
            return c;
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}
