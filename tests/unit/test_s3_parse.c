/* S3 store pieces: s3:// URLs, endpoints and addressing style, the ListObjectsV2 reader with
 * continuation tokens on good and malformed pages, UploadId and Error answers, the STS and
 * instance-metadata credential answers, the shared files, and the credential chain's order
 * against fake files and a loopback IMDSv2 and STS stand-in (libmicrohttpd). */
#include "fetch/s3.h"
#include "common/err.h"
#include "common/fileio.h"
#include "fetch/store.h"
#include "tests/support/scratch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_url(void **state)
{
    struct fetch_s3_url u;
    (void)state;

    assert_int_equal(fetch_s3_url_parse("s3://data-bucket/sets/one/", &u), 0);
    assert_string_equal(u.bucket, "data-bucket");
    assert_string_equal(u.prefix, "sets/one");
    fetch_s3_url_free(&u);
    assert_int_equal(fetch_s3_url_parse("s3://my.bucket.example", &u), 0);
    assert_string_equal(u.prefix, "");
    fetch_s3_url_free(&u);
    assert_int_equal(fetch_s3_url_parse("s3://ab", &u), EINVAL);
    assert_int_equal(fetch_s3_url_parse("s3://Bucket/x", &u), EINVAL);
    assert_int_equal(fetch_s3_url_parse("s3://-bucket/x", &u), EINVAL);
    assert_int_equal(fetch_s3_url_parse("s3://a..b/x", &u), EINVAL);
    assert_int_equal(fetch_s3_url_parse("s3://bucket/a/../b", &u), EINVAL);
    assert_int_equal(fetch_s3_url_parse("s3://bucket/a//b", &u), EINVAL);
    assert_int_equal(fetch_s3_url_parse("s3://bucket/x?X-Amz-Signature=1", &u), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "no query"));
    assert_int_equal(fetch_s3_url_parse("az://bucket/x", &u), EINVAL);
}

static void test_endpoint(void **state)
{
    struct fetch_s3_endpoint e;
    (void)state;

    /* AWS: virtual-hosted */
    assert_int_equal(fetch_s3_endpoint_make(NULL, "eu-west-1", "data", NULL, &e), 0);
    assert_string_equal(e.base, "https://data.s3.eu-west-1.amazonaws.com");
    assert_string_equal(e.host, "data.s3.eu-west-1.amazonaws.com");
    assert_int_equal(e.path_style, 0);
    fetch_s3_endpoint_free(&e);
    /* a dotted bucket over https cannot match the wildcard certificate: path-style */
    assert_int_equal(fetch_s3_endpoint_make(NULL, "us-east-1", "my.data", "auto", &e), 0);
    assert_string_equal(e.base, "https://s3.us-east-1.amazonaws.com");
    assert_int_equal(e.path_style, 1);
    fetch_s3_endpoint_free(&e);
    /* an IP or localhost: path-style, the port in Host */
    assert_int_equal(fetch_s3_endpoint_make("http://127.0.0.1:9000/", "us-east-1", "data", NULL, &e), 0);
    assert_string_equal(e.base, "http://127.0.0.1:9000");
    assert_string_equal(e.host, "127.0.0.1:9000");
    assert_int_equal(e.path_style, 1);
    fetch_s3_endpoint_free(&e);
    assert_int_equal(fetch_s3_endpoint_make("http://localhost:4568", "us-east-1", "data", NULL, &e), 0);
    assert_int_equal(e.path_style, 1);
    fetch_s3_endpoint_free(&e);
    /* a named endpoint: virtual-hosted unless asked; the scheme's own port left out of Host */
    assert_int_equal(fetch_s3_endpoint_make("https://minio.example:443", "us-east-1", "data", NULL, &e), 0);
    assert_string_equal(e.base, "https://data.minio.example:443");
    assert_string_equal(e.host, "data.minio.example");
    fetch_s3_endpoint_free(&e);
    assert_int_equal(fetch_s3_endpoint_make("https://minio.example:9443", "us-east-1", "data", "path", &e),
                     0);
    assert_string_equal(e.base, "https://minio.example:9443");
    assert_string_equal(e.host, "minio.example:9443");
    assert_int_equal(e.path_style, 1);
    fetch_s3_endpoint_free(&e);
    assert_int_equal(fetch_s3_endpoint_make("http://10.0.0.1", "us-east-1", "data", "virtual", &e), 0);
    assert_int_equal(e.path_style, 0);
    fetch_s3_endpoint_free(&e);
    assert_int_equal(fetch_s3_endpoint_make("https://h/path", "us-east-1", "data", NULL, &e), EINVAL);
    assert_int_equal(fetch_s3_endpoint_make("https://h?x=1", "us-east-1", "data", NULL, &e), EINVAL);
    assert_int_equal(fetch_s3_endpoint_make("ftp://h", "us-east-1", "data", NULL, &e), EINVAL);
    assert_int_equal(fetch_s3_endpoint_make("https://h", "us-east-1", "data", "sideways", &e), EINVAL);
}

struct seen {
    char keys[8][64];
    uint64_t sizes[8];
    char etags[8][FETCH_ETAG_MAX];
    int64_t mtimes[8];
    int n;
};

static int collect(void *arg, const char *key, const struct fetch_object_info *info)
{
    struct seen *s = arg;
    assert_true(s->n < 8);
    snprintf(s->keys[s->n], 64, "%s", key);
    s->sizes[s->n] = info->size;
    snprintf(s->etags[s->n], FETCH_ETAG_MAX, "%s", info->etag);
    s->mtimes[s->n] = info->mtime;
    s->n++;
    return 0;
}

/* Shaped as AWS answers ListObjectsV2 (AmazonS3/latest/API/API_ListObjectsV2.html). */
static const char page1[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult "
    "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>data</Name><Prefix>ds/</Prefix>"
    "<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
    "<Contents><Key>ds/blobs/a&amp;b</Key><LastModified>2026-11-21T07:00:00.000Z</LastModified>"
    "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>3088</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>ds/manifest.ccrfs</Key><LastModified>2026-11-21T07:00:01Z</LastModified>"
    "<ETag>\"d41d8cd98f00b204e9800998ecf8427e-3\"</ETag><Size>0</Size></Contents>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
    "</ListBucketResult>";
static const char page2[] =
    "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>ds/z</Key><Size>1</Size></Contents>"
    "<ContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</ContinuationToken></ListBucketResult>";

static void test_list(void **state)
{
    struct seen s;
    char *next = NULL;
    (void)state;

    memset(&s, 0, sizeof s);
    assert_int_equal(fetch_s3_list_parse(page1, strlen(page1), collect, &s, &next), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.keys[0], "ds/blobs/a&b");
    assert_int_equal(s.sizes[0], 3088);
    assert_string_equal(s.etags[0], "\"9b2cf535f27731c974343645a3985328\"");
    assert_int_equal(s.mtimes[0], 1795244400);
    assert_string_equal(s.keys[1], "ds/manifest.ccrfs");
    assert_int_equal(s.sizes[1], 0);
    assert_int_equal(s.mtimes[1], 1795244401);
    assert_string_equal(next, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    free(next);
    memset(&s, 0, sizeof s);
    assert_int_equal(fetch_s3_list_parse(page2, strlen(page2), collect, &s, &next), 0);
    assert_int_equal(s.n, 1);
    assert_null(next);
}

static void test_list_malformed(void **state)
{
    static const char *const bad[] = {
        /* truncated without a token */
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
        /* no IsTruncated */
        "<ListBucketResult><Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>",
        /* Contents without Size, with a bad Size, with two Keys */
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key></Contents></"
        "ListBucketResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>-1</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key><Key>j</Key><Size>1</Size>"
        "</Contents></ListBucketResult>",
        /* an Error document, a wrong root, unclosed, DOCTYPE, a bad IsTruncated */
        "<Error><Code>AccessDenied</Code></Error>",
        "<ListAllMyBucketsResult></ListAllMyBucketsResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated>",
        "<!DOCTYPE x><ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
        "<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
        /* a good entry before the fault: nothing may be delivered */
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>good</Key><Size>1</Size></Contents>"
        "<Contents><Key>bad</Key><Size>x</Size></Contents></ListBucketResult>",
    };
    (void)state;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct seen s;
        char *next = NULL;
        memset(&s, 0, sizeof s);
        assert_int_equal(fetch_s3_list_parse(bad[i], strlen(bad[i]), collect, &s, &next), EINVAL);
        assert_int_equal(s.n, 0);
        assert_null(next);
    }
}

static void test_answers(void **state)
{
    static const char init[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult "
        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket><Key>k</Key>"
        "<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
        "</InitiateMultipartUploadResult>";
    static const char err[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
        "<Message>The request signature we calculated does not match</Message>"
        "<RequestId>4442587FB7D0A2F9</RequestId></Error>";
    char *id = NULL, code[32], msg[128];
    (void)state;

    assert_int_equal(fetch_s3_upload_id_parse(init, strlen(init), &id), 0);
    assert_string_equal(id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
    free(id);
    assert_int_equal(fetch_s3_upload_id_parse(err, strlen(err), &id), EINVAL);
    assert_int_equal(fetch_s3_upload_id_parse("<InitiateMultipartUploadResult/>", 32, &id), EINVAL);
    assert_int_equal(fetch_s3_error_parse(err, strlen(err), code, sizeof code, msg, sizeof msg), 0);
    assert_string_equal(code, "SignatureDoesNotMatch");
    assert_string_equal(msg, "The request signature we calculated does not match");
    assert_int_equal(fetch_s3_error_parse(init, strlen(init), code, sizeof code, msg, sizeof msg), EINVAL);
}

static void test_time(void **state)
{
    int64_t t = 0;
    (void)state;
    assert_int_equal(fetch_s3_parse_time("2026-11-21T07:00:00Z", &t), 0);
    assert_int_equal(t, 1795244400);
    assert_int_equal(fetch_s3_parse_time("2026-11-21T07:00:00.123Z", &t), 0);
    assert_int_equal(fetch_s3_parse_time("2026-11-21T07:00:00+00:00", &t), 0);
    assert_int_equal(fetch_s3_parse_time("2026-11-21 07:00:00Z", &t), EINVAL);
    assert_int_equal(fetch_s3_parse_time("2026-11-21T07:00:00+02:00", &t), EINVAL);
    assert_int_equal(fetch_s3_parse_time("2026-13-21T07:00:00Z", &t), EINVAL);
}

/* The answer shapes of STS (AssumeRoleWithWebIdentity) and IMDS, with the doc's example keys. */
static const char sts_ok[] =
    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    "<AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>amzn1.account</"
    "SubjectFromWebIdentityToken>"
    "<Credentials><SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>"
    "<SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>"
    "<Expiration>2026-11-21T08:00:00Z</Expiration><AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId></"
    "Credentials>"
    "</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>ad4156e9</RequestId></ResponseMetadata>"
    "</AssumeRoleWithWebIdentityResponse>";
static const char imds_ok[] =
    "{\"Code\":\"Success\",\"LastUpdated\":\"2026-11-21T06:00:00Z\",\"Type\":\"AWS-HMAC\","
    "\"AccessKeyId\":\"ASIAIMDSEXAMPLE\",\"SecretAccessKey\":\"imds/secret\","
    "\"Token\":\"imdstoken\",\"Expiration\":\"2026-11-21T13:00:00Z\"}";

static void test_credential_answers(void **state)
{
    struct fetch_s3_creds c;
    (void)state;

    memset(&c, 0, sizeof c);
    assert_int_equal(fetch_s3_sts_parse(sts_ok, strlen(sts_ok), &c), 0);
    assert_string_equal(c.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
    assert_string_equal(c.secret, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
    assert_string_equal(c.token, "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE");
    assert_int_equal(c.expires, 1795248000);
    fetch_s3_creds_free(&c);
    assert_int_equal(fetch_s3_sts_parse("<AssumeRoleWithWebIdentityResponse/>", 36, &c), EINVAL);
    assert_int_equal(fetch_s3_imds_parse(imds_ok, strlen(imds_ok), &c), 0);
    assert_string_equal(c.access_key_id, "ASIAIMDSEXAMPLE");
    assert_string_equal(c.token, "imdstoken");
    assert_int_equal(c.expires, 1795266000);
    fetch_s3_creds_free(&c);
    assert_int_equal(fetch_s3_imds_parse("{\"Code\":\"Failed\"}", 17, &c), EACCES);
    assert_int_equal(fetch_s3_imds_parse("{\"AccessKeyId\":\"a\"}", 19, &c), EINVAL);
    assert_int_equal(fetch_s3_imds_parse("[]", 2, &c), EINVAL);
    assert_int_equal(fetch_s3_creds_set(&c, "AKID", "se cret", NULL, "test"), EINVAL);
    assert_int_equal(fetch_s3_creds_set(&c, "", "secret", NULL, "test"), EINVAL);
}

/* The loopback stand-in for IMDSv2 and STS. */
static struct MHD_Daemon *daemon_;
static char base[64];
static int imds_calls, sts_calls;

struct body {
    char data[4096];
    size_t len;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_size,
                               void **state)
{
    struct body *b = *state;
    const char *tok;
    (void)cls;
    (void)version;

    if (b == NULL) {
        *state = calloc(1, sizeof *b);
        return *state ? MHD_YES : MHD_NO;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size < sizeof b->data - 1 - b->len ? *upload_size : sizeof b->data - 1 - b->len;
        memcpy(b->data + b->len, upload_data, n);
        b->len += n;
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "PUT") == 0 && strcmp(url, "/latest/api/token") == 0) {
        imds_calls++;
        if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-aws-ec2-metadata-token-ttl-seconds") == NULL)
            return answer(c, 400, "");
        return answer(c, 200, "imds-session-token");
    }
    if (strncmp(url, "/latest/", 8) == 0) {
        tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-aws-ec2-metadata-token");
        if (tok == NULL || strcmp(tok, "imds-session-token") != 0)
            return answer(c, 401, "");
        if (strcmp(url, "/latest/meta-data/iam/security-credentials/") == 0)
            return answer(c, 200, "role-one\n");
        if (strcmp(url, "/latest/meta-data/iam/security-credentials/role-one") == 0)
            return answer(c, 200, imds_ok);
        return answer(c, 404, "");
    }
    if (strcmp(method, "POST") == 0 && strcmp(url, "/") == 0) {
        sts_calls++;
        b->data[b->len] = '\0';
        if (strstr(b->data, "Action=AssumeRoleWithWebIdentity") == NULL ||
            strstr(b->data, "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fccrfs") == NULL ||
            strstr(b->data, "WebIdentityToken=jwt.from.the.pod") == NULL)
            return answer(
                c, 400,
                "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>no</Message></Error>"
                "</ErrorResponse>");
        return answer(c, 200, sts_ok);
    }
    return answer(c, 404, "");
}

static void request_done(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    free(*state);
    *state = NULL;
}

static char dir[64];

static int setup(void **state)
{
    struct sockaddr_in addr;
    (void)state;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_ =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR,
                         &addr, MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL, MHD_OPTION_END);
    if (daemon_ == NULL)
        return -1;
    snprintf(base, sizeof base, "http://127.0.0.1:%u",
             MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port);
    return tsup_scratch_make(dir, sizeof dir, "test_s3_parse");
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(daemon_);
    return tsup_scratch_remove(dir);
}

static void write_text(const char *name, const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    assert_int_equal(ccr_write_file_atomic(path, text, strlen(text), 0600), 0);
}

static void test_ini(void **state)
{
    char path[128], *v = NULL;
    size_t cap = 0;
    (void)state;

    write_text("cfg",
               "# comment\n[default]\nregion = us-west-2\n[profile p]\n  s3 =\n    addressing_style = path\n"
               "region=eu-central-1\naws_secret_access_key =  s3cr3t \n",
               path, sizeof path);
    assert_int_equal(fetch_s3_ini_get(path, "default", "region", 0, &v, &cap), 0);
    assert_string_equal(v, "us-west-2");
    free(v);
    assert_int_equal(fetch_s3_ini_get(path, "profile p", "region", 0, &v, &cap), 0);
    assert_string_equal(v, "eu-central-1");
    free(v);
    assert_int_equal(fetch_s3_ini_get(path, "profile p", "aws_secret_access_key", 1, &v, &cap), 0);
    assert_string_equal(v, "s3cr3t");
    assert_int_equal(cap, 7);
    fetch_s3_creds_free(&(struct fetch_s3_creds){.secret = v, .secret_cap = cap});
    assert_int_equal(fetch_s3_ini_get(path, "profile p", "addressing_style", 0, &v, &cap), ENOENT);
    assert_int_equal(fetch_s3_ini_get(path, "profile q", "region", 0, &v, &cap), ENOENT);
    assert_int_equal(fetch_s3_ini_get("/nonexistent/cfg", "default", "region", 0, &v, &cap), ENOENT);
}

static void chain_env(struct fetch_s3_cred_env *e)
{
    memset(e, 0, sizeof *e);
    e->imds_disabled = 1;
    e->region = "eu-west-1";
}

static void test_chain_order(void **state)
{
    struct fetch_s3_cred_env e;
    struct fetch_s3_creds c;
    char creds[128], config[128], jwt[128];
    (void)state;

    write_text("credentials",
               "[default]\naws_access_key_id = AKIDFILEDEFAULT\naws_secret_access_key = filesecret\n"
               "[team]\naws_access_key_id = AKIDFILETEAM\naws_secret_access_key = "
               "teamsecret\naws_session_token = tt\n"
               "[half]\naws_access_key_id = AKIDHALF\n",
               creds, sizeof creds);
    write_text("config",
               "[profile cfgonly]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = cfgsecret\n",
               config, sizeof config);
    write_text("jwt", "jwt.from.the.pod\n", jwt, sizeof jwt);

    /* 1. the environment wins over everything */
    chain_env(&e);
    e.access_key_id = "AKIDENV";
    e.secret_access_key = "envsecret";
    e.session_token = "envtoken";
    e.credentials_file = creds;
    e.web_identity_token_file = jwt;
    e.role_arn = "arn:aws:iam::123456789012:role/ccrfs";
    e.sts_endpoint = base;
    assert_int_equal(fetch_s3_creds_resolve(&e, &c), 0);
    assert_string_equal(c.access_key_id, "AKIDENV");
    assert_string_equal(c.token, "envtoken");
    assert_string_equal(c.source, "environment");
    assert_int_equal(c.expires, 0);
    fetch_s3_creds_free(&c);
    e.secret_access_key = NULL;
    assert_int_equal(fetch_s3_creds_resolve(&e, &c), EINVAL);
    assert_non_null(strstr(ccr_err_msg(EINVAL), "go together"));

    /* 2. then web identity, exchanged at the STS stand-in */
    e.access_key_id = NULL;
    sts_calls = 0;
    assert_int_equal(fetch_s3_creds_resolve(&e, &c), 0);
    assert_int_equal(sts_calls, 1);
    assert_string_equal(c.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
    assert_string_equal(c.source, "web identity");
    assert_int_equal(c.expires, 1795248000);
    fetch_s3_creds_free(&c);
    e.role_arn = "arn:aws:iam::123456789012:role/other";
    assert_int_equal(fetch_s3_creds_resolve(&e, &c), EACCES);
    assert_non_null(strstr(ccr_err_msg(EACCES), "InvalidIdentityToken"));
    assert_null(strstr(ccr_err_msg(EACCES), "jwt.from.the.pod"));

    /* 3. then the shared credentials file for the profile, 4. then the config file */
    e.web_identity_token_file = NULL;
    assert_int_equal(fetch_s3_creds_resolve(&e, &c), 0);
    assert_string_equal(c.access_key_id, "AKIDFILEDEFAULT");
    assert_null(c.token);
    fetch_s3_creds_free(&c);
    e.profile = "team";
    assert_int_equal(fetch_s3_creds_resolve(&e, &c), 0);
    assert_string_equal(c.access_key_id, "AKIDFILETEAM");
    assert_string_equal(c.token, "tt");
    fetch_s3_creds_free(&c);
    e.profile = "half";
    assert_int_equal(fetch_s3_creds_resolve(&e, &c), EINVAL);
    e.profile = "cfgonly";
    e.config_file = config;
    assert_int_equal(fetch_s3_creds_resolve(&e, &c), 0);
    assert_string_equal(c.access_key_id, "AKIDCONFIG");
    assert_string_equal(c.source, "config file");
    fetch_s3_creds_free(&c);
    e.profile = "nobody";
    assert_int_equal(fetch_s3_creds_resolve(&e, &c), ENOENT);

    /* web identity named by the profile, ahead of the profile's keys */
    {
        char config3[128], text[512];
        snprintf(
            text, sizeof text,
            "[profile pod]\nweb_identity_token_file = %s\nrole_arn = arn:aws:iam::123456789012:role/ccrfs\n"
            "aws_access_key_id = AKIDNOTUSED\naws_secret_access_key = notused\n",
            jwt);
        write_text("config3", text, config3, sizeof config3);
        e.profile = "pod";
        e.config_file = config3;
        sts_calls = 0;
        assert_int_equal(fetch_s3_creds_resolve(&e, &c), 0);
        assert_int_equal(sts_calls, 1);
        assert_string_equal(c.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
        fetch_s3_creds_free(&c);
    }

    /* 5. then IMDSv2 at the stand-in, unless disabled */
    e.profile = NULL;
    e.credentials_file = e.config_file = "/nonexistent/file";
    assert_int_equal(fetch_s3_creds_resolve(&e, &c), ENOENT);
    e.imds_disabled = 0;
    e.imds_endpoint = base;
    imds_calls = 0;
    assert_int_equal(fetch_s3_creds_resolve(&e, &c), 0);
    assert_int_equal(imds_calls, 1);
    assert_string_equal(c.access_key_id, "ASIAIMDSEXAMPLE");
    assert_string_equal(c.secret, "imds/secret");
    assert_string_equal(c.source, "instance metadata");
    assert_int_equal(c.expires, 1795266000);
    fetch_s3_creds_free(&c);
}

static void test_region_from_profile(void **state)
{
    struct fetch_s3_cred_env e;
    char config[128], *r;
    (void)state;

    write_text("config2", "[default]\nregion = ap-south-1\n[profile x]\nregion = sa-east-1\n", config,
               sizeof config);
    chain_env(&e);
    e.config_file = config;
    r = fetch_s3_profile_region(&e);
    assert_string_equal(r, "ap-south-1");
    free(r);
    e.profile = "x";
    r = fetch_s3_profile_region(&e);
    assert_string_equal(r, "sa-east-1");
    free(r);
    e.profile = "y";
    assert_null(fetch_s3_profile_region(&e));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_endpoint),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_list_malformed),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_credential_answers),
        cmocka_unit_test(test_ini),
        cmocka_unit_test(test_chain_order),
        cmocka_unit_test(test_region_from_profile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
