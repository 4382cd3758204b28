/* The inode table built from a manifest: inode numbers, parents, children in name order,
 * lookup by name, totals, and names that sort close together ("b", "b.c", "b/x"). */
#include "common/err.h"
#include "fs/tree.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void add(struct fmt_manifest *m, const char *path, int dir, uint64_t size, unsigned log2)
{
    struct fmt_manifest_entry e;
    memset(&e, 0, sizeof e);
    e.path = (char *)path;
    e.type = dir ? FMT_ENTRY_DIR : FMT_ENTRY_FILE;
    e.mode = dir ? 0755 : 0644;
    e.size = size;
    e.log2_block = (uint8_t)log2;
    if (!dir)
        snprintf(e.blob, sizeof e.blob, "%032llx", (unsigned long long)(size * 7 + 1));
    assert_int_equal(fmt_manifest_add(m, &e), 0);
}

static void test_tree(void **state)
{
    struct fmt_manifest m = {0};
    struct fs_tree t;
    struct fs_node *root, *a, *n;
    (void)state;
    add(&m, "a", 1, 0, 0);
    add(&m, "a/b", 1, 0, 0);
    add(&m, "a/b.c", 0, 10, 16);
    add(&m, "a/b/x", 0, 20, 12);
    add(&m, "a/a", 0, 30, 20);
    add(&m, "z", 0, 40, 16);
    fmt_manifest_sort(&m);
    if (fmt_manifest_validate(&m) != 0)
        fail_msg("%s", ccr_err_msg(EINVAL));
    assert_int_equal(fs_tree_build(&m, &t), 0);
    assert_int_equal(t.count, 7);
    assert_int_equal(t.total_bytes, 100);
    assert_int_equal(t.max_log2_block, 20);

    root = fs_tree_node(&t, 1);
    assert_non_null(root);
    assert_null(root->e);
    assert_null(fs_tree_node(&t, 0));
    assert_null(fs_tree_node(&t, 8));
    assert_int_equal(root->nchildren, 2);
    assert_int_equal(root->nsubdirs, 1);

    a = fs_tree_lookup(&t, root, "a");
    assert_non_null(a);
    assert_string_equal(a->e->path, "a");
    assert_int_equal(a->nchildren, 3);
    assert_int_equal(a->nsubdirs, 1);
    /* Children in name order. */
    assert_string_equal(t.nodes[a->children[0]].name, "a");
    assert_string_equal(t.nodes[a->children[1]].name, "b");
    assert_string_equal(t.nodes[a->children[2]].name, "b.c");
    n = fs_tree_lookup(&t, a, "b.c");
    assert_non_null(n);
    assert_int_equal(n->e->size, 10);
    assert_ptr_equal(&t.nodes[n->parent], a);
    n = fs_tree_lookup(&t, fs_tree_lookup(&t, a, "b"), "x");
    assert_non_null(n);
    assert_string_equal(n->e->path, "a/b/x");
    /* Inode numbers follow the sorted manifest: entry i is inode i + 2. */
    assert_int_equal(fs_tree_ino(&t, n), (uint64_t)(n->e - m.entries) + 2);
    assert_null(fs_tree_lookup(&t, root, "b"));
    assert_null(fs_tree_lookup(&t, a, "b/x"));
    assert_null(fs_tree_lookup(&t, a, ""));
    fs_tree_free(&t);
    fmt_manifest_free(&m);
}

static void test_empty_manifest(void **state)
{
    struct fmt_manifest m = {0};
    struct fs_tree t;
    (void)state;
    assert_int_equal(fs_tree_build(&m, &t), 0);
    assert_int_equal(t.count, 1);
    assert_int_equal(fs_tree_node(&t, 1)->nchildren, 0);
    assert_null(fs_tree_lookup(&t, fs_tree_node(&t, 1), "x"));
    fs_tree_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_empty_manifest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
