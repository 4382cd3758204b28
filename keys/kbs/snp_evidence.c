/* The SNP evidence as Trustee's attester sends it and its verifier reads it (JSON), both ways. */
#include "keys/kbs/snp_evidence.h"
#include "common/bytes.h"
#include "common/err.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

/* The SNP report as the sev crate's serde renders it (field by field, byte arrays as arrays
 * of numbers), which is what Trustee's attester sends and its verifier reads. The table
 * covers all 1184 bytes, so decoding rebuilds the signed bytes exactly. */
enum field_kind { F_U8, F_U32, F_U64, F_BYTES, F_TCB, F_SIG };

static const struct report_field {
    const char *name;
    size_t off;
    enum field_kind kind;
    size_t len;
} report_fields[] = {
    {"version", 0x000, F_U32, 4},          {"guest_svn", 0x004, F_U32, 4},
    {"policy", 0x008, F_U64, 8},           {"family_id", 0x010, F_BYTES, 16},
    {"image_id", 0x020, F_BYTES, 16},      {"vmpl", 0x030, F_U32, 4},
    {"sig_algo", 0x034, F_U32, 4},         {"current_tcb", 0x038, F_TCB, 8},
    {"plat_info", 0x040, F_U64, 8},        {"_author_key_en", 0x048, F_U32, 4},
    {"_reserved_0", 0x04C, F_U32, 4},      {"report_data", 0x050, F_BYTES, 64},
    {"measurement", 0x090, F_BYTES, 48},   {"host_data", 0x0C0, F_BYTES, 32},
    {"id_key_digest", 0x0E0, F_BYTES, 48}, {"author_key_digest", 0x110, F_BYTES, 48},
    {"report_id", 0x140, F_BYTES, 32},     {"report_id_ma", 0x160, F_BYTES, 32},
    {"reported_tcb", 0x180, F_TCB, 8},     {"_reserved_1", 0x188, F_BYTES, 24},
    {"chip_id", 0x1A0, F_BYTES, 64},       {"committed_tcb", 0x1E0, F_TCB, 8},
    {"current_build", 0x1E8, F_U8, 1},     {"current_minor", 0x1E9, F_U8, 1},
    {"current_major", 0x1EA, F_U8, 1},     {"_reserved_2", 0x1EB, F_U8, 1},
    {"committed_build", 0x1EC, F_U8, 1},   {"committed_minor", 0x1ED, F_U8, 1},
    {"committed_major", 0x1EE, F_U8, 1},   {"_reserved_3", 0x1EF, F_U8, 1},
    {"launch_tcb", 0x1F0, F_TCB, 8},       {"_reserved_4", 0x1F8, F_BYTES, 168},
    {"signature", 0x2A0, F_SIG, 512},
};

static struct json_object *byte_array(const uint8_t *p, size_t len)
{
    struct json_object *a = json_object_new_array_ext((int)len);
    for (size_t i = 0; i < len; i++)
        json_object_array_add(a, json_object_new_int(p[i]));
    return a;
}

static struct json_object *tcb_object(const uint8_t *p)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "bootloader", json_object_new_int(p[0]));
    json_object_object_add(o, "tee", json_object_new_int(p[1]));
    json_object_object_add(o, "_reserved", byte_array(p + 2, 4));
    json_object_object_add(o, "snp", json_object_new_int(p[6]));
    json_object_object_add(o, "microcode", json_object_new_int(p[7]));
    return o;
}

struct json_object *keys_kbs_snp_report_json(const uint8_t report[KEYS_SNP_REPORT_LEN])
{
    struct json_object *o = json_object_new_object(), *sig;
    for (size_t i = 0; i < sizeof report_fields / sizeof report_fields[0]; i++) {
        const struct report_field *f = &report_fields[i];
        const uint8_t *p = report + f->off;
        struct json_object *v = NULL;
        switch (f->kind) {
        case F_U8:
            v = json_object_new_int(p[0]);
            break;
        case F_U32:
            v = json_object_new_int64(ccr_get_le32(p));
            break;
        case F_U64:
            v = json_object_new_uint64(ccr_get_le64(p));
            break;
        case F_BYTES:
            v = byte_array(p, f->len);
            break;
        case F_TCB:
            v = tcb_object(p);
            break;
        case F_SIG:
            sig = json_object_new_object();
            json_object_object_add(sig, "r", byte_array(p, 72));
            json_object_object_add(sig, "s", byte_array(p + 72, 72));
            json_object_object_add(sig, "_reserved", byte_array(p + 144, 512 - 144));
            v = sig;
            break;
        }
        json_object_object_add(o, f->name, v);
    }
    return o;
}

static int get_uint(struct json_object *o, const char *name, uint64_t max, uint64_t *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_int))
        return ccr_err_set(EINVAL, "\"%s\" is missing or not a number", name);
    /* json-c keeps large unsigned values as uint64 and negative ones as int64 */
    if (json_object_get_int64(v) < 0 && json_object_get_uint64(v) == 0)
        return ccr_err_set(EINVAL, "\"%s\" is negative", name);
    *out = json_object_get_uint64(v);
    if (*out > max)
        return ccr_err_set(EINVAL, "\"%s\" is %llu, above %llu", name, (unsigned long long)*out,
                           (unsigned long long)max);
    return 0;
}

static int get_bytes(struct json_object *o, const char *name, uint8_t *out, size_t len)
{
    struct json_object *a;
    if (!json_object_object_get_ex(o, name, &a) || !json_object_is_type(a, json_type_array))
        return ccr_err_set(EINVAL, "\"%s\" is missing or not an array", name);
    if (json_object_array_length(a) != len)
        return ccr_err_set(EINVAL, "\"%s\" holds %zu bytes, expected %zu", name, json_object_array_length(a),
                           len);
    for (size_t i = 0; i < len; i++) {
        struct json_object *b = json_object_array_get_idx(a, i);
        int64_t v = json_object_is_type(b, json_type_int) ? json_object_get_int64(b) : -1;
        if (v < 0 || v > 255)
            return ccr_err_set(EINVAL, "\"%s\"[%zu] is not a byte (0-255)", name, i);
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int get_tcb(struct json_object *o, const char *name, uint8_t *p)
{
    struct json_object *t;
    uint64_t v;
    int rc;
    if (!json_object_object_get_ex(o, name, &t) || !json_object_is_type(t, json_type_object))
        return ccr_err_set(EINVAL, "\"%s\" is missing or not an object", name);
    if ((rc = get_uint(t, "bootloader", 255, &v)) != 0)
        return ccr_err_wrap(rc, "%s: ", name);
    p[0] = (uint8_t)v;
    if ((rc = get_uint(t, "tee", 255, &v)) != 0)
        return ccr_err_wrap(rc, "%s: ", name);
    p[1] = (uint8_t)v;
    if ((rc = get_bytes(t, "_reserved", p + 2, 4)) != 0)
        return ccr_err_wrap(rc, "%s: ", name);
    if ((rc = get_uint(t, "snp", 255, &v)) != 0)
        return ccr_err_wrap(rc, "%s: ", name);
    p[6] = (uint8_t)v;
    if ((rc = get_uint(t, "microcode", 255, &v)) != 0)
        return ccr_err_wrap(rc, "%s: ", name);
    p[7] = (uint8_t)v;
    return 0;
}

int keys_kbs_snp_report_from_json(struct json_object *o, uint8_t report[KEYS_SNP_REPORT_LEN])
{
    if (!json_object_is_type(o, json_type_object))
        return ccr_err_set(EINVAL, "attestation_report: not an object");
    memset(report, 0, KEYS_SNP_REPORT_LEN);
    for (size_t i = 0; i < sizeof report_fields / sizeof report_fields[0]; i++) {
        const struct report_field *f = &report_fields[i];
        uint8_t *p = report + f->off;
        struct json_object *sig;
        uint64_t v;
        int rc = 0;
        switch (f->kind) {
        case F_U8:
            if ((rc = get_uint(o, f->name, 0xff, &v)) == 0)
                p[0] = (uint8_t)v;
            break;
        case F_U32:
            if ((rc = get_uint(o, f->name, 0xffffffffULL, &v)) == 0)
                ccr_put_le32(p, (uint32_t)v);
            break;
        case F_U64:
            if ((rc = get_uint(o, f->name, UINT64_MAX, &v)) == 0)
                ccr_put_le64(p, v);
            break;
        case F_BYTES:
            rc = get_bytes(o, f->name, p, f->len);
            break;
        case F_TCB:
            rc = get_tcb(o, f->name, p);
            break;
        case F_SIG:
            if (!json_object_object_get_ex(o, "signature", &sig) ||
                !json_object_is_type(sig, json_type_object)) {
                rc = ccr_err_set(EINVAL, "\"signature\" is missing or not an object");
                break;
            }
            if ((rc = get_bytes(sig, "r", p, 72)) != 0 || (rc = get_bytes(sig, "s", p + 72, 72)) != 0 ||
                (rc = get_bytes(sig, "_reserved", p + 144, 512 - 144)) != 0)
                rc = ccr_err_wrap(rc, "signature: ");
            break;
        }
        if (rc != 0)
            return ccr_err_wrap(rc, "attestation_report: ");
    }
    return 0;
}

struct json_object *keys_kbs_snp_evidence(const struct keys_evidence *ev)
{
    struct json_object *o = json_object_new_object(), *chain = json_object_new_array(), *entry;
    json_object_object_add(o, "attestation_report", keys_kbs_snp_report_json(ev->report));
    if (ev->vcek_der != NULL) {
        entry = json_object_new_object();
        json_object_object_add(entry, "cert_type", json_object_new_string("VCEK"));
        json_object_object_add(entry, "data", byte_array(ev->vcek_der, ev->vcek_len));
        json_object_array_add(chain, entry);
    }
    json_object_object_add(o, "cert_chain", chain);
    return o;
}

int keys_kbs_snp_evidence_parse(struct json_object *o, struct keys_snp_report *r, uint8_t **vcek_der,
                                size_t *vcek_len)
{
    struct json_object *rep, *chain;
    uint8_t raw[KEYS_SNP_REPORT_LEN];
    int rc;

    *vcek_der = NULL;
    if (!json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "attestation_report", &rep))
        return ccr_err_set(EINVAL, "SNP evidence: \"attestation_report\" is missing");
    if ((rc = keys_kbs_snp_report_from_json(rep, raw)) != 0)
        return ccr_err_wrap(rc, "SNP evidence: ");
    if ((rc = keys_snp_report_parse(raw, sizeof raw, r)) != 0)
        return rc;
    /* guest-components sends null when the host supplies no certificates; the verifier then
     * gets the VCEK elsewhere (a KDS), so no VCEK is not an error here. */
    if (!json_object_object_get_ex(o, "cert_chain", &chain) || json_object_is_type(chain, json_type_null))
        return 0;
    if (!json_object_is_type(chain, json_type_array))
        return ccr_err_set(EINVAL, "SNP evidence: \"cert_chain\" must be an array or null");
    for (size_t i = 0; i < json_object_array_length(chain); i++) {
        struct json_object *e = json_object_array_get_idx(chain, i), *t, *d;
        size_t n;
        if (!json_object_object_get_ex(e, "cert_type", &t) || !json_object_is_type(t, json_type_string) ||
            !json_object_object_get_ex(e, "data", &d) || !json_object_is_type(d, json_type_array))
            return ccr_err_set(
                EINVAL, "SNP evidence: cert_chain[%zu] needs \"cert_type\" and a \"data\" byte array", i);
        if (strcmp(json_object_get_string(t), "VCEK") != 0)
            continue;
        n = json_object_array_length(d);
        if (n == 0 || n > 16384)
            return ccr_err_set(EINVAL, "SNP evidence: cert_chain[%zu].data is %zu bytes", i, n);
        if ((*vcek_der = malloc(n)) == NULL)
            return ENOMEM;
        if ((rc = get_bytes(e, "data", *vcek_der, n)) != 0) {
            free(*vcek_der);
            *vcek_der = NULL;
            return ccr_err_wrap(rc, "SNP evidence: cert_chain[%zu]: ", i);
        }
        *vcek_len = n;
        return 0;
    }
    return 0;
}
