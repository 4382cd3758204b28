/* The history pager (see history.h). The paging follows the CCF application's listEvents and
 * CGS's GetEvents (Azure/azure-cleanroom a2d263e00d2879f10b5dad71965727cc23ac6136,
 * src/governance/ccf-app/js/src/endpoints/events.ts, src/governance/client/Controllers/
 * EventsController.cs): without from_seqno only the latest write comes back, so a range is
 * always asked for. */
#include "governance/history.h"
#include "common/array.h"
#include "common/dynbuf.h"
#include "common/err.h"
#include "governance/canon.h"
#include "governance/http.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct hev {
    char *chain;
    uint64_t seq;
    char *line; /* canonical */
    size_t len;
};

static int add_event(struct ccr_array *evs, json_object *ev, const char *where)
{
    struct hev h = {0};
    const char *chain = gov_json_str(ev, "chain");
    long long seq;

    if (!json_object_is_type(ev, json_type_object) || chain == NULL || gov_json_int(ev, "seq", &seq) != 0 ||
        seq < 0)
        return ccr_err_set(EBADMSG, "%s: not a ccrfs event (needs chain and seq)", where);
    if (gov_canon_json(ev, NULL, &h.line, &h.len) != 0)
        return ccr_err_set(EBADMSG, "%s: %s", where, ccr_err_msg(EINVAL));
    h.seq = (uint64_t)seq;
    if ((h.chain = strdup(chain)) == NULL || ccr_array_append(evs, &h) != 0) {
        free(h.chain);
        free(h.line);
        return ENOMEM;
    }
    return 0;
}

/* One write's data: a batch {"events":[...]} or one event. */
static int add_write(struct ccr_array *evs, json_object *data, int64_t seqno)
{
    json_object *arr;
    char where[96];

    snprintf(where, sizeof where, "write at seqno %" PRId64, seqno);
    if (json_object_is_type(data, json_type_object) && json_object_object_get_ex(data, "events", &arr)) {
        if (!json_object_is_type(arr, json_type_array))
            return ccr_err_set(EBADMSG, "%s: \"events\" must be an array", where);
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            char w[160];
            int rc;
            snprintf(w, sizeof w, "%s, event %zu of its batch", where, i);
            if ((rc = add_event(evs, json_object_array_get_idx(arr, i), w)) != 0)
                return rc;
        }
        return 0;
    }
    return add_event(evs, data, where);
}

/* Parses one page: its writes into evs, *next the nextLink (malloc'd) or NULL. */
static int read_page(const char *body, size_t len, struct ccr_array *evs, char **next, size_t *writes)
{
    json_object *v, *value, *link;
    int rc = gov_json_parse(body, len, "events page", &v);

    *next = NULL;
    if (rc != 0)
        return ccr_err_set(EBADMSG, "%s", ccr_err_msg(rc));
    if (!json_object_object_get_ex(v, "value", &value) || !json_object_is_type(value, json_type_array)) {
        json_object_put(v);
        return ccr_err_set(EBADMSG, "events page: \"value\" must be an array");
    }
    for (size_t i = 0; i < json_object_array_length(value) && rc == 0; i++) {
        json_object *w = json_object_array_get_idx(value, i), *data;
        long long seqno = 0;
        if (!json_object_is_type(w, json_type_object) || !json_object_object_get_ex(w, "data", &data) ||
            gov_json_int(w, "seqno", &seqno) != 0) {
            rc = ccr_err_set(EBADMSG, "events page: entry %zu needs seqno and data", i);
            break;
        }
        rc = add_write(evs, data, seqno);
        (*writes)++;
    }
    if (rc == 0 && json_object_object_get_ex(v, "nextLink", &link) &&
        json_object_is_type(link, json_type_string) && json_object_get_string_len(link) > 0) {
        const char *l = json_object_get_string(link);
        if (l[0] != '/')
            rc = ccr_err_set(EBADMSG, "events page: nextLink must be a path, not %.100s", l);
        else if ((*next = strdup(l)) == NULL)
            rc = ENOMEM;
    }
    json_object_put(v);
    return rc;
}

static int cmp_hev(const void *a, const void *b)
{
    const struct hev *x = a, *y = b;
    int c = strcmp(x->chain, y->chain);
    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static char *first_path(const struct gov_history_opts *o)
{
    char *c = gov_http_escape(o->contract), *i = gov_http_escape(o->id);
    char *s = gov_http_escape(o->scope != NULL ? o->scope : "ccrfs");
    struct ccr_dynbuf b;
    char *out = NULL;

    ccr_dynbuf_init(&b, 0);
    if (c != NULL && i != NULL && s != NULL &&
        ccr_dynbuf_addf(&b, "/contracts/%s/events?id=%s&scope=%s&from_seqno=%" PRId64, c, i, s,
                        o->from_seqno > 0 ? o->from_seqno : 1) == 0 &&
        (o->to_seqno <= 0 || ccr_dynbuf_addf(&b, "&to_seqno=%" PRId64, o->to_seqno) == 0) &&
        (o->page_seqnos <= 0 || ccr_dynbuf_addf(&b, "&max_seqno_per_page=%" PRId64, o->page_seqnos) == 0))
        out = ccr_dynbuf_steal(&b, NULL);
    ccr_dynbuf_free(&b);
    free(c);
    free(i);
    free(s);
    return out;
}

/* Fetches every page into evs. */
static int fetch_all(const struct gov_history_opts *o, struct ccr_array *evs, struct gov_history_stats *st)
{
    struct gov_http *h;
    char *path = first_path(o);
    unsigned max_wait_ms = (o->max_wait_s ? o->max_wait_s : 120) * 1000u;
    int rc;

    if (path == NULL)
        return ENOMEM;
    if ((rc = gov_http_new(o->url, o->token, 60000, &h)) != 0) {
        free(path);
        return rc;
    }
    while (path != NULL && rc == 0) {
        unsigned waited = 0;
        for (;;) {
            char *body = NULL, *next = NULL, msg[256];
            size_t len = 0;
            long status = 0;
            unsigned retry = 0;
            const char *p = path;
            /* A nextLink straight from the CCF application keeps its "/app"; the base URL may too. */
            size_t bl = strlen(o->url);
            if (bl >= 4 && strcmp(o->url + bl - 4, "/app") == 0 && strncmp(p, "/app/", 5) == 0)
                p += 4;
            if ((rc = gov_http_request_hdr(h, "GET", p, NULL, NULL, 0, &status, &body, &len, &retry)) != 0)
                break;
            if (status == 202) { /* historical state is being loaded: ask again */
                unsigned d = retry > 0 ? retry : 1000;
                free(body);
                st->waits++;
                if (waited + d > max_wait_ms) {
                    rc = ccr_err_set(ETIMEDOUT, "governance still loading the history after %u s",
                                     waited / 1000);
                    break;
                }
                usleep(d * 1000u);
                waited += d;
                continue;
            }
            if (status != 200) {
                gov_http_error_code_text(body, msg, sizeof msg);
                free(body);
                rc = ccr_err_set(status == 404                    ? ENOENT
                                 : status == 401 || status == 403 ? EACCES
                                                                  : EIO,
                                 "events of contract %s: HTTP %ld: %s", o->contract, status, msg);
                break;
            }
            rc = body != NULL ? read_page(body, len, evs, &next, &st->writes)
                              : ccr_err_set(EBADMSG, "events page: empty reply");
            free(body);
            st->pages++;
            free(path);
            path = next;
            break;
        }
    }
    free(path);
    gov_http_free(h);
    return rc;
}

int gov_history_fetch(const struct gov_history_opts *o, int (*fn)(void *arg, const char *line, size_t len),
                      void *arg, void (*gap)(void *arg, const char *chain, uint64_t after, uint64_t next),
                      struct gov_history_stats *stats)
{
    struct gov_history_stats st = {0};
    struct ccr_array evs;
    int rc;

    if (o->contract == NULL || o->id == NULL)
        return ccr_err_set(EINVAL, "fetching a trail needs a contract and a stream id");
    ccr_array_init(&evs, sizeof(struct hev));
    rc = fetch_all(o, &evs, &st);
    if (rc == 0 && evs.len > 0)
        qsort(evs.items, evs.len, sizeof(struct hev), cmp_hev);
    for (size_t i = 0; rc == 0 && i < evs.len; i++) {
        const struct hev *e = &CCR_ARRAY_AT(&evs, struct hev, i);
        const struct hev *prev = i > 0 ? &CCR_ARRAY_AT(&evs, struct hev, i - 1) : NULL;
        int same_chain = prev != NULL && strcmp(prev->chain, e->chain) == 0;
        if (same_chain && prev->seq == e->seq) {
            if (prev->len != e->len || memcmp(prev->line, e->line, e->len) != 0)
                rc = ccr_err_set(EBADMSG, "chain %s holds two different events with seq %" PRIu64, e->chain,
                                 e->seq);
            else
                st.duplicates++; /* a batch stored twice (its answer was lost, it was sent again) */
            continue;
        }
        if (!same_chain)
            st.chains++;
        if (same_chain && e->seq != prev->seq + 1) {
            st.gaps++;
            if (gap != NULL)
                gap(arg, e->chain, prev->seq, e->seq);
        }
        if ((rc = fn(arg, e->line, e->len)) == 0)
            st.events++;
    }
    for (size_t i = 0; i < evs.len; i++) {
        free(CCR_ARRAY_AT(&evs, struct hev, i).chain);
        free(CCR_ARRAY_AT(&evs, struct hev, i).line);
    }
    ccr_array_free(&evs);
    if (stats != NULL)
        *stats = st;
    return rc;
}
