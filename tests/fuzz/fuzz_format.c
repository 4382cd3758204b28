/* The v1 format parsers: the manifest payload decoder, the manifest object header and the
 * blob header. The first input byte chooses the parser. */
#include "fuzz.h"
#include "common/err.h"
#include "format/blob.h"
#include "format/manifest.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fmt_manifest m;
    struct fmt_blob_header h;
    uint64_t plen;

    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        if (fmt_manifest_decode(data + 1, size - 1, &m) == 0) {
            /* Whatever decodes must also encode to the same bytes. */
            uint8_t *again;
            size_t alen;
            if (fmt_manifest_encode(&m, &again, &alen) != 0 || alen != size - 1 ||
                memcmp(again, data + 1, alen) != 0)
                abort();
            free(again);
            fmt_manifest_free(&m);
        }
        break;
    case 1:
        (void)fmt_manifest_peek(data + 1, size - 1, &plen);
        break;
    default:
        if (fmt_blob_header_parse(data + 1, size - 1, &h) == 0)
            (void)fmt_blob_object_size(&h);
        break;
    }
    ccr_err_clear();
    return 0;
}

static void add(struct fuzz_seed *s, uint8_t kind, const uint8_t *body, size_t len)
{
    s->data = malloc(len + 1);
    s->data[0] = kind;
    memcpy(s->data + 1, body, len);
    s->len = len + 1;
}

size_t fuzz_seeds(struct fuzz_seed **out)
{
    struct fuzz_seed *s = calloc(3, sizeof *s);
    struct fmt_manifest m = {0};
    struct fmt_manifest_entry d = {0}, f = {0};
    struct fmt_dek *dek;
    struct fmt_blob_key *k;
    uint8_t raw[32] = {0}, *payload, *obj;
    size_t plen, olen;

    d.path = "dir";
    d.type = FMT_ENTRY_DIR;
    d.mode = 0755;
    f.path = "dir/file";
    f.type = FMT_ENTRY_FILE;
    f.mode = 0644;
    f.size = 100;
    f.log2_block = 16;
    memcpy(f.blob, "00112233445566778899aabbccddeeff", 33);
    fmt_manifest_add(&m, &d);
    fmt_manifest_add(&m, &f);
    fmt_manifest_encode(&m, &payload, &plen);
    add(&s[0], 0, payload, plen);
    fmt_dek_from_bytes(raw, sizeof raw, &dek);
    fmt_manifest_seal(dek, &m, NULL, &obj, &olen);
    add(&s[1], 1, obj, olen);
    fmt_blob_key_create(dek, 16, 100000, NULL, &k);
    add(&s[2], 2, k->header.raw, FMT_BLOB_HEADER_LEN);
    fmt_blob_key_free(k);
    fmt_dek_free(dek);
    free(payload);
    free(obj);
    fmt_manifest_free(&m);
    *out = s;
    return 3;
}
