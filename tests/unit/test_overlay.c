/* The mutable namespace of no-egress and sink mounts (fs/overlay.c) over a small dataset
 * tree: stable dataset inode numbers, new nodes, whiteouts, renames, folder rules, lazy
 * copy-up of dataset files, and freeing of removed nodes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fs/overlay.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Dataset: a.txt (ino 2, 100 bytes), sub (3), sub/b.txt (4, 5 bytes), sub/deep (5). */
struct fixture {
    struct fmt_manifest man;
    struct fs_tree tree;
    struct fs_ephemeral *eph;
    struct fs_ovl *ov;
    int lower_reads;
};

static int lower_read(void *arg, struct fs_node *n, void *buf, size_t len, uint64_t off)
{
    struct fixture *f = arg;
    uint8_t *out = buf;
    assert_non_null(n->e);
    assert_true(off + len <= n->e->size);
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)('a' + (off + i) % 26);
    f->lower_reads++;
    return 0;
}

static void add(struct fmt_manifest *m, const char *path, int dir, uint64_t size)
{
    struct fmt_manifest_entry e;
    memset(&e, 0, sizeof e);
    e.path = (char *)path;
    e.type = dir ? FMT_ENTRY_DIR : FMT_ENTRY_FILE;
    e.mode = dir ? 0755 : 0644;
    e.size = size;
    e.mtime_sec = 1600000000;
    e.log2_block = 16;
    assert_int_equal(fmt_manifest_add(m, &e), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct fs_ovl_conf c;

    add(&f->man, "a.txt", 0, 100);
    add(&f->man, "sub", 1, 0);
    add(&f->man, "sub/b.txt", 0, 5);
    add(&f->man, "sub/deep", 1, 0);
    fmt_manifest_sort(&f->man);
    assert_int_equal(fs_tree_build(&f->man, &f->tree), 0);
    assert_int_equal(fs_ephemeral_create("/tmp", 0, &f->eph), 0);
    memset(&c, 0, sizeof c);
    c.tree = &f->tree;
    c.eph = f->eph;
    c.uid = 1000;
    c.gid = 1000;
    c.root_time = 1700000000;
    c.lower_read = lower_read;
    c.lower_arg = f;
    assert_int_equal(fs_ovl_create(&c, &f->ov), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    fs_ovl_destroy(f->ov);
    fs_ephemeral_destroy(f->eph);
    fs_tree_free(&f->tree);
    fmt_manifest_free(&f->man);
    free(f);
    return 0;
}

static uint64_t lookup(struct fixture *f, uint64_t dir, const char *name)
{
    struct stat st;
    int rc = fs_ovl_lookup(f->ov, dir, name, &st);
    return rc == 0 ? (uint64_t)st.st_ino : 0;
}

static int dir_has(struct fixture *f, uint64_t dir, const char *name, uint64_t ino)
{
    struct fs_ovl_dir *d;
    int found = 0;
    assert_int_equal(fs_ovl_opendir(f->ov, dir, &d), 0);
    for (size_t i = 0; i < d->count; i++)
        if (strcmp(d->ents[i].name, name) == 0)
            found = ino == 0 || d->ents[i].ino == ino;
    fs_ovl_dir_free(d);
    return found;
}

static uint64_t make(struct fixture *f, uint64_t dir, const char *name, mode_t mode)
{
    struct stat st;
    assert_int_equal(fs_ovl_mknod(f->ov, dir, name, mode, 0, 0, &st), 0);
    return (uint64_t)st.st_ino;
}

static void test_dataset_inodes(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    char path[64];

    assert_int_equal(lookup(f, 1, "a.txt"), 2);
    assert_int_equal(lookup(f, 1, "sub"), 3);
    assert_int_equal(lookup(f, 3, "b.txt"), 4);
    assert_int_equal(lookup(f, 3, "deep"), 5);
    assert_int_equal(lookup(f, 1, "nope"), 0);
    assert_int_equal(fs_ovl_lookup(f->ov, 2, "x", &st), ENOTDIR);
    assert_int_equal(fs_ovl_getattr(f->ov, 2, &st), 0);
    assert_int_equal(st.st_size, 100);
    assert_int_equal(st.st_mode, S_IFREG | 0644);
    assert_int_equal(st.st_uid, 1000);
    assert_int_equal(fs_ovl_getattr(f->ov, 99, &st), ENOENT);
    assert_int_equal(fs_ovl_path(f->ov, 4, path, sizeof path), 0);
    assert_string_equal(path, "sub/b.txt");
    assert_int_equal(fs_ovl_path(f->ov, 1, path, sizeof path), 0);
    assert_string_equal(path, "");
    assert_int_equal(fs_ovl_path(f->ov, 4, path, 5), ENAMETOOLONG);
    assert_true(dir_has(f, 1, "a.txt", 2) && dir_has(f, 1, "sub", 3) && dir_has(f, 3, "deep", 5));
}

static void test_create_write_read(void **state)
{
    struct fixture *f = *state;
    struct fs_ovl_open o;
    struct stat st;
    char buf[32];
    size_t got;
    uint64_t ino = make(f, 3, "new.txt", S_IFREG | 0600), d;

    assert_true(ino > 5);
    assert_int_equal(fs_ovl_mknod(f->ov, 3, "new.txt", S_IFREG | 0600, 0, 0, &st), EEXIST);
    assert_int_equal(fs_ovl_mknod(f->ov, 2, "x", S_IFREG | 0600, 0, 0, &st), ENOTDIR);
    assert_int_equal(fs_ovl_mknod(f->ov, 1, "fifo", S_IFIFO | 0600, 0, 0, &st), EPERM);
    assert_int_equal(lookup(f, 3, "new.txt"), ino);
    assert_true(dir_has(f, 3, "new.txt", ino) && dir_has(f, 3, "b.txt", 4));
    assert_int_equal(fs_ovl_open(f->ov, ino, O_RDWR, &o), 0);
    assert_true(o.copied);
    assert_null(o.lower);
    assert_int_equal(fs_ephemeral_file_write(fs_ovl_data(f->ov, o.node), "hello", 5, 0), 0);
    fs_ovl_wrote(f->ov, o.node);
    assert_int_equal(fs_ephemeral_file_read(fs_ovl_data(f->ov, o.node), buf, sizeof buf, 0, &got), 0);
    assert_int_equal(got, 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(fs_ovl_getattr(f->ov, ino, &st), 0);
    assert_int_equal(st.st_size, 5);
    assert_int_equal(st.st_mode, S_IFREG | 0600);
    assert_int_equal(fs_ovl_last_dirty(f->ov, o.node), 1);
    assert_int_equal(fs_ovl_last_dirty(f->ov, o.node), 0); /* cleared */
    fs_ovl_close(f->ov, o.node);
    d = make(f, 1, "made", S_IFDIR | 0700);
    assert_int_equal(fs_ovl_open(f->ov, d, O_RDONLY, &o), EISDIR);
    assert_int_equal(lookup(f, d, "anything"), 0);
    assert_int_equal(fs_ovl_path(f->ov, ino, buf, sizeof buf), 0);
    assert_string_equal(buf, "sub/new.txt");
}

static void test_unlink_whiteout(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    uint64_t again;

    assert_int_equal(fs_ovl_unlink(f->ov, 1, "a.txt", 1), ENOTDIR);
    assert_int_equal(fs_ovl_unlink(f->ov, 1, "sub", 0), EISDIR);
    assert_int_equal(fs_ovl_unlink(f->ov, 1, "a.txt", 0), 0);
    assert_int_equal(lookup(f, 1, "a.txt"), 0);
    assert_false(dir_has(f, 1, "a.txt", 0));
    assert_int_equal(fs_ovl_unlink(f->ov, 1, "a.txt", 0), ENOENT);
    /* The kernel may still hold the inode: it answers, with no links. */
    assert_int_equal(fs_ovl_getattr(f->ov, 2, &st), 0);
    assert_int_equal(st.st_nlink, 0);
    again = make(f, 1, "a.txt", S_IFREG | 0644);
    assert_true(again != 2 && again > 5);
    assert_int_equal(lookup(f, 1, "a.txt"), again);
    assert_int_equal(fs_ovl_getattr(f->ov, again, &st), 0);
    assert_int_equal(st.st_size, 0);
}

static void test_rmdir_rules(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(fs_ovl_unlink(f->ov, 1, "sub", 1), ENOTEMPTY);
    assert_int_equal(fs_ovl_unlink(f->ov, 3, "deep", 1), 0);
    assert_int_equal(fs_ovl_unlink(f->ov, 1, "sub", 1), ENOTEMPTY);
    assert_int_equal(fs_ovl_unlink(f->ov, 3, "b.txt", 0), 0);
    assert_int_equal(fs_ovl_unlink(f->ov, 1, "sub", 1), 0);
    assert_int_equal(lookup(f, 1, "sub"), 0);
    {
        struct stat st;
        /* Nothing can be made in a removed folder. */
        assert_int_equal(fs_ovl_mknod(f->ov, 3, "x", S_IFREG | 0644, 0, 0, &st), ENOENT);
    }
    /* A new folder of the same name is a new, empty node. */
    {
        uint64_t d = make(f, 1, "sub", S_IFDIR | 0755);
        assert_true(d != 3);
        assert_int_equal(lookup(f, d, "b.txt"), 0);
    }
}

static void test_rename(void **state)
{
    struct fixture *f = *state;
    char path[64];
    uint64_t x;

    /* A dataset file moves and keeps its inode number. */
    assert_int_equal(fs_ovl_rename(f->ov, 3, "b.txt", 1, "c.txt", 0), 0);
    assert_int_equal(lookup(f, 1, "c.txt"), 4);
    assert_int_equal(lookup(f, 3, "b.txt"), 0);
    assert_int_equal(fs_ovl_path(f->ov, 4, path, sizeof path), 0);
    assert_string_equal(path, "c.txt");
    assert_false(dir_has(f, 3, "b.txt", 0));
    /* And back. */
    assert_int_equal(fs_ovl_rename(f->ov, 1, "c.txt", 3, "b.txt", 0), 0);
    assert_int_equal(lookup(f, 3, "b.txt"), 4);
    assert_int_equal(lookup(f, 1, "c.txt"), 0);
    /* A folder cannot move into itself. */
    assert_int_equal(fs_ovl_rename(f->ov, 1, "sub", 5, "loop", 0), EINVAL);
    assert_int_equal(fs_ovl_rename(f->ov, 1, "sub", 3, "loop", 0), EINVAL);
    /* A dataset folder moves with its children. */
    assert_int_equal(fs_ovl_rename(f->ov, 1, "sub", 1, "moved", 0), 0);
    assert_int_equal(lookup(f, 1, "moved"), 3);
    assert_int_equal(lookup(f, 3, "b.txt"), 4);
    assert_int_equal(fs_ovl_path(f->ov, 5, path, sizeof path), 0);
    assert_string_equal(path, "moved/deep");
    /* Replacing: a new file over a dataset file (the atomic save pattern). */
    x = make(f, 1, "a.txt.tmp", S_IFREG | 0644);
    assert_int_equal(fs_ovl_rename(f->ov, 1, "a.txt.tmp", 1, "a.txt", RENAME_NOREPLACE), EEXIST);
    assert_int_equal(fs_ovl_rename(f->ov, 1, "a.txt.tmp", 1, "a.txt", 0), 0);
    assert_int_equal(lookup(f, 1, "a.txt"), x);
    assert_int_equal(lookup(f, 1, "a.txt.tmp"), 0);
    /* Type rules. */
    assert_int_equal(fs_ovl_rename(f->ov, 1, "a.txt", 1, "moved", 0), EISDIR);
    assert_int_equal(fs_ovl_rename(f->ov, 1, "moved", 1, "a.txt", 0), ENOTDIR);
    assert_int_equal(fs_ovl_rename(f->ov, 1, "missing", 1, "z", 0), ENOENT);
    assert_int_equal(fs_ovl_rename(f->ov, 1, "a.txt", 1, "z", RENAME_EXCHANGE), EINVAL);
    /* Over a non-empty folder. */
    make(f, 1, "d2", S_IFDIR | 0755);
    assert_int_equal(fs_ovl_rename(f->ov, 1, "d2", 1, "moved", 0), ENOTEMPTY);
    /* Renaming onto itself changes nothing. */
    assert_int_equal(fs_ovl_rename(f->ov, 1, "a.txt", 1, "a.txt", 0), 0);
    assert_int_equal(lookup(f, 1, "a.txt"), x);
}

static void test_copy_up(void **state)
{
    struct fixture *f = *state;
    struct fs_ovl_open o, r;
    struct stat st;
    uint8_t buf[128];
    size_t got;

    /* Reading does not copy. */
    assert_int_equal(fs_ovl_open(f->ov, 2, O_RDONLY, &r), 0);
    assert_false(r.copied);
    assert_non_null(r.lower);
    assert_null(fs_ovl_data(f->ov, r.node));
    assert_false(fs_ovl_copied(f->ov, 2));
    /* Writing copies up, lazily: nothing is read yet. */
    assert_int_equal(fs_ovl_open(f->ov, 2, O_RDWR, &o), 0);
    assert_true(fs_ovl_copied(f->ov, 2));
    assert_true(o.copied);
    assert_int_equal(f->lower_reads, 0);
    assert_int_equal(fs_ephemeral_file_write(fs_ovl_data(f->ov, o.node), "ZZ", 2, 10), 0);
    assert_int_equal(fs_ephemeral_file_read(fs_ovl_data(f->ov, o.node), buf, sizeof buf, 0, &got), 0);
    assert_int_equal(got, 100);
    assert_true(f->lower_reads > 0);
    assert_int_equal(buf[0], 'a');
    assert_int_equal(buf[9], 'j');
    assert_memory_equal(buf + 10, "ZZ", 2);
    assert_int_equal(buf[12], 'm');
    /* The earlier reader sees the written bytes now. */
    assert_non_null(fs_ovl_data(f->ov, r.node));
    fs_ovl_close(f->ov, r.node);
    fs_ovl_close(f->ov, o.node);
    /* setattr: size and mode; the inode number stays. */
    memset(&st, 0, sizeof st);
    st.st_size = 3;
    st.st_mode = 0600;
    assert_int_equal(fs_ovl_setattr(f->ov, 2, &st, FS_OVL_SET_SIZE | FS_OVL_SET_MODE, &st), 0);
    assert_int_equal(st.st_size, 3);
    assert_int_equal(st.st_mode, S_IFREG | 0600);
    assert_int_equal(st.st_ino, 2);
    assert_int_equal(lookup(f, 1, "a.txt"), 2);
    /* O_TRUNC copies nothing. */
    f->lower_reads = 0;
    assert_int_equal(fs_ovl_open(f->ov, 4, O_WRONLY | O_TRUNC, &o), 0);
    assert_int_equal(fs_ephemeral_file_size(fs_ovl_data(f->ov, o.node)), 0);
    fs_ovl_close(f->ov, o.node);
    assert_int_equal(f->lower_reads, 0);
    st.st_size = 1;
    assert_int_equal(fs_ovl_setattr(f->ov, 3, &st, FS_OVL_SET_SIZE, &st), EISDIR);
}

static void test_removed_nodes_freed(void **state)
{
    struct fixture *f = *state;
    struct fs_ovl_open o;
    struct stat st;
    uint64_t ino = make(f, 1, "journal", S_IFREG | 0644);

    assert_int_equal(fs_ovl_open(f->ov, ino, O_RDWR, &o), 0);
    assert_int_equal(fs_ovl_unlink(f->ov, 1, "journal", 0), 0);
    /* Still open and still known to the kernel: it lives on, unlinked. */
    assert_int_equal(fs_ephemeral_file_write(fs_ovl_data(f->ov, o.node), "x", 1, 0), 0);
    assert_int_equal(fs_ovl_getattr(f->ov, ino, &st), 0);
    assert_int_equal(st.st_nlink, 0);
    assert_int_equal(fs_ovl_last_dirty(f->ov, o.node), 0); /* removed files are not uploaded */
    fs_ovl_close(f->ov, o.node);
    assert_int_equal(fs_ovl_getattr(f->ov, ino, &st), 0);
    fs_ovl_forget(f->ov, ino, 1);
    assert_int_equal(fs_ovl_getattr(f->ov, ino, &st), ENOENT);
    assert_int_equal(fs_ovl_path(f->ov, ino, (char[16]){0}, 16), ENOENT);
    /* Forgetting a live node keeps it. */
    ino = make(f, 1, "kept", S_IFREG | 0644);
    fs_ovl_forget(f->ov, ino, 1);
    assert_int_equal(fs_ovl_getattr(f->ov, ino, &st), 0);
    assert_int_equal(lookup(f, 1, "kept"), ino);
}

/* Threads changing the namespace at once, each in its own folder and all over the shared
 * dataset names: no crash, no lost node, every survivor reads what its thread wrote. */
struct worker {
    struct fixture *f;
    int id;
    uint64_t dir;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct fs_ovl *ov = w->f->ov;
    char name[32], other[32], buf[8];
    struct stat st;

    for (int i = 0; i < 300; i++) {
        struct fs_ovl_open o;
        size_t got;
        snprintf(name, sizeof name, "f%d", i);
        snprintf(other, sizeof other, "g%d", i);
        if (fs_ovl_mknod(ov, w->dir, name, S_IFREG | 0644, 0, 0, &st) != 0)
            return (void *)1;
        if (fs_ovl_open(ov, st.st_ino, O_RDWR, &o) != 0)
            return (void *)2;
        fs_ephemeral_file_write(fs_ovl_data(ov, o.node), &w->id, sizeof w->id, 0);
        fs_ovl_wrote(ov, o.node);
        fs_ovl_close(ov, o.node);
        if (fs_ovl_rename(ov, w->dir, name, w->dir, other, 0) != 0)
            return (void *)3;
        if (i % 2 == 0 && fs_ovl_unlink(ov, w->dir, other, 0) != 0)
            return (void *)4;
        fs_ovl_forget(ov, st.st_ino, 1);
        /* Shared names: the outcome depends on the interleaving, never crashes. */
        (void)fs_ovl_rename(ov, 3, "b.txt", 1, "b-moved", 0);
        (void)fs_ovl_rename(ov, 1, "b-moved", 3, "b.txt", 0);
        (void)fs_ovl_lookup(ov, 1, "a.txt", &st);
        (void)fs_ovl_getattr(ov, 4, &st);
        if (fs_ovl_lookup(ov, w->dir, other, &st) == 0) {
            if (fs_ovl_open(ov, st.st_ino, O_RDONLY, &o) != 0)
                return (void *)5;
            if (fs_ephemeral_file_read(fs_ovl_data(ov, o.node), buf, sizeof buf, 0, &got) != 0 ||
                got != sizeof w->id || memcmp(buf, &w->id, sizeof w->id) != 0)
                return (void *)6;
            fs_ovl_close(ov, o.node);
            fs_ovl_forget(ov, st.st_ino, 1);
        }
    }
    return NULL;
}

static void test_concurrent_changes(void **state)
{
    struct fixture *f = *state;
    struct worker w[4];
    pthread_t t[4];
    char name[16];

    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "w%d", i);
        w[i].f = f;
        w[i].id = 100 + i;
        w[i].dir = make(f, 1, name, S_IFDIR | 0755);
        assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *ret;
        struct fs_ovl_dir *d;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
        assert_int_equal(fs_ovl_opendir(f->ov, w[i].dir, &d), 0);
        assert_int_equal(d->count, 150); /* the odd ones survive, renamed */
        fs_ovl_dir_free(d);
    }
    assert_true(lookup(f, 3, "b.txt") == 4 || lookup(f, 1, "b-moved") == 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dataset_inodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_write_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlink_whiteout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rmdir_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_nodes_freed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_changes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
