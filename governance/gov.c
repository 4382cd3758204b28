/* The governance object's life: open (spool, signing key, sinks, the deliverer), the limits
 * known later, and close. What it does is split by concern: recording (record.c), the serving
 * decision (gate.c), consent (consent.c), delivery (deliver.c), the filesystem's hooks
 * (hooks.c); the state and the lock order are in gov_internal.h. */
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/secmem.h"
#include "governance/gov_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load_key(struct gov *g)
{
    int rc;
    if (g->cfg.signing_pkey != NULL) {
        rc = gov_key_from_evp(g->cfg.signing_pkey, &g->key);
    } else if (g->cfg.signing_key_file != NULL) {
        rc = gov_key_load_private(g->cfg.signing_key_file, &g->key);
    } else {
        char *path = ccr_path_join(g->cfg.spool_dir, "signing-key.pem");
        if (path == NULL)
            return ENOMEM;
        rc = gov_key_generate_file(path, "ed25519");
        if (rc == 0 || rc == EEXIST)
            rc = gov_key_load_private(path, &g->key);
        free(path);
    }
    if (rc == 0)
        rc = gov_key_public_b64(g->key, &g->key_b64);
    return rc;
}

/* Ranges an earlier run served but never sealed into an event are sealed now, before
 * anything else is recorded; then the journal starts afresh. */
static int recover_pending(struct gov *g)
{
    struct gov_pending_recovered *rec = NULL;
    size_t n = 0;
    int rc = gov_pending_open(g->cfg.spool_dir, g->chain.next_seq, &g->pending, &rec, &n);
    if (rc != 0)
        return rc;
    if (n > 0) {
        ccr_log_info("audit spool: opens or reads of %zu files served by an earlier run were not recorded: "
                     "recording them now",
                     n);
        rc = gov_record_recovered(g, rec, n);
        /* Durable in the spool before the journal that held them goes. */
        if (rc == 0)
            rc = gov_spool_sync(g->spool);
    }
    gov_pending_recovered_free(rec, n);
    return rc != 0 ? rc : gov_pending_restart(g->pending);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void apply_defaults(struct gov_config *cfg)
{
    if (cfg->spool_max_bytes == 0)
        cfg->spool_max_bytes = 64ULL << 20;
    if (cfg->grace_seconds == 0)
        cfg->grace_seconds = 30;
    if (cfg->consent_interval_s == 0)
        cfg->consent_interval_s = 5;
    if (cfg->flush_interval_ms == 0)
        cfg->flush_interval_ms = 1000;
    if (cfg->flush_ranges == 0)
        cfg->flush_ranges = 64;
    if (cfg->checkpoint_events == 0)
        cfg->checkpoint_events = 1000;
    if (cfg->batch_bytes == 0)
        cfg->batch_bytes = GOV_ACR_BATCH_BYTES;
    if (cfg->inflight == 0)
        cfg->inflight = 4;
}

/* The sidecar's stream id and API path prefix, from the configuration. */
static int resolve_acr(struct gov *g)
{
    const char *id = g->cfg.stream_id, *prefix = g->cfg.api_path_prefix;
    size_t len;

    if (id == NULL || strcmp(id, "chain") == 0) {
        id = g->chain.id;
    } else if (strcmp(id, "contract") == 0) {
        if (g->contract == NULL)
            return ccr_err_set(EINVAL, "gov_stream_id=contract needs a contract id");
        id = g->contract;
    }
    if ((g->stream_id = strdup(id)) == NULL)
        return ENOMEM;
    if (prefix == NULL)
        return 0;
    if (strcmp(prefix, "contract") == 0) {
        if (g->contract == NULL)
            return ccr_err_set(EINVAL, "gov_path_prefix=contract needs a contract id");
        len = strlen(g->contract) + sizeof "app/contracts/";
        if ((g->path_prefix = malloc(len)) == NULL)
            return ENOMEM;
        snprintf(g->path_prefix, len, "app/contracts/%s", g->contract);
    } else if ((g->path_prefix = strdup(prefix)) == NULL) {
        return ENOMEM;
    }
    if (strpbrk(g->path_prefix, "\r\n") != NULL)
        return ccr_err_set(EINVAL, "gov_path_prefix has a line break");
    len = strlen(g->path_prefix) + sizeof GOV_ACR_PREFIX_HEADER ": ";
    if ((g->prefix_header = malloc(len)) == NULL)
        return ENOMEM;
    snprintf(g->prefix_header, len, "%s: %s", GOV_ACR_PREFIX_HEADER, g->path_prefix);
    return 0;
}

static int open_sinks(struct gov *g)
{
    int rc;
    if (g->cfg.audit_log != NULL) {
        struct gov_sink_file_config fc = {g->cfg.audit_log, g->cfg.audit_log_max_bytes,
                                          g->cfg.audit_log_max_age_s};
        if ((rc = gov_sink_file_open(&fc, g->chain.id, &g->sinks[g->nsinks])) != 0)
            return rc;
        g->nsinks++;
    }
    if (g->url != NULL) {
        if ((rc = gov_token_load(g->cfg.token_file, &g->token)) != 0)
            return rc;
        if (g->acr) {
            struct gov_sink_acr_config ac = {
                .url = g->url,
                .token = g->token,
                .stream_id = g->stream_id,
                .scope = g->scope,
                .path_prefix = g->path_prefix,
                .batch_bytes = g->cfg.batch_bytes,
                .inflight = g->cfg.inflight,
                .timeout_ms = GOV_ACR_PUT_TIMEOUT_MS,
            };
            if ((rc = resolve_acr(g)) != 0)
                return rc;
            ac.stream_id = g->stream_id;
            ac.path_prefix = g->path_prefix;
            rc = gov_sink_acr_open(&ac, &g->sinks[g->nsinks]);
        } else {
            rc = gov_sink_http_open(g->url, g->scope, g->token, &g->sinks[g->nsinks]);
        }
        if (rc != 0)
            return rc;
        g->nsinks++;
        if ((rc = gov_http_new(g->url, g->token, 3000, &g->consent_http)) != 0)
            return rc;
    }
    return 0;
}

int gov_open(const struct gov_config *cfg, struct gov **out)
{
    struct gov *g;
    size_t replayed = 0;
    int64_t cp;
    int rc;

    if (cfg->spool_dir == NULL)
        return ccr_err_set(EINVAL, "governance needs a spool folder");
    if (cfg->audit_log == NULL && cfg->governance_url == NULL)
        return ccr_err_set(EINVAL, "governance needs an audit log file or a governance URL");
    g = calloc(1, sizeof *g);
    if (g == NULL)
        return ENOMEM;
    g->cfg = *cfg;
    apply_defaults(&g->cfg);
    pthread_mutex_init(&g->chain_lock, NULL);
    pthread_mutex_init(&g->files_lock, NULL);
    pthread_mutex_init(&g->access_lock, NULL);
    pthread_mutex_init(&g->wake_lock, NULL);
    pthread_mutex_init(&g->consent_request_lock, NULL);
    pthread_cond_init(&g->deliver_wake, NULL);
    pthread_cond_init(&g->consent_wake, NULL);
    g->contract = dup_or_null(cfg->contract_id);
    g->scope = strdup(cfg->scope ? cfg->scope : "ccrfs");
    g->url = dup_or_null(cfg->governance_url);
    g->acr = cfg->governance_api != NULL && strcmp(cfg->governance_api, "acr") == 0;
    if ((rc = gov_spool_open(cfg->spool_dir, g->cfg.spool_max_bytes, &g->spool, &g->chain, &replayed)) != 0)
        goto fail;
    /* Events of an earlier run since its last checkpoint count towards the next one. */
    cp = gov_spool_last_checkpoint(g->spool);
    g->since_checkpoint = cp < (int64_t)g->chain.next_seq ? g->chain.next_seq - (uint64_t)(cp + 1) : 0;
    if (replayed > 0)
        ccr_log_info("audit spool: %zu undelivered events from an earlier run will be delivered", replayed);
    if ((rc = load_key(g)) != 0 || (rc = recover_pending(g)) != 0 || (rc = open_sinks(g)) != 0 ||
        (rc = gov_deliverer_start(g)) != 0)
        goto fail;
    *out = g;
    return 0;
fail:
    gov_close(g);
    return rc;
}

void gov_set_limits(struct gov *g, uint64_t max_bytes_per_mount, int64_t not_after_ms)
{
    g->cfg.max_bytes_per_mount = max_bytes_per_mount;
    g->cfg.not_after_ms = not_after_ms;
}

void gov_set_file_size(struct gov *g, int (*file_size)(void *arg, const char *path, uint64_t *size),
                       void *arg)
{
    g->cfg.file_size = file_size;
    g->cfg.file_size_arg = arg;
}

void gov_close(struct gov *g)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&g->wake_lock);
    g->stop = 1;
    pthread_cond_broadcast(&g->deliver_wake);
    pthread_cond_broadcast(&g->consent_wake);
    pthread_mutex_unlock(&g->wake_lock);
    gov_consent_stop(g);
    gov_deliverer_stop(g);
    gov_files_free(g);
    if (g->access != NULL) /* could not be spooled even at the end */
        json_object_put(g->access);
    for (size_t i = 0; i < g->nsinks; i++)
        g->sinks[i]->destroy(g->sinks[i]);
    gov_http_free(g->consent_http);
    gov_spool_close(g->spool);
    gov_pending_close(g->pending); /* after the spool is synced: removes the journal when all is sealed */
    gov_key_free(g->key);
    free(g->key_b64);
    if (g->token != NULL)
        ccr_freezero(g->token, strlen(g->token));
    free(g->contract);
    free(g->scope);
    free(g->url);
    free(g->stream_id);
    free(g->path_prefix);
    free(g->prefix_header);
    pthread_cond_destroy(&g->deliver_wake);
    pthread_cond_destroy(&g->consent_wake);
    pthread_mutex_destroy(&g->chain_lock);
    pthread_mutex_destroy(&g->files_lock);
    pthread_mutex_destroy(&g->access_lock);
    pthread_mutex_destroy(&g->wake_lock);
    pthread_mutex_destroy(&g->consent_request_lock);
    free(g);
}
