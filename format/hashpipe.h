/* SHA-256 on a second thread: the caller queues buffers in order and goes on with its work
 * (encrypting, decrypting, I/O) while they are hashed. A buffer must stay unchanged until
 * fmt_hashpipe_wait says it has been hashed. */
#ifndef CCRFS_FORMAT_HASHPIPE_H
#define CCRFS_FORMAT_HASHPIPE_H

#include <stddef.h>
#include <stdint.h>

struct fmt_hashpipe;

int fmt_hashpipe_start(struct fmt_hashpipe **out);
/* Queues len bytes; returns a ticket for fmt_hashpipe_wait. Blocks while the queue is full. */
uint64_t fmt_hashpipe_push(struct fmt_hashpipe *p, const uint8_t *data, size_t len);
/* Returns once the buffer with this ticket (and every earlier one) has been hashed. */
void fmt_hashpipe_wait(struct fmt_hashpipe *p, uint64_t ticket);
/* Waits for everything queued, stops the thread and frees the pipe; out may be NULL. */
void fmt_hashpipe_finish(struct fmt_hashpipe *p, uint8_t out[32]);

#endif
