/* Whether a key broker counts contract uses itself: `ccrfs kbs serve --governance` answers
 * GET /ccrfs/v0/gate with {"governance": true}. A mount asks, so that a use is counted once:
 * by the broker at release when it gates, else by the mount. */
#ifndef CCRFS_KEYS_BROKER_GATE_PROBE_H
#define CCRFS_KEYS_BROKER_GATE_PROBE_H

#define KEYS_BROKER_GATE_PATH "/ccrfs/v0/gate"

/* 1 when the broker at url says it gates releases on governance; 0 when it says it does not,
 * or cannot say (another broker, unreachable, a malformed answer). */
int keys_broker_gates_on_governance(const char *url, const char *ca_file);

#endif
