/* ccrfs mount: serves a dataset as a read-only FUSE file system, decrypting lazily.
 *
 * Without -f the command returns only once the mount answers (or with an error when it cannot
 * mount): it forks, the child does all the work and reports through a pipe when the mount is
 * live, and the parent exits with that result. The child then detaches and logs to syslog.
 *
 * Governance runs in the child (its threads are started after the fork): the order at mount is
 * gov_open, consent, the contract checks, the use budget, key release, then the key release
 * and mount events; at unmount, the filesystem stops calling the hooks before the unmount event
 * and gov_close.
 *
 * Called as mount.ccrfs (mount(8), fstab) or by mount.fuse3 for type fuse.ccrfs, the arguments
 * are SOURCE DIR [-o OPTS]: cli_cmd_mount_helper turns them into a mount command. */
#include "cli/commands.h"
#include "cli/keysrc.h"
#include "cli/util.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secmem.h"
#include "fetch/http.h"
#include "fetch/store.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "fs/mount.h"
#include "governance/admission.h"
#include "governance/client.h"
#include "governance/gov.h"
#include "format/crypto.h"
#include "format/dataset.h"
#include "keys/release.h"

#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char mount_usage[] =
    "usage: ccrfs mount [-f] [-d] [-o OPTS] [--dataset-id sha256:...] [governance options] KEY_SOURCE\n"
    "                   STORE_URL MOUNTPOINT\n"
    "Mounts the dataset at STORE_URL (a folder, file://, http(s)://, az://) at MOUNTPOINT: read-only by\n"
    "default; -o mode=no-egress lets apps write into an encrypted overlay that never leaves the\n"
    "machine; -o mode=sink,recipient=PUB.pem makes an empty output mount whose closed files are\n"
    "sealed for the recipient and uploaded to STORE_URL (no key source needed).\n"
    "Returns once the mount is live; unmount with 'fusermount3 -u MOUNTPOINT' or SIGTERM.\n"
    "  -f, --foreground        stay in the foreground, log to stderr\n"
    "  -d, --debug             trace every FUSE request (implies -f)\n"
    "  -v, --verbose           log more\n"
    "  --dataset-id ID         refuse to mount unless the manifest's id is ID\n"
    "governance (docs/GOVERNANCE.md, docs/CONTRACTS.md):\n"
    "  --audit-log FILE        audit log file (default without --governance: under the state folder)\n"
    "  --governance URL        governance service: events, consent, contracts, use budget\n"
    "  --gov-token-file FILE   its bearer token (default $CCRFS_GOV_TOKEN)\n"
    "  --contract ID           mount under this contract (needs --governance)\n"
    "  --contract-file FILE    mount under the signed contract in FILE (no service: no use counter)\n"
    "  --purpose TEXT          the purpose the mount is for; must be the contract's\n"
    "  --spool DIR             durable event spool (default $CCRFS_STATE_DIR or /var/lib/ccrfs,\n"
    "                          then /<mount point hash>/spool)\n"
    "  -o OPTS                 comma-separated mount options (docs/MOUNT.md):\n"
    "     cache_size=SIZE      plaintext block cache in locked memory (256M)\n"
    "     prefetch_max=SIZE    fetch-ahead bytes in flight (64M)\n"
    "     fetch_workers=N      fetch-ahead threads (4)\n"
    "     readahead_kb=N       the kernel's read-ahead for the mount (8192; 0 leaves it)\n"
    "     uid=N,gid=N          owner of every file (default: the caller)\n"
    "     allow_other          let other users in (the default when root); noallow_other\n"
    "     dataset_id=ID        as --dataset-id\n"
    "     mode=read-only|no-egress|sink, recipient=FILE  access mode (checked against a contract)\n"
    "     overlay_dir=DIR      where no-egress and sink keep written bytes, encrypted (/var/tmp)\n"
    "     overlay_max=SIZE     bound on those bytes (writes past it fail with ENOSPC)\n"
    "     audit_log=F, governance=URL, gov_token_file=F, contract=ID, contract_file=F, purpose=T,\n"
    "     spool=DIR, spool_max=SIZE, grace=S, consent_interval=S, flush_interval_ms=N,\n"
    "     flush_ranges=N, checkpoint_events=N, audit_key=PEM, governance_optional  governance\n"
    "     key_file=FILE, kbs=URL,resource=R,attest=A, skr=URL,skr_kid=KID,...  key source\n"
    "     any other FUSE mount option (fsname=, ...)\n";

struct mount_ready {
    int fd;         /* write end of the readiness pipe, -1 in the foreground */
    int background; /* detach stdio once ready */
};

/* Called when the mount answers: tell the waiting parent, then let go of the terminal. */
static void mount_on_ready(void *arg, int ok)
{
    struct mount_ready *r = arg;
    char status = ok ? '0' : '1';
    int null;

    if (r->fd < 0)
        return;
    if (r->background && ok) {
        /* Relative paths (store, key file, mount point) were resolved by now. */
        if (chdir("/") != 0)
            ccr_log_debug("cannot change to /");
        ccr_log_use_syslog("ccrfs");
        if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
            (void)dup2(null, STDIN_FILENO);
            (void)dup2(null, STDOUT_FILENO);
            (void)dup2(null, STDERR_FILENO);
            if (null > STDERR_FILENO)
                close(null);
        }
    }
    if (write(r->fd, &status, 1) != 1)
        ccr_log_debug("the parent stopped waiting for the mount");
    close(r->fd);
    r->fd = -1;
}

/* The parent: waits for the child's verdict and exits with it. */
static int mount_wait_child(pid_t pid, int fd)
{
    char status;
    ssize_t n;
    int ws;

    do {
        n = read(fd, &status, 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n == 1 && status == '0')
        return CLI_EXIT_OK;
    /* The child printed why; collect it if it has exited. */
    if (waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) != 0)
        return WEXITSTATUS(ws);
    return CLI_EXIT_FAIL;
}

/* Governance settings of one mount, from long options and -o. */
struct mount_gov_args {
    struct gov_config cfg;
    const char *contract_file, *purpose;
    char *opt_copy; /* -o values gov_config_option points into */
    char *default_spool, *default_log;
};

/* Lets the consent thread reach the mount, which exists only from fs_mount_create on and
 * must not be reached once it is being destroyed. */
struct mount_revoke_link {
    pthread_mutex_t lock;
    struct fs_mount *m;
    int revoked;
    char reason[256];
};

static void mount_on_revoke(void *arg, const char *reason)
{
    struct mount_revoke_link *l = arg;
    pthread_mutex_lock(&l->lock);
    l->revoked = 1;
    snprintf(l->reason, sizeof l->reason, "%s", reason);
    if (l->m != NULL) {
        fs_mount_revoke(l->m, reason);
        ccr_log_warn("keys and plaintext cache wiped: %s", reason);
    }
    pthread_mutex_unlock(&l->lock);
}

static int mount_file_size(void *arg, const char *path, uint64_t *size)
{
    const struct fmt_dataset *ds = arg;
    const struct fmt_manifest *mf = &ds->manifest;
    size_t lo = 0, hi = mf->count;

    while (lo < hi) { /* entries are sorted by path, bytewise */
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

/* $CCRFS_STATE_DIR (or /var/lib/ccrfs) / first 16 hex digits of SHA-256(absolute mount point). */
static int mount_state_dir(const char *mountpoint, char **out)
{
    const char *base = getenv("CCRFS_STATE_DIR");
    uint8_t d[FMT_SHA256_LEN];
    char hex[2 * FMT_SHA256_LEN + 1], *abs = realpath(mountpoint, NULL), *dir;
    size_t len;

    if (base == NULL || base[0] == '\0')
        base = "/var/lib/ccrfs";
    if (abs == NULL)
        return ccr_err_set(errno, "%s: %s", mountpoint, strerror(errno));
    fmt_sha256(abs, strlen(abs), d);
    free(abs);
    ccr_hex_encode(d, sizeof d, hex);
    len = strlen(base) + 18;
    if ((dir = malloc(len)) == NULL)
        return ENOMEM;
    snprintf(dir, len, "%s/%.16s", base, hex);
    *out = dir;
    return 0;
}

/* Fills the defaults: a spool under the state folder, and the embedded audit log file when
 * no sink was named. */
static int mount_gov_defaults(struct mount_gov_args *ga, const char *mountpoint)
{
    char *dir = NULL;
    int rc;

    if (ga->cfg.spool_dir != NULL && (ga->cfg.audit_log != NULL || ga->cfg.governance_url != NULL))
        return 0;
    if ((rc = mount_state_dir(mountpoint, &dir)) != 0)
        return rc;
    if ((rc = ccr_mkdirs(dir, 0700)) != 0) {
        free(dir);
        return ccr_err_wrap(rc, "state folder: ");
    }
    if (ga->cfg.spool_dir == NULL) {
        if ((ga->default_spool = ccr_path_join(dir, "spool")) == NULL) {
            free(dir);
            return ENOMEM;
        }
        ga->cfg.spool_dir = ga->default_spool;
    }
    if (ga->cfg.audit_log == NULL && ga->cfg.governance_url == NULL) {
        if ((ga->default_log = ccr_path_join(dir, "audit.log")) == NULL) {
            free(dir);
            return ENOMEM;
        }
        ga->cfg.audit_log = ga->default_log;
        ccr_log_info("audit log: %s (give --audit-log or --governance to choose)", ga->default_log);
    }
    free(dir);
    return 0;
}

static int64_t mount_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The dataset's id, from the manifest object's bytes: known before any key is asked for. */
static int mount_manifest_id(struct fetch_store *store, char id[FMT_DATASET_ID_LEN + 1])
{
    uint8_t *obj = NULL;
    size_t len;
    int rc = fetch_read_object(store, FMT_MANIFEST_NAME, FMT_MANIFEST_MAX, &obj, &len);
    if (rc != 0)
        return rc == ENOENT ? ccr_err_set(ENOENT, "not a dataset: no %s", FMT_MANIFEST_NAME) : rc;
    fmt_dataset_id(obj, len, id);
    free(obj);
    return 0;
}

/* Refuses the mount: the reason goes to the audit log as a denial, and to the user. */
static int mount_refuse(struct gov *g, const char *mountpoint, int rc)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ccr_err_msg(rc));
    if (g != NULL && gov_record_denial(g, "mount", mountpoint, msg) != 0)
        ccr_log_warn("the refusal could not be recorded");
    return cli_fail("mount refused: %s", msg);
}

/* Contract checks and the use budget, between consent and key release. */
static int mount_contract(struct mount_gov_args *ga, struct gov *g, struct gov_signed_contract *sc,
                          const char *mountpoint, const char *dataset_id, const struct fs_options *opts)
{
    const struct gov_contract_dataset *d = NULL;
    struct gov_admission req;
    struct gov_use use;
    int rc;

    if (ga->contract_file == NULL) {
        if ((rc = gov_client_signed_contract(ga->cfg.governance_url, ga->cfg.token_file, ga->cfg.contract_id,
                                             sc)) != 0)
            return mount_refuse(g, mountpoint, rc);
    }
    memset(&req, 0, sizeof req);
    req.dataset_id = dataset_id;
    req.mode = opts->mode == FS_MODE_SINK        ? GOV_MODE_SINK
               : opts->mode == FS_MODE_NO_EGRESS ? GOV_MODE_NO_EGRESS
                                                 : GOV_MODE_READ_ONLY;
    req.purpose = ga->purpose;
    req.now_ms = mount_wall_ms();
    if ((rc = gov_admit(sc, &req, &d)) != 0)
        return mount_refuse(g, mountpoint, rc);
    ga->cfg.max_bytes_per_mount = d->max_bytes_per_mount;
    ga->cfg.not_after_ms = sc->c->expiry_ms;
    if (ga->cfg.governance_url != NULL && ga->cfg.contract_id != NULL) {
        /* Counted before the key is requested: a spent budget means no key release. */
        if ((rc = gov_client_use(ga->cfg.governance_url, ga->cfg.token_file, sc->c->id, dataset_id, &use)) !=
            0) {
            if (rc == ENOSPC)
                ccr_err_wrap(rc, "use budget of dataset %s spent: ", dataset_id);
            return mount_refuse(g, mountpoint, rc);
        }
        if (use.max_bytes_per_mount != 0 &&
            (ga->cfg.max_bytes_per_mount == 0 || use.max_bytes_per_mount < ga->cfg.max_bytes_per_mount))
            ga->cfg.max_bytes_per_mount = use.max_bytes_per_mount;
        ccr_log_info("contract %s: use %llu of %llu of dataset %s", sc->c->id, (unsigned long long)use.used,
                     (unsigned long long)use.max_mounts, dataset_id);
    } else {
        ccr_log_info("contract %s from a file: signatures checked; no governance service counts uses",
                     sc->c->id);
    }
    gov_set_limits(g, ga->cfg.max_bytes_per_mount, ga->cfg.not_after_ms);
    if (ga->cfg.max_bytes_per_mount != 0)
        ccr_log_info("byte budget: %llu bytes for this mount",
                     (unsigned long long)ga->cfg.max_bytes_per_mount);
    return 0;
}

static int mount_serve(const char *url, const char *mountpoint, struct keys_release_request *keysrc,
                       const char *expect_id, const struct fs_options *opts, struct mount_gov_args *ga,
                       int debug, struct mount_ready *ready)
{
    struct fetch_store *store = NULL;
    struct fmt_dek *dek = NULL;
    struct fmt_dataset *ds = NULL;
    struct keys_release_info info;
    struct fs_mount *m = NULL;
    struct fs_mount_config conf;
    struct fs_access_hooks hooks;
    struct fetch_options fopt;
    struct gov *g = NULL;
    struct gov_signed_contract sc;
    struct gov_mount_info mi;
    struct mount_revoke_link link = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, ""};
    char manifest_id[FMT_DATASET_ID_LEN + 1], contract_ds[GOV_DATASET_ID_LEN + 1],
        *abs_url = NULL, *abs_mp = NULL, *source = NULL;
    int rc, status = CLI_EXIT_FAIL, recorded = 0, started = 0;

    memset(&sc, 0, sizeof sc);
    ccr_secmem_harden_process();
    /* The daemon leaves its working folder once mounted: hold local stores by absolute path. */
    if (strstr(url, "://") == NULL || strncmp(url, "file://", 7) == 0) {
        const char *path = strncmp(url, "file://", 7) == 0 ? url + 7 : url;
        if ((abs_url = realpath(path, NULL)) == NULL) {
            cli_fail("%s: %s", url, strerror(errno));
            goto out;
        }
        url = abs_url;
    }
    /* Before governance takes the mount point's spool: a busy one is reported as such. */
    if ((rc = fs_mount_check_point(mountpoint)) != 0) {
        cli_fail_rc(rc, "mount");
        goto out;
    }
    abs_mp = realpath(mountpoint, NULL);
    /* The source as recorded and as shown in the world-readable /proc/mounts: no query string
     * (a SAS token, a pre-signed signature) and no userinfo. */
    if ((source = malloc(strlen(url) + 1)) == NULL) {
        cli_fail("out of memory");
        goto out;
    }
    fetch_url_public(url, source, strlen(url) + 1);
    if (ga->contract_file != NULL) {
        /* Read first: its id names every event of this mount. */
        if ((rc = gov_signed_contract_load(ga->contract_file, &sc)) != 0) {
            cli_fail_rc(rc, "contract file");
            goto out;
        }
        if (ga->cfg.contract_id != NULL && strcmp(ga->cfg.contract_id, sc.c->id) != 0) {
            cli_fail("--contract %s but the contract file holds contract %s", ga->cfg.contract_id, sc.c->id);
            goto out;
        }
        ga->cfg.contract_id = sc.c->id;
    }
    memset(&fopt, 0, sizeof fopt);
    if ((rc = fetch_options_from_env(&fopt)) != 0) {
        cli_fail_rc(rc, "store options");
        goto out;
    }
    if ((rc = fetch_store_open(url, &fopt, &store)) != 0) {
        cli_fail_rc(rc, url);
        goto out;
    }
    /* A sink's dataset is its recipient's key (an output mount has no manifest); the others
     * are named by the manifest's hash. */
    if (opts->mode == FS_MODE_SINK) {
        if (opts->recipient == NULL) {
            cli_fail("a sink mount needs -o recipient=FILE");
            goto out;
        }
        if ((rc = gov_recipient_dataset_id(opts->recipient, contract_ds)) != 0) {
            cli_fail_rc(rc, NULL);
            goto out;
        }
    } else {
        if ((rc = mount_manifest_id(store, manifest_id)) != 0) {
            cli_fail_rc(rc, url);
            goto out;
        }
        if (expect_id != NULL && strcmp(expect_id, manifest_id) != 0) {
            cli_fail("%s: dataset id mismatch: expected %s, the manifest is %s", url, expect_id, manifest_id);
            goto out;
        }
        memcpy(contract_ds, manifest_id, sizeof manifest_id);
    }

    ga->cfg.on_revoke = mount_on_revoke;
    ga->cfg.on_revoke_arg = &link;
    if ((rc = mount_gov_defaults(ga, mountpoint)) != 0 || (rc = gov_open(&ga->cfg, &g)) != 0) {
        cli_fail_rc(rc, "governance");
        goto out;
    }
    if ((rc = gov_check_consent(g)) != 0) {
        mount_refuse(g, mountpoint, rc);
        goto out;
    }
    if ((ga->contract_file != NULL || ga->cfg.contract_id != NULL) &&
        mount_contract(ga, g, &sc, mountpoint, contract_ds, opts) != 0)
        goto out;

    keysrc->dataset_store = store;
    memset(&info, 0, sizeof info);
    if (opts->mode == FS_MODE_SINK)
        goto record; /* an output mount: no dataset to read, no key to release */
    if ((rc = keys_release_obtain(keysrc, &dek, &info)) != 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "no key: %s", ccr_err_msg(rc));
        gov_record_denial(g, "key_release", mountpoint, msg);
        cli_fail_rc(rc, "key");
        goto out;
    }
    if (!info.attested)
        ccr_log_warn(
            "WARNING: the key was NOT released by attestation (%s); use only to test a dataset locally",
            info.method[0] ? info.method : "unattested source");
    else
        ccr_log_info("key released by %s (%s, evidence %s)", info.broker, info.method, info.evidence);
    if ((rc = gov_record_key_release(g, &info)) != 0) {
        cli_fail_rc(rc, "audit");
        goto out;
    }
    /* Pinned to the id checked above: a manifest swapped since then is refused. */
    if ((rc = fmt_dataset_open(store, dek, manifest_id, &ds)) != 0) {
        cli_fail_rc(rc, url);
        goto out;
    }
    if (expect_id == NULL)
        ccr_log_info("mounting dataset %s (not pinned: give --dataset-id to refuse any other)", ds->id);
record:
    mi.mountpoint = abs_mp ? abs_mp : mountpoint;
    mi.dataset_id = ds != NULL ? ds->id : contract_ds;
    mi.source = source;
    mi.mode = fs_access_mode_name(opts->mode);
    if ((rc = gov_record_mount(g, &mi)) != 0) {
        cli_fail_rc(rc, "audit");
        goto out;
    }
    recorded = 1;
    if (ds != NULL)
        gov_set_file_size(g, mount_file_size, ds);
    gov_fs_hooks(g, &hooks);
    memset(&conf, 0, sizeof conf);
    conf.sink_store = opts->mode == FS_MODE_SINK ? store : NULL;
    conf.ds = ds;
    conf.dek = dek;
    conf.opts = opts;
    conf.debug = debug;
    conf.source = source;
    conf.hooks = &hooks;
    if ((rc = fs_mount_create(&conf, &m)) != 0) {
        cli_fail_rc(rc, "mount");
        goto out;
    }
    pthread_mutex_lock(&link.lock);
    link.m = m;
    if (link.revoked) /* consent went between the check and now */
        fs_mount_revoke(m, link.reason);
    pthread_mutex_unlock(&link.lock);
    if ((rc = fs_mount_start(m, mountpoint)) != 0) {
        cli_fail_rc(rc, "mount");
        goto out;
    }
    started = 1;
    if ((rc = fs_mount_run(m, mount_on_ready, ready)) != 0)
        ccr_log_error("%s", ccr_err_msg(rc));
    else
        status = CLI_EXIT_OK;
out:
    /* Reached before the mount was ready: tell the parent it failed. */
    mount_on_ready(ready, 0);
    pthread_mutex_lock(&link.lock);
    link.m = NULL;
    pthread_mutex_unlock(&link.lock);
    /* Files still open are released here: the last hooks run before governance closes. */
    fs_mount_destroy(m);
    if (g != NULL) {
        /* A mount event always gets its unmount, also when the kernel refused the mount. */
        const char *why = !started       ? "the mount failed"
                          : link.revoked ? "unmounted after revocation"
                                         : "unmounted";
        if (recorded && gov_record_unmount(g, why) != 0)
            ccr_log_error("the unmount could not be recorded: %s", ccr_err_msg(EIO));
        gov_close(g);
    }
    gov_signed_contract_release(&sc);
    fmt_dataset_close(ds);
    fetch_store_destroy(store);
    fmt_dek_free(dek);
    free(abs_url);
    free(abs_mp);
    free(source);
    return status;
}

/* Takes governance's options out of what -o left for FUSE. */
static int mount_gov_from_opts(struct mount_gov_args *ga, struct fs_options *opts)
{
    char *rest, *p, *next;
    size_t n = 0;
    int rc;

    if (opts->fuse_opts == NULL || opts->fuse_opts[0] == '\0')
        return 0;
    if ((ga->opt_copy = strdup(opts->fuse_opts)) == NULL ||
        (rest = calloc(1, strlen(opts->fuse_opts) + 1)) == NULL)
        return ENOMEM;
    for (p = ga->opt_copy; p != NULL; p = next) {
        char *eq;
        if ((next = strchr(p, ',')) != NULL)
            *next++ = '\0';
        eq = strchr(p, '=');
        if (eq != NULL)
            *eq = '\0';
        if (strcmp(p, "contract_file") == 0 || strcmp(p, "purpose") == 0) {
            if (eq == NULL || eq[1] == '\0') {
                free(rest);
                return ccr_err_set(EINVAL, "option %s needs a value", p);
            }
            if (p[0] == 'c')
                ga->contract_file = eq + 1;
            else
                ga->purpose = eq + 1;
            continue;
        }
        rc = gov_config_option(&ga->cfg, p, eq != NULL ? eq + 1 : NULL);
        if (rc == 0)
            continue;
        if (rc != ENOENT) {
            free(rest);
            return rc;
        }
        if (eq != NULL)
            *eq = '=';
        n += (size_t)snprintf(rest + n, strlen(opts->fuse_opts) + 1 - n, "%s%s", n ? "," : "", p);
    }
    free(opts->fuse_opts);
    opts->fuse_opts = rest;
    return 0;
}

static void mount_gov_free(struct mount_gov_args *ga)
{
    free(ga->opt_copy);
    free(ga->default_spool);
    free(ga->default_log);
}

/* Fills the key source from -o options where the command line gave none. */
static void mount_keysrc_from_opts(struct keys_release_request *k, const struct fs_options *o)
{
    if (k->key_file || k->kbs_url || k->skr_url)
        return;
    k->key_file = o->key_file;
    k->kbs_url = o->kbs;
    k->resource = o->resource;
    k->attest = o->attest;
    k->skr_url = o->skr;
    k->skr_maa_endpoint = o->skr_maa;
    k->skr_akv_endpoint = o->skr_akv;
    k->skr_kid = o->skr_kid;
    if (k->ca_file == NULL)
        k->ca_file = o->broker_ca;
}

enum {
    MOUNT_OPT_AUDIT_LOG = 0x2000,
    MOUNT_OPT_GOVERNANCE,
    MOUNT_OPT_GOV_TOKEN,
    MOUNT_OPT_CONTRACT,
    MOUNT_OPT_CONTRACT_FILE,
    MOUNT_OPT_PURPOSE,
    MOUNT_OPT_SPOOL,
};

int cli_cmd_mount(int argc, char **argv)
{
    static const struct option long_opts[] = {
        CLI_KEYSRC_LONG_OPTIONS,
        {"foreground", no_argument, 0, 'f'},
        {"debug", no_argument, 0, 'd'},
        {"verbose", no_argument, 0, 'v'},
        {"dataset-id", required_argument, 0, 'i'},
        {"audit-log", required_argument, 0, MOUNT_OPT_AUDIT_LOG},
        {"governance", required_argument, 0, MOUNT_OPT_GOVERNANCE},
        {"gov-token-file", required_argument, 0, MOUNT_OPT_GOV_TOKEN},
        {"contract", required_argument, 0, MOUNT_OPT_CONTRACT},
        {"contract-file", required_argument, 0, MOUNT_OPT_CONTRACT_FILE},
        {"purpose", required_argument, 0, MOUNT_OPT_PURPOSE},
        {"spool", required_argument, 0, MOUNT_OPT_SPOOL},
        {"help", no_argument, 0, 'h'},
        {0}};
    struct keys_release_request keysrc = {0};
    struct fs_options opts;
    struct mount_gov_args ga;
    /* Long governance options, applied over -o ones (the command line wins). */
    const char *l_audit = NULL, *l_gov = NULL, *l_token = NULL, *l_contract = NULL, *l_cfile = NULL,
               *l_purpose = NULL, *l_spool = NULL;
    const char *id_text = NULL;
    char id[FMT_DATASET_ID_LEN + 1];
    struct mount_ready ready = {-1, 0};
    int c, foreground = 0, debug = 0, status, pipefd[2], rc;
    pid_t pid;

    fs_options_init(&opts);
    memset(&ga, 0, sizeof ga);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "fdvo:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            foreground = 1;
            break;
        case 'd':
            debug = foreground = 1;
            break;
        case 'v':
            ccr_log_set_level(CCR_LOG_DEBUG);
            break;
        case 'i':
            id_text = optarg;
            break;
        case MOUNT_OPT_AUDIT_LOG:
            l_audit = optarg;
            break;
        case MOUNT_OPT_GOVERNANCE:
            l_gov = optarg;
            break;
        case MOUNT_OPT_GOV_TOKEN:
            l_token = optarg;
            break;
        case MOUNT_OPT_CONTRACT:
            l_contract = optarg;
            break;
        case MOUNT_OPT_CONTRACT_FILE:
            l_cfile = optarg;
            break;
        case MOUNT_OPT_PURPOSE:
            l_purpose = optarg;
            break;
        case MOUNT_OPT_SPOOL:
            l_spool = optarg;
            break;
        case 'o':
            if (fs_options_parse(&opts, optarg) != 0) {
                status = cli_usage("%s", ccr_err_msg(EINVAL));
                goto out;
            }
            break;
        case 'h':
            fputs(mount_usage, stdout);
            fputs(CLI_KEYSRC_USAGE, stdout);
            status = CLI_EXIT_OK;
            goto out;
        default:
            if (!cli_keysrc_take(&keysrc, c, optarg)) {
                status = cli_usage("unknown option or missing value: %s", argv[optind - 1]);
                goto out;
            }
        }
    }
    if ((rc = mount_gov_from_opts(&ga, &opts)) != 0) {
        status = cli_usage("%s", ccr_err_msg(rc));
        goto out;
    }
    {
        const char *const *longs[] = {&l_audit, &l_gov, &l_token, &l_contract, &l_spool};
        const char *keys[] = {"audit_log", "governance", "gov_token_file", "contract", "spool"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            if (*longs[i] != NULL && (rc = gov_config_option(&ga.cfg, keys[i], *longs[i])) != 0) {
                status = cli_usage("--%s: %s", keys[i], ccr_err_msg(rc));
                goto out;
            }
        }
    }
    if (l_cfile != NULL)
        ga.contract_file = l_cfile;
    if (l_purpose != NULL)
        ga.purpose = l_purpose;
    if (ga.cfg.contract_id != NULL && ga.contract_file == NULL && ga.cfg.governance_url == NULL) {
        status = cli_usage("--contract needs --governance URL (or --contract-file FILE to test locally)");
        goto out;
    }
    if (ga.purpose != NULL && ga.cfg.contract_id == NULL && ga.contract_file == NULL) {
        status = cli_usage("--purpose is checked against a contract: give --contract or --contract-file");
        goto out;
    }
    if (opts.mode == FS_MODE_SINK && opts.recipient == NULL) {
        status = cli_usage("-o mode=sink needs -o recipient=FILE (the recipient's PEM public key)");
        goto out;
    }
    mount_keysrc_from_opts(&keysrc, &opts);
    if (opts.mode != FS_MODE_SINK && (status = cli_keysrc_check(&keysrc)) != 0)
        goto out;
    if (argc - optind != 2) {
        status = cli_usage("expected STORE_URL and MOUNTPOINT");
        goto out;
    }
    if (id_text == NULL)
        id_text = opts.dataset_id;
    if (id_text != NULL && fmt_dataset_id_parse(id_text, id) != 0) {
        status = cli_usage("%s", ccr_err_msg(EINVAL));
        goto out;
    }
    if (!foreground) {
        if (pipe2(pipefd, O_CLOEXEC) != 0) {
            status = cli_fail("cannot create a pipe: %s", strerror(errno));
            goto out;
        }
        fflush(NULL);
        /* Nothing has started a thread yet: governance's start in the child, after this. */
        if ((pid = fork()) < 0) {
            status = cli_fail("cannot fork: %s", strerror(errno));
            goto out;
        }
        if (pid > 0) {
            close(pipefd[1]);
            status = mount_wait_child(pid, pipefd[0]);
            goto out;
        }
        close(pipefd[0]);
        (void)setsid();
        ready.fd = pipefd[1];
        ready.background = 1;
    }
    status =
        mount_serve(argv[optind], argv[optind + 1], &keysrc, id_text ? id : NULL, &opts, &ga, debug, &ready);
out:
    mount_gov_free(&ga);
    fs_options_free(&opts);
    return status;
}

int cli_cmd_mount_helper(int argc, char **argv)
{
    /* SOURCE DIR [-sfnvh] [-o OPTS]... as mount(8) and mount.fuse3 call helpers. */
    char **args = calloc((size_t)argc + 4, sizeof *args);
    const char *src = NULL, *dir = NULL;
    int n = 0, status;

    if (args == NULL)
        return cli_fail("out of memory");
    args[n++] = "mount";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            args[n++] = "-o";
            args[n++] = argv[++i];
        } else if (strncmp(argv[i], "-o", 2) == 0 && argv[i][2] != '\0') {
            args[n++] = "-o";
            args[n++] = argv[i] + 2;
        } else if (argv[i][0] == '-') {
            /* -s sloppy, -n no mtab, -v verbose, -f fake: nothing to do for FUSE. */
            if (strcmp(argv[i], "-f") == 0) {
                free(args);
                return CLI_EXIT_OK;
            }
        } else if (src == NULL) {
            src = argv[i];
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            free(args);
            return cli_usage("usage: mount.ccrfs SOURCE DIR -o key_file=FILE[,OPTIONS]");
        }
    }
    if (src == NULL || dir == NULL) {
        free(args);
        return cli_usage("usage: mount.ccrfs SOURCE DIR -o key_file=FILE[,OPTIONS]");
    }
    args[n++] = (char *)src;
    args[n++] = (char *)dir;
    args[n] = NULL;
    status = cli_cmd_mount(n, args);
    free(args);
    return status;
}
