/* The aa:URL evidence source against a loopback stand-in of guest-components'
 * api-server-rest (GET /aa/evidence?runtime_data=<base64url>&encoding=base64, answering the
 * SnpEvidence JSON of a simulated guest): the evidence arrives, binds the runtime data and
 * verifies with the simulator's roots; a null cert_chain, an agent that ignores the runtime
 * data, non-SNP evidence, a disabled API and a bad URL are each refused or handled. */
#include "common/encoding.h"
#include "common/err.h"
#include "keys/attest/evidence.h"
#include "keys/attest/roots.h"
#include "keys/attest/sim.h"
#include "keys/kbs/snp_evidence.h"
#include "tests/support/scratch.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

enum mode { M_OK, M_NO_CERTS, M_STALE, M_TDX, M_DISABLED };

static struct MHD_Daemon *daemon_;
static char base[64], sim_dir[64];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static enum mode mode; /* under lock */
static char last_encoding[32];

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    MHD_add_response_header(r, "Content-Type", "application/octet-stream");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* What api-server-rest does: decode runtime_data (URL-safe base64 with encoding=base64), hand
 * it to the attester, answer the evidence JSON as the body. */
static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_size,
                               void **state)
{
    const char *rd = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "runtime_data");
    const char *enc = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "encoding");
    struct keys_evidence ev = {0};
    struct json_object *o;
    uint8_t *data = NULL, report_data[KEYS_SNP_REPORT_DATA_LEN] = {0};
    size_t len = 0;
    enum mode m;
    enum MHD_Result ret;
    (void)cls;
    (void)version;
    (void)upload_data;
    (void)upload_size;
    (void)state;

    pthread_mutex_lock(&lock);
    m = mode;
    snprintf(last_encoding, sizeof last_encoding, "%s", enc ? enc : "");
    pthread_mutex_unlock(&lock);
    if (strcmp(method, "GET") != 0)
        return reply(c, 405, "only GET");
    if (m == M_DISABLED || strcmp(url, "/aa/evidence") != 0)
        return reply(c, 404, "");
    if (rd == NULL || enc == NULL || strcmp(enc, "base64") != 0 ||
        ccr_b64_decode(rd, strlen(rd), &data, &len, CCR_B64_URL) != 0 || len > KEYS_SNP_REPORT_DATA_LEN) {
        free(data);
        return reply(c, 400, "invalid runtime_data");
    }
    if (m == M_TDX) {
        free(data);
        return reply(c, 200, "{\"quote\":\"AAAA\",\"cc_eventlog\":null}");
    }
    if (m != M_STALE)
        memcpy(report_data, data, len); /* padded with zeros to 64, as the SNP attester does */
    free(data);
    if (keys_sim_report(sim_dir, report_data, ev.report, &ev.vcek_der, &ev.vcek_len) != 0)
        return reply(c, 500, "attester failed");
    if (m == M_NO_CERTS) {
        free(ev.vcek_der);
        ev.vcek_der = NULL;
    }
    o = keys_kbs_snp_evidence(&ev);
    ret = reply(c, 200, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    keys_evidence_clear(&ev);
    return ret;
}

static int setup(void **state)
{
    struct sockaddr_in addr;
    struct keys_sim_config cfg = {0};
    (void)state;
    if (tsup_scratch_make(sim_dir, sizeof sim_dir, "ccrfs-test-aa") != 0 || keys_sim_init(sim_dir, &cfg) != 0)
        return -1;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_ = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                               handler, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_END);
    if (daemon_ == NULL)
        return -1;
    snprintf(base, sizeof base, "aa:http://127.0.0.1:%u",
             MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(daemon_);
    tsup_scratch_remove(sim_dir);
    return 0;
}

static void set_mode(enum mode m)
{
    pthread_mutex_lock(&lock);
    mode = m;
    pthread_mutex_unlock(&lock);
}

static void test_evidence_verifies(void **state)
{
    uint8_t rd[KEYS_SNP_REPORT_DATA_LEN];
    struct keys_evidence ev;
    struct keys_snp_report r;
    struct keys_snp_roots *roots;
    struct keys_snp_verdict v;
    X509 *vcek, *ask, *ark;
    (void)state;
    for (size_t i = 0; i < sizeof rd; i++)
        rd[i] = (uint8_t)(0xf0 + i); /* bytes that need base64's URL-safe alphabet */
    set_mode(M_OK);
    assert_int_equal(keys_evidence_get(base, rd, &ev), 0);
    assert_string_equal(ev.kind, "aa");
    pthread_mutex_lock(&lock);
    assert_string_equal(last_encoding, "base64");
    pthread_mutex_unlock(&lock);
    assert_non_null(ev.vcek_der);
    assert_int_equal(keys_snp_report_parse(ev.report, sizeof ev.report, &r), 0);
    assert_memory_equal(r.report_data, rd, sizeof rd);
    assert_int_equal(r.version, 3);
    assert_int_equal(keys_x509_from_der(ev.vcek_der, ev.vcek_len, &vcek), 0);
    assert_int_equal(keys_snp_roots_new(&roots), 0);
    assert_int_equal(keys_snp_roots_add_sim(roots, sim_dir), 0);
    assert_int_equal(keys_snp_roots_find(roots, vcek, &ask, &ark, NULL, NULL), 0);
    assert_int_equal(keys_snp_verify(&r, vcek, ask, ark, 0, &v), 0);
    keys_snp_roots_free(roots);
    X509_free(vcek);
    keys_evidence_clear(&ev);
}

static void test_no_certificates(void **state)
{
    uint8_t rd[KEYS_SNP_REPORT_DATA_LEN] = {1, 2, 3};
    struct keys_evidence ev;
    (void)state;
    set_mode(M_NO_CERTS);
    assert_int_equal(keys_evidence_get(base, rd, &ev), 0);
    assert_null(ev.vcek_der); /* the verifier gets it from a KDS */
    assert_int_equal(ev.report[KEYS_SNP_OFF_REPORT_DATA + 2], 3);
    keys_evidence_clear(&ev);
}

static void test_refusals(void **state)
{
    uint8_t rd[KEYS_SNP_REPORT_DATA_LEN] = {9};
    struct keys_evidence ev;
    int rc;
    (void)state;
    set_mode(M_STALE);
    assert_int_equal(rc = keys_evidence_get(base, rd, &ev), EPROTO);
    assert_non_null(strstr(ccr_err_msg(rc), "not the runtime data sent"));
    set_mode(M_TDX);
    assert_int_equal(rc = keys_evidence_get(base, rd, &ev), EPROTO);
    assert_non_null(strstr(ccr_err_msg(rc), "not SEV-SNP evidence"));
    set_mode(M_DISABLED);
    assert_int_equal(rc = keys_evidence_get(base, rd, &ev), EACCES);
    assert_non_null(strstr(ccr_err_msg(rc), "answered 404"));
    assert_int_equal(rc = keys_evidence_get("aa:ftp://127.0.0.1/", rd, &ev), EINVAL);
    assert_non_null(strstr(ccr_err_msg(rc), "http:// or https://"));
    assert_int_equal(rc = keys_evidence_get("aa:", rd, &ev), EINVAL);
    assert_non_null(strstr(ccr_err_msg(rc), "aa:URL"));
    /* nobody listening: the transport error, not a hang */
    rc = keys_evidence_get("aa:http://127.0.0.1:1", rd, &ev);
    assert_int_equal(rc, ECONNREFUSED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evidence_verifies),
        cmocka_unit_test(test_no_certificates),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
