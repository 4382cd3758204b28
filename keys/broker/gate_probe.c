/* The question a mount asks a broker before counting a contract use. */
#include "keys/broker/gate_probe.h"
#include "net/http.h"

#include <json-c/json.h>
#include <string.h>

int keys_broker_gates_on_governance(const char *url, const char *ca_file)
{
    struct net_http_client_opts o = {.base_url = url,
                                     .who = "key broker",
                                     .transport = {.ca_file = ca_file, .timeout_ms = 10000},
                                     .reply_max = 4096};
    struct net_http_request rq = {.method = "GET", .path = KEYS_BROKER_GATE_PATH};
    struct net_http_reply r = {0};
    struct net_http_client *c;
    struct json_object *v = NULL, *g;
    int gates = 0;

    if (url == NULL || net_http_client_new(&o, &c) != 0)
        return 0;
    if (net_http_client_do(c, &rq, &r) == 0 && r.status == 200 && (v = json_tokener_parse(r.body)) != NULL &&
        json_object_object_get_ex(v, "governance", &g) && json_object_is_type(g, json_type_boolean))
        gates = json_object_get_boolean(g);
    json_object_put(v);
    net_http_reply_free(&r);
    net_http_client_free(c);
    return gates;
}
