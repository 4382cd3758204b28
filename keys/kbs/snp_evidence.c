/* The SNP evidence as Trustee's verifier reads it and guest-components' attester sends it
 * (JSON), both ways. */
#include "keys/kbs/snp_evidence.h"
#include "common/bytes.h"
#include "common/err.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

/* The report as the sev crate (6.x and later, feature "serde") renders AttestationReport:
 * fields in declaration order, byte arrays as arrays of numbers, reserved bytes left out.
 * Decoding writes every field back at its offset over zeros, so the 1184 bytes come back
 * exactly when the reserved bytes were zero, as the firmware makes them. */
enum field_kind { F_U32, F_U64, F_BYTES, F_TCB, F_U8_OPT, F_VERSION, F_U64_OPT, F_SIG };

static const struct report_field {
    const char *name;
    size_t off;
    enum field_kind kind;
    size_t len;
} report_fields[] = {
    {"version", 0x000, F_U32, 4},
    {"guest_svn", 0x004, F_U32, 4},
    {"policy", 0x008, F_U64, 8},
    {"family_id", 0x010, F_BYTES, 16},
    {"image_id", 0x020, F_BYTES, 16},
    {"vmpl", 0x030, F_U32, 4},
    {"sig_algo", 0x034, F_U32, 4},
    {"current_tcb", 0x038, F_TCB, 8},
    {"plat_info", 0x040, F_U64, 8},
    {"key_info", 0x048, F_U32, 4},
    {"report_data", 0x050, F_BYTES, 64},
    {"measurement", 0x090, F_BYTES, 48},
    {"host_data", 0x0C0, F_BYTES, 32},
    {"id_key_digest", 0x0E0, F_BYTES, 48},
    {"author_key_digest", 0x110, F_BYTES, 48},
    {"report_id", 0x140, F_BYTES, 32},
    {"report_id_ma", 0x160, F_BYTES, 32},
    {"reported_tcb", 0x180, F_TCB, 8},
    {"cpuid_fam_id", 0x188, F_U8_OPT, 1},
    {"cpuid_mod_id", 0x189, F_U8_OPT, 1},
    {"cpuid_step", 0x18A, F_U8_OPT, 1},
    {"chip_id", 0x1A0, F_BYTES, 64},
    {"committed_tcb", 0x1E0, F_TCB, 8},
    {"current", 0x1E8, F_VERSION, 3},
    {"committed", 0x1EC, F_VERSION, 3},
    {"launch_tcb", 0x1F0, F_TCB, 8},
    {"launch_mit_vector", 0x1F8, F_U64_OPT, 8},
    {"current_mit_vector", 0x200, F_U64_OPT, 8},
    {"signature", 0x2A0, F_SIG, 2 * KEYS_SNP_SIG_COMPONENT},
};

static struct json_object *byte_array(const uint8_t *p, size_t len)
{
    struct json_object *a = json_object_new_array_ext((int)len);
    for (size_t i = 0; i < len; i++)
        json_object_array_add(a, json_object_new_int(p[i]));
    return a;
}

/* TcbVersion: {"fmc", "bootloader", "tee", "snp", "microcode"}, fmc null before Turin. */
static struct json_object *tcb_object(enum keys_snp_product product, const uint8_t *p)
{
    struct json_object *o = json_object_new_object();
    struct keys_snp_tcb t;
    keys_snp_tcb_decode_for(product, ccr_get_le64(p), &t);
    json_object_object_add(o, "fmc", product == KEYS_SNP_PRODUCT_TURIN ? json_object_new_int(t.fmc) : NULL);
    json_object_object_add(o, "bootloader", json_object_new_int(t.bootloader));
    json_object_object_add(o, "tee", json_object_new_int(t.tee));
    json_object_object_add(o, "snp", json_object_new_int(t.snp));
    json_object_object_add(o, "microcode", json_object_new_int(t.microcode));
    return o;
}

/* The product whose TCB layout the binary report uses: its CPUID fields from version 3; a
 * version 2 report has none and is read in the Milan/Genoa layout, as every version 2
 * report AMD firmware produced (Milan, Genoa) uses it. */
static enum keys_snp_product binary_product(const uint8_t *report)
{
    if (ccr_get_le32(report) < 3)
        return KEYS_SNP_PRODUCT_UNKNOWN;
    return keys_snp_product_from_cpuid(report[KEYS_SNP_OFF_CPUID_FAM_ID], report[KEYS_SNP_OFF_CPUID_MOD_ID]);
}

struct json_object *keys_kbs_snp_report_json(const uint8_t report[KEYS_SNP_REPORT_LEN])
{
    struct json_object *o = json_object_new_object(), *v;
    enum keys_snp_product product = binary_product(report);
    uint32_t version = ccr_get_le32(report);

    for (size_t i = 0; i < sizeof report_fields / sizeof report_fields[0]; i++) {
        const struct report_field *f = &report_fields[i];
        const uint8_t *p = report + f->off;
        switch (f->kind) {
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
            v = tcb_object(product, p);
            break;
        case F_U8_OPT:
            v = version >= 3 ? json_object_new_int(p[0]) : NULL;
            break;
        case F_VERSION: /* stored build, minor, major */
            v = json_object_new_object();
            json_object_object_add(v, "major", json_object_new_int(p[2]));
            json_object_object_add(v, "minor", json_object_new_int(p[1]));
            json_object_object_add(v, "build", json_object_new_int(p[0]));
            break;
        case F_U64_OPT:
            v = version >= 5 ? json_object_new_uint64(ccr_get_le64(p)) : NULL;
            break;
        case F_SIG:
        default:
            v = json_object_new_object();
            json_object_object_add(v, "r", byte_array(p, KEYS_SNP_SIG_COMPONENT));
            json_object_object_add(v, "s", byte_array(p + KEYS_SNP_SIG_COMPONENT, KEYS_SNP_SIG_COMPONENT));
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

/* An Option<_> of the sev crate: absent or null is None (*present = 0). */
static int get_uint_opt(struct json_object *o, const char *name, uint64_t max, uint64_t *out, int *present)
{
    struct json_object *v;
    *present = 0;
    if (!json_object_object_get_ex(o, name, &v) || json_object_is_type(v, json_type_null))
        return 0;
    *present = 1;
    return get_uint(o, name, max, out);
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

static int get_object(struct json_object *o, const char *name, struct json_object **out)
{
    if (!json_object_object_get_ex(o, name, out) || !json_object_is_type(*out, json_type_object))
        return ccr_err_set(EINVAL, "\"%s\" is missing or not an object", name);
    return 0;
}

static int get_tcb(struct json_object *o, const char *name, enum keys_snp_product product, uint8_t *p)
{
    static const char *const parts[] = {"bootloader", "tee", "snp", "microcode"};
    struct json_object *t;
    struct keys_snp_tcb tcb = {0};
    uint8_t *dst[] = {&tcb.bootloader, &tcb.tee, &tcb.snp, &tcb.microcode};
    uint64_t v;
    int rc, has_fmc;

    if ((rc = get_object(o, name, &t)) != 0)
        return rc;
    for (size_t i = 0; i < 4; i++) {
        if ((rc = get_uint(t, parts[i], 255, &v)) != 0)
            return ccr_err_wrap(rc, "%s: ", name);
        *dst[i] = (uint8_t)v;
    }
    if ((rc = get_uint_opt(t, "fmc", 255, &v, &has_fmc)) != 0)
        return ccr_err_wrap(rc, "%s: ", name);
    if (product == KEYS_SNP_PRODUCT_TURIN && !has_fmc)
        return ccr_err_set(EINVAL, "%s: \"fmc\" is null, but a Turin TCB has one", name);
    if (product != KEYS_SNP_PRODUCT_TURIN && has_fmc)
        return ccr_err_set(EINVAL, "%s: \"fmc\" is set, but only a Turin TCB has one (this report is %s)",
                           name,
                           product == KEYS_SNP_PRODUCT_UNKNOWN ? "in the Milan/Genoa layout"
                                                               : keys_snp_product_name(product));
    tcb.fmc = (uint8_t)v;
    ccr_put_le64(p, keys_snp_tcb_encode_for(product, &tcb));
    return 0;
}

/* The product whose TCB layout the JSON report needs: from its CPUID fields, else (version
 * 2) Turin only when its reported TCB carries an FMC. */
static int json_product(struct json_object *o, enum keys_snp_product *out)
{
    struct json_object *t, *fmc;
    uint64_t fam, mod, version;
    int has_fam, has_mod, rc;

    if ((rc = get_uint(o, "version", 0xffffffffULL, &version)) != 0 ||
        (rc = get_uint_opt(o, "cpuid_fam_id", 255, &fam, &has_fam)) != 0 ||
        (rc = get_uint_opt(o, "cpuid_mod_id", 255, &mod, &has_mod)) != 0)
        return rc;
    /* An unknown product or missing CPUID fields leave the Milan/Genoa layout: the report
     * parser then names what is wrong (the version, or the CPUID fields). */
    if (has_fam && has_mod) {
        *out = keys_snp_product_from_cpuid((uint8_t)fam, (uint8_t)mod);
        return 0;
    }
    if (version >= 3) {
        *out = KEYS_SNP_PRODUCT_UNKNOWN;
        return 0;
    }
    *out = KEYS_SNP_PRODUCT_UNKNOWN;
    if (json_object_object_get_ex(o, "reported_tcb", &t) && json_object_is_type(t, json_type_object) &&
        json_object_object_get_ex(t, "fmc", &fmc) && !json_object_is_type(fmc, json_type_null))
        *out = KEYS_SNP_PRODUCT_TURIN;
    return 0;
}

static int decode_field(struct json_object *o, const struct report_field *f, enum keys_snp_product product,
                        uint8_t *p)
{
    static const char *const vparts[] = {"build", "minor", "major"};
    struct json_object *sub;
    uint64_t v;
    int rc, present;

    switch (f->kind) {
    case F_U32:
        if ((rc = get_uint(o, f->name, 0xffffffffULL, &v)) == 0)
            ccr_put_le32(p, (uint32_t)v);
        return rc;
    case F_U64:
        if ((rc = get_uint(o, f->name, UINT64_MAX, &v)) == 0)
            ccr_put_le64(p, v);
        return rc;
    case F_BYTES:
        return get_bytes(o, f->name, p, f->len);
    case F_TCB:
        return get_tcb(o, f->name, product, p);
    case F_U8_OPT:
        if ((rc = get_uint_opt(o, f->name, 255, &v, &present)) == 0 && present)
            p[0] = (uint8_t)v;
        return rc;
    case F_VERSION:
        if ((rc = get_object(o, f->name, &sub)) != 0)
            return rc;
        for (size_t i = 0; i < 3; i++) {
            if ((rc = get_uint(sub, vparts[i], 255, &v)) != 0)
                return ccr_err_wrap(rc, "%s: ", f->name);
            p[i] = (uint8_t)v;
        }
        return 0;
    case F_U64_OPT: /* absent in what sev 6.0-6.2 wrote */
        if ((rc = get_uint_opt(o, f->name, UINT64_MAX, &v, &present)) == 0 && present)
            ccr_put_le64(p, v);
        return rc;
    case F_SIG:
    default:
        if ((rc = get_object(o, f->name, &sub)) != 0)
            return rc;
        if ((rc = get_bytes(sub, "r", p, KEYS_SNP_SIG_COMPONENT)) != 0 ||
            (rc = get_bytes(sub, "s", p + KEYS_SNP_SIG_COMPONENT, KEYS_SNP_SIG_COMPONENT)) != 0)
            return ccr_err_wrap(rc, "signature: ");
        return 0;
    }
}

int keys_kbs_snp_report_from_json(struct json_object *o, uint8_t report[KEYS_SNP_REPORT_LEN])
{
    enum keys_snp_product product;
    int rc;

    if (!json_object_is_type(o, json_type_object))
        return ccr_err_set(EINVAL, "attestation_report: not an object");
    memset(report, 0, KEYS_SNP_REPORT_LEN);
    if ((rc = json_product(o, &product)) != 0)
        return ccr_err_wrap(rc, "attestation_report: ");
    for (size_t i = 0; i < sizeof report_fields / sizeof report_fields[0]; i++) {
        const struct report_field *f = &report_fields[i];
        if ((rc = decode_field(o, f, product, report + f->off)) != 0)
            return ccr_err_wrap(rc, "attestation_report: ");
    }
    return 0;
}

struct json_object *keys_kbs_snp_evidence(const struct keys_evidence *ev)
{
    struct json_object *o = json_object_new_object(), *chain = NULL, *entry;
    /* KEY_INFO bits 4:2 say which key signed: its certificate goes as that type. */
    int vlek = ((ccr_get_le32(ev->report + KEYS_SNP_OFF_KEY_INFO) >> 2) & 7) == KEYS_SNP_KEY_VLEK;

    json_object_object_add(o, "attestation_report", keys_kbs_snp_report_json(ev->report));
    if (ev->vcek_der != NULL) {
        chain = json_object_new_array();
        entry = json_object_new_object();
        json_object_object_add(entry, "cert_type", json_object_new_string(vlek ? "VLEK" : "VCEK"));
        json_object_object_add(entry, "data", byte_array(ev->vcek_der, ev->vcek_len));
        json_object_array_add(chain, entry);
    }
    /* null, not [], without a certificate: Trustee refuses a chain without a VCEK/VLEK but
     * fetches one from AMD's KDS for null. */
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
    /* The first VCEK or VLEK, as Trustee's verifier takes it; ARK, ASK, CRL, Empty and
     * {"OTHER": uuid} entries are skipped (the roots are this side's choice). */
    for (size_t i = 0; i < json_object_array_length(chain); i++) {
        struct json_object *e = json_object_array_get_idx(chain, i), *t, *d;
        const char *type;
        size_t n;
        if (!json_object_object_get_ex(e, "cert_type", &t) ||
            !(json_object_is_type(t, json_type_string) || json_object_is_type(t, json_type_object)) ||
            !json_object_object_get_ex(e, "data", &d) || !json_object_is_type(d, json_type_array))
            return ccr_err_set(
                EINVAL, "SNP evidence: cert_chain[%zu] needs \"cert_type\" and a \"data\" byte array", i);
        type = json_object_is_type(t, json_type_string) ? json_object_get_string(t) : "";
        if (strcmp(type, "VCEK") != 0 && strcmp(type, "VLEK") != 0)
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
