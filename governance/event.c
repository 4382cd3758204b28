/* Event sealing: sequence numbers, timestamps and the hash chain. */
#include "governance/event.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/random.h"
#include "common/err.h"
#include "governance/canon.h"
#include "governance/sign.h"
#include "format/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int gov_chain_init(struct gov_chain *c)
{
    uint8_t rnd[GOV_CHAIN_ID_HEX / 2];
    int rc = ccr_random(rnd, sizeof rnd);
    if (rc != 0)
        return rc;
    ccr_hex_encode(rnd, sizeof rnd, c->id);
    c->next_seq = 0;
    memset(c->head, '0', GOV_HASH_HEX);
    c->head[GOV_HASH_HEX] = '\0';
    return 0;
}

void gov_time_now(char out[32])
{
    ccr_clock_iso8601(ccr_clock_wall(), out, 32);
}

int gov_time_parse_ms(const char *text, int64_t *ms)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, s, frac = 0, n = 0;
    size_t len = strlen(text);

    if (len == 20) {
        if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 || n != 20)
            return ccr_err_set(EINVAL, "time '%s': expected YYYY-MM-DDTHH:MM:SSZ", text);
    } else if (len == 24) {
        if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &y, &mo, &d, &h, &mi, &s, &frac, &n) != 7 ||
            n != 24)
            return ccr_err_set(EINVAL, "time '%s': expected YYYY-MM-DDTHH:MM:SS.mmmZ", text);
    } else {
        return ccr_err_set(EINVAL, "time '%s': expected YYYY-MM-DDTHH:MM:SSZ (UTC)", text);
    }
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (!((ch >= '0' && ch <= '9') || ch == '-' || ch == ':' || ch == 'T' || ch == 'Z' || ch == '.'))
            return ccr_err_set(EINVAL, "time '%s': unexpected character", text);
    }
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 ||
        frac < 0)
        return ccr_err_set(EINVAL, "time '%s': a field is out of range", text);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    {
        time_t t = timegm(&tm);
        struct tm back;
        gmtime_r(&t, &back);
        if (back.tm_mday != d || back.tm_mon != mo - 1)
            return ccr_err_set(EINVAL, "time '%s': no such date", text);
        *ms = (int64_t)t * 1000 + frac;
    }
    return 0;
}

json_object *gov_event_new(const char *type)
{
    json_object *ev = json_object_new_object();
    if (ev != NULL)
        json_object_object_add(ev, "type", json_object_new_string(type));
    return ev;
}

int gov_event_hash(json_object *ev, char out[GOV_HASH_HEX + 1])
{
    static const char *const skip[] = {"hash", NULL};
    uint8_t digest[FMT_SHA256_LEN];
    char *canon;
    size_t len;
    int rc = gov_canon_json(ev, skip, &canon, &len);
    if (rc != 0)
        return rc;
    fmt_sha256(canon, len, digest);
    free(canon);
    ccr_hex_encode(digest, sizeof digest, out);
    return 0;
}

int gov_checkpoint_signed_bytes(json_object *ev, char **out, size_t *out_len)
{
    static const char *const skip[] = {"hash", "sig", NULL};
    return gov_canon_json(ev, skip, out, out_len);
}

static void seal_common(struct gov_chain *c, json_object *ev)
{
    char id[GOV_CHAIN_ID_HEX + 24], now[32];

    snprintf(id, sizeof id, "%s-%llu", c->id, (unsigned long long)c->next_seq);
    json_object_object_add(ev, "v", json_object_new_int(GOV_EVENT_VERSION));
    json_object_object_add(ev, "id", json_object_new_string(id));
    json_object_object_add(ev, "chain", json_object_new_string(c->id));
    json_object_object_add(ev, "seq", json_object_new_int64((int64_t)c->next_seq));
    if (!json_object_object_get_ex(ev, "time", NULL)) {
        gov_time_now(now);
        json_object_object_add(ev, "time", json_object_new_string(now));
    }
    json_object_object_add(ev, "prev", json_object_new_string(c->head));
}

static int seal_finish(struct gov_chain *c, json_object *ev, char **line, size_t *line_len)
{
    char hash[GOV_HASH_HEX + 1];
    int rc = gov_event_hash(ev, hash);
    if (rc != 0)
        return rc;
    json_object_object_add(ev, "hash", json_object_new_string(hash));
    rc = gov_canon_json(ev, NULL, line, line_len);
    if (rc != 0)
        return rc;
    memcpy(c->head, hash, sizeof hash);
    c->next_seq++;
    return 0;
}

int gov_event_seal(struct gov_chain *c, json_object *ev, char **line, size_t *line_len)
{
    seal_common(c, ev);
    return seal_finish(c, ev, line, line_len);
}

int gov_event_seal_signed(struct gov_chain *c, json_object *ev, const struct gov_key *key, char **line,
                          size_t *line_len)
{
    char *bytes, *sig;
    size_t len;
    int rc;

    seal_common(c, ev);
    if ((rc = gov_checkpoint_signed_bytes(ev, &bytes, &len)) != 0)
        return rc;
    rc = gov_key_sign_b64(key, bytes, len, &sig);
    free(bytes);
    if (rc != 0)
        return rc;
    json_object_object_add(ev, "sig", json_object_new_string(sig));
    free(sig);
    return seal_finish(c, ev, line, line_len);
}
