/* Where a mount keeps its state when nothing else was named: a folder per mount point under
 * $CCRFS_STATE_DIR (default /var/lib/ccrfs), holding the event spool and, without a governance
 * service or an audit log named, the audit log. */
#ifndef CCRFS_LAUNCH_STATE_H
#define CCRFS_LAUNCH_STATE_H

#include "governance/gov.h"

/* $CCRFS_STATE_DIR (or /var/lib/ccrfs) / the first 16 hex digits of SHA-256(absolute mount
 * point), malloc'd into *out. */
int launch_state_dir(const char *mountpoint, char **out);

/* Sets cfg->spool_dir, and cfg->audit_log when neither it nor a governance URL was given, to
 * paths in the state folder (created, mode 0700). The paths are malloc'd into *spool and *log
 * (NULL when not needed), which the caller frees after cfg is no longer used. */
int launch_gov_defaults(struct gov_config *cfg, const char *mountpoint, char **spool, char **log);

/* The daemon's log file when there is no syslog to log to: ccrfs.log in the mount point's state
 * folder (created, mode 0700), malloc'd into *out. */
int launch_log_default(const char *mountpoint, char **out);

#endif
