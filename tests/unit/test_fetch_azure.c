/* Azure Blob store pieces: az:// URLs, the Shared Key string-to-sign and signature against
 * known answers, the List Blobs XML reader on good and malformed input, the token answer. */
#include "fetch/azure.h"
#include "common/encoding.h"
#include "common/err.h"
#include "fetch/store.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Azurite's published development key for devstoreaccount1 (not a secret). */
static const char dev_key[] =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
static const char date[] = "Sat, 21 Nov 2026 07:00:00 GMT";

static void test_az_url(void **state)
{
    struct fetch_az_url u;
    (void)state;

    assert_int_equal(fetch_az_url_parse("az://acct1/data/sets/one", &u), 0);
    assert_string_equal(u.account, "acct1");
    assert_string_equal(u.container, "data");
    assert_string_equal(u.prefix, "sets/one");
    fetch_az_url_free(&u);
    assert_int_equal(fetch_az_url_parse("az://acct1/data", &u), 0);
    assert_string_equal(u.prefix, "");
    fetch_az_url_free(&u);
    assert_int_equal(fetch_az_url_parse("az://acct1/data/p/", &u), 0);
    assert_string_equal(u.prefix, "p");
    fetch_az_url_free(&u);

    assert_int_equal(fetch_az_url_parse("az://Acct/data", &u), EINVAL);  /* uppercase account */
    assert_int_equal(fetch_az_url_parse("az://ab/data", &u), EINVAL);    /* account too short */
    assert_int_equal(fetch_az_url_parse("az://acct1", &u), EINVAL);      /* no container */
    assert_int_equal(fetch_az_url_parse("az://acct1/", &u), EINVAL);     /* empty container */
    assert_int_equal(fetch_az_url_parse("az://acct1/da", &u), EINVAL);   /* container too short */
    assert_int_equal(fetch_az_url_parse("az://acct1/a--b", &u), EINVAL); /* double hyphen */
    assert_int_equal(fetch_az_url_parse("az://acct1/-ab", &u), EINVAL);  /* leading hyphen */
    assert_int_equal(fetch_az_url_parse("az://acct1/Data", &u), EINVAL); /* uppercase container */
    assert_int_equal(fetch_az_url_parse("az://acct1/data/../x", &u), EINVAL);
    assert_int_equal(fetch_az_url_parse("az://acct1/data/a//b", &u), EINVAL);
    assert_int_equal(fetch_az_url_parse("az://acct1/data?sig=x", &u), EINVAL); /* SAS belongs in a file */
    assert_int_equal(fetch_az_url_parse("http://acct1/data", &u), EINVAL);
}

static void check_sign(const struct fetch_az_sign_req *r, const char *want_sts, const char *want_sig)
{
    uint8_t *key;
    size_t key_len;
    char *sts = NULL, sig[64];

    assert_int_equal(fetch_az_string_to_sign(r, &sts), 0);
    assert_string_equal(sts, want_sts);
    assert_int_equal(ccr_b64_decode(dev_key, strlen(dev_key), &key, &key_len, CCR_B64_STD), 0);
    assert_int_equal(fetch_az_sign(key, key_len, sts, sig, sizeof sig), 0);
    assert_string_equal(sig, want_sig);
    free(key);
    free(sts);
}

/* Expected strings follow the documented Shared Key algorithm (Blob service, 2009-09-19 and
 * later); the signatures were computed independently with
 *   base64(hmac.new(base64.b64decode(KEY), STS.encode(), hashlib.sha256).digest())
 * in python3. Headers are given unsorted to check the sorting. */
static void test_shared_key_get_range(void **state)
{
    const struct fetch_az_header ms[] = {
        {"x-ms-version", "2021-08-06"}, {"x-ms-range", "bytes=0-1023"}, {"x-ms-date", date}};
    struct fetch_az_sign_req r = {0};
    (void)state;

    r.verb = "GET";
    r.if_match = "\"0x8D\"";
    r.ms_headers = ms;
    r.n_ms = 3;
    r.account = "devstoreaccount1";
    r.path = "/devstoreaccount1/data/ds/blobs/abc";
    check_sign(&r,
               "GET\n\n\n\n\n\n\n\n\"0x8D\"\n\n\n\nx-ms-date:Sat, 21 Nov 2026 07:00:00 GMT\n"
               "x-ms-range:bytes=0-1023\nx-ms-version:2021-08-06\n/devstoreaccount1/devstoreaccount1/data/ds/"
               "blobs/abc",
               "ZPOuYjZ6WRkfVSgabd56sN5zaRnhmrXmbDL0L0QfH0g=");
}

static void test_shared_key_list_query(void **state)
{
    const struct fetch_az_header ms[] = {{"x-ms-date", date}, {"x-ms-version", "2021-08-06"}};
    struct fetch_az_sign_req r = {0};
    (void)state;

    r.verb = "GET";
    r.ms_headers = ms;
    r.n_ms = 2;
    r.account = "devstoreaccount1";
    r.path = "/devstoreaccount1/data";
    /* Names sorted, values percent-decoded. */
    r.query = "restype=container&comp=list&prefix=ds%2Fblobs%2F&maxresults=5000";
    check_sign(&r,
               "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Sat, 21 Nov 2026 07:00:00 GMT\nx-ms-version:2021-08-06\n"
               "/devstoreaccount1/devstoreaccount1/data\ncomp:list\nmaxresults:5000\nprefix:ds/blobs/\n"
               "restype:container",
               "RfQJQd5GE7jUVGEbUdLgtymz5T3uPBVLI/626/meD7M=");
}

static void test_shared_key_put(void **state)
{
    const struct fetch_az_header ms[] = {
        {"x-ms-date", date}, {"x-ms-version", "2021-08-06"}, {"x-ms-blob-type", "BlockBlob"}};
    struct fetch_az_sign_req r = {0};
    (void)state;

    r.verb = "PUT";
    r.content_length = 11;
    r.content_type = "application/octet-stream";
    r.ms_headers = ms;
    r.n_ms = 3;
    r.account = "myaccount";
    r.path = "/mycontainer/a%20b.txt";
    check_sign(
        &r,
        "PUT\n\n\n11\n\napplication/octet-stream\n\n\n\n\n\n\nx-ms-blob-type:BlockBlob\n"
        "x-ms-date:Sat, 21 Nov 2026 07:00:00 GMT\nx-ms-version:2021-08-06\n/myaccount/mycontainer/a%20b.txt",
        "YUcrr8lArLSq5FqcWHfl4zg/5DFV7gIk1LJanAsf7h8=");
}

static void test_shared_key_bad_query(void **state)
{
    struct fetch_az_sign_req r = {0};
    char *sts = NULL;
    (void)state;

    r.verb = "GET";
    r.account = "a";
    r.path = "/c";
    r.query = "comp=list&prefix=%G1";
    assert_int_equal(fetch_az_string_to_sign(&r, &sts), EINVAL);
    r.query = "comp=list&prefix=%2";
    assert_int_equal(fetch_az_string_to_sign(&r, &sts), EINVAL);
    r.query = "b=2&a=1&a=0";
    assert_int_equal(fetch_az_string_to_sign(&r, &sts), 0);
    assert_non_null(strstr(sts, "/a/c\na:0,1\nb:2"));
    free(sts);
}

struct seen {
    char names[8][64];
    struct fetch_object_info info[8];
    int n;
};

static int collect(void *arg, const char *name, const struct fetch_object_info *info)
{
    struct seen *s = arg;
    if (s->n == 8)
        return E2BIG;
    snprintf(s->names[s->n], sizeof s->names[0], "%s", name);
    s->info[s->n++] = *info;
    return 0;
}

static const char list_page[] =
    "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<EnumerationResults ServiceEndpoint=\"http://127.0.0.1/devstoreaccount1\" ContainerName=\"data\">"
    "<Prefix>ds/</Prefix><MaxResults>5000</MaxResults>"
    "<Blobs>"
    "<Blob><Name>ds/blobs/a&amp;b</Name><Properties><Creation-Time>Sat, 21 Nov 2026 07:00:00 "
    "GMT</Creation-Time>"
    "<Last-Modified>Sat, 21 Nov 2026 07:00:00 GMT</Last-Modified><Etag>0x8DABC</Etag>"
    "<Content-Length>1234</Content-Length><BlobType>BlockBlob</BlobType></Properties><Metadata /></Blob>"
    "<!-- a comment -->"
    "<Blob><Name>ds/manifest.ccrfs</Name><Properties><Content-Length>0</Content-Length></Properties></Blob>"
    "<BlobPrefix><Name>ds/sub/</Name></BlobPrefix>"
    "<Blob><Name>ds/x&#233;&#x41;</Name><Properties><Content-Length>7</Content-Length></Properties></Blob>"
    "</Blobs>"
    "<NextMarker>2!84!next</NextMarker>"
    "</EnumerationResults>";

static void test_list_parse(void **state)
{
    struct seen s = {0};
    char *marker = NULL;
    (void)state;

    assert_int_equal(fetch_az_list_parse(list_page, strlen(list_page), collect, &s, &marker), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.names[0], "ds/blobs/a&b");
    assert_int_equal(s.info[0].size, 1234);
    assert_string_equal(s.info[0].etag, "0x8DABC");
    assert_int_equal(s.info[0].mtime, 1795244400); /* 2026-11-21T07:00:00Z */
    assert_string_equal(s.names[1], "ds/manifest.ccrfs");
    assert_int_equal(s.info[1].size, 0);
    assert_string_equal(s.names[2], "ds/x\xC3\xA9"
                                    "A");
    assert_non_null(marker);
    assert_string_equal(marker, "2!84!next");
    free(marker);
}

static void test_list_last_page(void **state)
{
    static const char page[] = "<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>";
    struct seen s = {0};
    char *marker = (char *)"x";
    (void)state;

    assert_int_equal(fetch_az_list_parse(page, strlen(page), collect, &s, &marker), 0);
    assert_int_equal(s.n, 0);
    assert_null(marker);
}

static void test_list_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "not xml",
        "<EnumerationResults>",                                           /* unclosed */
        "<EnumerationResults></Other>",                                   /* mismatched */
        "<Other></Other>",                                                /* wrong root */
        "<EnumerationResults></EnumerationResults><EnumerationResults/>", /* two roots */
        "<EnumerationResults>&bogus;</EnumerationResults>",               /* unknown entity */
        "<EnumerationResults>&amp</EnumerationResults>",                  /* unterminated entity */
        "<EnumerationResults>&#0;</EnumerationResults>",                  /* NUL reference */
        "<EnumerationResults>&#x110000;</EnumerationResults>",            /* out of range */
        "<!DOCTYPE x><EnumerationResults/>",                              /* DOCTYPE */
        "<EnumerationResults><![CDATA[x]]></EnumerationResults>",         /* CDATA */
        "<EnumerationResults a=b></EnumerationResults>",                  /* unquoted attribute */
        "<EnumerationResults a=\"b></EnumerationResults>",                /* unterminated attribute */
        "<EnumerationResults><Blobs><Blob><Name>x</Name></Blob></Blobs></EnumerationResults>", /* no length */
        "<EnumerationResults><Blobs><Blob><Properties><Content-Length>1</Content-Length></Properties></Blob>"
        "</Blobs></EnumerationResults>", /* no name */
        "<EnumerationResults><Blobs><Blob><Name>x</Name><Properties><Content-Length>-1</Content-Length>"
        "</Properties></Blob></Blobs></EnumerationResults>", /* negative length */
        "<EnumerationResults><Blobs><Blob><Name>x</Name><Properties><Content-Length>99999999999999999999"
        "</Content-Length></Properties></Blob></Blobs></EnumerationResults>", /* too long */
        "<EnumerationResults><Blobs><Blob><Name>x</Name><Name>y</Name></Blob></Blobs></EnumerationResults>",
        "<EnumerationResults><NextMarker>a</NextMarker><NextMarker>b</NextMarker></EnumerationResults>",
        "text<EnumerationResults/>",
        "<EnumerationResults/>trailing",
        "<EnumerationResults><?pi?></EnumerationResults>",
        "<1bad/>",
    };
    (void)state;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct seen s = {0};
        char *marker = NULL;
        int rc = fetch_az_list_parse(bad[i], strlen(bad[i]), collect, &s, &marker);
        if (rc != EINVAL)
            fail_msg("case %zu (%s): rc %d", i, bad[i], rc);
        assert_int_equal(s.n, 0); /* nothing reported from a page that is malformed */
        assert_null(marker);
    }
    {
        /* A NUL byte inside the document. */
        static const char nul[] = "<EnumerationResults>\0</EnumerationResults>";
        struct seen s = {0};
        char *marker = NULL;
        assert_int_equal(fetch_az_list_parse(nul, sizeof nul - 1, collect, &s, &marker), EINVAL);
    }
    {
        /* Broken after a good blob: still nothing reported. */
        static const char late[] =
            "<EnumerationResults><Blobs><Blob><Name>x</Name><Properties><Content-Length>1"
            "</Content-Length></Properties></Blob><Blob></Blobs></EnumerationResults>";
        struct seen s = {0};
        char *marker = NULL;
        assert_int_equal(fetch_az_list_parse(late, strlen(late), collect, &s, &marker), EINVAL);
        assert_int_equal(s.n, 0);
    }
}

/* Mutated and truncated pages: the reader answers 0 or EINVAL and never reads out of bounds
 * (the sanitizer build runs this too). */
static void test_list_mutations(void **state)
{
    size_t len = strlen(list_page);
    char *buf = malloc(len);
    uint64_t rng = 12345;
    unsigned ok = 0, refused = 0;
    (void)state;

    assert_non_null(buf);
    for (int round = 0; round < 20000; round++) {
        struct seen s = {0};
        char *marker = NULL;
        size_t cut = len;
        int rc;
        memcpy(buf, list_page, len);
        for (int k = 0; k < 1 + round % 4; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            buf[(rng >> 33) % len] = (char)(rng >> 17);
        }
        if (round % 3 == 0)
            cut = (size_t)((rng >> 20) % len);
        rc = fetch_az_list_parse(buf, cut, collect, &s, &marker);
        if (rc == 0)
            ok++;
        else if (rc == EINVAL)
            refused++;
        else
            assert_int_equal(rc, E2BIG); /* only the callback's own limit */
        free(marker);
    }
    assert_true(refused > 1000);
    assert_true(ok > 0);
    free(buf);
}

static void test_token_parse(void **state)
{
    static const char good[] = "{\"access_token\":\"eyJ0eXAi.abc.def\",\"expires_on\":\"1795244400\","
                               "\"resource\":\"https://storage.azure.com/\",\"token_type\":\"Bearer\"}";
    char *token = NULL;
    int64_t exp = 0;
    (void)state;

    assert_int_equal(fetch_az_token_parse(good, strlen(good), &token, &exp), 0);
    assert_string_equal(token, "eyJ0eXAi.abc.def");
    assert_int_equal(exp, 1795244400);
    free(token);
    {
        static const char *const bad[] = {
            "",
            "[]",
            "{}",
            "{\"access_token\":1}",
            "{\"access_token\":\"\"}",
            "{\"access_token\":\"a b\"}",
            "{\"access_token\":\"a\",\"expires_on\":\"soon\"}",
            "{\"access_token\":\"a\"} trailing",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            token = NULL;
            if (fetch_az_token_parse(bad[i], strlen(bad[i]), &token, &exp) != EINVAL)
                fail_msg("token case %zu accepted", i);
            assert_null(token);
        }
    }
}

/* Messages about a malformed store URL or endpoint name it without its query or userinfo. */
static void test_messages_scrubbed(void **state)
{
    struct fetch_options opt = {0};
    struct fetch_store *s = NULL;
    int rc;
    (void)state;

    rc = fetch_store_open("az://BAD/c?sv=1&sig=SECRET", &opt, &s);
    assert_int_equal(rc, EINVAL);
    assert_non_null(strstr(ccr_err_msg(rc), "az://BAD/c?<redacted>"));
    assert_null(strstr(ccr_err_msg(rc), "SECRET"));
    opt.endpoint = "http://127.0.0.1:10000/devstoreaccount1?sv=1&sig=SECRET";
    rc = fetch_store_open("az://devstoreaccount1/data", &opt, &s);
    assert_int_equal(rc, EINVAL);
    assert_non_null(strstr(ccr_err_msg(rc), "no query string allowed"));
    assert_null(strstr(ccr_err_msg(rc), "SECRET"));
    opt.endpoint = "http://user:SECRET@127.0.0.1:10000/devstoreaccount1";
    rc = fetch_store_open("az://devstoreaccount1/data", &opt, &s);
    assert_int_equal(rc, EINVAL);
    assert_null(strstr(ccr_err_msg(rc), "SECRET"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_az_url),
        cmocka_unit_test(test_shared_key_get_range),
        cmocka_unit_test(test_shared_key_list_query),
        cmocka_unit_test(test_shared_key_put),
        cmocka_unit_test(test_shared_key_bad_query),
        cmocka_unit_test(test_list_parse),
        cmocka_unit_test(test_list_last_page),
        cmocka_unit_test(test_list_malformed),
        cmocka_unit_test(test_list_mutations),
        cmocka_unit_test(test_token_parse),
        cmocka_unit_test(test_messages_scrubbed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
