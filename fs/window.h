/* The read-ahead window of one open file: detects sequential reading and says which bytes to
 * fetch ahead of the reader. Pure logic, no I/O; the caller holds the open file's lock.
 *
 * Reads that continue near where the last one ended (the kernel sends several at once, not
 * always in order) count as sequential. From the second sequential read on, the window ahead
 * of the reader is kept issued (from the third, or from the second when it starts exactly where
 * the first ended); it starts at min and doubles, up to max, each time the reader had to wait
 * for a fetch (a stall). A read elsewhere ends the run: the window falls back to min and
 * nothing is fetched ahead, so random reads fetch only the blocks they touch. */
#ifndef CCRFS_FS_WINDOW_H
#define CCRFS_FS_WINDOW_H

#include <stdint.h>

struct fs_window {
    uint64_t min, max;
    uint64_t size;   /* current window */
    uint64_t end;    /* highest end of a read in this sequential run */
    uint64_t issued; /* fetch-ahead requested up to here */
    unsigned run;    /* sequential reads in a row */
};

void fs_window_init(struct fs_window *w, uint64_t min, uint64_t max);
/* Records a read of [off, off+len) in a file of file_size bytes; stalled says whether the
 * previous read waited for a fetch. Sets [*ahead_off, *ahead_off + *ahead_len) to what to
 * fetch ahead now (*ahead_len 0: nothing) and counts it as issued. */
void fs_window_on_read(struct fs_window *w, uint64_t off, uint64_t len, uint64_t file_size, int stalled,
                       uint64_t *ahead_off, uint64_t *ahead_len);
/* Only [.., upto) of what on_read asked for could be issued (memory budget reached). */
void fs_window_unissue(struct fs_window *w, uint64_t upto);

#endif
