/* Clocks: monotonic for intervals and deadlines, wall clock for timestamps people read. */
#ifndef CCRFS_COMMON_CLOCK_H
#define CCRFS_COMMON_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

uint64_t ccr_clock_mono_ns(void);
uint64_t ccr_clock_mono_ms(void);
/* Seconds since the epoch, as a double with sub-second precision. */
double ccr_clock_wall(void);
uint64_t ccr_clock_wall_ms(void);
/* An absolute CLOCK_REALTIME deadline ms milliseconds from now, for pthread_cond_timedwait. */
struct timespec ccr_clock_deadline_ms(uint64_t ms);
/* Formats t (seconds since the epoch, UTC) as 2026-12-01T10:55:22.123Z into buf (>= 32 bytes);
 * returns buf. */
char *ccr_clock_iso8601(double t, char *buf, size_t size);

#endif
