/* The mount sequence (launch/mount.h). Each step owns nothing: everything it opens is held by
 * struct launch_mount, and launch_finish is the one place that releases it, in reverse order,
 * whichever step failed. */
#include "launch/mount.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secmem.h"
#include "fetch/http.h"
#include "fs/mount.h"
#include "governance/admission.h"
#include "governance/attest_key.h"
#include "governance/client.h"
#include "keys/attest/evidence.h"
#include "keys/kbs/client.h"
#include "keys/broker/gate_probe.h"
#include "launch/dataset.h"
#include "launch/lifecycle.h"
#include "launch/state.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(FMT_DATASET_ID_LEN == GOV_DATASET_ID_LEN, "one dataset id length");

/* Lets governance's consent thread reach the file system, which exists only from
 * fs_mount_create on and must not be reached once it is being destroyed. */
struct launch_revoke_link {
    pthread_mutex_t lock;
    struct fs_mount *m;
    int revoked;
    char reason[256];
};

struct launch_mount {
    struct launch_request req;
    struct gov_config cfg;  /* req.gov with the defaults and the contract's limits filled in */
    const char *url;        /* the store URL, local paths made absolute */
    char *abs_url, *abs_mp; /* owned backing of url and of the recorded mount point */
    char *source;           /* the URL anyone may read: no query string, no userinfo */
    char *default_spool, *default_log;
    char dataset_id[FMT_DATASET_ID_LEN + 1]; /* the manifest's, or a sink's recipient key's */
    struct fetch_store *store;
    struct gov *g;
    struct gov_attested_key *audit_key; /* an attested mount's checkpoint key and its evidence */
    struct gov_signed_contract sc;
    struct fmt_dek *dek;
    struct keys_release_info key_info;
    struct fmt_dataset *ds;
    struct fs_access_hooks hooks;
    struct fs_mount *m;
    struct launch_revoke_link link;
    int recorded;            /* the mount event is in the log: an unmount event must follow */
    int hide_plaintext_hash; /* a contract admitted the mount and does not offer the hash */
    int started;             /* the kernel accepted the mount */
};

static void launch_on_revoke(void *arg, const char *reason)
{
    struct launch_revoke_link *l = arg;
    pthread_mutex_lock(&l->lock);
    l->revoked = 1;
    snprintf(l->reason, sizeof l->reason, "%s", reason);
    if (l->m != NULL) {
        fs_mount_revoke(l->m, reason);
        ccr_log_warn("keys and plaintext cache wiped: %s", reason);
    }
    pthread_mutex_unlock(&l->lock);
}

/* Governance's file size lookup: manifest entries are sorted by path, bytewise. */
static int launch_file_size(void *arg, const char *path, uint64_t *size)
{
    const struct fmt_manifest *mf = &((const struct fmt_dataset *)arg)->manifest;
    size_t lo = 0, hi = mf->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(mf->entries[mid].path, path);
        if (c == 0) {
            *size = mf->entries[mid].size;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return ENOENT;
}

/* A refusal: recorded as a "mount" denial with its reason, then returned as "mount refused". */
static int launch_refuse(struct launch_mount *lm, int rc)
{
    char msg[CCR_ERR_MSG_MAX - 32];
    snprintf(msg, sizeof msg, "%s", ccr_err_msg(rc));
    if (lm->g != NULL && gov_record_denial(lm->g, "mount", lm->req.mountpoint, msg) != 0)
        ccr_log_warn("the refusal could not be recorded");
    return ccr_err_set(rc, "mount refused: %s", msg);
}

/* Under init-data: this guest's own report must carry the init-data's digest in HOST_DATA
 * before anything it configures is used, and the broker's attestation then carries the
 * init-data so the broker checks the same binding. */
static int launch_step_init_data(struct launch_mount *lm)
{
    const struct keys_initdata *d = lm->req.init_data;
    uint8_t report_data[KEYS_SNP_REPORT_DATA_LEN] = {0};
    struct keys_evidence ev;
    int rc;

    if (d == NULL)
        return 0;
    if (lm->req.keys.attest == NULL)
        return ccr_err_set(EINVAL,
                           "--init-data is bound by attestation: give --attest sim:DIR|snp|aa:URL, the "
                           "attester whose report's HOST_DATA is checked");
    /* The report is asked for with the digest as its report_data, saying what it was for. */
    memcpy(report_data, d->digest, d->digest_len < sizeof report_data ? d->digest_len : sizeof report_data);
    if ((rc = keys_evidence_get(lm->req.keys.attest, report_data, &ev)) != 0)
        return ccr_err_wrap(rc, "init-data: this guest's report: ");
    rc = keys_initdata_check_host_data(d, ev.report + KEYS_SNP_OFF_HOST_DATA);
    keys_evidence_clear(&ev);
    if (rc != 0)
        return ccr_err_wrap(rc, "mount refused: ");
    if ((rc = keys_kbs_set_guest_init_data(d->text)) != 0)
        return rc;
    ccr_log_info("init-data: its %s digest is this guest's HOST_DATA (evidence %s)", d->algorithm,
                 lm->req.keys.attest);
    return 0;
}

/* An output mount has no manifest to pin: under init-data its recipient key's id must be the
 * one listed. */
static int launch_step_init_data_sink(struct launch_mount *lm)
{
    if (lm->req.init_data == NULL || lm->req.opts->mode != FS_MODE_SINK || lm->req.dataset_id == NULL ||
        strcmp(lm->req.dataset_id, lm->dataset_id) == 0)
        return 0;
    return ccr_err_set(EPERM, "mount refused: the recipient key's dataset id %s is not the init-data's %s",
                       lm->dataset_id, lm->req.dataset_id);
}

/* The store and mount point as the daemon will hold them once it left its working folder,
 * and the source as recorded and shown in the world-readable /proc/mounts. */
static int launch_step_paths(struct launch_mount *lm)
{
    const char *url = lm->req.store_url;
    size_t len;
    int rc;

    if (strstr(url, "://") == NULL || strncmp(url, "file://", 7) == 0) {
        const char *path = strncmp(url, "file://", 7) == 0 ? url + 7 : url;
        if ((lm->abs_url = realpath(path, NULL)) == NULL) {
            char shown[512];
            fetch_url_scrub(url, shown, sizeof shown);
            return ccr_err_set(errno, "%s: %s", shown, strerror(errno));
        }
        url = lm->abs_url;
    }
    lm->url = url;
    /* A mount point left dead by a killed ccrfs is cleaned; a busy one is reported as such,
     * before governance takes the mount point's spool. */
    if ((rc = launch_clean_dead_mount(lm->req.mountpoint)) != 0)
        return ccr_err_wrap(rc, "mount: ");
    if ((rc = fs_mount_check_point(lm->req.mountpoint)) != 0)
        return ccr_err_wrap(rc, "mount: ");
    lm->abs_mp = realpath(lm->req.mountpoint, NULL);
    len = strlen(url) + 1;
    if ((lm->source = malloc(len)) == NULL)
        return ENOMEM;
    fetch_url_public(url, lm->source, len);
    return 0;
}

/* A contract given as a file names the contract every event is recorded under. */
static int launch_step_contract_file(struct launch_mount *lm)
{
    int rc;

    if (lm->req.contract_file == NULL)
        return 0;
    if ((rc = gov_signed_contract_load(lm->req.contract_file, &lm->sc)) != 0)
        return ccr_err_wrap(rc, "contract file: ");
    if (lm->cfg.contract_id != NULL && strcmp(lm->cfg.contract_id, lm->sc.c->id) != 0)
        return ccr_err_set(EINVAL, "--contract %s but the contract file holds contract %s",
                           lm->cfg.contract_id, lm->sc.c->id);
    lm->cfg.contract_id = lm->sc.c->id;
    return 0;
}

/* The id the contract must name, known before any key is asked for: a sink's is its recipient's
 * key (an output mount has no manifest); the others' the manifest's hash, checked against the pin. */
static int launch_step_identify(struct launch_mount *lm)
{
    int rc;

    if ((rc = launch_store_open(lm->url, &lm->store)) != 0)
        return rc;
    if (lm->req.opts->mode == FS_MODE_SINK) {
        if (lm->req.opts->recipient == NULL)
            return ccr_err_set(EINVAL, "a sink mount needs -o recipient=FILE");
        return gov_recipient_dataset_id(lm->req.opts->recipient, lm->dataset_id);
    }
    return launch_dataset_id(lm->store, lm->url, lm->req.dataset_id, lm->dataset_id);
}

static int launch_step_governance(struct launch_mount *lm)
{
    int rc;

    lm->cfg.on_revoke = launch_on_revoke;
    lm->cfg.on_revoke_arg = &lm->link;
    if (lm->req.keys.attest != NULL) {
        /* An attested mount signs its log with a key its evidence binds: made here, never
         * written anywhere, so only this process can have signed. */
        if ((rc = gov_attested_key_make(lm->req.keys.attest, &lm->audit_key)) != 0)
            return ccr_err_wrap(rc, "governance: ");
        lm->cfg.signing_pkey = gov_key_evp(lm->audit_key->key);
        lm->cfg.signing_key_attestation = lm->audit_key->attestation_json;
        gov_attested_key_set_current(lm->audit_key);
    }
    /* Right after an unmount the previous daemon may still be delivering its last events. */
    if ((rc = launch_gov_defaults(&lm->cfg, lm->req.mountpoint, &lm->default_spool, &lm->default_log)) != 0 ||
        (rc = launch_wait_spool(lm->cfg.spool_dir, LAUNCH_SPOOL_WAIT_MS)) != 0 ||
        (rc = gov_open(&lm->cfg, &lm->g)) != 0)
        return ccr_err_wrap(rc, "governance: ");
    return 0;
}

/* Consent withheld refuses the mount. Governance that cannot be asked refuses it too (fail
 * closed), unless the mount was told governance is optional. */
static int launch_step_consent(struct launch_mount *lm)
{
    int rc = gov_check_consent(lm->g);

    if (rc == 0)
        return 0;
    if (lm->cfg.governance_optional && rc != EACCES && rc != ENOMEM) {
        ccr_log_warn("consent could not be checked (%s); mounting anyway: governance_optional",
                     ccr_err_msg(rc));
        ccr_err_clear();
        return 0;
    }
    return launch_refuse(lm, rc);
}

static enum gov_access_mode launch_gov_mode(enum fs_access_mode m)
{
    return m == FS_MODE_SINK        ? GOV_MODE_SINK
           : m == FS_MODE_NO_EGRESS ? GOV_MODE_NO_EGRESS
                                    : GOV_MODE_READ_ONLY;
}

/* The contract's checks and the use budget, between consent and key release. */
static int launch_step_contract(struct launch_mount *lm)
{
    const struct gov_contract_dataset *d = NULL;
    struct gov_admission adm;
    struct gov_use use;
    struct gov_config *cfg = &lm->cfg;
    int rc;

    if (lm->req.contract_file == NULL && cfg->contract_id == NULL)
        return 0;
    if (lm->req.contract_file == NULL && cfg->governance_api != NULL &&
        strcmp(cfg->governance_api, "acr") == 0) {
        /* Azure Clean Room: the contract lives in the ledger and the sidecar's consent check
         * (passed before this step) is its admission; there is no document to fetch. */
        ccr_log_info("contract %s: admitted by the governance sidecar's consent check", cfg->contract_id);
        lm->hide_plaintext_hash = 1; /* no document here that could offer it */
        return 0;
    }
    if (lm->req.contract_file == NULL &&
        (rc = gov_client_signed_contract(cfg->governance_url, cfg->token_file, cfg->contract_id, &lm->sc)) !=
            0)
        return launch_refuse(lm, rc);
    memset(&adm, 0, sizeof adm);
    adm.dataset_id = lm->dataset_id;
    adm.mode = launch_gov_mode(lm->req.opts->mode);
    adm.purpose = lm->req.purpose;
    adm.now_ms = (int64_t)ccr_clock_wall_ms();
    if ((rc = gov_admit(&lm->sc, &adm, &d)) != 0)
        return launch_refuse(lm, rc);
    cfg->max_bytes_per_mount = d->max_bytes_per_mount;
    cfg->not_after_ms = lm->sc.c->expiry_ms;
    lm->hide_plaintext_hash = !d->plaintext_hash;
    if (cfg->governance_url != NULL && lm->req.keys.kbs_url != NULL && lm->req.opts->mode != FS_MODE_SINK &&
        keys_broker_gates_on_governance(lm->req.keys.kbs_url, lm->req.keys.ca_file)) {
        /* A key from a KBS broker that gates releases on ccrfs's governance: the broker counts
         * this use when it releases the key; counting it here too would spend two. */
        ccr_log_info("contract %s: the use of dataset %s is counted by the key broker at release",
                     lm->sc.c->id, lm->dataset_id);
    } else if (cfg->governance_url != NULL) {
        /* Counted before the key is requested: a spent budget means no key release. */
        if ((rc = gov_client_use(cfg->governance_url, cfg->token_file, lm->sc.c->id, lm->dataset_id, &use)) !=
            0) {
            if (rc == ENOSPC)
                ccr_err_wrap(rc, "use budget of dataset %s spent: ", lm->dataset_id);
            return launch_refuse(lm, rc);
        }
        if (use.max_bytes_per_mount != 0 &&
            (cfg->max_bytes_per_mount == 0 || use.max_bytes_per_mount < cfg->max_bytes_per_mount))
            cfg->max_bytes_per_mount = use.max_bytes_per_mount;
        ccr_log_info("contract %s: use %llu of %llu of dataset %s", lm->sc.c->id,
                     (unsigned long long)use.used, (unsigned long long)use.max_mounts, lm->dataset_id);
    } else {
        ccr_log_info("contract %s from a file: signatures checked; no governance service counts uses",
                     lm->sc.c->id);
    }
    gov_set_limits(lm->g, cfg->max_bytes_per_mount, cfg->not_after_ms);
    if (cfg->max_bytes_per_mount != 0)
        ccr_log_info("byte budget: %llu bytes for this mount", (unsigned long long)cfg->max_bytes_per_mount);
    return 0;
}

/* The key, recorded with who released it; then the dataset, pinned to the id the contract was
 * checked against, so a manifest swapped since then is refused. */
static int launch_step_key(struct launch_mount *lm)
{
    struct keys_release_request keys = lm->req.keys;
    char msg[CCR_ERR_MSG_MAX - 32];
    int rc;

    if (lm->req.opts->mode == FS_MODE_SINK)
        return 0; /* an output mount: no dataset to read, no key to release */
    keys.dataset_store = lm->store;
    if ((rc = keys_release_obtain(&keys, &lm->dek, &lm->key_info)) != 0) {
        char reason[CCR_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", ccr_err_msg(rc));
        snprintf(reason, sizeof reason, "no key: %s", msg);
        if (gov_record_denial(lm->g, "key_release", lm->req.mountpoint, reason) != 0)
            ccr_log_warn("the refusal could not be recorded");
        return ccr_err_set(rc, "key: %s", msg);
    }
    if (!lm->key_info.attested)
        ccr_log_warn(
            "WARNING: the key was NOT released by attestation (%s); use only to test a dataset locally",
            lm->key_info.method[0] ? lm->key_info.method : "unattested source");
    else
        ccr_log_info("key released by %s (%s, evidence %s)", lm->key_info.broker, lm->key_info.method,
                     lm->key_info.evidence);
    if ((rc = gov_record_key_release(lm->g, &lm->key_info)) != 0)
        return ccr_err_wrap(rc, "audit: ");
    if ((rc = fmt_dataset_open(lm->store, lm->dek, lm->dataset_id, &lm->ds)) != 0) {
        char shown[512];
        fetch_url_scrub(lm->url, shown, sizeof shown);
        return ccr_err_wrap(rc, "%s: ", shown);
    }
    if (lm->req.dataset_id == NULL)
        ccr_log_info("mounting dataset %s (not pinned: give --dataset-id to refuse any other)", lm->ds->id);
    return 0;
}

static int launch_step_record(struct launch_mount *lm)
{
    struct gov_mount_info mi;
    int rc;

    mi.mountpoint = lm->abs_mp != NULL ? lm->abs_mp : lm->req.mountpoint;
    mi.dataset_id = lm->dataset_id;
    mi.source = lm->source;
    mi.mode = fs_access_mode_name(lm->req.opts->mode);
    mi.constraints = lm->sc.c != NULL ? lm->sc.c->constraints : NULL;
    mi.terms = lm->sc.c != NULL ? lm->sc.c->terms : NULL;
    if ((rc = gov_record_mount(lm->g, &mi)) != 0)
        return ccr_err_wrap(rc, "audit: ");
    lm->recorded = 1;
    return 0;
}

static int launch_step_filesystem(struct launch_mount *lm)
{
    struct fs_mount_config conf;
    int rc;

    if (lm->ds != NULL)
        gov_set_file_size(lm->g, launch_file_size, lm->ds);
    gov_fs_hooks(lm->g, &lm->hooks);
    memset(&conf, 0, sizeof conf);
    conf.sink_store = lm->req.opts->mode == FS_MODE_SINK ? lm->store : NULL;
    conf.ds = lm->ds;
    conf.dek = lm->dek;
    conf.opts = lm->req.opts;
    conf.debug = lm->req.debug;
    conf.source = lm->source;
    conf.hooks = &lm->hooks;
    conf.hide_plaintext_hash = lm->hide_plaintext_hash;
    if ((rc = fs_mount_create(&conf, &lm->m)) != 0)
        return ccr_err_wrap(rc, "mount: ");
    pthread_mutex_lock(&lm->link.lock);
    lm->link.m = lm->m;
    if (lm->link.revoked) /* consent went between the check and now */
        fs_mount_revoke(lm->m, lm->link.reason);
    pthread_mutex_unlock(&lm->link.lock);
    return 0;
}

int launch_prepare(const struct launch_request *req, struct launch_mount **out)
{
    struct launch_mount *lm;
    int rc;

    *out = NULL;
    if ((lm = calloc(1, sizeof *lm)) == NULL)
        return ENOMEM;
    lm->req = *req;
    lm->cfg = req->gov;
    pthread_mutex_init(&lm->link.lock, NULL);
    /* Before any key exists in this process: no core dumps, no ptrace by others, nothing
     * swapped out. */
    ccr_secmem_harden_process();
    if ((rc = ccr_secmem_lock_process()) != 0) {
        if (!req->opts->allow_unlocked_memory) {
            char msg[CCR_ERR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", ccr_err_msg(rc));
            launch_finish(lm);
            return ccr_err_set(rc, "%s (-o allow_unlocked_memory serves anyway)", msg);
        }
        ccr_log_warn("%s; serving anyway (allow_unlocked_memory): plaintext and keys may be swapped out",
                     ccr_err_msg(rc));
    }
    if ((rc = launch_step_init_data(lm)) != 0 || (rc = launch_step_paths(lm)) != 0 ||
        (rc = launch_step_contract_file(lm)) != 0 || (rc = launch_step_identify(lm)) != 0 ||
        (rc = launch_step_init_data_sink(lm)) != 0 || (rc = launch_step_governance(lm)) != 0 ||
        (rc = launch_step_consent(lm)) != 0 || (rc = launch_step_contract(lm)) != 0 ||
        (rc = launch_step_key(lm)) != 0 || (rc = launch_step_record(lm)) != 0 ||
        (rc = launch_step_filesystem(lm)) != 0) {
        char msg[CCR_ERR_MSG_MAX];
        /* The cleanup records events and may record messages of its own. */
        snprintf(msg, sizeof msg, "%s", ccr_err_msg(rc));
        launch_finish(lm);
        return ccr_err_set(rc, "%s", msg);
    }
    *out = lm;
    return 0;
}

int launch_start(struct launch_mount *lm)
{
    int rc;

    if ((rc = fs_mount_start(lm->m, lm->req.mountpoint)) != 0)
        return ccr_err_wrap(rc, "mount: ");
    lm->started = 1;
    return 0;
}

int launch_serve(struct launch_mount *lm, void (*ready)(void *arg, int ok), void *ready_arg)
{
    return fs_mount_run(lm->m, ready, ready_arg);
}

void launch_finish(struct launch_mount *lm)
{
    if (lm == NULL)
        return;
    pthread_mutex_lock(&lm->link.lock);
    lm->link.m = NULL;
    pthread_mutex_unlock(&lm->link.lock);
    /* Files still open are released here: the last hooks run before governance closes. */
    fs_mount_destroy(lm->m);
    if (lm->g != NULL) {
        /* A mount event always gets its unmount, also when the kernel refused the mount. */
        const char *why = !lm->started       ? "the mount failed"
                          : lm->link.revoked ? "unmounted after revocation"
                                             : "unmounted";
        if (lm->recorded && gov_record_unmount(lm->g, why) != 0)
            ccr_log_error("the unmount could not be recorded: %s", ccr_err_msg(EIO));
        gov_close(lm->g);
    }
    gov_attested_key_free(lm->audit_key);
    gov_signed_contract_release(&lm->sc);
    fmt_dataset_close(lm->ds);
    fetch_store_destroy(lm->store);
    fmt_dek_free(lm->dek);
    free(lm->abs_url);
    free(lm->abs_mp);
    free(lm->source);
    free(lm->default_spool);
    free(lm->default_log);
    pthread_mutex_destroy(&lm->link.lock);
    if (lm->req.init_data != NULL)
        (void)keys_kbs_set_guest_init_data(NULL);
    free(lm);
}

const char *launch_mount_dataset_id(const struct launch_mount *lm)
{
    return lm->dataset_id;
}

const char *launch_mount_source(const struct launch_mount *lm)
{
    return lm->source;
}
