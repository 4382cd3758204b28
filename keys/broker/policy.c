/* Release policy parsing and evaluation. */
#include "keys/broker/policy.h"
#include "common/err.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define POLICY_MAX_DEPTH 8

struct keys_policy {
    struct json_object *root;
};

/* CLAIM_NAME: one of a fixed set of words, compared exactly; CLAIM_VERSION: "major.minor.build";
 * CLAIM_TEXT: any string, compared exactly; CLAIM_LISTED: holds when the claim (an array of
 * strings) lists the value; CLAIM_DATASET: holds when the claim (init-data's datasets) has an
 * entry of that id ("sha256:...") or of that {"id", "mode"}. */
enum claim_type {
    CLAIM_HEX,
    CLAIM_BOOL,
    CLAIM_INT,
    CLAIM_NAME,
    CLAIM_VERSION,
    CLAIM_TEXT,
    CLAIM_LISTED,
    CLAIM_DATASET
};

static const struct {
    const char *name;
    enum claim_type type;
} known_claims[] = {
    {"measurement", CLAIM_HEX},
    {"host_data", CLAIM_HEX},
    {"report_data", CLAIM_HEX},
    {"chip_id", CLAIM_HEX},
    {"family_id", CLAIM_HEX},
    {"image_id", CLAIM_HEX},
    {"debug", CLAIM_BOOL},
    {"migrate_ma", CLAIM_BOOL},
    {"smt", CLAIM_BOOL},
    {"vmpl", CLAIM_INT},
    {"version", CLAIM_INT},
    {"guest_svn", CLAIM_INT},
    {"policy", CLAIM_INT},
    {"reported_tcb_bootloader", CLAIM_INT},
    {"reported_tcb_tee", CLAIM_INT},
    {"reported_tcb_snp", CLAIM_INT},
    {"reported_tcb_microcode", CLAIM_INT},
    {"reported_tcb_fmc", CLAIM_INT},
    {"product", CLAIM_NAME},
    {"signing_key", CLAIM_NAME},
    {"current_firmware", CLAIM_VERSION},
    /* from the init-data whose digest the evidence bound (keys/broker/initdata_claims.h) */
    {"init_data.digest", CLAIM_HEX},
    {"init_data.ccrfs.contract", CLAIM_TEXT},
    {"init_data.ccrfs.governance", CLAIM_TEXT},
    {"init_data.ccrfs.governanceApi", CLAIM_TEXT},
    {"init_data.ccrfs.broker", CLAIM_TEXT},
    {"init_data.ccrfs.resources", CLAIM_LISTED},
    {"init_data.ccrfs.datasets", CLAIM_DATASET},
};

/* The values a CLAIM_NAME claim can take, as keys_snp_claims_verified writes them: a
 * misspelt value is refused when the policy is set, not silently never matched. */
static const struct {
    const char *claim, *values[4];
} claim_words[] = {
    {"product", {"Milan", "Genoa", "Turin", NULL}},
    {"signing_key", {"VCEK", "VLEK", NULL}},
};

static int name_allowed(const char *claim, const char *value, char *list, size_t list_len)
{
    list[0] = '\0';
    for (size_t i = 0; i < sizeof claim_words / sizeof claim_words[0]; i++) {
        if (strcmp(claim_words[i].claim, claim) != 0)
            continue;
        for (size_t j = 0; claim_words[i].values[j] != NULL; j++) {
            if (strcmp(claim_words[i].values[j], value) == 0)
                return 1;
            snprintf(list + strlen(list), list_len - strlen(list), "%s%s", j ? ", " : "",
                     claim_words[i].values[j]);
        }
    }
    return 0;
}

/* "major.minor.build", each 0-255 in decimal without a sign or leading zeros. */
static int version_valid(const char *v)
{
    for (int part = 0; part < 3; part++) {
        unsigned n = 0;
        size_t digits = 0;
        while (v[digits] >= '0' && v[digits] <= '9' && digits < 4)
            n = n * 10 + (unsigned)(v[digits++] - '0');
        if (digits == 0 || digits > 3 || n > 255 || (digits > 1 && v[0] == '0'))
            return 0;
        v += digits;
        if (part < 2 && *v++ != '.')
            return 0;
    }
    return *v == '\0';
}

static int claim_type(const char *name, enum claim_type *t)
{
    for (size_t i = 0; i < sizeof known_claims / sizeof known_claims[0]; i++)
        if (strcmp(known_claims[i].name, name) == 0) {
            *t = known_claims[i].type;
            return 0;
        }
    return ENOENT;
}

/* A dataset condition's value: "sha256:..." or {"id": "sha256:...", "mode": MODE}. */
static int check_dataset_value(struct json_object *eq, const char *where)
{
    struct json_object *id = eq, *mode = NULL;
    if (json_object_is_type(eq, json_type_object)) {
        json_object_object_foreach(eq, key, val)
        {
            (void)val;
            if (strcmp(key, "id") != 0 && strcmp(key, "mode") != 0)
                return ccr_err_set(EINVAL, "policy: %s: a dataset holds only \"id\" and \"mode\", not \"%s\"",
                                   where, key);
        }
        if (!json_object_object_get_ex(eq, "id", &id))
            return ccr_err_set(EINVAL, "policy: %s: a dataset needs an \"id\"", where);
        json_object_object_get_ex(eq, "mode", &mode);
    }
    if (!json_object_is_type(id, json_type_string) || json_object_get_string_len(id) != 71 ||
        strncmp(json_object_get_string(id), "sha256:", 7) != 0 ||
        strspn(json_object_get_string(id) + 7, "0123456789abcdef") != 64)
        return ccr_err_set(
            EINVAL,
            "policy: %s: 'init_data.ccrfs.datasets' must equal a dataset id (\"sha256:\" and 64 "
            "lowercase hex digits) or {\"id\", \"mode\"}",
            where);
    if (mode != NULL && (!json_object_is_type(mode, json_type_string) ||
                         (strcmp(json_object_get_string(mode), "read-only") != 0 &&
                          strcmp(json_object_get_string(mode), "no-egress") != 0 &&
                          strcmp(json_object_get_string(mode), "sink") != 0)))
        return ccr_err_set(EINVAL, "policy: %s: a dataset's \"mode\" is read-only, no-egress or sink", where);
    return 0;
}

static int check_node(struct json_object *n, const char *where, int depth, int is_root)
{
    struct json_object *claim = NULL, *eq = NULL, *list = NULL;
    const char *list_name = NULL;
    int have_any, have_all;
    enum claim_type t;

    if (depth > POLICY_MAX_DEPTH)
        return ccr_err_set(EINVAL, "policy: %s: nested deeper than %d levels", where, POLICY_MAX_DEPTH);
    if (!json_object_is_type(n, json_type_object))
        return ccr_err_set(EINVAL, "policy: %s: expected an object", where);
    json_object_object_foreach(n, key, val)
    {
        (void)val;
        if (strcmp(key, "claim") && strcmp(key, "equals") && strcmp(key, "anyOf") && strcmp(key, "allOf") &&
            strcmp(key, "authority") && !(is_root && strcmp(key, "version") == 0))
            return ccr_err_set(EINVAL, "policy: %s: unknown member \"%s\"", where, key);
    }
    if (is_root && json_object_object_get_ex(n, "version", &eq) &&
        (!json_object_is_type(eq, json_type_string) || strcmp(json_object_get_string(eq), "1.0.0") != 0))
        return ccr_err_set(EINVAL, "policy: \"version\" must be \"1.0.0\"");
    have_any = json_object_object_get_ex(n, "anyOf", &list);
    if (have_any)
        list_name = "anyOf";
    have_all = json_object_object_get_ex(n, "allOf", have_any ? &eq : &list);
    if (have_all && !have_any)
        list_name = "allOf";
    if (json_object_object_get_ex(n, "claim", &claim)) {
        if (have_any || have_all || is_root)
            return ccr_err_set(EINVAL, "policy: %s: a condition (\"claim\") cannot also hold anyOf/allOf%s",
                               where, is_root ? " or be the root" : "");
        if (!json_object_is_type(claim, json_type_string))
            return ccr_err_set(EINVAL, "policy: %s: \"claim\" must be a string", where);
        if (claim_type(json_object_get_string(claim), &t) != 0)
            return ccr_err_set(
                EINVAL,
                "policy: %s: unknown claim '%s' (measurement, host_data, report_data, chip_id, "
                "family_id, image_id, debug, migrate_ma, smt, vmpl, version, guest_svn, policy, "
                "reported_tcb_bootloader|tee|snp|microcode|fmc, product, signing_key, current_firmware, "
                "init_data.digest, "
                "init_data.ccrfs.contract|governance|governanceApi|broker|resources|datasets)",
                where, json_object_get_string(claim));
        if (!json_object_object_get_ex(n, "equals", &eq))
            return ccr_err_set(EINVAL, "policy: %s: condition on '%s' has no \"equals\"", where,
                               json_object_get_string(claim));
        if (t == CLAIM_DATASET)
            return check_dataset_value(eq, where);
        if (((t == CLAIM_HEX || t == CLAIM_NAME || t == CLAIM_VERSION || t == CLAIM_TEXT ||
              t == CLAIM_LISTED) &&
             !json_object_is_type(eq, json_type_string)) ||
            (t == CLAIM_BOOL && !json_object_is_type(eq, json_type_boolean)) ||
            (t == CLAIM_INT && !json_object_is_type(eq, json_type_int)))
            return ccr_err_set(EINVAL, "policy: %s: '%s' must equal a %s", where,
                               json_object_get_string(claim),
                               t == CLAIM_HEX                                            ? "hex string"
                               : t == CLAIM_NAME || t == CLAIM_TEXT || t == CLAIM_LISTED ? "string"
                               : t == CLAIM_VERSION ? "string \"major.minor.build\""
                               : t == CLAIM_BOOL    ? "boolean"
                                                    : "number");
        if (t == CLAIM_NAME) {
            char words[64];
            if (!name_allowed(json_object_get_string(claim), json_object_get_string(eq), words, sizeof words))
                return ccr_err_set(EINVAL, "policy: %s: '%s' cannot be \"%.64s\" (one of %s)", where,
                                   json_object_get_string(claim), json_object_get_string(eq), words);
        }
        if (t == CLAIM_VERSION && !version_valid(json_object_get_string(eq)))
            return ccr_err_set(
                EINVAL, "policy: %s: '%s' must be \"major.minor.build\" (numbers 0-255), not \"%.64s\"",
                where, json_object_get_string(claim), json_object_get_string(eq));
        return 0;
    }
    if (json_object_object_get_ex(n, "equals", &eq))
        return ccr_err_set(EINVAL, "policy: %s: \"equals\" without \"claim\"", where);
    if (have_any && have_all)
        return ccr_err_set(EINVAL, "policy: %s: holds both anyOf and allOf; nest one inside the other",
                           where);
    if (!have_any && !have_all)
        return ccr_err_set(EINVAL, "policy: %s: needs \"anyOf\" or \"allOf\" (or be a \"claim\" condition)",
                           where);
    if (json_object_object_get_ex(n, "authority", &eq) && !json_object_is_type(eq, json_type_string))
        return ccr_err_set(EINVAL, "policy: %s: \"authority\" must be a string", where);
    if (!json_object_is_type(list, json_type_array) || json_object_array_length(list) == 0)
        return ccr_err_set(EINVAL, "policy: %s: \"%s\" must be a non-empty array", where, list_name);
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        char sub[256];
        int rc;
        snprintf(sub, sizeof sub, "%s%s%s[%zu]", is_root ? "" : where, is_root ? "" : ".", list_name, i);
        if ((rc = check_node(json_object_array_get_idx(list, i), sub, depth + 1, 0)) != 0)
            return rc;
    }
    return 0;
}

int keys_policy_parse(const char *text, size_t len, struct keys_policy **out)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *root;
    enum json_tokener_error jerr;
    int rc;

    *out = NULL;
    if (tok == NULL)
        return ENOMEM;
    root = json_tokener_parse_ex(tok, text, (int)len);
    jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    int trailing = 0;
    for (size_t i = end; i < len; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' && text[i] != '\n' && text[i] != '\0')
            trailing = 1;
    if (root == NULL || jerr != json_tokener_success || trailing) {
        rc = ccr_err_set(EINVAL, "policy: not valid JSON (%s at offset %zu)",
                         root == NULL ? json_tokener_error_desc(jerr) : "trailing data",
                         json_tokener_get_parse_end(tok));
        json_tokener_free(tok);
        json_object_put(root);
        return rc;
    }
    json_tokener_free(tok);
    if ((rc = check_node(root, "root", 0, 1)) != 0) {
        json_object_put(root);
        return rc;
    }
    *out = calloc(1, sizeof **out);
    if (*out == NULL) {
        json_object_put(root);
        return ENOMEM;
    }
    (*out)->root = root;
    return 0;
}

const char *keys_policy_text(const struct keys_policy *p)
{
    return json_object_to_json_string_ext(p->root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* A claim by name; a dotted name walks into objects ("init_data.ccrfs.contract"). */
static int claim_lookup(struct json_object *claims, const char *name, struct json_object **out)
{
    char part[64];
    const char *p = name;
    struct json_object *cur = claims;

    while (cur != NULL) {
        size_t n = strcspn(p, ".");
        if (n >= sizeof part || !json_object_is_type(cur, json_type_object))
            return 0;
        memcpy(part, p, n);
        part[n] = '\0';
        if (!json_object_object_get_ex(cur, part, &cur))
            return 0;
        if (p[n] == '\0') {
            *out = cur;
            return 1;
        }
        p += n + 1;
    }
    return 0;
}

/* Whether an array claim lists the value: a string equal to it, or (datasets) an entry whose
 * id, and mode when the value names one, are the value's. */
static int lists(struct json_object *have, struct json_object *eq, int datasets)
{
    struct json_object *want_id = eq, *want_mode = NULL, *id, *mode;

    if (!json_object_is_type(have, json_type_array))
        return 0;
    if (datasets && json_object_is_type(eq, json_type_object)) {
        json_object_object_get_ex(eq, "id", &want_id);
        json_object_object_get_ex(eq, "mode", &want_mode);
    }
    for (size_t i = 0; i < json_object_array_length(have); i++) {
        struct json_object *e = json_object_array_get_idx(have, i);
        if (!datasets) {
            if (json_object_is_type(e, json_type_string) &&
                strcmp(json_object_get_string(e), json_object_get_string(eq)) == 0)
                return 1;
            continue;
        }
        if (!json_object_object_get_ex(e, "id", &id) || !json_object_is_type(id, json_type_string) ||
            strcmp(json_object_get_string(id), json_object_get_string(want_id)) != 0)
            continue;
        if (want_mode == NULL ||
            (json_object_object_get_ex(e, "mode", &mode) && json_object_is_type(mode, json_type_string) &&
             strcmp(json_object_get_string(mode), json_object_get_string(want_mode)) == 0))
            return 1;
    }
    return 0;
}

static int eval_node(struct json_object *n, struct json_object *claims, char *reason, size_t rlen)
{
    struct json_object *claim, *eq, *have, *list;
    enum claim_type t = CLAIM_HEX;
    const char *name;
    int match;

    if (json_object_object_get_ex(n, "claim", &claim)) {
        name = json_object_get_string(claim);
        json_object_object_get_ex(n, "equals", &eq);
        claim_type(name, &t);
        if (!claim_lookup(claims, name, &have)) {
            snprintf(reason, rlen, "claim %s is absent from the evidence", name);
            return 0;
        }
        if (t == CLAIM_HEX)
            match = strcasecmp(json_object_get_string(have), json_object_get_string(eq)) == 0;
        else if (t == CLAIM_NAME || t == CLAIM_VERSION || t == CLAIM_TEXT)
            match = json_object_is_type(have, json_type_string) &&
                    strcmp(json_object_get_string(have), json_object_get_string(eq)) == 0;
        else if (t == CLAIM_LISTED || t == CLAIM_DATASET) {
            match = lists(have, eq, t == CLAIM_DATASET);
            if (!match)
                snprintf(reason, rlen, "claim %s does not list %s", name,
                         json_object_to_json_string_ext(eq, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE));
            return match;
        } else if (t == CLAIM_BOOL)
            match = json_object_get_boolean(have) == json_object_get_boolean(eq);
        else
            match = json_object_get_int64(have) == json_object_get_int64(eq);
        if (!match)
            snprintf(reason, rlen, "claim %s is %s, the policy requires %s", name,
                     json_object_get_string(have), json_object_get_string(eq));
        return match;
    }
    if (json_object_object_get_ex(n, "allOf", &list)) {
        for (size_t i = 0; i < json_object_array_length(list); i++)
            if (!eval_node(json_object_array_get_idx(list, i), claims, reason, rlen))
                return 0;
        return 1;
    }
    json_object_object_get_ex(n, "anyOf", &list);
    {
        char first[512] = "";
        size_t count = json_object_array_length(list);
        for (size_t i = 0; i < count; i++) {
            if (eval_node(json_object_array_get_idx(list, i), claims, reason, rlen))
                return 1;
            if (i == 0)
                snprintf(first, sizeof first, "%s", reason);
        }
        if (count > 1)
            snprintf(reason, rlen, "none of %zu alternatives holds (first: %s)", count, first);
        else
            snprintf(reason, rlen, "%s", first);
        return 0;
    }
}

int keys_policy_eval(const struct keys_policy *p, struct json_object *claims, char *reason, size_t reason_len)
{
    reason[0] = '\0';
    if (eval_node(p->root, claims, reason, reason_len))
        return 0;
    return EACCES;
}

void keys_policy_free(struct keys_policy *p)
{
    if (p == NULL)
        return;
    json_object_put(p->root);
    free(p);
}
