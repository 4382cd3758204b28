/* maa_endpoint / akv_endpoint validation for the SKR sidecar. */
#include "keys/skr/endpoint.h"
#include "common/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int is_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* RFC 1123 host name: dot-separated labels of 1-63 letters, digits and hyphens, no label
 * starting or ending with a hyphen, 253 characters in all. Dotted IPv4 passes too. */
static int host_name_ok(const char *h, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (h[i] == '.') {
            if (label == 0 || h[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!is_label_char(h[i]) || (label == 0 && h[i] == '-') || ++label > 63)
            return 0;
    }
    return label > 0 && h[len - 1] != '-';
}

static int port_ok(const char *p, size_t len)
{
    unsigned long v = 0;

    if (len == 0 || len > 5)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

int keys_skr_endpoint_host(const char *value, const char *option, char *out, size_t out_len, int *reduced)
{
    const char *auth = value, *sep, *colon;
    size_t auth_len, host_len;

    *reduced = 0;
    if (value == NULL || value[0] == '\0')
        return ccr_err_set(EINVAL,
                           "Azure SKR needs %s HOST: the sidecar requires it and takes a bare host name "
                           "(%s)",
                           option,
                           strcmp(option, "--skr-maa") == 0 ? "e.g. sharedeus.eus.attest.azure.net"
                                                            : "e.g. myvault.vault.azure.net");
    if ((sep = strstr(value, "://")) != NULL) {
        size_t scheme_len = (size_t)(sep - value);
        if (!((scheme_len == 5 && strncasecmp(value, "https", 5) == 0) ||
              (scheme_len == 4 && strncasecmp(value, "http", 4) == 0)))
            return ccr_err_set(EINVAL, "%s: only a host name or an https:// URL is accepted", option);
        auth = sep + 3;
        auth_len = strcspn(auth, "/?#");
        *reduced = 1;
    } else {
        auth_len = strcspn(auth, "/?#");
        if (auth[auth_len] != '\0')
            return ccr_err_set(EINVAL, "%s: not a host name (a '/', '?' or '#' without a scheme)", option);
    }
    if (memchr(auth, '@', auth_len) != NULL)
        return ccr_err_set(
            EINVAL, "%s: credentials in the endpoint are not accepted; give the host name only", option);
    colon = memchr(auth, ':', auth_len);
    host_len = colon ? (size_t)(colon - auth) : auth_len;
    if (!host_name_ok(auth, host_len))
        return ccr_err_set(EINVAL,
                           "%s: '%.*s' is not a host name (letters, digits, '-' and '.', labels of at "
                           "most 63 characters)",
                           option, (int)(host_len > 80 ? 80 : host_len), auth);
    if (colon && !port_ok(colon + 1, auth_len - host_len - 1))
        return ccr_err_set(EINVAL, "%s: the port after ':' must be a number from 1 to 65535", option);
    if (auth_len + 1 > out_len)
        return ccr_err_set(EINVAL, "%s: the host name is too long", option);
    for (size_t i = 0; i < auth_len; i++)
        out[i] = (auth[i] >= 'A' && auth[i] <= 'Z') ? (char)(auth[i] - 'A' + 'a') : auth[i];
    out[auth_len] = '\0';
    return 0;
}
