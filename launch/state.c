#include "launch/state.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "format/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int launch_state_dir(const char *mountpoint, char **out)
{
    const char *base = getenv("CCRFS_STATE_DIR");
    uint8_t d[FMT_SHA256_LEN];
    char hex[2 * FMT_SHA256_LEN + 1], *abs, *dir;
    size_t len;

    *out = NULL;
    if (base == NULL || base[0] == '\0')
        base = "/var/lib/ccrfs";
    if ((abs = realpath(mountpoint, NULL)) == NULL)
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

int launch_gov_defaults(struct gov_config *cfg, const char *mountpoint, char **spool, char **log)
{
    char *dir = NULL;
    int rc = 0;

    *spool = NULL;
    *log = NULL;
    if (cfg->spool_dir != NULL && (cfg->audit_log != NULL || cfg->governance_url != NULL))
        return 0;
    if ((rc = launch_state_dir(mountpoint, &dir)) != 0)
        return rc;
    if ((rc = ccr_mkdirs(dir, 0700)) != 0) {
        free(dir);
        return ccr_err_wrap(rc, "state folder: ");
    }
    if (cfg->spool_dir == NULL) {
        if ((*spool = ccr_path_join(dir, "spool")) == NULL) {
            rc = ENOMEM;
            goto out;
        }
        cfg->spool_dir = *spool;
    }
    if (cfg->audit_log == NULL && cfg->governance_url == NULL) {
        if ((*log = ccr_path_join(dir, "audit.log")) == NULL) {
            rc = ENOMEM;
            goto out;
        }
        cfg->audit_log = *log;
        ccr_log_info("audit log: %s (give --audit-log or --governance to choose)", *log);
    }
out:
    free(dir);
    return rc;
}

int launch_log_default(const char *mountpoint, char **out)
{
    char *dir = NULL;
    int rc;

    *out = NULL;
    if ((rc = launch_state_dir(mountpoint, &dir)) != 0)
        return rc;
    if ((rc = ccr_mkdirs(dir, 0700)) != 0) {
        free(dir);
        return ccr_err_wrap(rc, "state folder: ");
    }
    *out = ccr_path_join(dir, "ccrfs.log");
    free(dir);
    return *out == NULL ? ENOMEM : 0;
}
