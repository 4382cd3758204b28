/* The inode table, built once from the manifest and never changed: node i has inode number
 * i + 1 (the root is 1, FUSE_ROOT_ID), manifest entry i - 1 is node i, so inode numbers are
 * stable for a dataset. A folder's children are kept in name order for binary search. */
#ifndef CCRFS_FS_TREE_H
#define CCRFS_FS_TREE_H

#include "format/blob.h"
#include "format/manifest.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct fs_node {
    const struct fmt_manifest_entry *e; /* NULL for the root */
    const char *name;                   /* last path component, "" for the root */
    uint32_t parent;                    /* node index */
    uint32_t *children;                 /* node indexes, in name order */
    uint32_t nchildren, nsubdirs;
    /* Files: the blob key, opened at the first open; guarded by the mount's key_lock. */
    struct fmt_blob_key *key;
    /* Guarded by the mount's key_lru_lock (fs/core_keys.c): open files holding the key, and
     * the place of a key nobody holds in the list of recently closed ones (node indexes, 0
     * for none: the root never has a key). */
    uint32_t key_users;
    uint32_t lru_prev, lru_next;
    uint8_t key_cached, in_lru;
    /* Files: the blob was fetched and checked against the manifest once in this mount, so a
     * key evicted since is derived again from the manifest with no store request; guarded by
     * the mount's key_lock. */
    uint8_t blob_checked;
    /* Files: fetch-ahead of the file before its open (enum fs_ahead_state, fs/core_ahead.c);
     * changed under the mount's ahead_lock (fs/internal.h says the exception). */
    atomic_uint_least8_t ahead;
};

struct fs_tree {
    struct fs_node *nodes;
    uint32_t count;
    uint64_t total_bytes;
    unsigned max_log2_block; /* largest block size of any file (0 when there are none) */
};

int fs_tree_build(const struct fmt_manifest *m, struct fs_tree *t);
/* Frees the tree and any blob keys still held. */
void fs_tree_free(struct fs_tree *t);
/* NULL when ino is not an inode of this tree. */
struct fs_node *fs_tree_node(struct fs_tree *t, uint64_t ino);
static inline uint64_t fs_tree_ino(const struct fs_tree *t, const struct fs_node *n)
{
    return (uint64_t)(n - t->nodes) + 1;
}
/* The child called name of folder dir, or NULL. */
struct fs_node *fs_tree_lookup(struct fs_tree *t, const struct fs_node *dir, const char *name);

#endif
