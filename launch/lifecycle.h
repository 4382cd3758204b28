/* What a new mount does about the mounts that came before it at the same place: a mount point
 * left dead by a killed daemon is cleaned, and a daemon of the same spool that is still
 * finishing (flushing its events after an unmount) is waited for, a bounded time. */
#ifndef CCRFS_LAUNCH_LIFECYCLE_H
#define CCRFS_LAUNCH_LIFECYCLE_H

#include <stdint.h>

/* How long a new mount waits for the previous daemon of its spool by default. */
#define LAUNCH_SPOOL_WAIT_MS 30000u

/* When mountpoint answers ENOTCONN (stat or statfs) and the topmost mount there is a ccrfs one (fuse.ccrfs in
 * /proc/self/mountinfo), detaches it (umount2 MNT_DETACH, or fusermount3 -uz without the right
 * to) with a notice. Anything else is left alone for the mount point check to report: a live
 * mount, another file system's dead mount. 0, or an errno with a message when the cleanup
 * itself failed. */
int launch_clean_dead_mount(const char *mountpoint);

/* Waits up to timeout_ms for no other process to hold the lock of the spool in spool_dir,
 * saying once which process it waits for. 0 when the spool is free (or has never been used);
 * EBUSY with a message when still held at the deadline. The lock is not kept: the spool takes
 * it when it opens. */
int launch_wait_spool(const char *spool_dir, uint32_t timeout_ms);

#endif
