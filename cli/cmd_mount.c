/* ccrfs mount: serves a dataset as a read-only FUSE file system, decrypting lazily.
 *
 * Without -f the command returns only once the mount answers (or with an error when it cannot
 * mount): it forks, the child does all the work and reports through a pipe when the mount is
 * live, and the parent exits with that result. The child then detaches and logs to syslog.
 *
 * Called as mount.ccrfs (mount(8), fstab) or by mount.fuse3 for type fuse.ccrfs, the arguments
 * are SOURCE DIR [-o OPTS]: cli_cmd_mount_helper turns them into a mount command. */
#include "cli/commands.h"
#include "cli/keysrc.h"
#include "cli/util.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secmem.h"
#include "fetch/store.h"
#include "fs/mount.h"
#include "keys/dataset.h"
#include "keys/release.h"

#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char mount_usage[] =
    "usage: ccrfs mount [-f] [-d] [-o OPTS] [--dataset-id sha256:...] KEY_SOURCE STORE_URL MOUNTPOINT\n"
    "Mounts the dataset at STORE_URL (a folder, file://, http(s)://...) read-only at MOUNTPOINT.\n"
    "Returns once the mount is live; unmount with 'fusermount3 -u MOUNTPOINT' or SIGTERM.\n"
    "  -f, --foreground        stay in the foreground, log to stderr\n"
    "  -d, --debug             trace every FUSE request (implies -f)\n"
    "  -v, --verbose           log more\n"
    "  --dataset-id ID         refuse to mount unless the manifest's id is ID\n"
    "  -o OPTS                 comma-separated mount options (docs/MOUNT.md):\n"
    "     cache_size=SIZE      plaintext block cache in locked memory (256M)\n"
    "     prefetch_max=SIZE    fetch-ahead bytes in flight (64M)\n"
    "     fetch_workers=N      fetch-ahead threads (4)\n"
    "     readahead_kb=N       the kernel's read-ahead for the mount (8192; 0 leaves it)\n"
    "     uid=N,gid=N          owner of every file (default: the caller)\n"
    "     allow_other          let other users in (the default when root); noallow_other\n"
    "     dataset_id=ID        as --dataset-id\n"
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

static int mount_serve(const char *url, const char *mountpoint, struct keys_release_request *keysrc,
                       const char *expect_id, const struct fs_options *opts, int debug,
                       struct mount_ready *ready)
{
    struct fetch_store *store = NULL;
    struct keys_dek *dek = NULL;
    struct keys_dataset *ds = NULL;
    struct keys_release_info info;
    struct fs_mount *m = NULL;
    struct fs_mount_config conf;
    struct fetch_options fopt;
    char *abs_url = NULL;
    int rc, status = CLI_EXIT_FAIL;

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
    memset(&fopt, 0, sizeof fopt);
    if ((rc = fetch_options_from_env(&fopt)) != 0) {
        cli_fail_rc(rc, "store options");
        goto out;
    }
    if ((rc = fetch_store_open(url, &fopt, &store)) != 0) {
        cli_fail_rc(rc, url);
        goto out;
    }
    keysrc->dataset_store = store;
    memset(&info, 0, sizeof info);
    if (opts->mode == FS_MODE_SINK)
        goto create; /* an output mount: no dataset, no key */
    if ((rc = keys_release_obtain(keysrc, &dek, &info)) != 0) {
        cli_fail_rc(rc, "key");
        goto out;
    }
    if (!info.attested)
        ccr_log_warn(
            "WARNING: the key was NOT released by attestation (%s); use only to test a dataset locally",
            info.method[0] ? info.method : "unattested source");
    else
        ccr_log_info("key released by %s (%s, evidence %s)", info.broker, info.method, info.evidence);
    if ((rc = keys_dataset_open(store, dek, expect_id, &ds)) != 0) {
        cli_fail_rc(rc, url);
        goto out;
    }
    if (expect_id == NULL)
        ccr_log_info("mounting dataset %s (not pinned: give --dataset-id to refuse any other)", ds->id);
create:
    memset(&conf, 0, sizeof conf);
    conf.sink_store = opts->mode == FS_MODE_SINK ? store : NULL;
    conf.ds = ds;
    conf.dek = dek;
    conf.opts = opts;
    conf.debug = debug;
    conf.source = url;
    conf.hooks = NULL; /* governance wires its hooks here */
    if ((rc = fs_mount_create(&conf, &m)) != 0) {
        cli_fail_rc(rc, "mount");
        goto out;
    }
    if ((rc = fs_mount_start(m, mountpoint)) != 0) {
        cli_fail_rc(rc, "mount");
        goto out;
    }
    if ((rc = fs_mount_run(m, mount_on_ready, ready)) != 0)
        ccr_log_error("%s", ccr_err_msg(rc));
    else
        status = CLI_EXIT_OK;
out:
    /* Reached before the mount was ready: tell the parent it failed. */
    mount_on_ready(ready, 0);
    fs_mount_destroy(m);
    keys_dataset_close(ds);
    fetch_store_destroy(store);
    keys_dek_free(dek);
    free(abs_url);
    return status;
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

int cli_cmd_mount(int argc, char **argv)
{
    static const struct option long_opts[] = {CLI_KEYSRC_LONG_OPTIONS,
                                              {"foreground", no_argument, 0, 'f'},
                                              {"debug", no_argument, 0, 'd'},
                                              {"verbose", no_argument, 0, 'v'},
                                              {"dataset-id", required_argument, 0, 'i'},
                                              {"help", no_argument, 0, 'h'},
                                              {0}};
    struct keys_release_request keysrc = {0};
    struct fs_options opts;
    const char *id_text = NULL;
    char id[KEYS_DATASET_ID_LEN + 1];
    struct mount_ready ready = {-1, 0};
    int c, foreground = 0, debug = 0, status, pipefd[2];
    pid_t pid;

    fs_options_init(&opts);
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
    mount_keysrc_from_opts(&keysrc, &opts);
    if (opts.mode != FS_MODE_SINK && (status = cli_keysrc_check(&keysrc)) != 0)
        goto out;
    if (argc - optind != 2) {
        status = cli_usage("expected STORE_URL and MOUNTPOINT");
        goto out;
    }
    if (id_text == NULL)
        id_text = opts.dataset_id;
    if (id_text != NULL && keys_dataset_id_parse(id_text, id) != 0) {
        status = cli_usage("%s", ccr_err_msg(EINVAL));
        goto out;
    }
    if (!foreground) {
        if (pipe2(pipefd, O_CLOEXEC) != 0) {
            status = cli_fail("cannot create a pipe: %s", strerror(errno));
            goto out;
        }
        fflush(NULL);
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
    status = mount_serve(argv[optind], argv[optind + 1], &keysrc, id_text ? id : NULL, &opts, debug, &ready);
out:
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
