/* The SKR sidecar's maa_endpoint and akv_endpoint are bare host names: the sidecar builds
 * https://%s/attest/... and https://%s/keys/... from them, so a URL sent as is would become
 * https://https://... and fail far from where the mistake was made. */
#ifndef CCRFS_KEYS_SKR_ENDPOINT_H
#define CCRFS_KEYS_SKR_ENDPOINT_H

#include <stddef.h>

/* Longest host[:port] accepted: a DNS name (253) and a port. */
#define KEYS_SKR_HOST_MAX 260

/* Normalizes an endpoint given to `option` (e.g. "--skr-maa") into host[:port] in out
 * (size >= KEYS_SKR_HOST_MAX). A bare host name is kept (lowercased); an http(s) URL is reduced
 * to its host and port, and *reduced is set so the caller can say so. EINVAL naming the option
 * for a missing or empty value, another scheme, credentials in the URL, or a host that is not a
 * DNS name or IPv4 address. */
int keys_skr_endpoint_host(const char *value, const char *option, char *out, size_t out_len, int *reduced);

#endif
