/* COSE_Sign1 parsing, checking and making (see cose.h). CBOR is decoded by libcbor; this file
 * adds the strictness COSE needs on top: one well-formed item in its deterministic form. */
#include "governance/cose.h"
#include "common/encoding.h"
#include "common/err.h"

#include <cbor.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COSE_TAG_SIGN1   18
#define COSE_MAX_DEPTH   16
#define COSE_MAX_ENTRIES 64 /* per header map: far beyond any real header */

#define HDR_ALG   1
#define HDR_CRIT  2
#define HDR_CTYPE 3
#define HDR_KID   4

/* ---- strict decoding ---------------------------------------------------------------------- */

/* First pass with libcbor's streaming decoder: it allocates nothing, so declared sizes are
 * bounded by the bytes present and nesting is bounded before any tree is built. */
struct scan {
    size_t remaining;                 /* bytes not yet consumed */
    uint64_t pending[COSE_MAX_DEPTH]; /* items still expected at each open level */
    unsigned depth;
    int tagged; /* a tag was read: the next item is its content */
    int done;   /* the top-level item is complete */
    const char *fault;
};

static void scan_item_done(struct scan *s)
{
    s->tagged = 0;
    while (s->depth > 0) {
        if (--s->pending[s->depth - 1] > 0)
            return;
        s->depth--;
    }
    s->done = 1;
}

static void scan_fault(struct scan *s, const char *what)
{
    if (s->fault == NULL)
        s->fault = what;
}

static void scan_open(struct scan *s, uint64_t items)
{
    s->tagged = 0;
    if (items == 0) {
        scan_item_done(s);
        return;
    }
    if (s->depth == COSE_MAX_DEPTH) {
        scan_fault(s, "nesting deeper than 16 levels");
        return;
    }
    if (items > s->remaining) {
        scan_fault(s, "a collection declares more items than there are bytes");
        return;
    }
    s->pending[s->depth++] = items;
}

static void cb_u8(void *c, uint8_t v)
{
    scan_item_done(c);
}
static void cb_u16(void *c, uint16_t v)
{
    if (v <= UINT8_MAX)
        scan_fault(c, "an integer not in its shortest form");
    scan_item_done(c);
}
static void cb_u32(void *c, uint32_t v)
{
    if (v <= UINT16_MAX)
        scan_fault(c, "an integer not in its shortest form");
    scan_item_done(c);
}
static void cb_u64(void *c, uint64_t v)
{
    if (v <= UINT32_MAX)
        scan_fault(c, "an integer not in its shortest form");
    scan_item_done(c);
}
static void cb_bytes(void *c, cbor_data d, size_t n)
{
    scan_item_done(c);
}
static void cb_simple(void *c)
{
    scan_item_done(c);
}
static void cb_bool(void *c, bool b)
{
    scan_item_done(c);
}
static void cb_float(void *c, float f)
{
    scan_item_done(c);
}
static void cb_double(void *c, double f)
{
    scan_item_done(c);
}
static void cb_indefinite(void *c)
{
    scan_fault(c, "an indefinite length");
}
static void cb_array(void *c, size_t n)
{
    scan_open(c, n);
}
static void cb_map(void *c, size_t n)
{
    if (n > SIZE_MAX / 2)
        scan_fault(c, "a map declares more entries than there are bytes");
    else
        scan_open(c, (uint64_t)n * 2);
}
static void cb_tag(void *c, uint64_t v)
{
    struct scan *s = c;
    if (s->tagged)
        scan_fault(s, "nested tags");
    s->tagged = 1;
}

static const struct cbor_callbacks scan_callbacks = {
    .uint8 = cb_u8,
    .uint16 = cb_u16,
    .uint32 = cb_u32,
    .uint64 = cb_u64,
    .negint8 = cb_u8,
    .negint16 = cb_u16,
    .negint32 = cb_u32,
    .negint64 = cb_u64,
    .byte_string_start = cb_indefinite,
    .byte_string = cb_bytes,
    .string = cb_bytes,
    .string_start = cb_indefinite,
    .indef_array_start = cb_indefinite,
    .array_start = cb_array,
    .indef_map_start = cb_indefinite,
    .map_start = cb_map,
    .tag = cb_tag,
    .float2 = cb_float,
    .float4 = cb_float,
    .float8 = cb_double,
    .undefined = cb_simple,
    .null = cb_simple,
    .boolean = cb_bool,
    .indef_break = cb_indefinite,
};

static int scan_bytes(const uint8_t *data, size_t len, const char *what)
{
    struct scan s = {.remaining = len};
    size_t pos = 0;
    while (!s.done) {
        struct cbor_decoder_result r;
        if (pos == len)
            return ccr_err_set(EINVAL, "COSE: %s: truncated CBOR", what);
        r = cbor_stream_decode(data + pos, len - pos, &scan_callbacks, &s);
        if (r.status == CBOR_DECODER_NEDATA)
            return ccr_err_set(EINVAL, "COSE: %s: truncated CBOR at byte %zu", what, pos);
        if (r.status != CBOR_DECODER_FINISHED || r.read == 0)
            return ccr_err_set(EINVAL, "COSE: %s: malformed CBOR at byte %zu", what, pos);
        pos += r.read;
        s.remaining = len - pos;
        if (s.fault != NULL)
            return ccr_err_set(EINVAL, "COSE: %s: %s (byte %zu)", what, s.fault, pos - r.read);
    }
    if (pos != len)
        return ccr_err_set(EINVAL, "COSE: %s: %zu trailing bytes after the CBOR item", what, len - pos);
    return 0;
}

static int keys_equal(const cbor_item_t *a, const cbor_item_t *b)
{
    unsigned char *ea = NULL, *eb = NULL;
    size_t sa = 0, sb = 0, la = cbor_serialize_alloc(a, &ea, &sa), lb = cbor_serialize_alloc(b, &eb, &sb);
    int eq = la != 0 && la == lb && memcmp(ea, eb, la) == 0;
    free(ea);
    free(eb);
    return eq;
}

/* Duplicate keys anywhere in the tree (libcbor keeps them all). */
static int check_maps(const cbor_item_t *it, const char *what)
{
    if (cbor_isa_tag(it)) {
        cbor_item_t *inner = cbor_tag_item(it);
        int rc = check_maps(inner, what);
        cbor_decref(&inner);
        return rc;
    }
    if (cbor_isa_array(it)) {
        cbor_item_t **v = cbor_array_handle(it);
        for (size_t i = 0; i < cbor_array_size(it); i++) {
            int rc = check_maps(v[i], what);
            if (rc != 0)
                return rc;
        }
    } else if (cbor_isa_map(it)) {
        struct cbor_pair *p = cbor_map_handle(it);
        size_t n = cbor_map_size(it);
        for (size_t i = 0; i < n; i++) {
            int rc;
            for (size_t j = 0; j < i; j++)
                if (keys_equal(p[i].key, p[j].key))
                    return ccr_err_set(EINVAL, "COSE: %s: a map has a duplicate key", what);
            if ((rc = check_maps(p[i].key, what)) != 0 || (rc = check_maps(p[i].value, what)) != 0)
                return rc;
        }
    }
    return 0;
}

/* One CBOR item in deterministic form: scanned, built by libcbor, free of duplicate keys, and
 * identical to its re-encoding (which catches lengths not in their shortest form). */
static int decode_strict(const uint8_t *data, size_t len, const char *what, cbor_item_t **out)
{
    struct cbor_load_result lr;
    cbor_item_t *it;
    unsigned char *enc = NULL;
    size_t cap = 0, elen;
    int rc;

    if ((rc = scan_bytes(data, len, what)) != 0)
        return rc;
    it = cbor_load(data, len, &lr);
    if (it == NULL)
        return lr.error.code == CBOR_ERR_MEMERROR ? ENOMEM
                                                  : ccr_err_set(EINVAL, "COSE: %s: malformed CBOR", what);
    if ((rc = check_maps(it, what)) != 0) {
        cbor_decref(&it);
        return rc;
    }
    elen = cbor_serialize_alloc(it, &enc, &cap);
    if (elen != len || memcmp(enc, data, len) != 0)
        rc = elen == 0
                 ? ENOMEM
                 : ccr_err_set(
                       EINVAL,
                       "COSE: %s: not in deterministic form (an integer or length not in its shortest form)",
                       what);
    free(enc);
    if (rc != 0) {
        cbor_decref(&it);
        return rc;
    }
    *out = it;
    return 0;
}

/* ---- headers ------------------------------------------------------------------------------- */

static int get_int(const cbor_item_t *it, int64_t *v)
{
    uint64_t u;
    if (!cbor_is_int(it))
        return EINVAL;
    u = cbor_get_int(it);
    if (u > INT64_MAX)
        return ERANGE;
    *v = cbor_isa_uint(it) ? (int64_t)u : -1 - (int64_t)u;
    return 0;
}

/* The integer label of a header entry, or 0 for a text label (never a defined header). */
static int label_of(const cbor_item_t *key, int64_t *label, const char *where)
{
    if (cbor_isa_string(key)) {
        *label = 0;
        return 0;
    }
    if (get_int(key, label) != 0)
        return ccr_err_set(EINVAL, "COSE: %s header: a label that is neither an integer nor text", where);
    if (*label == 0)
        return ccr_err_set(EINVAL, "COSE: %s header: label 0 is reserved", where);
    return 0;
}

static const cbor_item_t *map_get(const cbor_item_t *map, int64_t label)
{
    struct cbor_pair *p = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++) {
        int64_t l;
        if (!cbor_isa_string(p[i].key) && get_int(p[i].key, &l) == 0 && l == label)
            return p[i].value;
    }
    return NULL;
}

static int understood(int64_t label)
{
    return label == HDR_ALG || label == HDR_CRIT || label == HDR_CTYPE || label == HDR_KID;
}

static int check_crit(const cbor_item_t *crit, const cbor_item_t *prot)
{
    cbor_item_t **v;
    size_t n;
    if (!cbor_isa_array(crit) || (n = cbor_array_size(crit)) == 0)
        return ccr_err_set(EINVAL, "COSE: protected header: \"crit\" must be a non-empty array of labels");
    v = cbor_array_handle(crit);
    for (size_t i = 0; i < n; i++) {
        int64_t l;
        if (cbor_isa_string(v[i]))
            return ccr_err_set(EINVAL, "COSE: critical header \"%.*s\" is not understood",
                               (int)cbor_string_length(v[i]), (const char *)cbor_string_handle(v[i]));
        if (get_int(v[i], &l) != 0)
            return ccr_err_set(EINVAL, "COSE: protected header: \"crit\" holds something other than labels");
        if (!understood(l))
            return ccr_err_set(EINVAL, "COSE: critical header %" PRId64 " is not understood", l);
        if (map_get(prot, l) == NULL)
            return ccr_err_set(EINVAL, "COSE: critical header %" PRId64 " is not in the protected header", l);
    }
    return 0;
}

static int take_kid(const cbor_item_t *v, struct gov_cose_sign1 *m)
{
    size_t n;
    if (!cbor_isa_bytestring(v))
        return ccr_err_set(EINVAL, "COSE: header \"kid\" (4) must be a byte string");
    n = cbor_bytestring_length(v);
    if ((m->kid = malloc(n + 1)) == NULL)
        return ENOMEM;
    memcpy(m->kid, cbor_bytestring_handle(v), n);
    m->kid[n] = 0;
    m->kid_len = n;
    return 0;
}

static int take_content_type(const cbor_item_t *v, struct gov_cose_sign1 *m)
{
    if (cbor_isa_uint(v)) {
        char num[24];
        if (cbor_get_int(v) > UINT16_MAX)
            return ccr_err_set(EINVAL, "COSE: header \"content type\" (3): %" PRIu64 " is not a CoAP format",
                               (uint64_t)cbor_get_int(v));
        snprintf(num, sizeof num, "%" PRIu64, (uint64_t)cbor_get_int(v));
        m->content_type = strdup(num);
    } else if (cbor_isa_string(v) && cbor_string_length(v) > 0) {
        m->content_type = strndup((const char *)cbor_string_handle(v), cbor_string_length(v));
    } else {
        return ccr_err_set(EINVAL, "COSE: header \"content type\" (3) must be an unsigned integer or text");
    }
    return m->content_type == NULL ? ENOMEM : 0;
}

static int read_headers(const cbor_item_t *prot, const cbor_item_t *unprot, struct gov_cose_sign1 *m)
{
    const cbor_item_t *alg, *v;
    struct cbor_pair *p = cbor_map_handle(unprot);
    int rc;

    if (cbor_map_size(prot) > COSE_MAX_ENTRIES || cbor_map_size(unprot) > COSE_MAX_ENTRIES)
        return ccr_err_set(EINVAL, "COSE: a header has more than %d entries", COSE_MAX_ENTRIES);
    for (size_t i = 0; i < cbor_map_size(unprot); i++) {
        int64_t l;
        if ((rc = label_of(p[i].key, &l, "unprotected")) != 0)
            return rc;
        if (l == HDR_ALG)
            return ccr_err_set(EINVAL,
                               "COSE: the algorithm is in the unprotected header; it must be protected");
        if (l == HDR_CRIT)
            return ccr_err_set(EINVAL, "COSE: \"crit\" is in the unprotected header; it must be protected");
        if (l != 0 && map_get(prot, l) != NULL)
            return ccr_err_set(EINVAL,
                               "COSE: header %" PRId64 " is in both the protected and unprotected header", l);
    }
    p = cbor_map_handle(prot);
    for (size_t i = 0; i < cbor_map_size(prot); i++) {
        int64_t l;
        if ((rc = label_of(p[i].key, &l, "protected")) != 0)
            return rc;
    }
    if ((alg = map_get(prot, HDR_ALG)) == NULL)
        return ccr_err_set(EINVAL, "COSE: the protected header has no algorithm (1)");
    if (cbor_isa_string(alg))
        return ccr_err_set(EINVAL, "COSE: algorithm \"%.*s\" is not supported (ES256, ES384, EdDSA, PS256)",
                           (int)cbor_string_length(alg), (const char *)cbor_string_handle(alg));
    if (get_int(alg, &m->alg) != 0 || gov_cose_alg_name(m->alg) == NULL)
        return ccr_err_set(EINVAL,
                           "COSE: algorithm %" PRId64 " is not supported (ES256, ES384, EdDSA, PS256)",
                           get_int(alg, &m->alg) == 0 ? m->alg : (int64_t)0);
    if ((v = map_get(prot, HDR_CRIT)) != NULL && (rc = check_crit(v, prot)) != 0)
        return rc;
    if ((v = map_get(prot, HDR_KID)) != NULL || (v = map_get(unprot, HDR_KID)) != NULL)
        if ((rc = take_kid(v, m)) != 0)
            return rc;
    if ((v = map_get(prot, HDR_CTYPE)) != NULL || (v = map_get(unprot, HDR_CTYPE)) != NULL)
        if ((rc = take_content_type(v, m)) != 0)
            return rc;
    return 0;
}

/* ---- parsing ------------------------------------------------------------------------------- */

static uint8_t *dup_bytes(const void *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (d != NULL && n)
        memcpy(d, p, n);
    return d;
}

void gov_cose_sign1_release(struct gov_cose_sign1 *m)
{
    if (m == NULL)
        return;
    free(m->protected_hdr);
    free(m->kid);
    free(m->content_type);
    free(m->payload);
    free(m->signature);
    memset(m, 0, sizeof *m);
}

static int parse_array(const cbor_item_t *arr, struct gov_cose_sign1 *m)
{
    cbor_item_t **v, *prot = NULL;
    size_t plen;
    int rc;

    if (!cbor_isa_array(arr) || cbor_array_size(arr) != 4)
        return ccr_err_set(EINVAL, "COSE: a COSE_Sign1 is an array of 4 items");
    v = cbor_array_handle(arr);
    if (!cbor_isa_bytestring(v[0]))
        return ccr_err_set(EINVAL, "COSE: the protected header must be a byte string");
    if (!cbor_isa_map(v[1]))
        return ccr_err_set(EINVAL, "COSE: the unprotected header must be a map");
    if (!cbor_isa_bytestring(v[2]) && !cbor_is_null(v[2]))
        return ccr_err_set(EINVAL, "COSE: the payload must be a byte string or nil");
    if (!cbor_isa_bytestring(v[3]))
        return ccr_err_set(EINVAL, "COSE: the signature must be a byte string");

    plen = cbor_bytestring_length(v[0]);
    if ((m->protected_hdr = dup_bytes(cbor_bytestring_handle(v[0]), plen)) == NULL)
        return ENOMEM;
    m->protected_len = plen;
    if (plen == 0) {
        /* RFC 9052 3: an empty protected header is a zero-length string. */
        if ((prot = cbor_new_definite_map(0)) == NULL)
            return ENOMEM;
    } else if ((rc = decode_strict(m->protected_hdr, plen, "protected header", &prot)) != 0) {
        return rc;
    } else if (!cbor_isa_map(prot)) {
        cbor_decref(&prot);
        return ccr_err_set(EINVAL, "COSE: the protected header is not a map");
    }
    rc = read_headers(prot, v[1], m);
    cbor_decref(&prot);
    if (rc != 0)
        return rc;
    if (cbor_is_null(v[2])) {
        m->detached = 1;
    } else {
        m->payload_len = cbor_bytestring_length(v[2]);
        if ((m->payload = dup_bytes(cbor_bytestring_handle(v[2]), m->payload_len)) == NULL)
            return ENOMEM;
    }
    m->signature_len = cbor_bytestring_length(v[3]);
    if ((m->signature = dup_bytes(cbor_bytestring_handle(v[3]), m->signature_len)) == NULL)
        return ENOMEM;
    return 0;
}

static void tag_value(void *c, uint64_t v)
{
    *(uint64_t *)c = v;
}

/* A message under another tag: names the tag. */
static int refuse_tag(const uint8_t *bytes, size_t len)
{
    struct cbor_callbacks cb = cbor_empty_callbacks;
    uint64_t tag = bytes[0] - 0xC0u;
    if (bytes[0] >= 0xD8) {
        cb.tag = tag_value;
        if (cbor_stream_decode(bytes, len, &cb, &tag).status != CBOR_DECODER_FINISHED)
            return ccr_err_set(EINVAL, "COSE: malformed tag at byte 0");
    }
    return ccr_err_set(EINVAL, "COSE: tag %" PRIu64 " is not COSE_Sign1 (18)", tag);
}

int gov_cose_sign1_parse(const void *msg, size_t len, struct gov_cose_sign1 *out)
{
    const uint8_t *bytes = msg;
    cbor_item_t *top = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    if (len > GOV_COSE_MAX_BYTES)
        return ccr_err_set(EFBIG, "COSE: %zu bytes, more than the %d allowed", len, GOV_COSE_MAX_BYTES);
    if (len == 0)
        return ccr_err_set(EINVAL, "COSE: empty input");
    if ((bytes[0] >> 5) == 6) {
        /* libcbor 0.8 refuses tags 6 to 20 as unassigned, 18 among them: the message's own
         * tag is taken off here. Its one-byte form is the only deterministic one. */
        if (bytes[0] != 0xD2)
            return refuse_tag(bytes, len);
        bytes++;
        len--;
    }
    if ((rc = decode_strict(bytes, len, "COSE_Sign1", &top)) != 0)
        return rc;
    rc = parse_array(top, out);
    cbor_decref(&top);
    if (rc != 0)
        gov_cose_sign1_release(out);
    return rc;
}

/* ---- Sig_structure and signatures ---------------------------------------------------------- */

static int serialize(cbor_item_t *it, uint8_t **out, size_t *out_len)
{
    unsigned char *buf = NULL;
    size_t cap = 0, n = cbor_serialize_alloc(it, &buf, &cap);
    if (n == 0) {
        free(buf);
        return ENOMEM;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

static bool push(cbor_item_t *arr, cbor_item_t *it)
{
    bool ok = it != NULL && cbor_array_push(arr, it);
    if (it != NULL)
        cbor_decref(&it);
    return ok;
}

int gov_cose_sig_structure(const void *protected_hdr, size_t protected_len, const void *aad, size_t aad_len,
                           const void *payload, size_t payload_len, uint8_t **out, size_t *out_len)
{
    cbor_item_t *a = cbor_new_definite_array(4);
    int rc = ENOMEM;
    /* libcbor copies from the pointer even for zero bytes. */
    if (a != NULL && push(a, cbor_build_string("Signature1")) &&
        push(a, cbor_build_bytestring(protected_len ? protected_hdr : (const void *)"", protected_len)) &&
        push(a, cbor_build_bytestring(aad_len ? aad : (const void *)"", aad_len)) &&
        push(a, cbor_build_bytestring(payload_len ? payload : (const void *)"", payload_len)))
        rc = serialize(a, out, out_len);
    if (a != NULL)
        cbor_decref(&a);
    return rc;
}

const char *gov_cose_alg_name(int64_t alg)
{
    switch (alg) {
    case GOV_COSE_ES256:
        return "ES256";
    case GOV_COSE_ES384:
        return "ES384";
    case GOV_COSE_EDDSA:
        return "EdDSA";
    case GOV_COSE_PS256:
        return "PS256";
    }
    return NULL;
}

int gov_cose_alg_from_name(const char *name, int64_t *alg)
{
    static const int64_t all[] = {GOV_COSE_ES256, GOV_COSE_ES384, GOV_COSE_EDDSA, GOV_COSE_PS256};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, gov_cose_alg_name(all[i])) == 0) {
            *alg = all[i];
            return 0;
        }
    return ccr_err_set(EINVAL, "unknown COSE algorithm \"%s\" (ES256, ES384, EdDSA or PS256)", name);
}

static const char *ec_group(EVP_PKEY *key)
{
    static _Thread_local char group[64];
    size_t glen = 0;
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
        !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen))
        return "";
    return group;
}

int gov_cose_alg_for_key(EVP_PKEY *key, int64_t *alg)
{
    int id = EVP_PKEY_get_base_id(key);
    if (id == EVP_PKEY_ED25519)
        *alg = GOV_COSE_EDDSA;
    else if (strcmp(ec_group(key), "prime256v1") == 0)
        *alg = GOV_COSE_ES256;
    else if (strcmp(ec_group(key), "secp384r1") == 0)
        *alg = GOV_COSE_ES384;
    else if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS)
        *alg = GOV_COSE_PS256;
    else
        return ccr_err_set(EINVAL, "COSE: no supported algorithm for a %s key", EVP_PKEY_get0_type_name(key));
    return 0;
}

/* The algorithm's digest and, for ECDSA, the size of r and s; EINVAL when key cannot make alg. */
static int key_fits(EVP_PKEY *key, int64_t alg, const EVP_MD **md, size_t *coord)
{
    int id = EVP_PKEY_get_base_id(key);
    const char *name = gov_cose_alg_name(alg);
    *md = NULL;
    *coord = 0;
    if (name == NULL)
        return ccr_err_set(EINVAL, "COSE: algorithm %" PRId64 " is not supported", alg);
    switch (alg) {
    case GOV_COSE_ES256:
        *md = EVP_sha256();
        *coord = 32;
        if (strcmp(ec_group(key), "prime256v1") == 0)
            return 0;
        break;
    case GOV_COSE_ES384:
        *md = EVP_sha384();
        *coord = 48;
        if (strcmp(ec_group(key), "secp384r1") == 0)
            return 0;
        break;
    case GOV_COSE_EDDSA:
        if (id == EVP_PKEY_ED25519)
            return 0;
        break;
    case GOV_COSE_PS256:
        *md = EVP_sha256();
        if ((id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) && EVP_PKEY_get_bits(key) >= 2048)
            return 0;
        break;
    }
    return ccr_err_set(EINVAL, "COSE: a %s key (%d bits) cannot make %s signatures",
                       EVP_PKEY_get0_type_name(key), EVP_PKEY_get_bits(key), name);
}

static int set_pss(EVP_PKEY_CTX *pctx)
{
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0;
}

/* r || s to the DER OpenSSL verifies. */
static int ecdsa_raw_to_der(const uint8_t *sig, size_t coord, uint8_t **der, size_t *der_len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)coord, NULL), *s = BN_bin2bn(sig + coord, (int)coord, NULL);
    unsigned char *p = NULL;
    int n;
    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return ENOMEM;
    }
    n = i2d_ECDSA_SIG(es, &p);
    ECDSA_SIG_free(es);
    if (n <= 0)
        return ENOMEM;
    *der = p;
    *der_len = (size_t)n;
    return 0;
}

int gov_cose_verify_raw(EVP_PKEY *key, int64_t alg, const void *tbs, size_t tbs_len, const void *sig,
                        size_t sig_len)
{
    const EVP_MD *md;
    size_t coord;
    EVP_MD_CTX *ctx;
    EVP_PKEY_CTX *pctx = NULL;
    uint8_t *der = NULL;
    const uint8_t *check = sig;
    size_t check_len = sig_len;
    int rc, ok;

    if ((rc = key_fits(key, alg, &md, &coord)) != 0)
        return rc;
    if (coord != 0) {
        if (sig_len != 2 * coord)
            return ccr_err_set(EBADMSG, "COSE: an %s signature is %zu bytes, not %zu", gov_cose_alg_name(alg),
                               sig_len, 2 * coord);
        if ((rc = ecdsa_raw_to_der(sig, coord, &der, &check_len)) != 0)
            return rc;
        check = der;
    }
    if ((ctx = EVP_MD_CTX_new()) == NULL) {
        OPENSSL_free(der);
        return ENOMEM;
    }
    ok = EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key) == 1 && (alg != GOV_COSE_PS256 || set_pss(pctx));
    if (!ok) {
        rc = ccr_err_set(EINVAL, "COSE: the key cannot verify %s signatures", gov_cose_alg_name(alg));
    } else if (EVP_DigestVerify(ctx, check, check_len, tbs, tbs_len) != 1) {
        rc = ccr_err_set(EBADMSG, "COSE: the %s signature does not verify", gov_cose_alg_name(alg));
    }
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return rc;
}

int gov_cose_verify_parsed(const struct gov_cose_sign1 *m, EVP_PKEY *key, const void *aad, size_t aad_len,
                           const void *detached_payload, size_t detached_len)
{
    const void *payload = m->payload;
    size_t plen = m->payload_len, tlen;
    uint8_t *tbs;
    int rc;

    if (m->detached != (detached_payload == NULL ? 0 : 1))
        return ccr_err_set(EINVAL, m->detached
                                       ? "COSE: the payload is detached and none was given"
                                       : "COSE: the payload is attached; a detached one was given too");
    if (m->detached) {
        payload = detached_payload;
        plen = detached_len;
    }
    if ((rc = gov_cose_sig_structure(m->protected_hdr, m->protected_len, aad, aad_len, payload, plen, &tbs,
                                     &tlen)) != 0)
        return rc;
    rc = gov_cose_verify_raw(key, m->alg, tbs, tlen, m->signature, m->signature_len);
    free(tbs);
    return rc;
}

int gov_cose_verify(const void *msg, size_t len, EVP_PKEY *key, const void *payload, size_t payload_len,
                    char **kid)
{
    struct gov_cose_sign1 m;
    int rc;

    if (kid != NULL)
        *kid = NULL;
    if ((rc = gov_cose_sign1_parse(msg, len, &m)) != 0)
        return rc;
    if (!m.detached && (m.payload_len != payload_len || CRYPTO_memcmp(m.payload, payload, payload_len) != 0))
        rc = ccr_err_set(EBADMSG, "COSE: the attached payload is not the bytes expected (%zu bytes, not %zu)",
                         m.payload_len, payload_len);
    else
        rc = gov_cose_verify_parsed(&m, key, NULL, 0, m.detached ? (payload ? payload : "") : NULL,
                                    m.detached ? payload_len : 0);
    if (rc == 0 && kid != NULL && m.kid != NULL) {
        *kid = (char *)m.kid;
        m.kid = NULL;
    }
    gov_cose_sign1_release(&m);
    return rc;
}

int gov_cose_verify_spki(const void *msg, size_t len, const void *spki, size_t spki_len, const void *payload,
                         size_t payload_len, char **kid)
{
    const unsigned char *p = spki;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)spki_len);
    int rc;
    if (key == NULL || p != (const unsigned char *)spki + spki_len) {
        EVP_PKEY_free(key);
        ERR_clear_error();
        return ccr_err_set(EINVAL, "COSE: the public key is not a DER SubjectPublicKeyInfo");
    }
    rc = gov_cose_verify(msg, len, key, payload, payload_len, kid);
    EVP_PKEY_free(key);
    return rc;
}

/* ---- making -------------------------------------------------------------------------------- */

static cbor_item_t *build_int(int64_t v)
{
    uint64_t u = v < 0 ? (uint64_t)(-1 - v) : (uint64_t)v;
    cbor_item_t *it =
        u <= UINT8_MAX    ? (v < 0 ? cbor_build_negint8((uint8_t)u) : cbor_build_uint8((uint8_t)u))
        : u <= UINT16_MAX ? (v < 0 ? cbor_build_negint16((uint16_t)u) : cbor_build_uint16((uint16_t)u))
        : u <= UINT32_MAX ? (v < 0 ? cbor_build_negint32((uint32_t)u) : cbor_build_uint32((uint32_t)u))
                          : (v < 0 ? cbor_build_negint64(u) : cbor_build_uint64(u));
    return it;
}

static bool map_put(cbor_item_t *map, cbor_item_t *k, cbor_item_t *v)
{
    bool ok = k != NULL && v != NULL && cbor_map_add(map, (struct cbor_pair){.key = k, .value = v});
    if (k != NULL)
        cbor_decref(&k);
    if (v != NULL)
        cbor_decref(&v);
    return ok;
}

static int raw_sign(EVP_PKEY *key, int64_t alg, const uint8_t *tbs, size_t tbs_len, uint8_t **sig,
                    size_t *sig_len)
{
    const EVP_MD *md;
    size_t coord, len = 0;
    EVP_MD_CTX *ctx;
    EVP_PKEY_CTX *pctx = NULL;
    uint8_t *buf = NULL;
    int rc;

    if ((rc = key_fits(key, alg, &md, &coord)) != 0)
        return rc;
    if ((ctx = EVP_MD_CTX_new()) == NULL)
        return ENOMEM;
    if (EVP_DigestSignInit(ctx, &pctx, md, NULL, key) != 1 || (alg == GOV_COSE_PS256 && !set_pss(pctx)) ||
        EVP_DigestSign(ctx, NULL, &len, tbs, tbs_len) != 1 || (buf = malloc(len)) == NULL ||
        EVP_DigestSign(ctx, buf, &len, tbs, tbs_len) != 1) {
        ERR_clear_error();
        EVP_MD_CTX_free(ctx);
        free(buf);
        return ccr_err_set(EIO, "COSE: making the %s signature failed", gov_cose_alg_name(alg));
    }
    EVP_MD_CTX_free(ctx);
    if (coord != 0) {
        /* OpenSSL writes DER; COSE wants r and s, each left-padded to the curve size. */
        const unsigned char *p = buf;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
        uint8_t *raw = malloc(2 * coord);
        int ok = es != NULL && raw != NULL &&
                 BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)coord) == (int)coord &&
                 BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + coord, (int)coord) == (int)coord;
        ECDSA_SIG_free(es);
        free(buf);
        if (!ok) {
            free(raw);
            return ccr_err_set(EIO, "COSE: converting the ECDSA signature failed");
        }
        buf = raw;
        len = 2 * coord;
    }
    *sig = buf;
    *sig_len = len;
    return 0;
}

int gov_cose_sign(EVP_PKEY *key, int64_t alg, const char *kid, const char *content_type, const void *payload,
                  size_t payload_len, int detached, uint8_t **out, size_t *out_len)
{
    cbor_item_t *prot = cbor_new_definite_map(3), *msg = NULL, *top = NULL;
    uint8_t *phdr = NULL, *tbs = NULL, *sig = NULL;
    size_t plen = 0, tlen = 0, slen = 0;
    const EVP_MD *md;
    size_t coord;
    int rc;

    if (prot == NULL)
        return ENOMEM;
    if ((rc = key_fits(key, alg, &md, &coord)) != 0)
        goto out;
    rc = ENOMEM;
    /* Keys in ascending order of their encodings (1, 3, 4): the deterministic form. */
    if (!map_put(prot, cbor_build_uint8(HDR_ALG), build_int(alg)) ||
        (content_type != NULL &&
         !map_put(prot, cbor_build_uint8(HDR_CTYPE), cbor_build_string(content_type))) ||
        (kid != NULL &&
         !map_put(prot, cbor_build_uint8(HDR_KID), cbor_build_bytestring((cbor_data)kid, strlen(kid)))))
        goto out;
    if ((rc = serialize(prot, &phdr, &plen)) != 0 ||
        (rc = gov_cose_sig_structure(phdr, plen, NULL, 0, payload, payload_len, &tbs, &tlen)) != 0 ||
        (rc = raw_sign(key, alg, tbs, tlen, &sig, &slen)) != 0)
        goto out;
    rc = ENOMEM;
    if ((msg = cbor_new_definite_array(4)) == NULL || !push(msg, cbor_build_bytestring(phdr, plen)) ||
        !push(msg, cbor_new_definite_map(0)) ||
        !push(msg, detached ? cbor_new_null() : cbor_build_bytestring(payload, payload_len)) ||
        !push(msg, cbor_build_bytestring(sig, slen)) || (top = cbor_build_tag(COSE_TAG_SIGN1, msg)) == NULL)
        goto out;
    rc = serialize(top, out, out_len);
out:
    if (top != NULL)
        cbor_decref(&top);
    if (msg != NULL)
        cbor_decref(&msg);
    cbor_decref(&prot);
    free(phdr);
    free(tbs);
    free(sig);
    return rc;
}

/* ---- base64 forms for contract signatures --------------------------------------------------- */

int gov_cose_verify_b64(const char *cose_b64, const char *spki_b64, const void *payload, size_t payload_len,
                        char **kid)
{
    uint8_t *msg = NULL, *spki = NULL;
    size_t mlen, slen;
    int rc;

    if (kid != NULL)
        *kid = NULL;
    if (ccr_b64_decode(cose_b64, strlen(cose_b64), &msg, &mlen, CCR_B64_STD) != 0)
        return ccr_err_set(EINVAL, "COSE: the signature is not standard base64");
    if (ccr_b64_decode(spki_b64, strlen(spki_b64), &spki, &slen, CCR_B64_STD) != 0) {
        free(msg);
        return ccr_err_set(EINVAL, "COSE: the public key is not standard base64");
    }
    rc = gov_cose_verify_spki(msg, mlen, spki, slen, payload, payload_len, kid);
    free(msg);
    free(spki);
    return rc;
}

int gov_cose_sign_file_b64(const char *key_path, const char *alg_name, const char *kid, const void *payload,
                           size_t payload_len, int detached, char **cose_b64)
{
    FILE *f = fopen(key_path, "r");
    EVP_PKEY *key;
    int64_t alg;
    uint8_t *msg = NULL;
    size_t len = 0;
    int rc;

    if (f == NULL)
        return ccr_err_set(errno, "%s: %s", key_path, strerror(errno));
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (key == NULL) {
        ERR_clear_error();
        return ccr_err_set(EINVAL, "%s: not a PEM private key", key_path);
    }
    rc = alg_name != NULL ? gov_cose_alg_from_name(alg_name, &alg) : gov_cose_alg_for_key(key, &alg);
    if (rc == 0)
        rc = gov_cose_sign(key, alg, kid, NULL, payload, payload_len, detached, &msg, &len);
    EVP_PKEY_free(key);
    if (rc != 0)
        return rc;
    if ((*cose_b64 = malloc(ccr_b64_encoded_size(len, CCR_B64_STD))) == NULL) {
        free(msg);
        return ENOMEM;
    }
    ccr_b64_encode(msg, len, *cose_b64, CCR_B64_STD);
    free(msg);
    return 0;
}
