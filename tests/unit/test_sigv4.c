/* AWS Signature Version 4: AWS's published test-suite values, the S3 documentation's worked
 * example, and signatures botocore (1.43, S3SigV4Auth) computed for the same fixed requests. */
#include "fetch/sigv4.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The test suite's credentials (aws-sig-v4-test-suite, docs.aws.amazon.com/general/latest/gr/
 * signature-v4-test-suite.html; also botocore tests/unit/auth/aws4_testsuite). */
static const char suite_akid[] = "AKIDEXAMPLE";
static const char suite_secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/* The S3 documentation's example credentials (AmazonS3/latest/API/sig-v4-header-based-auth.html),
 * used for the botocore cases too. */
static const char doc_akid[] = "AKIAIOSFODNN7EXAMPLE";
static const char doc_secret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

static void sign(const char *method, const char *path, const char *query, const struct fetch_sigv4_header *h,
                 size_t n, const char *payload, const char *date, const char *region, const char *service,
                 const char *akid, const char *secret, char *out)
{
    struct fetch_sigv4_req r = {method, path,   query,   h,    n,      payload,
                                date,   region, service, akid, secret, strlen(secret)};
    assert_int_equal(fetch_sigv4_authorization(&r, out, FETCH_SIGV4_AUTH_MAX), 0);
}

static void test_suite_get_vanilla(void **state)
{
    const struct fetch_sigv4_header h[] = {{"Host", "example.amazonaws.com"},
                                           {"X-Amz-Date", "20150830T123600Z"}};
    char auth[FETCH_SIGV4_AUTH_MAX], *creq = NULL;
    struct fetch_sigv4_req r = {"GET",
                                "/",
                                NULL,
                                h,
                                2,
                                FETCH_SIGV4_EMPTY_SHA256,
                                "20150830T123600Z",
                                "us-east-1",
                                "service",
                                suite_akid,
                                suite_secret,
                                sizeof suite_secret - 1};
    (void)state;

    /* get-vanilla.creq */
    assert_int_equal(fetch_sigv4_canonical_request(&r, &creq), 0);
    assert_string_equal(creq, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                              "host;x-amz-date\n" FETCH_SIGV4_EMPTY_SHA256);
    free(creq);
    /* get-vanilla.sts: the hash of that canonical request */
    assert_int_equal(fetch_sigv4_string_to_sign(&r, &creq), 0);
    assert_string_equal(creq, "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
                              "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
    free(creq);
    /* get-vanilla.authz */
    sign("GET", "/", NULL, h, 2, FETCH_SIGV4_EMPTY_SHA256, "20150830T123600Z", "us-east-1", "service",
         suite_akid, suite_secret, auth);
    assert_string_equal(auth,
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                        "SignedHeaders=host;x-amz-date, "
                        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    /* get-vanilla-query-order-key-case: parameters sorted before signing */
    sign("GET", "/", "Param2=value2&Param1=value1", h, 2, FETCH_SIGV4_EMPTY_SHA256, "20150830T123600Z",
         "us-east-1", "service", suite_akid, suite_secret, auth);
    assert_non_null(
        strstr(auth, "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"));
    /* "" signs as "/" */
    sign("GET", "", NULL, h, 2, FETCH_SIGV4_EMPTY_SHA256, "20150830T123600Z", "us-east-1", "service",
         suite_akid, suite_secret, auth);
    assert_non_null(
        strstr(auth, "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
}

/* The S3 documentation's GET Object example: the first 10 bytes of test.txt. */
static void test_s3_doc_get_object(void **state)
{
    const struct fetch_sigv4_header h[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                                           {"Range", "bytes=0-9"},
                                           {"x-amz-content-sha256", FETCH_SIGV4_EMPTY_SHA256},
                                           {"x-amz-date", "20130524T000000Z"}};
    char auth[FETCH_SIGV4_AUTH_MAX];
    (void)state;

    sign("GET", "/test.txt", NULL, h, 4, FETCH_SIGV4_EMPTY_SHA256, "20130524T000000Z", "us-east-1", "s3",
         doc_akid, doc_secret, auth);
    assert_string_equal(
        auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
              "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
              "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

/* botocore.auth.S3SigV4Auth.add_auth with get_current_datetime fixed at 2026-11-21 07:00:00 UTC,
 * the doc credentials, region eu-west-1, and the payload hash given (not computed from a body). */
static void test_botocore_same_requests(void **state)
{
    const char *date = "20261121T070000Z";
    char auth[FETCH_SIGV4_AUTH_MAX];
    (void)state;
    {
        /* GET http://127.0.0.1:9000/data-bucket/ds/blobs/ab%20c, ranged and pinned (path-style) */
        const struct fetch_sigv4_header h[] = {{"Host", "127.0.0.1:9000"},
                                               {"Range", "bytes=0-65535"},
                                               {"If-Match", "\"9b2cf535f27731c974343645a3985328\""},
                                               {"X-Amz-Content-SHA256", FETCH_SIGV4_EMPTY_SHA256},
                                               {"X-Amz-Date", date}};
        sign("GET", "/data-bucket/ds/blobs/ab%20c", NULL, h, 5, FETCH_SIGV4_EMPTY_SHA256, date, "eu-west-1",
             "s3", doc_akid, doc_secret, auth);
        assert_string_equal(
            auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261121/eu-west-1/s3/aws4_request, "
                  "SignedHeaders=host;if-match;range;x-amz-content-sha256;x-amz-date, "
                  "Signature=681a1a064080cf27d9fadc0dc15fc699536bd9723549a9f56c2eb78c2bb3c3f2");
    }
    {
        /* ListObjectsV2 with a continuation token, virtual-hosted */
        const struct fetch_sigv4_header h[] = {{"Host", "data-bucket.s3.eu-west-1.amazonaws.com"},
                                               {"X-Amz-Content-SHA256", FETCH_SIGV4_EMPTY_SHA256},
                                               {"X-Amz-Date", date}};
        sign("GET", "/", "list-type=2&prefix=ds%2F&max-keys=1000&continuation-token=1%2Fab%3D%3D", h, 3,
             FETCH_SIGV4_EMPTY_SHA256, date, "eu-west-1", "s3", doc_akid, doc_secret, auth);
        assert_non_null(
            strstr(auth, "Signature=31c4bef29e7f0537de62faae2bf63844a7cbe8edfca3e253c7ed1faaab0f4b44"));
    }
    {
        /* UploadPart with a session token and UNSIGNED-PAYLOAD */
        const struct fetch_sigv4_header h[] = {{"Content-Type", "application/octet-stream"},
                                               {"Host", "data-bucket.s3.eu-west-1.amazonaws.com"},
                                               {"X-Amz-Content-SHA256", FETCH_SIGV4_UNSIGNED},
                                               {"X-Amz-Date", date},
                                               {"X-Amz-Security-Token", "FwoGZXIvYXdzEXAMPLETOKEN"}};
        sign("PUT", "/ds/manifest.ccrfs", "partNumber=2&uploadId=VXBsb2Fk", h, 5, FETCH_SIGV4_UNSIGNED, date,
             "eu-west-1", "s3", doc_akid, doc_secret, auth);
        assert_string_equal(
            auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261121/eu-west-1/s3/aws4_request, "
                  "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, "
                  "Signature=c7d3c3b486aac76b5b17e44c7754b0e2640bcd906cfd4ba69c77719074dd24f7");
    }
    {
        /* CreateMultipartUpload: "?uploads" signs as "uploads=" */
        const struct fetch_sigv4_header h[] = {{"Host", "localhost:4568"},
                                               {"X-Amz-Content-SHA256", FETCH_SIGV4_EMPTY_SHA256},
                                               {"X-Amz-Date", date}};
        sign("POST", "/data-bucket/ds/big", "uploads", h, 3, FETCH_SIGV4_EMPTY_SHA256, date, "eu-west-1",
             "s3", doc_akid, doc_secret, auth);
        assert_non_null(
            strstr(auth, "Signature=d3566c4d373ba14fdd84aeff176e976b1ba87cf1db4be122e4e21db0a639b736"));
    }
}

static void test_canonical_details(void **state)
{
    /* Values trimmed and squeezed, names lowercased and sorted, repeats joined, query re-encoded. */
    const struct fetch_sigv4_header h[] = {
        {"X-Amz-Meta-B", "  two   words "}, {"Host", "h"}, {"x-amz-meta-a", "1"}, {"X-AMZ-META-A", "2"}};
    struct fetch_sigv4_req r = {
        "GET", "/k", "b=%7e&a=x%2fy&a=b c", h, 4, FETCH_SIGV4_UNSIGNED, "20261121T070000Z", "r", "s3", "A",
        "S",   1};
    char *creq = NULL, auth[FETCH_SIGV4_AUTH_MAX];
    (void)state;

    assert_int_equal(fetch_sigv4_canonical_request(&r, &creq), 0);
    assert_string_equal(creq,
                        "GET\n/k\na=b%20c&a=x%2Fy&b=~\nhost:h\nx-amz-meta-a:1,2\nx-amz-meta-b:two words\n\n"
                        "host;x-amz-meta-a;x-amz-meta-b\nUNSIGNED-PAYLOAD");
    free(creq);
    r.query = "a=%zz";
    assert_int_equal(fetch_sigv4_canonical_request(&r, &creq), EINVAL);
    r.query = NULL;
    r.amz_date = "2026-11-21";
    assert_int_equal(fetch_sigv4_authorization(&r, auth, sizeof auth), EINVAL);
    r.amz_date = "20261121T070000Z";
    assert_int_equal(fetch_sigv4_authorization(&r, auth, 20), ENAMETOOLONG);
}

static void test_amz_date(void **state)
{
    char d[17];
    (void)state;
    fetch_sigv4_amz_date(1440938160, d, sizeof d);
    assert_string_equal(d, "20150830T123600Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite_get_vanilla),
        cmocka_unit_test(test_s3_doc_get_object),
        cmocka_unit_test(test_botocore_same_requests),
        cmocka_unit_test(test_canonical_details),
        cmocka_unit_test(test_amz_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
