/* What the mount says about itself and its files: statfs, and the user.ccrfs.* extended
 * attributes (dataset id, a file's hash, blob and block size, the mount's counters). */
#include "fs/internal.h"
#include "common/encoding.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#define XATTR_DATASET_ID "user.ccrfs.dataset_id"
#define XATTR_SHA256     "user.ccrfs.sha256"
#define XATTR_BLOB       "user.ccrfs.blob"
#define XATTR_BLOCK_SIZE "user.ccrfs.block_size"
#define XATTR_STATS      "user.ccrfs.stats"

void fs_core_statfs(struct fs_mount *m, struct statvfs *sv)
{
    memset(sv, 0, sizeof *sv);
    sv->f_bsize = 65536;
    sv->f_frsize = 65536;
    sv->f_blocks = (m->tree.total_bytes + 65535) / 65536;
    sv->f_files = m->tree.count;
    sv->f_namemax = 255;
    sv->f_flag = ST_RDONLY;
    if (m->eph != NULL) {
        /* Room left in the overlay (its bound, or a nominal 1 TiB when unbounded). */
        struct fs_ephemeral_stats es;
        uint64_t room;
        fs_ephemeral_get_stats(m->eph, &es);
        room = es.max_bytes ? es.max_bytes : (1ull << 40);
        room = room > es.bytes_stored ? room - es.bytes_stored : 0;
        sv->f_flag = 0;
        sv->f_blocks += (room + es.bytes_stored) / 65536;
        sv->f_bfree = sv->f_bavail = room / 65536;
        sv->f_files += fs_ovl_created(m->ovl) + 1000000;
        sv->f_ffree = sv->f_favail = 1000000;
    }
}

unsigned fs_core_readahead_kb(const struct fs_mount *m)
{
    return m->opts.readahead_kb;
}

/* The size protocol of getxattr(2): len 0 asks for the length. */
static int give_value(const char *value, size_t vlen, char *buf, size_t len, size_t *out_len)
{
    *out_len = vlen;
    if (len == 0)
        return 0;
    if (len < vlen)
        return ERANGE;
    memcpy(buf, value, vlen);
    return 0;
}

/* A file's plaintext hash says something of its bytes (it confirms a guess), so reading it
 * passes the gate and is recorded as an open of the file, opened and closed at once. */
static int gate_plaintext_hash(struct fs_mount *m, const struct fs_node *n, const struct fs_caller *who)
{
    uint64_t handle = 0;
    int rc = fs_gate(
        m, &(struct fs_gate_req){
               .op = FS_GATE_OPEN, .path = n->e->path, .flags = O_RDONLY, .who = who, .handle = &handle});
    if (rc == 0)
        fs_gate_release(m, handle);
    return rc;
}

int fs_core_getxattr(struct fs_mount *m, uint64_t ino, const char *name, const struct fs_caller *who,
                     char *buf, size_t len, size_t *out_len)
{
    struct fs_node *n = fs_tree_node(&m->tree, ino);
    char value[2048];
    int vlen = -1;

    if (n == NULL && m->ovl != NULL)
        return ENODATA; /* made on the mount */
    if (n == NULL)
        return ENOENT;
    if (m->ds == NULL && !(n->e == NULL && strcmp(name, XATTR_STATS) == 0)) {
        vlen = -1; /* a sink has no dataset: only the root's counters */
    } else if (strcmp(name, XATTR_DATASET_ID) == 0) {
        vlen = snprintf(value, sizeof value, "%s", m->ds->id);
    } else if (n->e == NULL && strcmp(name, XATTR_STATS) == 0) {
        if (fs_mount_stats_json(m, value, sizeof value) != 0)
            return EIO;
        vlen = (int)strlen(value);
    } else if (n->e != NULL && n->e->type == FMT_ENTRY_FILE &&
               !(m->ovl != NULL && fs_ovl_copied(m->ovl, ino))) {
        /* A file written on a no-egress mount no longer has the dataset's hash or blob. */
        if (strcmp(name, XATTR_SHA256) == 0 && !m->hide_plaintext_hash) {
            int rc = gate_plaintext_hash(m, n, who);
            if (rc != 0)
                return rc;
            ccr_hex_encode(n->e->sha256, FMT_SHA256_LEN, value);
            vlen = 2 * FMT_SHA256_LEN;
        } else if (strcmp(name, XATTR_BLOB) == 0) {
            vlen = snprintf(value, sizeof value, "%s", n->e->blob);
        } else if (strcmp(name, XATTR_BLOCK_SIZE) == 0) {
            vlen = snprintf(value, sizeof value, "%llu", 1ull << n->e->log2_block);
        }
    }
    if (vlen < 0)
        return ENODATA;
    return give_value(value, (size_t)vlen, buf, len, out_len);
}

int fs_core_listxattr(struct fs_mount *m, uint64_t ino, char *buf, size_t len, size_t *out_len)
{
    struct fs_node *n = fs_tree_node(&m->tree, ino);
    static const char root_list[] = XATTR_DATASET_ID "\0" XATTR_STATS "\0";
    static const char dir_list[] = XATTR_DATASET_ID "\0";
    static const char file_list[] =
        XATTR_DATASET_ID "\0" XATTR_SHA256 "\0" XATTR_BLOB "\0" XATTR_BLOCK_SIZE "\0";
    static const char file_list_no_hash[] = XATTR_DATASET_ID "\0" XATTR_BLOB "\0" XATTR_BLOCK_SIZE "\0";

    if (n == NULL && m->ovl != NULL)
        return give_value("", 0, buf, len, out_len);
    if (n == NULL)
        return ENOENT;
    if (m->ds == NULL)
        return n->e == NULL ? give_value(XATTR_STATS, sizeof XATTR_STATS, buf, len, out_len)
                            : give_value("", 0, buf, len, out_len);
    if (n->e == NULL)
        return give_value(root_list, sizeof root_list - 1, buf, len, out_len);
    if (n->e->type == FMT_ENTRY_DIR)
        return give_value(dir_list, sizeof dir_list - 1, buf, len, out_len);
    if (m->hide_plaintext_hash)
        return give_value(file_list_no_hash, sizeof file_list_no_hash - 1, buf, len, out_len);
    return give_value(file_list, sizeof file_list - 1, buf, len, out_len);
}
