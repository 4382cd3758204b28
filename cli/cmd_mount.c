/* ccrfs mount: serves a dataset as a read-only FUSE file system, decrypting lazily.
 *
 * Without -f the command returns only once the mount answers (or with an error when it cannot
 * mount): it forks, the child does all the work and reports through a pipe when the mount is
 * live, and the parent exits with that result. The child then detaches and logs to syslog, or
 * to a file: the one -o log_file= names, or ccrfs.log in the state folder where there is no
 * syslog (no /dev/log, as in most containers) and its messages would be lost.
 *
 * The mount sequence itself, where everything that makes the mount safe is decided (consent,
 * contract, key release, events), is launch/mount.h; it runs in the child, after the fork,
 * because governance starts threads. This file parses arguments and reports.
 *
 * Called as mount.ccrfs (mount(8), fstab) or by mount.fuse3 for type fuse.ccrfs, the arguments
 * are SOURCE DIR [-o OPTS]: cli_cmd_mount_helper turns them into a mount command. */
#include "cli/commands.h"
#include "cli/keysrc.h"
#include "cli/util.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/secmem.h"
#include "format/manifest.h"
#include "fs/options.h"
#include "governance/depa.h"
#include "governance/gov.h"
#include "launch/initdata.h"
#include "launch/mount.h"
#include "launch/state.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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
    "  --log-file FILE         after detaching, log to FILE (rotated to FILE.1 past 8 MiB) instead of\n"
    "                          syslog; without syslog (no /dev/log) the default is ccrfs.log in the\n"
    "                          state folder ($CCRFS_STATE_DIR or /var/lib/ccrfs, /<mount point hash>)\n"
    "  --dataset-id ID         refuse to mount unless the manifest's id is ID\n"
    "  --dataset UUID          a DEPA contract's dataset (with --governance and --contract): its\n"
    "                          registered id is pinned; STORE_URL may be left out (the registry's\n"
    "                          store, else the contract's url); an azure key fills --skr-kid,\n"
    "                          --skr-maa and --skr-akv where not given\n"
    "  --init-data FILE        the guest's launch configuration (CoCo init-data TOML with\n"
    "                          [data].\"ccrfs.json\", docs/MOUNT.md): its digest must be this guest's\n"
    "                          HOST_DATA (needs --attest); governance, contract, dataset and mode,\n"
    "                          broker and resource are taken from it; contradicting arguments are\n"
    "                          refused\n"
    "governance (docs/GOVERNANCE.md, docs/CONTRACTS.md):\n"
    "  --audit-log FILE        audit log file (default without --governance: under the state folder)\n"
    "  --governance URL        governance service: events, consent, contracts, use budget\n"
    "  --gov-token-file FILE   the clean room's credential for it: a token, or its line \"TOKEN PARTY\n"
    "                          cleanroom\" (default $CCRFS_GOV_TOKEN, then $CCRFS_GOV_TOKEN_FILE)\n"
    "  --contract ID           mount under this contract (needs --governance)\n"
    "  --governance-api API    ccrfs (default: ccrfs's service) or acr (Azure Clean Room's sidecar)\n"
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
    "     log_file=FILE        as --log-file\n"
    "     any other FUSE mount option (fsname=, ...)\n";

struct mount_ready {
    int fd;                        /* write end of the readiness pipe, -1 in the foreground */
    int background;                /* detach stdio once ready */
    int log_file;                  /* messages go to a log file: no syslog after detaching */
    const struct launch_mount *lm; /* what is served, for the startup line */
    char mountpoint[4096];         /* absolute: the daemon leaves its working folder */
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
        if (r->log_file)
            ccr_log_stderr_off();
        else
            ccr_log_use_syslog("ccrfs");
        if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
            (void)dup2(null, STDIN_FILENO);
            (void)dup2(null, STDOUT_FILENO);
            (void)dup2(null, STDERR_FILENO);
            if (null > STDERR_FILENO)
                close(null);
        }
    }
    if (ok && r->lm != NULL)
        ccr_log_info("serving dataset %s from %s at %s (pid %ld)", launch_mount_dataset_id(r->lm),
                     launch_mount_source(r->lm), r->mountpoint, (long)getpid());
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
    const char *contract_file, *purpose, *log_file;
    char *opt_copy; /* -o values gov_config_option points into */
};

/* The child's work: the mount sequence (launch/), reporting to the parent through ready. */
static int mount_serve(const struct launch_request *req, struct mount_ready *ready)
{
    struct launch_mount *lm = NULL;
    int rc, status = CLI_EXIT_FAIL;

    if ((rc = launch_prepare(req, &lm)) != 0 || (rc = launch_start(lm)) != 0) {
        cli_fail_rc(rc, NULL);
    } else {
        ready->lm = lm;
        if ((rc = launch_serve(lm, mount_on_ready, ready)) != 0)
            ccr_log_error("%s", ccr_err_msg(rc));
        else
            status = CLI_EXIT_OK;
    }
    /* Reached before the mount was ready: tell the parent it failed. */
    mount_on_ready(ready, 0);
    launch_finish(lm);
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
        /* Not FUSE's, nor governance's: taken out before either sees the options. */
        if (strcmp(p, "contract_file") == 0 || strcmp(p, "purpose") == 0 || strcmp(p, "log_file") == 0) {
            if (eq == NULL || eq[1] == '\0') {
                free(rest);
                return ccr_err_set(EINVAL, "option %s needs a value", p);
            }
            if (p[0] == 'c')
                ga->contract_file = eq + 1;
            else if (p[0] == 'p')
                ga->purpose = eq + 1;
            else
                ga->log_file = eq + 1;
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
}

/* A registered dataset's key source: -o style key options only ("kbs=URL,resource=R,attest=A",
 * "skr=URL", "key_file=F"), so a registration cannot change anything else about the mount. */
static int mount_registry_keysrc(const char *spec, struct fs_options *out)
{
    static const char *const allowed[] = {"key_file", "key",     "kbs",     "resource",  "attest", "skr",
                                          "skr_maa",  "skr_akv", "skr_kid", "broker_ca", NULL};
    char *copy = strdup(spec), *save = NULL;
    int rc = copy != NULL ? 0 : ENOMEM;

    for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item != NULL && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        size_t n = strcspn(item, "=");
        int ok = 0;
        for (size_t i = 0; allowed[i] != NULL; i++)
            ok |= strlen(allowed[i]) == n && strncmp(item, allowed[i], n) == 0;
        if (!ok)
            rc = ccr_err_set(EINVAL,
                             "the registered key source \"%s\" holds \"%.*s\", which is not a key option",
                             spec, (int)n, item);
    }
    free(copy);
    return rc != 0 ? rc : fs_options_parse(out, spec);
}

/* Fills the key source from -o options where the command line gave none. */
static void mount_keysrc_from_opts(struct keys_release_request *k, const struct fs_options *o)
{
    if (k->key_file || k->kbs_url || k->skr_url)
        return;
    k->key_file = o->key_file;
    k->kbs_url = o->kbs;
    /* --attest and --resource given without --kbs (a sink under --init-data) are kept */
    if (k->resource == NULL)
        k->resource = o->resource;
    if (k->attest == NULL)
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
    MOUNT_OPT_LOG_FILE,
    MOUNT_OPT_GOV_API,
    MOUNT_OPT_DATASET,
    MOUNT_OPT_INIT_DATA,
};

/* -o mode=... given: init-data then checks it instead of setting it. */
static int mount_opts_name_mode(const char *o)
{
    for (const char *p = o; p != NULL; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, "mode=", 5) == 0)
            return 1;
    return 0;
}

/* Loads --init-data and fills in or checks the arguments against it (launch/initdata.h). */
static int mount_apply_init_data(const char *file, struct keys_initdata *init, struct launch_initdata_args *a)
{
    int rc;

    if ((rc = keys_initdata_load(file, init)) != 0)
        return rc;
    return launch_initdata_apply(init, file, a);
}

/* Where the daemon logs besides stderr: the file named, or, detached without syslog, the state
 * folder's. Opened before anything is logged so the file holds the mount's whole story. */
static int mount_open_log(const char *named, const char *mountpoint, int background, int *using_file)
{
    char *path = NULL;
    int rc;

    *using_file = 0;
    if (named != NULL) {
        if (named[0] != '/') {
            /* The daemon leaves its working folder; rotation renames by path. */
            char *cwd = getcwd(NULL, 0);
            if (cwd == NULL)
                return ccr_err_set(errno, "log file %s: %s", named, strerror(errno));
            path = ccr_path_join(cwd, named);
            free(cwd);
            if (path == NULL)
                return ENOMEM;
        }
        rc = ccr_log_use_file(path != NULL ? path : named, 0);
        free(path);
        if (rc == 0)
            *using_file = 1;
        return rc;
    }
    if (!background || ccr_log_syslog_available())
        return 0;
    if ((rc = launch_log_default(mountpoint, &path)) == 0 && (rc = ccr_log_use_file(path, 0)) == 0) {
        *using_file = 1;
        ccr_log_info("no syslog here (no /dev/log): logging to %s (--log-file to choose)", path);
    } else {
        ccr_log_warn("no syslog here and no log file (%s): messages after the mount are lost",
                     ccr_err_msg(rc));
        ccr_err_clear();
    }
    free(path);
    return 0;
}

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
        {"log-file", required_argument, 0, MOUNT_OPT_LOG_FILE},
        CLI_STORE_LONG_OPTIONS,
        {"governance-api", required_argument, 0, MOUNT_OPT_GOV_API},
        {"dataset", required_argument, 0, MOUNT_OPT_DATASET},
        {"init-data", required_argument, 0, MOUNT_OPT_INIT_DATA},
        {"help", no_argument, 0, 'h'},
        {0}};
    struct keys_release_request keysrc = {0};
    struct fs_options opts;
    struct mount_gov_args ga;
    /* Long governance options, applied over -o ones (the command line wins). */
    const char *l_audit = NULL, *l_gov = NULL, *l_token = NULL, *l_contract = NULL, *l_cfile = NULL,
               *l_purpose = NULL, *l_spool = NULL, *l_log = NULL, *l_api = NULL;
    const char *id_text = NULL, *l_dataset = NULL, *init_file = NULL, *mountpoint;
    char id[FMT_DATASET_ID_LEN + 1], init_id[FMT_DATASET_ID_LEN + 1] = "", *store_url = NULL;
    struct gov_depa_mount depa;
    struct fs_options depa_keys;
    struct keys_initdata init = {0};
    int mode_given = 0;
    struct mount_ready ready = {-1, 0, 0, NULL, {0}};
    struct launch_request req;
    int c, foreground = 0, debug = 0, status, pipefd[2], rc;
    pid_t pid;

    fs_options_init(&opts);
    memset(&ga, 0, sizeof ga);
    memset(&depa, 0, sizeof depa);
    fs_options_init(&depa_keys);
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
        case MOUNT_OPT_LOG_FILE:
            l_log = optarg;
            break;
        case MOUNT_OPT_GOV_API:
            l_api = optarg;
            break;
        case MOUNT_OPT_DATASET:
            l_dataset = optarg;
            break;
        case MOUNT_OPT_INIT_DATA:
            init_file = optarg;
            break;
        case 'o':
            mode_given |= mount_opts_name_mode(optarg);
            if (fs_options_parse(&opts, optarg) != 0) {
                status = cli_usage("%s", ccr_err_msg(EINVAL));
                goto out;
            }
            break;
        case 'h':
            fputs(mount_usage, stdout);
            fputs(CLI_STORE_USAGE, stdout);
            fputs(CLI_KEYSRC_USAGE, stdout);
            status = CLI_EXIT_OK;
            goto out;
        default:
            if ((rc = cli_store_option_take(c, optarg)) != 0) {
                if (rc > 0)
                    break;
                status = CLI_EXIT_USAGE;
                goto out;
            }
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
        const char *const *longs[] = {&l_audit, &l_gov, &l_token, &l_contract, &l_spool, &l_api};
        const char *keys[] = {"audit_log", "governance", "gov_token_file",
                              "contract",  "spool",      "governance_api"};
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
    if (l_log != NULL)
        ga.log_file = l_log;
    if (init_file != NULL) {
        struct launch_initdata_args a = {&ga.cfg, &keysrc,    argc - optind == 2 ? argv[optind] : NULL,
                                         init_id, &opts.mode, mode_given};
        const char *pin = id_text != NULL ? id_text : opts.dataset_id;
        if (pin != NULL && fmt_dataset_id_parse(pin, init_id) != 0) {
            status = cli_usage("%s", ccr_err_msg(EINVAL));
            goto out;
        }
        /* A key source given as -o options is checked against the init-data too. */
        if (opts.key_file != NULL || opts.kbs != NULL || opts.skr != NULL)
            mount_keysrc_from_opts(&keysrc, &opts);
        if ((rc = mount_apply_init_data(init_file, &init, &a)) != 0) {
            status = cli_fail_rc(rc, NULL);
            goto out;
        }
        if (init_id[0] != '\0')
            id_text = init_id;
    }
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
    if (l_dataset != NULL) {
        /* A DEPA dataset by UUID: the contract and the registry say where it is, which id it
         * must have and which key releases it; explicit options win where given. */
        if (ga.cfg.contract_id == NULL || ga.cfg.governance_url == NULL || ga.contract_file != NULL) {
            status = cli_usage("--dataset UUID needs --governance URL and --contract ID");
            goto out;
        }
        if ((rc = gov_depa_mount_resolve(ga.cfg.governance_url, ga.cfg.token_file, ga.cfg.contract_id,
                                         l_dataset, &depa)) != 0) {
            status = cli_fail_rc(rc, NULL);
            goto out;
        }
        /* The registration's key source where the command line gave none, then the contract's
         * azure key for what is still open. */
        if (keysrc.key_file == NULL && keysrc.kbs_url == NULL && keysrc.skr_url == NULL &&
            depa.key_source[0] != '\0') {
            if ((rc = mount_registry_keysrc(depa.key_source, &depa_keys)) != 0) {
                status = cli_fail_rc(rc, NULL);
                goto out;
            }
            mount_keysrc_from_opts(&keysrc, &depa_keys);
        }
        if (keysrc.key_file == NULL && keysrc.kbs_url == NULL) {
            if (keysrc.skr_kid == NULL)
                keysrc.skr_kid = depa.key_kid;
            if (keysrc.skr_maa_endpoint == NULL)
                keysrc.skr_maa_endpoint = depa.key_authority;
            if (keysrc.skr_akv_endpoint == NULL && depa.key_akv[0] != '\0')
                keysrc.skr_akv_endpoint = depa.key_akv;
            if (keysrc.skr_url == NULL) {
                status =
                    cli_usage("dataset %s: its key is released by Azure SKR (kid %s, MAA %s): give --skr URL "
                              "of the SKR sidecar, or another key source",
                              l_dataset, depa.key_kid, depa.key_authority);
                goto out;
            }
        }
        if (id_text == NULL)
            id_text = opts.dataset_id;
        if (id_text != NULL && strcmp(id_text, depa.dataset_id) != 0) {
            status = cli_usage("--dataset-id %s differs from dataset %s's registered id %s", id_text,
                               l_dataset, depa.dataset_id);
            goto out;
        }
        id_text = depa.dataset_id;
    }
    if (opts.mode != FS_MODE_SINK && (status = cli_keysrc_check(&keysrc)) != 0)
        goto out;
    if (argc - optind != 2 && !(l_dataset != NULL && argc - optind == 1)) {
        status =
            cli_usage(l_dataset ? "expected [STORE_URL] MOUNTPOINT" : "expected STORE_URL and MOUNTPOINT");
        goto out;
    }
    /* The store URL may carry a SAS token or a pre-signed signature, and /proc/PID/cmdline is
     * readable by every user for as long as the daemon lives: keep a private copy and cut the
     * argument in place down to its public form. */
    if ((store_url = strdup(argc - optind == 2 ? argv[optind] : depa.store)) == NULL) {
        status = cli_fail("out of memory");
        goto out;
    }
    if (argc - optind == 2)
        cli_scrub_arg(argv[optind++]);
    mountpoint = argv[optind];
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
    if ((rc = mount_open_log(ga.log_file, mountpoint, !foreground, &ready.log_file)) != 0) {
        status = cli_fail_rc(rc, NULL);
        mount_on_ready(&ready, 0);
        goto out;
    }
    {
        char *abs = realpath(mountpoint, NULL);
        snprintf(ready.mountpoint, sizeof ready.mountpoint, "%s", abs != NULL ? abs : mountpoint);
        free(abs);
    }
    memset(&req, 0, sizeof req);
    req.store_url = store_url;
    req.mountpoint = mountpoint;
    req.keys = keysrc;
    req.dataset_id = id_text ? id : NULL;
    req.opts = &opts;
    req.gov = ga.cfg;
    req.contract_file = ga.contract_file;
    req.purpose = ga.purpose;
    req.debug = debug;
    req.init_data = init_file != NULL ? &init : NULL;
    status = mount_serve(&req, &ready);
out:
    keys_initdata_free(&init);
    mount_gov_free(&ga);
    gov_depa_mount_release(&depa);
    fs_options_free(&depa_keys);
    fs_options_free(&opts);
    ccr_freezero(store_url, store_url ? strlen(store_url) : 0);
    ccr_log_close_file();
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
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            free(args);
            fputs("usage: mount.ccrfs SOURCE DIR -o key_file=FILE[,OPTIONS]\n"
                  "The mount(8) helper for file systems of type ccrfs or fuse.ccrfs: mounts SOURCE at DIR\n"
                  "as 'ccrfs mount -o OPTIONS SOURCE DIR' does; the key source and every other setting\n"
                  "are -o options (see 'ccrfs mount --help'). -s, -n and -v are accepted and ignored;\n"
                  "-f does nothing.\n",
                  stdout);
            return CLI_EXIT_OK;
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
