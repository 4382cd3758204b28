#include "fs/window.h"

#define WINDOW_SLACK_MIN (512ull << 10)

void fs_window_init(struct fs_window *w, uint64_t min, uint64_t max)
{
    if (max < min)
        max = min;
    w->min = min;
    w->max = max;
    w->size = min;
    w->end = 0;
    w->issued = 0;
    w->run = 0;
}

void fs_window_on_read(struct fs_window *w, uint64_t off, uint64_t len, uint64_t file_size, int stalled,
                       uint64_t *ahead_off, uint64_t *ahead_len)
{
    /* How far from the last end a read may land and still continue the run: the kernel has
     * several requests of a run in flight and they may arrive out of order, so a few requests'
     * length. Not more: small random reads that land this close would count as a run. */
    uint64_t slack = 8 * len;
    uint64_t end = off + len, target;

    if (slack < WINDOW_SLACK_MIN)
        slack = WINDOW_SLACK_MIN;
    int sequential = w->run > 0 && off + slack >= w->end && off <= w->end + slack;

    /* Fetch-ahead needs evidence of a run: a read that exactly continues the last one, or a
     * third read in a row near it. Random reads that happen to land near each other (slack is
     * megabytes) so rarely do both that they fetch only the blocks they touch. */
    int proven = sequential && (w->run >= 2 || off == w->end);

    *ahead_off = *ahead_len = 0;
    if (!sequential) {
        w->run = 1;
        w->size = w->min;
        w->end = end;
        w->issued = end;
        return;
    }
    if (w->run > 1 && stalled) {
        w->size = w->size * 2 > w->max ? w->max : w->size * 2;
    }
    w->run++;
    if (end > w->end)
        w->end = end;
    if (!proven)
        return;
    target = w->end + w->size;
    if (target > file_size)
        target = file_size;
    if (w->issued < w->end)
        w->issued = w->end;
    if (target > w->issued) {
        *ahead_off = w->issued;
        *ahead_len = target - w->issued;
        w->issued = target;
    }
}

void fs_window_unissue(struct fs_window *w, uint64_t upto)
{
    if (upto < w->issued)
        w->issued = upto;
}
