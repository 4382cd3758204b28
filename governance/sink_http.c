/* The governance API sink: PUT /events?id=&scope= with each event as the JSON body; on an
 * attested mount, the event signed as Azure Clean Room's governance sidecar signs what it
 * forwards (attest_key.h), so that only the attested key can append to its chain. */
#include "governance/sink.h"
#include "governance/attest_key.h"
#include "common/err.h"
#include "governance/canon.h"
#include "governance/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_sink {
    struct gov_sink base;
    struct gov_http *http;
    char *scope_esc;
};

static int http_deliver(struct gov_sink *s, const struct gov_spool_entry *e, size_t n)
{
    struct http_sink *h = s->priv;

    for (size_t i = 0; i < n; i++) {
        json_object *ev = NULL;
        const char *id;
        char *id_esc, path[512], msg[256];
        char *resp = NULL, *signed_body = NULL;
        size_t body_len = 0;
        struct gov_attested_key *k;
        long status = 0;
        int rc;

        if ((rc = gov_json_parse(e[i].line, e[i].len, "spooled event", &ev)) != 0)
            return rc;
        id = gov_json_str(ev, "id");
        id_esc = id ? gov_http_escape(id) : NULL;
        json_object_put(ev);
        if (id_esc == NULL)
            return ccr_err_set(EINVAL, "spooled event %llu has no id", (unsigned long long)e[i].seq);
        snprintf(path, sizeof path, "/events?id=%s&scope=%s", id_esc, h->scope_esc);
        free(id_esc);
        if ((k = gov_attested_key_current()) != NULL) {
            if ((rc = gov_attested_sign_body(k, e[i].line, e[i].len, &signed_body, &body_len)) != 0)
                return rc;
            rc = gov_http_request(h->http, "PUT", path, signed_body, body_len, &status, &resp, NULL);
            free(signed_body);
            signed_body = NULL;
        } else {
            rc = gov_http_request(h->http, "PUT", path, e[i].line, e[i].len, &status, &resp, NULL);
        }
        if (rc != 0)
            return rc;
        if (status < 200 || status > 299) {
            gov_http_error_text(resp, msg, sizeof msg);
            free(resp);
            return ccr_err_set(EIO, "governance refused event %llu: HTTP %ld: %s",
                               (unsigned long long)e[i].seq, status, msg);
        }
        free(resp);
    }
    return 0;
}

static void http_destroy(struct gov_sink *s)
{
    struct http_sink *h = s->priv;
    gov_http_free(h->http);
    free(h->scope_esc);
    free(h);
}

int gov_sink_http_open(const char *url, const char *scope, const char *token, struct gov_sink **out)
{
    struct http_sink *h = calloc(1, sizeof *h);
    int rc;
    if (h == NULL)
        return ENOMEM;
    if ((rc = gov_http_new(url, token, 10000, &h->http)) != 0) {
        free(h);
        return rc;
    }
    h->scope_esc = gov_http_escape(scope != NULL ? scope : "");
    if (h->scope_esc == NULL) {
        http_destroy(&h->base);
        return ENOMEM;
    }
    h->base.name = "governance";
    h->base.deliver = http_deliver;
    h->base.destroy = http_destroy;
    h->base.priv = h;
    *out = &h->base;
    return 0;
}
