/* Parties, not one token: the governance service run in-process with a credential per party
 * and role. Every rule allowed and refused (propose, sign, revoke, append to a chain, count a
 * use, read events), the token file's format, and the limits that keep it answering (body caps,
 * connections per client and overall, idle timeout). */
#include "common/err.h"
#include "common/fileio.h"
#include "governance/canon.h"
#include "governance/contract.h"
#include "governance/event.h"
#include "governance/http.h"
#include "governance/service/auth.h"
#include "governance/service/options.h"
#include "governance/service/service.h"
#include "governance/sign.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define T_ADMIN "admin-token-0123456789"
#define T_PROV  "prov-token-0123456789"
#define T_CONS  "cons-token-0123456789"
#define T_CR    "cr-token-0123456789abc" /* clean room of party cons */
#define T_CR2   "cr2-token-0123456789ab" /* clean room of party prov: another party's */
#define T_CRX   "crx-token-0123456789ab" /* clean room of mallory, not in the contract */
#define T_AUD   "aud-token-0123456789ab"
#define T_BRK   "brk-token-0123456789ab"
#define T_ROGUE "not-a-known-token-012345"

static const char tokens[] =
    "# credentials of the test\n" T_ADMIN " operator admin\n" T_PROV " prov provider\n" T_CONS
    " cons consumer\n" T_CR " cons cleanroom\n" T_CR2 " prov cleanroom\n" T_CRX " mallory cleanroom\n" T_AUD
    " aud auditor\n" T_BRK " kbs broker\n";

static char dir[64], url[64], *db, *token_file, *kprov, *kcons, *doc;
static struct gov_service *svc;
static char last_body[8192];

static void start(const struct gov_service_options *o)
{
    struct gov_service_config sc = {db, NULL, 0, token_file};
    assert_int_equal(gov_service_start_opts(&sc, o, &svc), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", gov_service_port(svc));
}

/* One call as the holder of token (NULL: none); returns the status, the body in last_body. */
static long api(const char *token, const char *method, const char *path, const char *body, size_t len)
{
    struct gov_http *h;
    long status = 0;
    char *resp = NULL;
    assert_int_equal(gov_http_new(url, token, 5000, &h), 0);
    assert_int_equal(gov_http_request(h, method, path, body, body ? len : 0, &status, &resp, NULL), 0);
    snprintf(last_body, sizeof last_body, "%s", resp ? resp : "");
    free(resp);
    gov_http_free(h);
    return status;
}

static long call(const char *token, const char *method, const char *path, const char *body)
{
    return api(token, method, path, body, body ? strlen(body) : 0);
}

static char *pub_of(const char *pem)
{
    struct gov_key *k;
    char *pub;
    assert_int_equal(gov_key_load_private(pem, &k), 0);
    assert_int_equal(gov_key_public_b64(k, &pub), 0);
    gov_key_free(k);
    return pub;
}

/* {"party": party, "signature": ...} over the contract's signed (or revocation) bytes. */
static char *signature_body(const char *pem, const char *party, int revoke)
{
    struct gov_contract *c;
    struct gov_key *k;
    char *bytes, *sig, *body = malloc(1024);
    size_t len;
    assert_int_equal(gov_contract_parse(doc, strlen(doc), &c), 0);
    assert_int_equal(
        revoke ? gov_contract_revoke_bytes(c, &bytes, &len) : gov_contract_signed_bytes(c, &bytes, &len), 0);
    assert_int_equal(gov_key_load_private(pem, &k), 0);
    assert_int_equal(gov_key_sign_b64(k, bytes, len, &sig), 0);
    snprintf(body, 1024, "{\"party\":\"%s\",\"signature\":\"%s\"}", party, sig);
    free(sig);
    free(bytes);
    gov_key_free(k);
    gov_contract_free(c);
    return body;
}

/* A sealed event of contract c1 on chain ch; *id gets its id. */
static char *event(struct gov_chain *ch, const char *type, char id[128])
{
    json_object *ev = gov_event_new(type), *parsed;
    char *line;
    size_t len;
    json_object_object_add(ev, "contract", json_object_new_string("c1"));
    json_object_object_add(ev, "path", json_object_new_string("/a.csv"));
    assert_int_equal(gov_event_seal(ch, ev, &line, &len), 0);
    json_object_put(ev);
    assert_int_equal(gov_json_parse(line, len, "event", &parsed), 0);
    snprintf(id, 128, "%s", gov_json_str(parsed, "id"));
    json_object_put(parsed);
    return line;
}

static long put_event(const char *token, const char *line, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/events?id=%s&scope=ccrfs", id);
    return call(token, "PUT", path, line);
}

static int setup(void **state)
{
    char *pp, *pc;
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_gov_parties.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    unsetenv("CCRFS_GOV_TOKEN");
    unsetenv("CCRFS_GOV_TOKEN_FILE");
    db = ccr_path_join(dir, "gov.db");
    token_file = ccr_path_join(dir, "tokens");
    kprov = ccr_path_join(dir, "prov.pem");
    kcons = ccr_path_join(dir, "cons.pem");
    if (ccr_write_file_atomic(token_file, tokens, strlen(tokens), 0600) != 0 ||
        gov_key_generate_file(kprov, "ed25519") != 0 || gov_key_generate_file(kcons, "p256") != 0)
        return -1;
    pp = pub_of(kprov);
    pc = pub_of(kcons);
    doc = malloc(4096);
    snprintf(doc, 4096,
             "{\"id\":\"c1\",\"purpose\":\"test\",\"parties\":[{\"id\":\"prov\",\"role\":\"data-provider\","
             "\"publicKey\":\"%s\"},{\"id\":\"cons\",\"role\":\"data-consumer\",\"publicKey\":\"%s\"}],"
             "\"startTime\":\"2020-01-01T00:00:00Z\",\"expiryTime\":\"2099-01-01T00:00:00Z\","
             "\"datasets\":[{\"id\":\"sha256:%064d\",\"provider\":\"prov\",\"accessMode\":\"read-only\","
             "\"maxMounts\":5}]}",
             pp, pc, 0);
    free(pp);
    free(pc);
    start(NULL);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    gov_service_stop(svc);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    free(db);
    free(token_file);
    free(kprov);
    free(kcons);
    free(doc);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the token file ----------------------------------------------------------------------- */

static void test_token_file_format(void **state)
{
    struct gov_auth a = {0};
    char *f = ccr_path_join(dir, "bad-tokens");
    const struct gov_credential *c;
    (void)state;

    ccr_array_init(&a.creds, sizeof(struct gov_credential));
    /* A bare token (the old format) is refused, saying how to write it. */
    assert_int_equal(gov_auth_add_line(&a, "abcdefghijklmnopqrstuvwxyz", "f:3"), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "f:3"));
    assert_non_null(strstr(ccr_err_msg(EINVAL), "TOKEN PARTY ROLE"));
    assert_non_null(strstr(ccr_err_msg(EINVAL), "TOKEN operator admin"));
    assert_null(strstr(ccr_err_msg(EINVAL), "abcdefghijklmnop")); /* the token is never echoed */
    assert_int_equal(gov_auth_add_line(&a, "abcdefghijklmnopqrstuvwxyz p wizard", "f:4"), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "unknown role 'wizard'"));
    assert_int_equal(gov_auth_add_line(&a, "short p provider", "f:5"), EINVAL);
    assert_int_equal(gov_auth_add_line(&a, "abcdefghijklmnopqrstuvwxyz p/q provider", "f:6"), EINVAL);
    assert_int_equal(gov_auth_add_line(&a, "abcdefghijklmnopqrstuvwxyz p provider extra", "f:7"), EINVAL);
    assert_int_equal(a.creds.len, 0);
    assert_int_equal(gov_auth_add_line(&a, "abcdefghijklmnopqrstuvwxyz\tp  provider,auditor", "f:8"), 0);
    assert_int_equal(gov_auth_add_line(&a, "abcdefghijklmnopqrstuvwxyz q consumer", "f:9"), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "given twice"));
    c = gov_auth_find(&a, "Bearer abcdefghijklmnopqrstuvwxyz");
    assert_non_null(c);
    assert_string_equal(c->party, "p");
    assert_int_equal(c->roles, GOV_ROLE_PROVIDER | GOV_ROLE_AUDITOR);
    assert_null(gov_auth_find(&a, "Bearer abcdefghijklmnopqrstuvwxy"));
    assert_null(gov_auth_find(&a, "abcdefghijklmnopqrstuvwxyz"));
    gov_auth_free(&a);

    /* A file with a legacy line is refused as a whole, naming the line. */
    {
        const char *text = "# ok\n\n" T_PROV " prov provider\n" T_ROGUE "\n";
        assert_int_equal(ccr_write_file_atomic(f, text, strlen(text), 0600), 0);
    }
    assert_int_equal(gov_auth_load(&a, f), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "bad-tokens:4"));
    assert_int_equal(a.creds.len, 0);
    /* $CCRFS_GOV_TOKEN: a bare token is an admin credential (a local shortcut), a line a party. */
    setenv("CCRFS_GOV_TOKEN", T_ROGUE, 1);
    assert_int_equal(gov_auth_load(&a, NULL), 0);
    c = gov_auth_find(&a, "Bearer " T_ROGUE);
    assert_non_null(c);
    assert_int_equal(c->roles, GOV_ROLE_ADMIN);
    gov_auth_free(&a);
    setenv("CCRFS_GOV_TOKEN", T_ROGUE " aud auditor", 1);
    assert_int_equal(gov_auth_load(&a, NULL), 0);
    c = gov_auth_find(&a, "Bearer " T_ROGUE);
    assert_non_null(c);
    assert_string_equal(c->party, "aud");
    assert_int_equal(c->roles, GOV_ROLE_AUDITOR);
    gov_auth_free(&a);
    unsetenv("CCRFS_GOV_TOKEN");
    free(f);
}

/* A client's token file may be a party's credential line: its first field is the token. */
static void test_client_token_line(void **state)
{
    char *f = ccr_path_join(dir, "client-cred"), *t = NULL;
    (void)state;
    const char *text = "# mine\n" T_AUD " aud auditor\n";
    assert_int_equal(ccr_write_file_atomic(f, text, strlen(text), 0600), 0);
    assert_int_equal(gov_token_load(f, &t), 0);
    assert_string_equal(t, T_AUD);
    free(t);
    setenv("CCRFS_GOV_TOKEN_FILE", f, 1);
    assert_int_equal(gov_token_load(NULL, &t), 0);
    assert_string_equal(t, T_AUD);
    free(t);
    unsetenv("CCRFS_GOV_TOKEN_FILE");
    free(f);
}

/* ---- the rules ------------------------------------------------------------------------------ */

static void test_unauthenticated(void **state)
{
    (void)state;
    assert_int_equal(call(NULL, "GET", "/health", NULL), 200);
    assert_int_equal(call(NULL, "GET", "/contracts", NULL), 401);
    assert_non_null(strstr(last_body, "no credential"));
    assert_int_equal(call(T_ROGUE, "GET", "/contracts", NULL), 401);
    assert_non_null(strstr(last_body, "not the credential of any party"));
}

static void test_propose_and_sign(void **state)
{
    char *b;
    (void)state;
    /* Only a party of the contract proposes it; auditors and brokers never do. */
    assert_int_equal(call(T_AUD, "POST", "/contracts", doc), 403);
    assert_non_null(strstr(last_body, "party aud (role auditor)"));
    assert_int_equal(call(T_BRK, "POST", "/contracts", doc), 403);
    assert_int_equal(call(T_CRX, "POST", "/contracts", doc), 403);
    assert_non_null(strstr(last_body,
                           "party mallory (role cleanroom) may not propose contract c1: it is not one "
                           "of its parties"));
    assert_int_equal(call(T_PROV, "POST", "/contracts", doc), 201);

    /* Signing only as oneself. */
    b = signature_body(kprov, "prov", 0);
    assert_int_equal(call(T_CONS, "POST", "/contracts/c1/sign", b), 403);
    assert_non_null(
        strstr(last_body, "party cons (role consumer) may sign only as itself, not as party prov"));
    assert_int_equal(call(T_AUD, "POST", "/contracts/c1/sign", b), 403);
    assert_int_equal(call(T_BRK, "POST", "/contracts/c1/sign", b), 403);
    assert_int_equal(call(T_PROV, "POST", "/contracts/c1/sign", b), 200);
    free(b);
    b = signature_body(kcons, "cons", 0);
    assert_int_equal(call(T_CONS, "POST", "/contracts/c1/sign", b), 200);
    assert_non_null(strstr(last_body, "\"status\":\"active\""));
    free(b);
    /* Everyone reads contracts. */
    assert_int_equal(call(T_AUD, "GET", "/contracts/c1", NULL), 200);
    assert_int_equal(call(T_CRX, "GET", "/contracts", NULL), 200);
    assert_int_equal(call(T_BRK, "POST", "/consentcheck/execution?contract=c1", NULL), 200);
    assert_non_null(strstr(last_body, "enabled"));
}

static void test_use(void **state)
{
    const char *path = "/contracts/c1/use?dataset=sha256:"
                       "0000000000000000000000000000000000000000000000000000000000000000";
    struct gov_service_options o = {.allow_unattested_use = 1};
    (void)state;
    assert_int_equal(call(T_CR, "POST", path, NULL), 403);
    assert_non_null(strstr(last_body,
                           "party cons (role cleanroom) may not count a use of contract c1: it needs "
                           "role broker"));
    assert_non_null(strstr(last_body, "--allow-unattested-use"));
    assert_int_equal(call(T_PROV, "POST", path, NULL), 403);
    assert_int_equal(call(T_CONS, "POST", path, NULL), 403);
    assert_int_equal(call(T_AUD, "POST", path, NULL), 403);
    assert_int_equal(call(T_BRK, "POST", path, NULL), 200);
    assert_non_null(strstr(last_body, "\"used\":1"));
    /* Refused uses counted nothing. */
    assert_int_equal(call(T_AUD, "GET", "/contracts/c1", NULL), 200);
    assert_non_null(strstr(last_body, "\"used\":1"));

    /* With --allow-unattested-use, a clean room of the contract may count, others not. */
    gov_service_stop(svc);
    start(&o);
    assert_int_equal(call(T_CR, "POST", path, NULL), 200);
    assert_non_null(strstr(last_body, "\"used\":2"));
    assert_int_equal(call(T_CRX, "POST", path, NULL), 403);
    assert_non_null(strstr(last_body, "party mallory (role cleanroom)"));
    assert_int_equal(call(T_PROV, "POST", path, NULL), 403);
    gov_service_stop(svc);
    start(NULL);
}

static void test_chains(void **state)
{
    struct gov_chain ch, forged;
    char id[128], fid[128], *line, *fake;
    (void)state;

    assert_int_equal(gov_chain_init(&ch), 0);
    line = event(&ch, "mount", id);
    /* Only clean rooms (or admin) append, and only for contracts that name them. */
    assert_int_equal(put_event(T_AUD, line, id), 403);
    assert_non_null(
        strstr(last_body, "party aud (role auditor) may not append events: it needs role cleanroom"));
    assert_int_equal(put_event(T_PROV, line, id), 403);
    assert_int_equal(put_event(T_BRK, line, id), 403);
    assert_int_equal(put_event(T_CRX, line, id), 403);
    assert_non_null(strstr(last_body, "party mallory (role cleanroom) may not append events of contract c1"));
    /* The first append binds the chain to its party. */
    assert_int_equal(put_event(T_CR, line, id), 200);
    free(line);

    /* Another party's clean room forges the next event: refused, nothing stored ... */
    forged = ch;
    fake = event(&forged, "read", fid);
    assert_int_equal(put_event(T_CR2, fake, fid), 403);
    assert_non_null(strstr(last_body, "party prov (role cleanroom) may not append to chain"));
    assert_non_null(strstr(last_body, "it belongs to party cons"));
    free(fake);
    /* ... so the real one with that sequence number lands. */
    line = event(&ch, "open", id);
    assert_string_equal(id, fid);
    assert_int_equal(put_event(T_CR, line, id), 200);
    assert_non_null(strstr(last_body, "\"stored\""));
    free(line);
    line = event(&ch, "read", id);
    assert_int_equal(put_event(T_ADMIN, line, id), 200); /* admin may, with a warning at start */
    free(line);
    /* A new chain of another party's clean room is its own. */
    assert_int_equal(gov_chain_init(&forged), 0);
    fake = event(&forged, "mount", fid);
    assert_int_equal(put_event(T_CR2, fake, fid), 200);
    free(fake);

    /* Reading events: auditors and the contract's parties; others not. */
    assert_int_equal(call(T_AUD, "GET", "/events?contract=c1", NULL), 200);
    assert_non_null(strstr(last_body, "\"type\":\"open\""));
    assert_int_equal(call(T_CONS, "GET", "/events?contract=c1", NULL), 200);
    assert_int_equal(call(T_BRK, "GET", "/events?contract=c1", NULL), 403);
    assert_non_null(strstr(last_body, "party kbs (role broker) may not read the events of contract c1"));
    assert_int_equal(call(T_CRX, "GET", "/events?contract=c1", NULL), 403);
    assert_int_equal(call(T_CRX, "GET", "/contracts/c1/events", NULL), 403);
    assert_int_equal(call(T_AUD, "GET", "/events?contract=nope", NULL), 200);
    assert_int_equal(call(T_CONS, "GET", "/events?contract=nope", NULL), 403);
    assert_non_null(strstr(last_body, "no such contract is registered"));
}

/* The sidecar stand-in's streams are bound to the party that began them too. */
static void test_sidecar_streams(void **state)
{
    (void)state;
    assert_int_equal(call(T_CR, "PUT", "/events?id=s1&scope=logs&contract=c1", "{\"m\":1}"), 400);
    gov_service_sidecar(svc, "c1", 0);
    assert_int_equal(call(T_CR, "PUT", "/events?id=s1&scope=logs", "{\"m\":1}"), 200);
    assert_int_equal(call(T_CR2, "PUT", "/events?id=s1&scope=logs", "{\"m\":2}"), 403);
    assert_non_null(strstr(last_body, "it belongs to party cons"));
    assert_int_equal(call(T_AUD, "PUT", "/events?id=s1&scope=logs", "{\"m\":3}"), 403);
    assert_int_equal(call(T_CR2, "PUT", "/events?id=s2&scope=logs", "{\"m\":4}"), 200);
    assert_int_equal(call(T_CR, "PUT", "/events?id=s1&scope=logs", "{\"m\":5}"), 200);
    gov_service_sidecar(svc, NULL, 0);
}

static void test_revoke(void **state)
{
    char *b;
    (void)state;
    b = signature_body(kprov, "prov", 1);
    assert_int_equal(call(T_CONS, "POST", "/contracts/c1/revoke", b), 403);
    assert_non_null(strstr(last_body, "may revoke only as itself"));
    assert_int_equal(call(T_AUD, "POST", "/contracts/c1/revoke", b), 403);
    assert_int_equal(call(T_BRK, "POST", "/contracts/c1/revoke", b), 403);
    assert_int_equal(call(T_PROV, "POST", "/contracts/c1/revoke", b), 200); /* its own, as itself */
    assert_non_null(strstr(last_body, "\"status\":\"revoked\""));
    free(b);
}

/* ---- limits --------------------------------------------------------------------------------- */

static void test_body_caps(void **state)
{
    size_t big = 20 * 1024, huge = 1024 * 1024 + 1;
    char *b = malloc(huge);
    (void)state;
    memset(b, ' ', huge);
    b[0] = '{';
    assert_int_equal(api(T_PROV, "POST", "/contracts/c1/sign", b, big), 413);
    assert_non_null(strstr(last_body, "at most 16384 bytes"));
    assert_int_equal(api(T_CR, "PUT", "/events?id=x&scope=y", b, huge), 413);
    assert_non_null(strstr(last_body, "RequestBodyTooLarge"));
    /* Without a credential the body is not read at all. */
    assert_int_equal(api(NULL, "PUT", "/events?id=x&scope=y", b, huge), 401);
    free(b);
}

/* A TCP connection to the service from source address src (127.0.0.x). */
static int connect_from(const char *src)
{
    struct sockaddr_in a = {0}, s = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    s.sin_family = AF_INET;
    inet_pton(AF_INET, src, &s.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&s, sizeof s), 0);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(strrchr(url, ':') + 1));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* The status of GET /health on a fresh connection from src; 0 when closed without one. */
static int health_from(const char *src)
{
    static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char buf[512] = {0};
    int fd = connect_from(src), status = 0;
    ssize_t n;
    struct pollfd p = {fd, POLLIN, 0};
    if (write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) && poll(&p, 1, 5000) == 1 &&
        (n = read(fd, buf, sizeof buf - 1)) > 12)
        status = atoi(buf + 9);
    close(fd);
    return status;
}

static void test_connection_limits(void **state)
{
    struct gov_service_options o = {.max_connections = 8, .max_per_client = 4, .idle_timeout_s = 2};
    int idle[16], n = 0;
    char buf[8];
    struct pollfd p;
    (void)state;

    gov_service_stop(svc);
    start(&o);
    /* Four idle sockets from one address fill its share: the next request from it gets 429,
     * one from another address is served. */
    for (int i = 0; i < 4; i++)
        idle[n++] = connect_from("127.0.0.2");
    usleep(200 * 1000);
    assert_int_equal(health_from("127.0.0.2"), 429);
    assert_int_equal(health_from("127.0.0.3"), 200);
    /* Idle sockets from many addresses fill the service: 503 for anyone new. */
    for (int i = 0; i < 3; i++)
        idle[n++] = connect_from("127.0.0.4");
    for (int i = 0; i < 2; i++)
        idle[n++] = connect_from("127.0.0.5");
    usleep(200 * 1000);
    assert_int_equal(health_from("127.0.0.6"), 503);
    /* The idle timeout closes them; then everyone is served again. */
    p.fd = idle[0];
    p.events = POLLIN;
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_int_equal(read(idle[0], buf, sizeof buf), 0);
    for (int i = 0; i < n; i++)
        close(idle[i]);
    usleep(300 * 1000);
    assert_int_equal(health_from("127.0.0.2"), 200);
    assert_int_equal(health_from("127.0.0.6"), 200);
    gov_service_stop(svc);
    start(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_file_format),
        cmocka_unit_test(test_client_token_line),
        cmocka_unit_test(test_unauthenticated),
        cmocka_unit_test(test_propose_and_sign),
        cmocka_unit_test(test_use),
        cmocka_unit_test(test_chains),
        cmocka_unit_test(test_sidecar_streams),
        cmocka_unit_test(test_revoke),
        cmocka_unit_test(test_body_caps),
        cmocka_unit_test(test_connection_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
