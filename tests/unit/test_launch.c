/* The mount sequence without the command line and without /dev/fuse: launch_prepare up to a
 * created file system, then launch_finish. A small dataset is packed here into a folder store
 * (and served over HTTP by an in-process server for the URL test); governance writes a local
 * audit log, which each test reads back: what was refused is recorded with its reason, and the
 * key is never released for a mount that is refused before it. */
#include "tests/support/dataset.h"
#include "common/err.h"
#include "common/fileio.h"
#include "fetch/store.h"
#include "format/blob.h"
#include "format/dataset.h"
#include "format/manifest.h"
#include "governance/canon.h"
#include "governance/contract.h"
#include "governance/http.h"
#include "governance/service/service.h"
#include "governance/sign.h"
#include "launch/dataset.h"
#include "launch/mount.h"
#include "launch/state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define FILE_LEN  20000
#define OTHER_ID  "sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
#define VALID     "2020-01-01T00:00:00Z", "2099-12-31T23:59:59Z"
#define EXPIRED   "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"
#define SAS_QUERY "sv=2024-01-01&sig=s3cr3tSIGNATURE"

static char dir[64], store_dir[96], mnt[96], key_path[96], ds_id[FMT_DATASET_ID_LEN + 1];
static struct gov_key *kp, *kc;
static char *pub_p, *pub_c;
static struct fs_options opts;
static int run; /* a fresh audit log and spool per case */

/* Encrypts one file into the store and adds its entry, as ccrfs pack does. */
static void add_file(const struct fmt_dek *dek, struct fmt_manifest *man, const char *path, size_t len)
{
    uint8_t *data = malloc(len);

    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 31 + 7);
    assert_int_equal(tsup_dataset_add_file(store_dir, dek, man, path, data, len, 12, NULL, 0), 0);
    free(data);
}

static int setup(void **state)
{
    struct fmt_manifest man = {0};
    struct fmt_dek *dek;
    char path[160];
    (void)state;

    snprintf(dir, sizeof dir, "/tmp/test_launch.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(store_dir, sizeof store_dir, "%s/ds", dir);
    snprintf(mnt, sizeof mnt, "%s/mnt", dir);
    snprintf(key_path, sizeof key_path, "%s/key", dir);
    snprintf(path, sizeof path, "%s/blobs", store_dir);
    assert_int_equal(ccr_mkdirs(path, 0755), 0);
    assert_int_equal(mkdir(mnt, 0755), 0);
    assert_int_equal(fmt_dek_generate_file(key_path), 0);
    assert_int_equal(fmt_dek_load_file(key_path, &dek), 0);
    add_file(dek, &man, "data.bin", FILE_LEN);
    assert_int_equal(tsup_dataset_seal(store_dir, dek, &man, ds_id), 0);
    fmt_manifest_free(&man);
    fmt_dek_free(dek);

    snprintf(path, sizeof path, "%s/p.pem", dir);
    assert_int_equal(gov_key_generate_file(path, "ed25519"), 0);
    assert_int_equal(gov_key_load_private(path, &kp), 0);
    snprintf(path, sizeof path, "%s/c.pem", dir);
    assert_int_equal(gov_key_generate_file(path, "p256"), 0);
    assert_int_equal(gov_key_load_private(path, &kc), 0);
    assert_int_equal(gov_key_public_b64(kp, &pub_p), 0);
    assert_int_equal(gov_key_public_b64(kc, &pub_c), 0);

    fs_options_init(&opts);
    opts.cache_size = 1u << 20;
    opts.readahead_kb = 0;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    fs_options_free(&opts);
    gov_key_free(kp);
    gov_key_free(kc);
    free(pub_p);
    free(pub_c);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A request for a key-file mount of the folder store, with its own audit log and spool. */
struct request {
    struct launch_request req;
    char log[128], spool[128];
};

static void request_init(struct request *r)
{
    memset(r, 0, sizeof *r);
    run++;
    snprintf(r->log, sizeof r->log, "%s/audit-%d.log", dir, run);
    snprintf(r->spool, sizeof r->spool, "%s/spool-%d", dir, run);
    r->req.store_url = store_dir;
    r->req.mountpoint = mnt;
    r->req.keys.key_file = key_path;
    r->req.opts = &opts;
    r->req.gov.audit_log = r->log;
    r->req.gov.spool_dir = r->spool;
}

/* The events of an audit log, one JSON object a line. */
struct events {
    json_object *ev[64];
    size_t n;
    char *text;
};

static void events_load(const char *path, struct events *e)
{
    size_t len;
    char *line, *save = NULL;

    memset(e, 0, sizeof *e);
    assert_int_equal(ccr_read_file(path, 1 << 20, (uint8_t **)&e->text, &len), 0);
    e->text = realloc(e->text, len + 1);
    e->text[len] = '\0';
    {
        char *copy = strdup(e->text);
        for (line = strtok_r(copy, "\n", &save); line != NULL && e->n < 64;
             line = strtok_r(NULL, "\n", &save))
            assert_int_equal(gov_json_parse(line, strlen(line), "audit log", &e->ev[e->n++]), 0);
        free(copy);
    }
}

static void events_free(struct events *e)
{
    for (size_t i = 0; i < e->n; i++)
        json_object_put(e->ev[i]);
    free(e->text);
}

/* The first event of this type (and op, when given), or NULL. */
static json_object *event(const struct events *e, const char *type, const char *op)
{
    for (size_t i = 0; i < e->n; i++) {
        const char *t = gov_json_str(e->ev[i], "type"), *o = gov_json_str(e->ev[i], "op");
        if (t != NULL && strcmp(t, type) == 0 && (op == NULL || (o != NULL && strcmp(o, op) == 0)))
            return e->ev[i];
    }
    return NULL;
}

static void expect_msg(int rc, const char *words)
{
    if (strstr(ccr_err_msg(rc), words) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", ccr_err_msg(rc), words);
}

static void test_key_file_mount(void **state)
{
    struct request r;
    struct launch_mount *lm = NULL;
    struct events e;
    json_object *ev;
    (void)state;

    request_init(&r);
    r.req.dataset_id = ds_id;
    assert_int_equal(launch_prepare(&r.req, &lm), 0);
    assert_non_null(lm);
    assert_string_equal(launch_mount_dataset_id(lm), ds_id);
    assert_string_equal(launch_mount_source(lm), store_dir); /* mkdtemp gives a real path */
    launch_finish(lm);

    events_load(r.log, &e);
    assert_non_null(ev = event(&e, "key_release", NULL));
    assert_non_null(ev = event(&e, "mount", NULL));
    assert_string_equal(gov_json_str(ev, "dataset"), ds_id);
    assert_string_equal(gov_json_str(ev, "source"), store_dir);
    assert_string_equal(gov_json_str(ev, "mode"), "read-only");
    assert_non_null(ev = event(&e, "unmount", NULL));
    assert_null(event(&e, "denial", NULL));
    events_free(&e);
}

/* Without a spool or an audit log named, both go to the mount point's state folder. */
static void test_state_folder_defaults(void **state)
{
    struct request r;
    struct launch_mount *lm = NULL;
    char state_dir[128], *sub = NULL, log[300];
    struct stat st;
    (void)state;

    request_init(&r);
    r.req.gov.audit_log = NULL;
    r.req.gov.spool_dir = NULL;
    snprintf(state_dir, sizeof state_dir, "%s/state", dir);
    setenv("CCRFS_STATE_DIR", state_dir, 1);
    assert_int_equal(launch_prepare(&r.req, &lm), 0);
    launch_finish(lm);
    assert_int_equal(launch_state_dir(mnt, &sub), 0);
    unsetenv("CCRFS_STATE_DIR");
    assert_int_equal(strncmp(sub, state_dir, strlen(state_dir)), 0);
    snprintf(log, sizeof log, "%s/audit.log", sub);
    assert_int_equal(stat(log, &st), 0);
    assert_true(st.st_size > 0);
    snprintf(log, sizeof log, "%s/spool", sub);
    assert_int_equal(stat(log, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    free(sub);
}

static void test_wrong_pin_refused(void **state)
{
    struct request r;
    struct launch_mount *lm = NULL;
    int rc;
    (void)state;

    request_init(&r);
    r.req.dataset_id = OTHER_ID;
    rc = launch_prepare(&r.req, &lm);
    assert_int_equal(rc, EPERM);
    assert_null(lm);
    expect_msg(rc, "dataset id mismatch: expected " OTHER_ID);
    /* Refused before governance started or any key was asked for. */
    assert_int_equal(access(r.log, F_OK), -1);
    /* Nothing was left holding the spool: the same request, unpinned, mounts. */
    r.req.dataset_id = NULL;
    assert_int_equal(launch_prepare(&r.req, &lm), 0);
    launch_finish(lm);
}

static void test_key_not_released_recorded(void **state)
{
    struct request r;
    struct launch_mount *lm = NULL;
    char missing[128];
    struct events e;
    json_object *ev;
    int rc;
    (void)state;

    request_init(&r);
    snprintf(missing, sizeof missing, "%s/no-such-key", dir);
    r.req.keys.key_file = missing;
    rc = launch_prepare(&r.req, &lm);
    assert_int_not_equal(rc, 0);
    assert_null(lm);
    expect_msg(rc, "key: ");
    events_load(r.log, &e);
    assert_non_null(ev = event(&e, "denial", "key_release"));
    assert_non_null(strstr(gov_json_str(ev, "reason"), "no key: "));
    assert_null(event(&e, "mount", NULL));
    events_free(&e);
}

/* A contract naming dataset_id from start to expiry, for at most max_mounts mounts. */
static void contract_doc(char *doc, size_t len, const char *name, const char *dataset_id, const char *start,
                         const char *expiry, int max_mounts)
{
    snprintf(doc, len,
             "{\"id\":\"%s\",\"purpose\":\"TRAINING\","
             "\"parties\":[{\"id\":\"prov\",\"role\":\"data-provider\",\"publicKey\":\"%s\"},"
             "{\"id\":\"cons\",\"role\":\"data-consumer\",\"publicKey\":\"%s\"}],"
             "\"startTime\":\"%s\",\"expiryTime\":\"%s\","
             "\"datasets\":[{\"id\":\"%s\",\"provider\":\"prov\",\"accessMode\":\"read-only\","
             "\"maxMounts\":%d,\"maxBytesPerMount\":100000}]}",
             name, pub_p, pub_c, start, expiry, dataset_id, max_mounts);
}

static char *sign_doc(struct gov_key *k, const char *doc)
{
    struct gov_contract *c;
    char *bytes, *sig;
    size_t len;

    assert_int_equal(gov_contract_parse(doc, strlen(doc), &c), 0);
    assert_int_equal(gov_contract_signed_bytes(c, &bytes, &len), 0);
    assert_int_equal(gov_key_sign_b64(k, bytes, len, &sig), 0);
    free(bytes);
    gov_contract_free(c);
    return sig;
}

/* The contract signed by the provider, and by the consumer when both is set, written as the
 * envelope `ccrfs gov contract show` prints; returns the file's path. */
static char *contract_file(const char *name, const char *dataset_id, const char *start, const char *expiry,
                           int both)
{
    char doc[4096], *path, *sig_p, *sig_c = NULL, *env;
    size_t len;

    contract_doc(doc, sizeof doc, name, dataset_id, start, expiry, 1);
    sig_p = sign_doc(kp, doc);
    if (both)
        sig_c = sign_doc(kc, doc);
    len = strlen(doc) + 1024;
    env = malloc(len);
    snprintf(env, len, "{\"contract\":%s,\"signatures\":{\"prov\":\"%s\"%s%s%s}}", doc, sig_p,
             both ? ",\"cons\":\"" : "", both ? sig_c : "", both ? "\"" : "");
    path = malloc(160);
    snprintf(path, 160, "%s/%s.view.json", dir, name);
    assert_int_equal(ccr_write_file_atomic(path, env, strlen(env), 0644), 0);
    free(env);
    free(sig_p);
    free(sig_c);
    return path;
}

static void test_contract_admitted(void **state)
{
    struct request r;
    struct launch_mount *lm = NULL;
    char *cf = contract_file("good", ds_id, VALID, 1);
    struct events e;
    json_object *ev;
    (void)state;

    request_init(&r);
    r.req.contract_file = cf;
    r.req.purpose = "TRAINING";
    assert_int_equal(launch_prepare(&r.req, &lm), 0);
    launch_finish(lm);
    events_load(r.log, &e);
    assert_non_null(ev = event(&e, "mount", NULL));
    assert_string_equal(gov_json_str(ev, "contract"), "good");
    assert_non_null(event(&e, "key_release", NULL));
    events_free(&e);
    free(cf);
}

/* Refused with the reason, the refusal recorded as a mount denial, and no key released. */
static void expect_contract_refused(const char *cf, const char *purpose, const char *words)
{
    struct request r;
    struct launch_mount *lm = NULL;
    struct events e;
    json_object *ev;
    int rc;

    request_init(&r);
    r.req.contract_file = cf;
    r.req.purpose = purpose;
    rc = launch_prepare(&r.req, &lm);
    assert_int_equal(rc, EACCES);
    assert_null(lm);
    expect_msg(rc, "mount refused: ");
    expect_msg(rc, words);
    events_load(r.log, &e);
    assert_non_null(ev = event(&e, "denial", "mount"));
    if (strstr(gov_json_str(ev, "reason"), words) == NULL)
        fail_msg("recorded reason \"%s\" lacks \"%s\"", gov_json_str(ev, "reason"), words);
    assert_null(event(&e, "key_release", NULL));
    assert_null(event(&e, "mount", NULL));
    events_free(&e);
}

static void test_contract_refusals(void **state)
{
    char *expired = contract_file("expired", ds_id, EXPIRED, 1);
    char *one_party = contract_file("oneparty", ds_id, VALID, 0);
    char *other_ds = contract_file("otherds", OTHER_ID, VALID, 1);
    char *good = contract_file("good2", ds_id, VALID, 1);
    (void)state;

    expect_contract_refused(expired, "TRAINING", "expired");
    expect_contract_refused(one_party, "TRAINING", "not signed by party cons");
    expect_contract_refused(other_ds, "TRAINING", "does not name dataset");
    expect_contract_refused(good, "RESEARCH", "purpose");
    free(expired);
    free(one_party);
    free(other_ds);
    free(good);
}

/* Nothing listens on the discard port. */
#define UNREACHABLE "http://127.0.0.1:9"

static void test_governance_unreachable_fails_closed(void **state)
{
    struct request r;
    struct launch_mount *lm = NULL;
    struct events e;
    int rc;
    (void)state;

    request_init(&r);
    r.req.gov.governance_url = UNREACHABLE;
    r.req.gov.contract_id = NULL;
    rc = launch_prepare(&r.req, &lm);
    assert_int_not_equal(rc, 0);
    assert_null(lm);
    expect_msg(rc, "mount refused: ");
    events_load(r.log, &e);
    assert_non_null(event(&e, "denial", "mount"));
    assert_null(event(&e, "key_release", NULL));
    events_free(&e);
}

static void test_governance_optional_mounts(void **state)
{
    struct request r;
    struct launch_mount *lm = NULL;
    struct events e;
    (void)state;

    request_init(&r);
    r.req.gov.governance_url = UNREACHABLE;
    r.req.gov.governance_optional = 1;
    assert_int_equal(launch_prepare(&r.req, &lm), 0);
    launch_finish(lm);
    events_load(r.log, &e);
    assert_non_null(event(&e, "mount", NULL));
    assert_null(event(&e, "denial", NULL));
    events_free(&e);
}

/* ---- a governance service in this process: contracts fetched, uses counted, consent ---- */

#define TOKEN "test-launch-token-0123456789"

static long api(const char *base, const char *method, const char *path, const char *body)
{
    struct gov_http *h;
    long status = 0;
    char *resp = NULL;
    assert_int_equal(gov_http_new(base, TOKEN, 5000, &h), 0);
    assert_int_equal(gov_http_request(h, method, path, body, body ? strlen(body) : 0, &status, &resp, NULL),
                     0);
    free(resp);
    gov_http_free(h);
    return status;
}

/* Proposes the contract at the service and, when sign is set, has both parties sign it. */
static void register_contract(const char *base, const char *name, int max_mounts, int sign)
{
    char doc[4096], body[512], path[128], *sig;
    struct gov_key *keys[2] = {kp, kc};
    const char *parties[2] = {"prov", "cons"};

    contract_doc(doc, sizeof doc, name, ds_id, VALID, max_mounts);
    assert_int_equal(api(base, "POST", "/contracts", doc), 201);
    for (int i = 0; sign && i < 2; i++) {
        sig = sign_doc(keys[i], doc);
        snprintf(body, sizeof body, "{\"party\":\"%s\",\"signature\":\"%s\"}", parties[i], sig);
        snprintf(path, sizeof path, "/contracts/%s/sign", name);
        assert_int_equal(api(base, "POST", path, body), 200);
        free(sig);
    }
}

/* Prepares and finishes one mount under the service; returns launch_prepare's result. */
static int mount_under(const char *base, const char *contract, const char *file, struct request *r)
{
    struct launch_mount *lm = NULL;
    int rc;

    request_init(r);
    r->req.gov.governance_url = base;
    r->req.gov.contract_id = contract;
    r->req.contract_file = file;
    r->req.purpose = "TRAINING";
    rc = launch_prepare(&r->req, &lm);
    if (rc == 0)
        launch_finish(lm);
    else
        assert_null(lm);
    return rc;
}

static void expect_recorded_refusal(const struct request *r, const char *words)
{
    struct events e;
    json_object *ev;

    events_load(r->log, &e);
    assert_non_null(ev = event(&e, "denial", "mount"));
    if (strstr(gov_json_str(ev, "reason"), words) == NULL)
        fail_msg("recorded reason \"%s\" lacks \"%s\"", gov_json_str(ev, "reason"), words);
    assert_null(event(&e, "key_release", NULL));
    assert_null(event(&e, "mount", NULL));
    events_free(&e);
}

static void test_service_contract_and_use_budget(void **state)
{
    struct gov_service *svc;
    char db[128], base[64], *cf;
    struct gov_service_config sc = {db, NULL, 0, NULL};
    struct request r;
    int rc;
    (void)state;

    snprintf(db, sizeof db, "%s/gov.db", dir);
    setenv("CCRFS_GOV_TOKEN", TOKEN, 1);
    assert_int_equal(gov_service_start(&sc, &svc), 0);
    snprintf(base, sizeof base, "http://127.0.0.1:%u", gov_service_port(svc));

    /* Fetched from the service, one use allowed: the first mount takes it. */
    register_contract(base, "once", 1, 1);
    assert_int_equal(mount_under(base, "once", NULL, &r), 0);
    rc = mount_under(base, "once", NULL, &r);
    assert_int_equal(rc, ENOSPC);
    expect_msg(rc, "mount refused: use budget of dataset");
    expect_recorded_refusal(&r, "spent");

    /* A contract file checked locally still has its use counted by the service. */
    register_contract(base, "fileonce", 1, 1);
    cf = contract_file("fileonce", ds_id, VALID, 1);
    assert_int_equal(mount_under(base, NULL, cf, &r), 0);
    rc = mount_under(base, NULL, cf, &r);
    assert_int_equal(rc, ENOSPC);
    free(cf);

    /* Not signed by every party: the service gives no consent. */
    register_contract(base, "unsigned", 5, 0);
    rc = mount_under(base, "unsigned", NULL, &r);
    assert_int_equal(rc, EACCES);
    expect_msg(rc, "mount refused: ");
    expect_recorded_refusal(&r, "consent");

    gov_service_stop(svc);
    unsetenv("CCRFS_GOV_TOKEN");
}

/* ---- the store over HTTP, its URL carrying a SAS-like query (or refused userinfo) ------- */

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                             const char *version, const char *upload_data, size_t *upload_size, void **st)
{
    struct MHD_Response *resp;
    const char *range;
    unsigned long long first, last;
    char path[512], cr[96];
    uint8_t *data = NULL;
    size_t len = 0;
    enum MHD_Result ret;
    unsigned status = 200;
    (void)cls, (void)version, (void)upload_data, (void)upload_size;

    if (*st == NULL) {
        *st = (void *)1;
        return MHD_YES;
    }
    *st = NULL;
    snprintf(path, sizeof path, "%s%s", dir, url); /* /ds/KEY */
    if (strncmp(url, "/ds/", 4) != 0 || strstr(url, "..") != NULL ||
        ccr_read_file(path, 1 << 24, &data, &len) != 0) {
        resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        ret = MHD_queue_response(c, 404, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    cr[0] = '\0';
    if (strcmp(method, "GET") == 0 &&
        (range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range")) != NULL &&
        sscanf(range, "bytes=%llu-%llu", &first, &last) == 2 && first <= last && last < len) {
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%zu", first, last, len);
        memmove(data, data + first, (size_t)(last - first + 1));
        len = (size_t)(last - first + 1);
        status = 206;
    }
    resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "ETag", "\"v1\"");
    if (cr[0] != '\0')
        MHD_add_response_header(resp, "Content-Range", cr);
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void test_source_without_secrets(void **state)
{
    struct MHD_Daemon *d;
    struct sockaddr_in addr;
    struct request r;
    struct launch_mount *lm = NULL;
    struct events e;
    json_object *ev;
    char url[160], expect[96];
    unsigned port;
    int rc;
    (void)state;

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                         serve, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_END);
    assert_non_null(d);
    port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    snprintf(expect, sizeof expect, "http://127.0.0.1:%u/ds", port);

    /* Credentials in the URL are refused, and the refusal does not repeat them. */
    snprintf(url, sizeof url, "http://reader:pa55word@127.0.0.1:%u/ds?" SAS_QUERY, port);
    request_init(&r);
    r.req.store_url = url;
    rc = launch_prepare(&r.req, &lm);
    assert_int_not_equal(rc, 0);
    assert_null(lm);
    assert_null(strstr(ccr_err_msg(rc), "pa55word"));
    assert_null(strstr(ccr_err_msg(rc), "s3cr3t"));

    snprintf(url, sizeof url, "http://127.0.0.1:%u/ds?" SAS_QUERY, port);
    request_init(&r);
    r.req.store_url = url;
    r.req.dataset_id = ds_id;
    rc = launch_prepare(&r.req, &lm);
    if (rc != 0)
        fail_msg("%s", ccr_err_msg(rc));
    assert_string_equal(launch_mount_source(lm), expect);
    launch_finish(lm);
    MHD_stop_daemon(d);

    events_load(r.log, &e);
    assert_non_null(ev = event(&e, "mount", NULL));
    assert_string_equal(gov_json_str(ev, "source"), expect);
    assert_null(strstr(e.text, "s3cr3t"));
    assert_null(strstr(e.text, "pa55word"));
    assert_null(strstr(e.text, "sig="));
    events_free(&e);

    /* A local store that is not there is named without its query. */
    request_init(&r);
    r.req.store_url = "file:///nonexistent/ds?" SAS_QUERY;
    rc = launch_prepare(&r.req, &lm);
    assert_int_equal(rc, ENOENT);
    expect_msg(rc, "file:///nonexistent/ds");
    assert_null(strstr(ccr_err_msg(rc), "s3cr3t"));

    /* A failure names the store without the query too. */
    {
        struct launch_dataset ld;
        struct keys_release_request keys = {0};
        setenv("CCRFS_STORE_RETRY_BUDGET_MS", "200", 1);
        setenv("CCRFS_STORE_CONNECT_TIMEOUT_MS", "200", 1);
        keys.key_file = key_path;
        rc = launch_dataset_open(url, &keys, NULL, &ld); /* the server is gone */
        unsetenv("CCRFS_STORE_RETRY_BUDGET_MS");
        unsetenv("CCRFS_STORE_CONNECT_TIMEOUT_MS");
        assert_int_not_equal(rc, 0);
        assert_null(ld.store);
        assert_non_null(strstr(ccr_err_msg(rc), expect));
        assert_null(strstr(ccr_err_msg(rc), "s3cr3t"));
    }
}

struct serving {
    struct launch_mount *lm;
    int rc, ready, ready_ok;
};

static void on_ready(void *arg, int ok)
{
    struct serving *s = arg;
    s->ready_ok = ok;
    __atomic_store_n(&s->ready, 1, __ATOMIC_SEQ_CST);
}

static void *serve_thread(void *arg)
{
    struct serving *s = arg;
    s->rc = launch_serve(s->lm, on_ready, s);
    return NULL;
}

/* The whole life of a mount through the kernel, where FUSE can be used: reads are recorded, and
 * the unmount with its reason. */
static void test_serve_and_unmount(void **state)
{
    struct request r;
    struct serving s = {0};
    struct events e;
    json_object *ev;
    pthread_t t;
    char path[160];
    uint8_t buf[FILE_LEN];
    int fd;
    (void)state;

    if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0) {
        skip();
        return;
    }
    request_init(&r);
    r.req.dataset_id = ds_id;
    assert_int_equal(launch_prepare(&r.req, &s.lm), 0);
    assert_int_equal(launch_start(s.lm), 0);
    assert_int_equal(pthread_create(&t, NULL, serve_thread, &s), 0);
    for (int i = 0; i < 500 && !__atomic_load_n(&s.ready, __ATOMIC_SEQ_CST); i++)
        usleep(10000);
    assert_true(s.ready_ok);
    snprintf(path, sizeof path, "%s/data.bin", mnt);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, sizeof buf), FILE_LEN);
    close(fd);
    for (size_t i = 0; i < FILE_LEN; i++)
        if (buf[i] != (uint8_t)(i * 31 + 7))
            fail_msg("byte %zu differs", i);
    assert_int_equal(umount2(mnt, MNT_DETACH), 0);
    pthread_join(t, NULL);
    assert_int_equal(s.rc, 0);
    launch_finish(s.lm);

    events_load(r.log, &e);
    /* The default compact form: the open, its reads and its release in one access entry. */
    assert_non_null(ev = event(&e, "access", NULL));
    assert_true(json_object_object_get_ex(ev, "files", &ev));
    assert_non_null(ev = json_object_array_get_idx(ev, 0));
    assert_string_equal(gov_json_str(ev, "path"), "data.bin");
    assert_non_null(ev = event(&e, "unmount", NULL));
    assert_string_equal(gov_json_str(ev, "reason"), "unmounted");
    events_free(&e);
}

static void test_dataset_open(void **state)
{
    struct launch_dataset ld;
    struct keys_release_request keys = {0};
    int rc;
    (void)state;

    keys.key_file = key_path;
    assert_int_equal(launch_dataset_open(store_dir, &keys, ds_id, &ld), 0);
    assert_string_equal(ld.ds->id, ds_id);
    assert_int_equal(ld.ds->manifest.count, 1);
    assert_false(ld.key_info.attested);
    launch_dataset_close(&ld);
    assert_null(ld.store);
    rc = launch_dataset_open(store_dir, &keys, OTHER_ID, &ld);
    assert_int_equal(rc, EPERM);
    expect_msg(rc, "mismatch");
    assert_null(ld.store);
    assert_null(ld.dek);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_file_mount),
        cmocka_unit_test(test_state_folder_defaults),
        cmocka_unit_test(test_wrong_pin_refused),
        cmocka_unit_test(test_key_not_released_recorded),
        cmocka_unit_test(test_contract_admitted),
        cmocka_unit_test(test_contract_refusals),
        cmocka_unit_test(test_governance_unreachable_fails_closed),
        cmocka_unit_test(test_governance_optional_mounts),
        cmocka_unit_test(test_service_contract_and_use_budget),
        cmocka_unit_test(test_source_without_secrets),
        cmocka_unit_test(test_dataset_open),
        cmocka_unit_test(test_serve_and_unmount),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
