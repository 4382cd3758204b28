/* URLs in messages: scrubbing what may carry a secret, and escaping path segments. */
#include "net/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void net_url_scrub(const char *url, char *out, size_t out_len)
{
    /* Drops what may carry a secret: the query (a SAS token, a pre-signed signature) and
     * userinfo (user:password@). The fragment goes too; it is never sent anyway. */
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *end = host + strcspn(host, "/?#");
    const char *at = NULL, *tail;
    size_t tail_len;

    if (out_len == 0)
        return;
    for (const char *p = host; p < end; p++)
        if (*p == '@')
            at = p;
    tail = end + strcspn(end, "?#");
    tail_len = (size_t)(tail - end);
    snprintf(out, out_len, "%.*s%.*s%.*s%s", (int)(host - url), url, (int)(end - (at ? at + 1 : host)),
             at ? at + 1 : host, (int)tail_len, end, *tail == '?' ? "?<redacted>" : "");
}

void net_url_public(const char *url, char *out, size_t out_len)
{
    if (out_len == 0)
        return;
    net_url_scrub(url, out, out_len);
    out[strcspn(out, "?")] = '\0';
}

char *net_url_escape(const char *s)
{
    char *e, *r;

    if (net_http_global_init() != 0)
        return NULL;
    e = curl_easy_escape(NULL, s, 0);
    if (e == NULL)
        return NULL;
    r = strdup(e);
    curl_free(e);
    return r;
}
