/* Governance mount options (see gov_config_option in gov.h). */
#include "common/err.h"
#include "governance/gov.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int parse_u64(const char *key, const char *v, uint64_t min, uint64_t max, int sizes, uint64_t *out)
{
    char *end;
    unsigned long long x;
    uint64_t mult = 1;

    if (v == NULL || !isdigit((unsigned char)v[0]))
        return ccr_err_set(EINVAL, "option %s needs a number", key);
    errno = 0;
    x = strtoull(v, &end, 10);
    if (sizes && *end != '\0' && end[1] == '\0') {
        switch (*end) {
        case 'K':
        case 'k':
            mult = 1ULL << 10;
            end++;
            break;
        case 'M':
        case 'm':
            mult = 1ULL << 20;
            end++;
            break;
        case 'G':
        case 'g':
            mult = 1ULL << 30;
            end++;
            break;
        default:
            break;
        }
    }
    if (errno != 0 || *end != '\0' || x > max / mult || x * mult < min || x * mult > max)
        return ccr_err_set(EINVAL, "option %s=%s: expected a number from %llu to %llu%s", key, v,
                           (unsigned long long)min, (unsigned long long)max,
                           sizes ? " (K, M, G allowed)" : "");
    *out = x * mult;
    return 0;
}

static int need_value(const char *key, const char *value)
{
    if (value == NULL || value[0] == '\0')
        return ccr_err_set(EINVAL, "option %s needs a value", key);
    return 0;
}

int gov_config_option(struct gov_config *cfg, const char *key, const char *value)
{
    static const struct {
        const char *key;
        size_t off;
    } strs[] = {
        {"audit_log", offsetof(struct gov_config, audit_log)},
        {"governance", offsetof(struct gov_config, governance_url)},
        {"gov_token_file", offsetof(struct gov_config, token_file)},
        {"contract", offsetof(struct gov_config, contract_id)},
        {"gov_scope", offsetof(struct gov_config, scope)},
        {"spool", offsetof(struct gov_config, spool_dir)},
        {"audit_key", offsetof(struct gov_config, signing_key_file)},
        {"gov_stream_id", offsetof(struct gov_config, stream_id)},
        {"gov_path_prefix", offsetof(struct gov_config, api_path_prefix)},
    };
    uint64_t n;
    int rc;

    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (strcmp(key, strs[i].key) == 0) {
            if ((rc = need_value(key, value)) != 0)
                return rc;
            *(const char **)((char *)cfg + strs[i].off) = value;
            return 0;
        }
    }
    if (strcmp(key, "governance_optional") == 0) {
        if (value != NULL)
            return ccr_err_set(EINVAL, "option governance_optional takes no value");
        cfg->governance_optional = 1;
        return 0;
    }
    if (strcmp(key, "governance_api") == 0) {
        if ((rc = need_value(key, value)) != 0)
            return rc;
        if (strcmp(value, "acr") != 0 && strcmp(value, "ccrfs") != 0)
            return ccr_err_set(EINVAL, "option governance_api=%s: expected acr or ccrfs", value);
        cfg->governance_api = value;
        return 0;
    }
    if (strcmp(key, "gov_consent_query") == 0) {
        if (value != NULL)
            return ccr_err_set(EINVAL, "option gov_consent_query takes no value");
        cfg->consent_query = 1;
        return 0;
    }
    if (strcmp(key, "gov_batch_bytes") == 0) {
        /* CCF refuses request bodies over 1 MB; the sidecar sends the batch base64-encoded. */
        if ((rc = parse_u64(key, value, 16 * 1024, 1024 * 1024, 1, &n)) != 0)
            return rc;
        cfg->batch_bytes = n;
        return 0;
    }
    if (strcmp(key, "gov_inflight") == 0) {
        if ((rc = parse_u64(key, value, 1, GOV_ACR_INFLIGHT_MAX, 0, &n)) != 0)
            return rc;
        cfg->inflight = (unsigned)n;
        return 0;
    }
    if (strcmp(key, "audit_full") == 0 || strcmp(key, "audit_compact") == 0) {
        if (value != NULL)
            return ccr_err_set(EINVAL, "option %s takes no value", key);
        /* audit_compact: the default now, still accepted so older command lines keep working. */
        if (strcmp(key, "audit_full") == 0)
            cfg->full_access = 1;
        return 0;
    }
    if (strcmp(key, "audit_log_max_bytes") == 0) {
        if ((rc = parse_u64(key, value, 4096, 1ULL << 40, 1, &n)) != 0)
            return rc;
        cfg->audit_log_max_bytes = n;
        return 0;
    }
    if (strcmp(key, "audit_log_max_age") == 0) {
        if ((rc = parse_u64(key, value, 1, 366ULL * 86400, 0, &n)) != 0)
            return rc;
        cfg->audit_log_max_age_s = (unsigned)n;
        return 0;
    }
    if (strcmp(key, "spool_max") == 0) {
        if ((rc = parse_u64(key, value, 64 * 1024, 1ULL << 40, 1, &n)) != 0)
            return rc;
        cfg->spool_max_bytes = n;
        return 0;
    }
    if (strcmp(key, "grace") == 0 || strcmp(key, "consent_interval") == 0) {
        if ((rc = parse_u64(key, value, 1, 86400, 0, &n)) != 0)
            return rc;
        if (key[0] == 'g')
            cfg->grace_seconds = (unsigned)n;
        else
            cfg->consent_interval_s = (unsigned)n;
        return 0;
    }
    if (strcmp(key, "flush_interval_ms") == 0 || strcmp(key, "flush_ranges") == 0 ||
        strcmp(key, "checkpoint_events") == 0) {
        if ((rc = parse_u64(key, value, 1, 1000000, 0, &n)) != 0)
            return rc;
        if (strcmp(key, "flush_interval_ms") == 0)
            cfg->flush_interval_ms = (unsigned)n;
        else if (strcmp(key, "flush_ranges") == 0)
            cfg->flush_ranges = (unsigned)n;
        else
            cfg->checkpoint_events = (unsigned)n;
        return 0;
    }
    return ENOENT;
}
