#include "format/manifest.h"
#include "common/random.h"
#include "common/bytes.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/secmem.h"

#include <stdlib.h>
#include <string.h>

int fmt_manifest_add(struct fmt_manifest *m, const struct fmt_manifest_entry *e)
{
    struct fmt_manifest_entry *slot;

    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct fmt_manifest_entry *grown = realloc(m->entries, cap * sizeof *grown);
        if (grown == NULL)
            return ENOMEM;
        m->entries = grown;
        m->cap = cap;
    }
    slot = &m->entries[m->count];
    *slot = *e;
    slot->path = strdup(e->path);
    if (slot->path == NULL)
        return ENOMEM;
    m->count++;
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct fmt_manifest_entry *)a)->path, ((const struct fmt_manifest_entry *)b)->path);
}

void fmt_manifest_sort(struct fmt_manifest *m)
{
    if (m->count > 1)
        qsort(m->entries, m->count, sizeof m->entries[0], entry_cmp);
}

void fmt_manifest_free(struct fmt_manifest *m)
{
    for (size_t i = 0; i < m->count; i++)
        free(m->entries[i].path);
    free(m->entries);
    memset(m, 0, sizeof *m);
}

const struct fmt_manifest_entry *fmt_manifest_find(const struct fmt_manifest *m, const char *path)
{
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(path, m->entries[mid].path);
        if (c == 0)
            return &m->entries[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *fmt_manifest_path_problem(const char *path, size_t len)
{
    size_t start = 0;

    if (len == 0)
        return "empty path";
    if (len > FMT_PATH_MAX)
        return "path longer than 4096 bytes";
    if (memchr(path, '\0', len) != NULL)
        return "path contains a NUL byte";
    if (path[0] == '/')
        return "path is absolute";
    for (size_t i = 0; i <= len; i++) {
        if (i == len || path[i] == '/') {
            size_t clen = i - start;
            if (clen == 0)
                return "path has an empty component";
            if (clen > 255)
                return "path component longer than 255 bytes";
            if ((clen == 1 && path[start] == '.') ||
                (clen == 2 && path[start] == '.' && path[start + 1] == '.'))
                return "path has a '.' or '..' component";
            start = i + 1;
        }
    }
    return NULL;
}

static int blob_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > FMT_BLOB_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return 0;
    return 1;
}

/* The parent of a path must be the root or a folder listed before it. */
static int parent_present(const struct fmt_manifest *m, size_t upto, const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t plen;
    if (slash == NULL)
        return 1;
    plen = (size_t)(slash - path);
    /* Entries are sorted, so the parent, if listed, comes earlier; search backwards. */
    for (size_t j = upto; j-- > 0;) {
        const struct fmt_manifest_entry *p = &m->entries[j];
        if (strlen(p->path) == plen && memcmp(p->path, path, plen) == 0)
            return p->type == FMT_ENTRY_DIR;
        if (strncmp(p->path, path, plen) < 0)
            break;
    }
    return 0;
}

static int entry_problem(const struct fmt_manifest *m, size_t i)
{
    const struct fmt_manifest_entry *e = &m->entries[i];
    const char *why = fmt_manifest_path_problem(e->path, strlen(e->path));

    if (why != NULL)
        return ccr_err_set(EINVAL, "entry %zu: %s", i, why);
    if (i > 0 && strcmp(m->entries[i - 1].path, e->path) >= 0)
        return ccr_err_set(EINVAL, "entry %zu (%s): %s", i, e->path,
                           strcmp(m->entries[i - 1].path, e->path) == 0 ? "duplicate path"
                                                                        : "entries out of order");
    if (e->type != FMT_ENTRY_FILE && e->type != FMT_ENTRY_DIR)
        return ccr_err_set(EINVAL, "entry %zu (%s): unknown type %u", i, e->path, e->type);
    if (e->mode & ~07777u)
        return ccr_err_set(EINVAL, "entry %zu (%s): mode %o has bits beyond 07777", i, e->path, e->mode);
    if (e->mtime_nsec >= 1000000000u)
        return ccr_err_set(EINVAL, "entry %zu (%s): mtime nanoseconds out of range", i, e->path);
    if (!parent_present(m, i, e->path))
        return ccr_err_set(EINVAL, "entry %zu (%s): parent folder is not listed before it", i, e->path);
    if (e->type == FMT_ENTRY_DIR && e->size != 0)
        return ccr_err_set(EINVAL, "entry %zu (%s): a folder with a size", i, e->path);
    if (e->type == FMT_ENTRY_FILE) {
        if (e->log2_block < 12 || e->log2_block > 20)
            return ccr_err_set(EINVAL, "entry %zu (%s): block size 2^%u outside 2^12..2^20", i, e->path,
                               e->log2_block);
        if (!blob_name_ok(e->blob))
            return ccr_err_set(EINVAL, "entry %zu (%s): blob name is not 1-64 lowercase hex digits", i,
                               e->path);
        if (e->size > (UINT64_C(1) << 62))
            return ccr_err_set(EINVAL, "entry %zu (%s): implausible size", i, e->path);
    }
    return 0;
}

int fmt_manifest_validate(const struct fmt_manifest *m)
{
    for (size_t i = 0; i < m->count; i++) {
        int rc = entry_problem(m, i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

#define ENTRY_FIXED_LEN (2 + 1 + 4 + 8 + 8 + 4)
#define ENTRY_FILE_LEN  (1 + 1 + FMT_SALT_LEN + FMT_TAG_LEN + FMT_SHA256_LEN)

int fmt_manifest_encode(const struct fmt_manifest *m, uint8_t **out, size_t *out_len)
{
    size_t len = 4, o = 0;
    uint8_t *buf;
    int rc = fmt_manifest_validate(m);

    if (rc != 0)
        return rc;
    if (m->count > UINT32_MAX)
        return ccr_err_set(EINVAL, "too many entries");
    for (size_t i = 0; i < m->count; i++) {
        const struct fmt_manifest_entry *e = &m->entries[i];
        len += ENTRY_FIXED_LEN + strlen(e->path);
        if (e->type == FMT_ENTRY_FILE)
            len += ENTRY_FILE_LEN + strlen(e->blob);
    }
    buf = malloc(len);
    if (buf == NULL)
        return ENOMEM;
    ccr_put_le32(buf, (uint32_t)m->count);
    o = 4;
    for (size_t i = 0; i < m->count; i++) {
        const struct fmt_manifest_entry *e = &m->entries[i];
        size_t plen = strlen(e->path);
        ccr_put_le16(buf + o, (uint16_t)plen);
        memcpy(buf + o + 2, e->path, plen);
        o += 2 + plen;
        buf[o++] = e->type;
        ccr_put_le32(buf + o, e->mode);
        ccr_put_le64(buf + o + 4, e->size);
        ccr_put_le64(buf + o + 12, (uint64_t)e->mtime_sec);
        ccr_put_le32(buf + o + 20, e->mtime_nsec);
        o += 24;
        if (e->type == FMT_ENTRY_FILE) {
            size_t blen = strlen(e->blob);
            buf[o++] = e->log2_block;
            buf[o++] = (uint8_t)blen;
            memcpy(buf + o, e->blob, blen);
            o += blen;
            memcpy(buf + o, e->salt, FMT_SALT_LEN);
            memcpy(buf + o + FMT_SALT_LEN, e->header_tag, FMT_TAG_LEN);
            memcpy(buf + o + FMT_SALT_LEN + FMT_TAG_LEN, e->sha256, FMT_SHA256_LEN);
            o += FMT_SALT_LEN + FMT_TAG_LEN + FMT_SHA256_LEN;
        }
    }
    *out = buf;
    *out_len = o;
    return 0;
}

int fmt_manifest_decode(const uint8_t *buf, size_t len, struct fmt_manifest *m)
{
    size_t o = 4;
    uint32_t count;
    int rc = 0;

    memset(m, 0, sizeof *m);
    if (len < 4)
        return ccr_err_set(EINVAL, "manifest payload too short for its entry count");
    count = ccr_get_le32(buf);
    /* Every entry takes at least ENTRY_FIXED_LEN + 1 bytes: a count beyond that is a lie. */
    if (count > (len - 4) / (ENTRY_FIXED_LEN + 1))
        return ccr_err_set(EINVAL, "manifest claims %u entries, more than its %zu bytes can hold", count,
                           len);
    m->entries = calloc(count ? count : 1, sizeof *m->entries);
    if (m->entries == NULL)
        return ENOMEM;
    m->cap = count ? count : 1;
    for (uint32_t i = 0; i < count; i++) {
        struct fmt_manifest_entry *e = &m->entries[i];
        uint16_t plen;
        if (len - o < 2 || len - o - 2 < (plen = ccr_get_le16(buf + o)) ||
            len - o - 2 - plen < ENTRY_FIXED_LEN - 2) {
            rc = ccr_err_set(EINVAL, "entry %u: truncated", i);
            goto fail;
        }
        e->path = malloc((size_t)plen + 1);
        if (e->path == NULL) {
            rc = ENOMEM;
            goto fail;
        }
        memcpy(e->path, buf + o + 2, plen);
        e->path[plen] = '\0';
        m->count++;
        if (fmt_manifest_path_problem((const char *)buf + o + 2, plen) != NULL) {
            rc = ccr_err_set(EINVAL, "entry %u: %s", i,
                             fmt_manifest_path_problem((const char *)buf + o + 2, plen));
            goto fail;
        }
        o += 2 + plen;
        e->type = buf[o++];
        e->mode = ccr_get_le32(buf + o);
        e->size = ccr_get_le64(buf + o + 4);
        e->mtime_sec = (int64_t)ccr_get_le64(buf + o + 12);
        e->mtime_nsec = ccr_get_le32(buf + o + 20);
        o += 24;
        if (e->type == FMT_ENTRY_FILE) {
            uint8_t blen;
            if (len - o < 2 ||
                len - o - 2 < (size_t)(blen = buf[o + 1]) + FMT_SALT_LEN + FMT_TAG_LEN + FMT_SHA256_LEN) {
                rc = ccr_err_set(EINVAL, "entry %u (%s): truncated", i, e->path);
                goto fail;
            }
            e->log2_block = buf[o];
            if (blen > FMT_BLOB_NAME_MAX || memchr(buf + o + 2, '\0', blen) != NULL) {
                rc = ccr_err_set(EINVAL, "entry %u (%s): blob name is not 1-64 lowercase hex digits", i,
                                 e->path);
                goto fail;
            }
            memcpy(e->blob, buf + o + 2, blen);
            e->blob[blen] = '\0';
            o += 2 + blen;
            memcpy(e->salt, buf + o, FMT_SALT_LEN);
            memcpy(e->header_tag, buf + o + FMT_SALT_LEN, FMT_TAG_LEN);
            memcpy(e->sha256, buf + o + FMT_SALT_LEN + FMT_TAG_LEN, FMT_SHA256_LEN);
            o += FMT_SALT_LEN + FMT_TAG_LEN + FMT_SHA256_LEN;
        }
        if ((rc = entry_problem(m, i)) != 0)
            goto fail;
    }
    if (o != len) {
        rc = ccr_err_set(EINVAL, "%zu unexpected bytes after the last entry", len - o);
        goto fail;
    }
    return 0;
fail:
    fmt_manifest_free(m);
    return rc;
}

static void manifest_nonce(uint8_t nonce[FMT_NONCE_LEN])
{
    memset(nonce, 0, FMT_NONCE_LEN);
    nonce[0] = 0x03; /* distinct from every blob nonce flag, though the keys differ anyway */
}

int fmt_manifest_seal(const struct fmt_dek *dek, const struct fmt_manifest *m, const uint8_t *salt_or_null,
                      uint8_t **out, size_t *out_len)
{
    uint8_t *payload = NULL, *obj = NULL, *key = NULL;
    uint8_t nonce[FMT_NONCE_LEN];
    size_t plen;
    int rc = fmt_manifest_encode(m, &payload, &plen);

    if (rc != 0)
        return rc;
    obj = malloc(FMT_MANIFEST_HEADER_LEN + plen + FMT_TAG_LEN);
    key = ccr_secmem_alloc(FMT_KEY_LEN);
    if (obj == NULL || key == NULL) {
        rc = ENOMEM;
        goto out;
    }
    memset(obj, 0, FMT_MANIFEST_HEADER_LEN);
    memcpy(obj, FMT_MANIFEST_MAGIC, 8);
    ccr_put_le16(obj + 8, FMT_MANIFEST_VERSION);
    obj[10] = 1; /* AES-256-GCM */
    ccr_put_le64(obj + 16, plen);
    if (salt_or_null != NULL)
        memcpy(obj + 24, salt_or_null, FMT_SALT_LEN);
    else if ((rc = ccr_random(obj + 24, FMT_SALT_LEN)) != 0)
        goto out;
    if ((rc = fmt_hkdf_sha256(dek->bytes, FMT_DEK_LEN, obj + 24, FMT_SALT_LEN, FMT_MANIFEST_HKDF_INFO, key,
                              FMT_KEY_LEN)) != 0)
        goto out;
    manifest_nonce(nonce);
    rc = fmt_gcm_seal(key, nonce, obj, FMT_MANIFEST_HEADER_LEN, payload, plen, obj + FMT_MANIFEST_HEADER_LEN,
                      obj + FMT_MANIFEST_HEADER_LEN + plen);
out:
    ccr_freezero(payload, plen);
    ccr_secmem_free(key, FMT_KEY_LEN);
    if (rc != 0) {
        free(obj);
        return rc;
    }
    *out = obj;
    *out_len = FMT_MANIFEST_HEADER_LEN + plen + FMT_TAG_LEN;
    return 0;
}

int fmt_manifest_peek(const uint8_t *obj, size_t len, uint64_t *payload_len)
{
    uint64_t plen;

    if (len < FMT_MANIFEST_HEADER_LEN + FMT_TAG_LEN)
        return ccr_err_set(EINVAL, "too short for a ccrfs manifest (%zu bytes)", len);
    if (memcmp(obj, FMT_MANIFEST_MAGIC, 8) != 0)
        return ccr_err_set(EINVAL, "not a ccrfs manifest (bad magic)");
    if (ccr_get_le16(obj + 8) != FMT_MANIFEST_VERSION)
        return ccr_err_set(EINVAL, "unsupported manifest version %u", ccr_get_le16(obj + 8));
    if (obj[10] != 1)
        return ccr_err_set(EINVAL, "unknown manifest algorithm id %u", obj[10]);
    if (obj[11] != 0 || ccr_get_le32(obj + 12) != 0)
        return ccr_err_set(EINVAL, "reserved manifest header bytes are not zero");
    plen = ccr_get_le64(obj + 16);
    if (plen != len - FMT_MANIFEST_HEADER_LEN - FMT_TAG_LEN)
        return ccr_err_set(EINVAL, "manifest header says %llu payload bytes, the object holds %zu",
                           (unsigned long long)plen, len - FMT_MANIFEST_HEADER_LEN - FMT_TAG_LEN);
    *payload_len = plen;
    return 0;
}

int fmt_manifest_open(const struct fmt_dek *dek, const uint8_t *obj, size_t len, struct fmt_manifest *m)
{
    uint8_t nonce[FMT_NONCE_LEN];
    uint8_t *key = NULL, *payload = NULL;
    uint64_t plen;
    int rc = fmt_manifest_peek(obj, len, &plen);

    if (rc != 0)
        return rc;
    key = ccr_secmem_alloc(FMT_KEY_LEN);
    payload = malloc(plen ? plen : 1);
    if (key == NULL || payload == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if ((rc = fmt_hkdf_sha256(dek->bytes, FMT_DEK_LEN, obj + 24, FMT_SALT_LEN, FMT_MANIFEST_HKDF_INFO, key,
                              FMT_KEY_LEN)) != 0)
        goto out;
    manifest_nonce(nonce);
    if (fmt_gcm_open(key, nonce, obj, FMT_MANIFEST_HEADER_LEN, obj + FMT_MANIFEST_HEADER_LEN, plen,
                     obj + FMT_MANIFEST_HEADER_LEN + plen, payload) != 0) {
        rc = ccr_err_set(EBADMSG, "manifest does not authenticate (wrong key, or the manifest was altered)");
        goto out;
    }
    rc = fmt_manifest_decode(payload, plen, m);
    if (rc != 0)
        ccr_err_wrap(rc, "manifest: ");
out:
    ccr_secmem_free(key, FMT_KEY_LEN);
    ccr_freezero(payload, plen);
    return rc;
}

void fmt_dataset_id(const uint8_t *obj, size_t len, char out[FMT_DATASET_ID_LEN + 1])
{
    uint8_t digest[FMT_SHA256_LEN];
    fmt_sha256(obj, len, digest);
    memcpy(out, "sha256:", 7);
    ccr_hex_encode(digest, sizeof digest, out + 7);
}

int fmt_dataset_id_parse(const char *text, char out[FMT_DATASET_ID_LEN + 1])
{
    uint8_t digest[FMT_SHA256_LEN];

    if (strncmp(text, "sha256:", 7) != 0 || ccr_hex_decode(text + 7, digest, sizeof digest) != 0)
        return ccr_err_set(EINVAL, "'%s' is not a dataset id (expected sha256: and 64 hex digits)", text);
    memcpy(out, "sha256:", 7);
    ccr_hex_encode(digest, sizeof digest, out + 7);
    return 0;
}
