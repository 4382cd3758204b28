/* The Azure Clean Room governance sidecar sink. Upstream (Azure/azure-cleanroom, the sidecar's
 * EventsController and the CCF application's events endpoint) stores each PUT /events as one
 * write of key id in map events-<contract>[-<scope>], and answers after the ledger commit
 * (seconds). So the chain is one stream (a stable id), each PUT carries a batch of whole events
 * ({"events":[...]}, order recoverable from their seq), and several PUTs are in flight at once;
 * the spool is acknowledged only up to the first batch that failed. */
#include "common/err.h"
#include "governance/http.h"
#include "governance/sink.h"
#include "governance/attest_key.h"
#include "governance/gov.h"
#include "net/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACR_BODY_HEAD    "{\"events\":["
#define ACR_BODY_TAIL    "]}"
#define ACR_INFLIGHT_MAX GOV_ACR_INFLIGHT_MAX
#define ACR_POLL_MS      1000
#define ACR_ERROR_TEXT   256

struct acr_sink {
    struct gov_sink base;
    struct gov_http *http; /* base URL and token for each PUT's own handle */
    CURLM *multi;          /* keeps the connections between rounds */
    char *path;            /* /events?id=...&scope=... */
    char *header;          /* "x-ms-ccr-governance-api-path-prefix: ..." or NULL */
    uint64_t batch_bytes;
    unsigned inflight;
};

void gov_acr_split(const struct gov_spool_entry *e, size_t n, uint64_t max_bytes, size_t max_batches,
                   size_t *ends, size_t *nbatches)
{
    const uint64_t frame = sizeof ACR_BODY_HEAD - 1 + sizeof ACR_BODY_TAIL - 1;
    size_t i = 0, b = 0;

    while (i < n && b < max_batches) {
        uint64_t size = frame + e[i].len;
        i++; /* a batch holds at least one event, even one past the limit (refused upstream) */
        while (i < n && size + 1 + e[i].len <= max_bytes) {
            size += 1 + e[i].len;
            i++;
        }
        ends[b++] = i;
    }
    *nbatches = b;
}

static char *batch_body(const struct gov_spool_entry *e, size_t from, size_t to, size_t *len);

/* An attested mount's batch goes signed, as the sidecar signs what it forwards to the ledger
 * (attest_key.h): only the attested key can append to its chain. */
static char *signed_batch_body(const struct gov_spool_entry *e, size_t from, size_t to, size_t *len)
{
    struct gov_attested_key *k = gov_attested_key_current();
    char *plain = batch_body(e, from, to, len), *body = NULL;
    if (plain == NULL || k == NULL)
        return plain;
    if (gov_attested_sign_body(k, plain, *len, &body, len) != 0)
        body = NULL;
    free(plain);
    return body;
}

static char *batch_body(const struct gov_spool_entry *e, size_t from, size_t to, size_t *len)
{
    size_t total = sizeof ACR_BODY_HEAD - 1 + sizeof ACR_BODY_TAIL - 1, at;
    char *body;

    for (size_t i = from; i < to; i++)
        total += e[i].len + 1;
    if ((body = malloc(total + 1)) == NULL)
        return NULL;
    memcpy(body, ACR_BODY_HEAD, sizeof ACR_BODY_HEAD - 1);
    at = sizeof ACR_BODY_HEAD - 1;
    for (size_t i = from; i < to; i++) {
        if (i > from)
            body[at++] = ',';
        memcpy(body + at, e[i].line, e[i].len); /* canonical event lines are JSON objects */
        at += e[i].len;
    }
    memcpy(body + at, ACR_BODY_TAIL, sizeof ACR_BODY_TAIL);
    *len = at + sizeof ACR_BODY_TAIL - 1;
    return body;
}

struct acr_put {
    struct gov_http_call call;
    char *body;
    size_t body_len, from, to;
    int finished, rc;
    long status;
    char why[CCR_ERR_MSG_MAX]; /* the transport failure, kept apart from the others' */
};

/* Runs the multi handle until every transfer has finished. */
static int run_all(struct acr_sink *a, struct acr_put *puts, size_t nputs)
{
    int running = 1;
    while (running > 0) {
        CURLMcode mc = curl_multi_perform(a->multi, &running);
        CURLMsg *m;
        int left;
        if (mc != CURLM_OK)
            return ccr_err_set(EIO, "governance: %s", curl_multi_strerror(mc));
        while ((m = curl_multi_info_read(a->multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            for (size_t i = 0; i < nputs; i++)
                if (puts[i].call.easy == m->easy_handle && !puts[i].finished) {
                    puts[i].finished = 1;
                    puts[i].rc = gov_http_call_result(&puts[i].call, m->data.result, &puts[i].status);
                    if (puts[i].rc != 0)
                        snprintf(puts[i].why, sizeof puts[i].why, "%s", ccr_err_msg(puts[i].rc));
                }
        }
        if (running > 0 && (mc = curl_multi_poll(a->multi, NULL, 0, ACR_POLL_MS, NULL)) != CURLM_OK)
            return ccr_err_set(EIO, "governance: %s", curl_multi_strerror(mc));
    }
    return 0;
}

static int acr_deliver(struct gov_sink *s, const struct gov_spool_entry *e, size_t n, size_t *done)
{
    struct acr_sink *a = s->priv;
    size_t ends[ACR_INFLIGHT_MAX], nb = 0;
    struct acr_put puts[ACR_INFLIGHT_MAX];
    int rc = 0;

    *done = 0;
    memset(puts, 0, sizeof puts);
    gov_acr_split(e, n, a->batch_bytes, a->inflight, ends, &nb);
    for (size_t b = 0; b < nb && rc == 0; b++) {
        struct acr_put *p = &puts[b];
        p->from = b == 0 ? 0 : ends[b - 1];
        p->to = ends[b];
        if ((p->body = signed_batch_body(e, p->from, p->to, &p->body_len)) == NULL)
            rc = ENOMEM;
        else if ((rc = gov_http_call_setup(&p->call, a->http, "PUT", a->path, a->header, p->body,
                                           p->body_len)) == 0 &&
                 curl_multi_add_handle(a->multi, p->call.easy) != CURLM_OK)
            rc = ccr_err_set(EIO, "governance: cannot start a PUT");
    }
    if (rc == 0)
        rc = run_all(a, puts, nb);
    /* The stored prefix: batches in order up to the first that failed. */
    for (size_t b = 0; b < nb && rc == 0; b++) {
        struct acr_put *p = &puts[b];
        if (!p->finished) {
            rc = ccr_err_set(EIO, "governance: a PUT did not finish");
        } else if (p->rc != 0) {
            rc = ccr_err_set(p->rc, "%s", p->why);
        } else if (p->status < 200 || p->status > 299) {
            char msg[ACR_ERROR_TEXT];
            gov_http_error_code_text(p->call.reply.data, msg, sizeof msg);
            rc = ccr_err_set(EIO, "governance refused events %llu-%llu (%zu bytes): HTTP %ld: %s",
                             (unsigned long long)e[p->from].seq, (unsigned long long)e[p->to - 1].seq,
                             p->body_len, p->status, msg);
        } else {
            *done = p->to;
        }
    }
    for (size_t b = 0; b < nb; b++) {
        if (puts[b].call.easy != NULL)
            curl_multi_remove_handle(a->multi, puts[b].call.easy);
        gov_http_call_cleanup(&puts[b].call);
        free(puts[b].body);
    }
    return rc;
}

static void acr_destroy(struct gov_sink *s)
{
    struct acr_sink *a = s->priv;
    if (a->multi != NULL)
        curl_multi_cleanup(a->multi);
    gov_http_free(a->http);
    free(a->path);
    free(a->header);
    free(a);
}

int gov_sink_acr_open(const struct gov_sink_acr_config *cfg, struct gov_sink **out)
{
    struct acr_sink *a = calloc(1, sizeof *a);
    char *id_esc = NULL, *scope_esc = NULL;
    size_t len;
    int rc;

    if (a == NULL)
        return ENOMEM;
    a->base.name = "governance";
    a->base.deliver_prefix = acr_deliver;
    a->base.destroy = acr_destroy;
    a->base.priv = a;
    a->batch_bytes = cfg->batch_bytes;
    a->inflight = cfg->inflight < 1 ? 1 : cfg->inflight > ACR_INFLIGHT_MAX ? ACR_INFLIGHT_MAX : cfg->inflight;
    if ((rc = gov_http_new(cfg->url, cfg->token, cfg->timeout_ms, &a->http)) != 0)
        goto fail;
    if ((a->multi = net_http_multi_new()) == NULL) {
        rc = ccr_err_set(EIO, "cannot create an HTTP multi handle");
        goto fail;
    }
    /* Several connections to the one sidecar, so PUTs really are in flight together. */
    curl_multi_setopt(a->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)a->inflight);
    id_esc = gov_http_escape(cfg->stream_id != NULL ? cfg->stream_id : "");
    scope_esc = gov_http_escape(cfg->scope != NULL ? cfg->scope : "");
    rc = ENOMEM;
    if (id_esc == NULL || scope_esc == NULL)
        goto fail;
    len = strlen(id_esc) + strlen(scope_esc) + sizeof "/events?id=&scope=";
    if ((a->path = malloc(len)) == NULL)
        goto fail;
    snprintf(a->path, len, "/events?id=%s&scope=%s", id_esc, scope_esc);
    if (cfg->path_prefix != NULL) {
        len = strlen(cfg->path_prefix) + sizeof GOV_ACR_PREFIX_HEADER ": ";
        if (strpbrk(cfg->path_prefix, "\r\n") != NULL) {
            rc = ccr_err_set(EINVAL, "the governance API path prefix has a line break");
            goto fail;
        }
        if ((a->header = malloc(len)) == NULL)
            goto fail;
        snprintf(a->header, len, "%s: %s", GOV_ACR_PREFIX_HEADER, cfg->path_prefix);
    }
    free(id_esc);
    free(scope_esc);
    *out = &a->base;
    return 0;
fail:
    free(id_esc);
    free(scope_esc);
    acr_destroy(&a->base);
    return rc;
}
