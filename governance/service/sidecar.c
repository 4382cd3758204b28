/* The governance sidecar stand-in (see sidecar.h). Checked against Azure/azure-cleanroom
 * a2d263e00d2879f10b5dad71965727cc23ac6136. */
#include "governance/service/sidecar.h"
#include "common/clock.h"
#include "common/dynbuf.h"
#include "common/err.h"
#include "governance/canon.h"
#include "governance/http.h"
#include "governance/service/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CCF's default cap on a request body, and what the sidecar adds around the event it forwards
 * (base64 of the event, a timestamp, the signature, the PEM public key twice, the attestation
 * report with its endorsements). */
#define CCF_BODY_MAX        (1024 * 1024)
#define SIDECAR_WRAP_BYTES  (16 * 1024)
#define HISTORY_PAGE_SEQNOS 2000

const char *gov_sidecar_contract(const struct gov_sidecar *sc, struct MHD_Connection *conn, char *buf,
                                 size_t len)
{
    const char *prefix = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, GOV_ACR_PREFIX_HEADER);
    if (prefix != NULL && prefix[0] != '\0') {
        const char *p = strstr(prefix, "contracts/");
        size_t n;
        p = p != NULL ? p + strlen("contracts/") : prefix;
        n = strcspn(p, "/");
        if (n == 0 || n >= len)
            return NULL;
        memcpy(buf, p, n);
        buf[n] = '\0';
        return buf;
    }
    if (sc->contract == NULL)
        return NULL;
    snprintf(buf, len, "%s", sc->contract);
    return buf;
}

int gov_sidecar_is_registry_event(struct MHD_Connection *conn, const char *body, size_t len)
{
    const char *qid = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "id");
    const char *scope = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "scope");
    json_object *v = NULL;
    const char *id;
    int yes = 0;

    if (qid == NULL || qid[0] == '\0' || scope == NULL || len == 0)
        return 0;
    if (gov_json_parse(body, len, "event", &v) == 0 && json_object_is_type(v, json_type_object) &&
        gov_json_str(v, "chain") != NULL && gov_json_str(v, "hash") != NULL &&
        (id = gov_json_str(v, "id")) != NULL)
        yes = strcmp(id, qid) == 0;
    ccr_err_clear();
    json_object_put(v);
    return yes;
}

void gov_sidecar_put(struct gov_sidecar *sc, struct gov_store *st, struct MHD_Connection *conn,
                     const char *body, size_t len, struct gov_svc_reply *r)
{
    const char *qid = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "id");
    const char *scope = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "scope");
    char contract[256], stamp[24];
    const char *c = gov_sidecar_contract(sc, conn, contract, sizeof contract);
    json_object *v = NULL;
    int64_t seqno;
    int rc;

    if (c == NULL)
        return gov_svc_reply_error(r, 400, "InvalidOption",
                                   "no contract: the service has no --contract and the request no %s header",
                                   GOV_ACR_PREFIX_HEADER);
    if ((uint64_t)(len + 2) / 3 * 4 + SIDECAR_WRAP_BYTES > CCF_BODY_MAX)
        return gov_svc_reply_error(r, 413, "RequestBodyTooLarge",
                                   "an event of %zu bytes, forwarded base64-encoded with its attestation, "
                                   "exceeds the ledger's maximum request body of %d bytes",
                                   len, CCF_BODY_MAX);
    if (gov_json_parse(body != NULL ? body : "", len, "event", &v) != 0 ||
        !json_object_is_type(v, json_type_object)) {
        json_object_put(v);
        ccr_err_clear();
        return gov_svc_reply_error(r, 400, "BadRequest", "the event body must be a JSON object");
    }
    json_object_put(v);
    /* Upstream: a timestamp in ms since the epoch, as a 13-digit decimal string. */
    snprintf(stamp, sizeof stamp, "%013" PRIu64, ccr_clock_wall_ms());
    rc = gov_store_stream_put(st, c, scope != NULL ? scope : "", qid != NULL && qid[0] ? qid : c, stamp, body,
                              len, &seqno);
    if (rc != 0)
        return gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
    r->status = 200;
    r->empty = 1;
    r->delay_ms = sc->put_delay_ms;
}

static int parse_seqno(const char *v, int64_t *out)
{
    char *end;
    long long x;
    if (v == NULL)
        return 0;
    x = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || x < 0)
        return EINVAL;
    *out = x;
    return 1;
}

struct page {
    json_object *value;
    const char *scope, *id;
    int latest; /* timestamp_iso (the latest-value answer) rather than timestampIso */
};

static int page_add(void *arg, int64_t seqno, const char *timestamp, const char *data, size_t len)
{
    struct page *p = arg;
    json_object *e = json_object_new_object(), *d = NULL;
    char iso[96];
    time_t t = (time_t)(strtoll(timestamp, NULL, 10) / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, strtoll(timestamp, NULL, 10) % 1000);
    if (gov_json_parse(data, len, "stored event", &d) != 0) {
        json_object_put(e);
        return EIO;
    }
    json_object_object_add(e, "scope", json_object_new_string(p->scope));
    json_object_object_add(e, "id", json_object_new_string(p->id));
    json_object_object_add(e, "seqno", json_object_new_int64(seqno));
    json_object_object_add(e, "timestamp", json_object_new_string(timestamp));
    json_object_object_add(e, p->latest ? "timestamp_iso" : "timestampIso", json_object_new_string(iso));
    json_object_object_add(e, "data", d);
    json_object_array_add(p->value, e);
    return 0;
}

/* The historical state of a range: loaded once asked for (or prefetched); 1 when it was. */
static int range_loaded(struct gov_sidecar *sc, const char *key, int mark)
{
    for (size_t i = 0; i < GOV_SIDECAR_LOADED; i++)
        if (sc->loaded[i] != NULL && strcmp(sc->loaded[i], key) == 0)
            return 1;
    if (mark) {
        size_t i = sc->loaded_next++ % GOV_SIDECAR_LOADED;
        free(sc->loaded[i]);
        sc->loaded[i] = strdup(key);
    }
    return 0;
}

void gov_sidecar_history(struct gov_sidecar *sc, struct gov_store *st, struct MHD_Connection *conn,
                         const char *contract, struct gov_svc_reply *r)
{
    const char *qid = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "id");
    const char *qscope = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "scope");
    const char *qfrom = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "from_seqno");
    const char *qto = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "to_seqno");
    const char *qmax = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "max_seqno_per_page");
    const char *id = qid != NULL ? qid : contract, *scope = qscope != NULL ? qscope : "";
    int64_t from = 1, to = 0, max = HISTORY_PAGE_SEQNOS, last = 0, end;
    int hf, ht, hm, rc;
    struct page p = {json_object_new_array(), scope, id, 0};
    json_object *v;
    char key[768];

    hf = parse_seqno(qfrom, &from);
    ht = parse_seqno(qto, &to);
    hm = parse_seqno(qmax, &max);
    if (hf < 0 || ht < 0 || hm < 0 || hf == EINVAL || ht == EINVAL || hm == EINVAL || max < 1) {
        json_object_put(p.value);
        return gov_svc_reply_error(r, 400, "InvalidOption",
                                   "from_seqno, to_seqno and max_seqno_per_page must be integers");
    }
    if (!hf && !ht) { /* the latest value only */
        p.latest = 1;
        rc = gov_store_stream_last(st, contract, scope, id, &last);
        if (rc == 0 && last > 0)
            rc = gov_store_stream_range(st, contract, scope, id, last, last, page_add, &p);
        if (rc != 0) {
            json_object_put(p.value);
            return gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
        }
        v = json_object_new_object();
        json_object_object_add(v, "value", p.value);
        return gov_svc_reply_json(r, 200, v);
    }
    if (!ht) {
        if ((rc = gov_store_stream_last(st, contract, scope, id, &to)) == 0 && to == 0)
            rc = gov_store_stream_last(st, NULL, NULL, NULL, &to);
        if (rc != 0) {
            json_object_put(p.value);
            return gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
        }
    }
    if (to < from) {
        json_object_put(p.value);
        return gov_svc_reply_error(r, 500, "InternalError", "to_seqno must be >= from_seqno");
    }
    if (gov_store_stream_last(st, NULL, NULL, NULL, &last) != 0 || to > last) {
        json_object_put(p.value);
        return gov_svc_reply_error(r, 500, "InternalError", "End of range must be committed");
    }
    end = to < from + max ? to : from + max;
    snprintf(key, sizeof key, "%s\n%s\n%s\n%" PRId64 "-%" PRId64, contract, scope, id, from, end);
    if (!range_loaded(sc, key, 1)) {
        json_object_put(p.value);
        r->status = 202;
        r->empty = 1;
        r->retry_after_s = 1;
        return;
    }
    if ((rc = gov_store_stream_range(st, contract, scope, id, from, end, page_add, &p)) != 0) {
        json_object_put(p.value);
        return gov_svc_reply_error(r, 500, "StorageError", "%s", ccr_err_msg(rc));
    }
    v = json_object_new_object();
    json_object_object_add(v, "value", p.value);
    if (end != to) {
        /* As CGS passes it on: the CCF app's nextLink without its "/app" prefix; the next
         * page's state is fetched now. */
        char *cesc = gov_http_escape(contract), *iesc = gov_http_escape(id), *sesc = gov_http_escape(scope);
        struct ccr_dynbuf link;
        int64_t next_end = to < end + 1 + max ? to : end + 1 + max;
        ccr_dynbuf_init(&link, 0);
        if (cesc != NULL && iesc != NULL && sesc != NULL &&
            ccr_dynbuf_addf(&link,
                            "/contracts/%s/events?from_seqno=%" PRId64 "&to_seqno=%" PRId64 "&id=%s&scope=%s",
                            cesc, end + 1, to, iesc, sesc) == 0)
            json_object_object_add(v, "nextLink", json_object_new_string(link.data));
        ccr_dynbuf_free(&link);
        free(cesc);
        free(iesc);
        free(sesc);
        snprintf(key, sizeof key, "%s\n%s\n%s\n%" PRId64 "-%" PRId64, contract, scope, id, end + 1, next_end);
        range_loaded(sc, key, 1);
    }
    gov_svc_reply_json(r, 200, v);
}

void gov_sidecar_free(struct gov_sidecar *sc)
{
    free(sc->contract);
    sc->contract = NULL;
    for (size_t i = 0; i < GOV_SIDECAR_LOADED; i++) {
        free(sc->loaded[i]);
        sc->loaded[i] = NULL;
    }
}
