/* S3 credentials in the order the AWS SDKs look for them: the environment, a web-identity
 * token exchanged at STS (AssumeRoleWithWebIdentity, the way Kubernetes pods get them; named by
 * the environment or by the profile), the
 * shared credentials and config files for the profile, and instance metadata (IMDSv2). */
#include "fetch/s3.h"
#include "fetch/http.h"
#include "common/clock.h"
#include "common/dynbuf.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/secmem.h"
#include "net/http.h"

#include <ctype.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S3_FILE_MAX       (1u << 20)
#define S3_TOKEN_FILE_MAX (64u << 10)
#define S3_IMDS_DEFAULT   "http://169.254.169.254"
#define S3_IMDS_TTL       "21600"

void fetch_s3_creds_free(struct fetch_s3_creds *c)
{
    free(c->access_key_id);
    ccr_secmem_free(c->secret, c->secret_cap);
    ccr_secmem_free(c->token, c->token_cap);
    memset(c, 0, sizeof *c);
}

static int printable_token(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static char *secmem_dup(const char *s, size_t *cap)
{
    char *d;
    *cap = strlen(s) + 1;
    if ((d = ccr_secmem_alloc(*cap)) != NULL)
        memcpy(d, s, *cap);
    return d;
}

int fetch_s3_creds_set(struct fetch_s3_creds *c, const char *akid, const char *secret, const char *token,
                       const char *where)
{
    struct fetch_s3_creds n;

    memset(&n, 0, sizeof n);
    if (!printable_token(akid))
        return ccr_err_set(EINVAL, "%s: the access key id is empty or holds a space or control character",
                           where);
    if (!printable_token(secret))
        return ccr_err_set(EINVAL, "%s: the secret access key is empty or holds a space or control character",
                           where);
    if (token != NULL && token[0] != '\0' && !printable_token(token))
        return ccr_err_set(EINVAL, "%s: the session token holds a space or control character", where);
    if ((n.access_key_id = strdup(akid)) == NULL || (n.secret = secmem_dup(secret, &n.secret_cap)) == NULL ||
        (token != NULL && token[0] != '\0' && (n.token = secmem_dup(token, &n.token_cap)) == NULL)) {
        fetch_s3_creds_free(&n);
        return ENOMEM;
    }
    snprintf(n.source, sizeof n.source, "%s", c->source);
    fetch_s3_creds_free(c);
    *c = n;
    return 0;
}

int fetch_s3_imds_parse(const char *json, size_t len, struct fetch_s3_creds *c)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *root = NULL, *v;
    const char *f[4] = {NULL, NULL, NULL, NULL};
    static const char *const names[4] = {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"};
    int64_t expires = 0;
    int rc = 0;

    if (tok == NULL)
        return ENOMEM;
    root = json_tokener_parse_ex(tok, json, (int)len);
    if (root == NULL || json_tokener_get_error(tok) != json_tokener_success || tok->char_offset != (int)len ||
        !json_object_is_type(root, json_type_object)) {
        rc = ccr_err_set(EINVAL, "instance metadata credentials: not one JSON object");
        goto out;
    }
    if (json_object_object_get_ex(root, "Code", &v) &&
        (!json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), "Success") != 0)) {
        rc = ccr_err_set(EACCES, "instance metadata credentials: Code is not Success");
        goto out;
    }
    for (int i = 0; i < 4; i++) {
        if (!json_object_object_get_ex(root, names[i], &v) || !json_object_is_type(v, json_type_string)) {
            rc = ccr_err_set(EINVAL, "instance metadata credentials: no %s string", names[i]);
            goto out;
        }
        f[i] = json_object_get_string(v);
    }
    if (fetch_s3_parse_time(f[3], &expires) != 0) {
        rc = ccr_err_set(EINVAL, "instance metadata credentials: malformed Expiration");
        goto out;
    }
    if ((rc = fetch_s3_creds_set(c, f[0], f[1], f[2], "instance metadata credentials")) == 0)
        c->expires = expires;
out:
    json_object_put(root); /* json-c does not wipe: the copy in c is the one kept */
    json_tokener_free(tok);
    return rc;
}

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

int fetch_s3_ini_get(const char *path, const char *section, const char *key, int secret, char **out,
                     size_t *cap)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char *line, *save = NULL;
    int in_section = 0, rc = ENOENT;

    *out = NULL;
    if (path == NULL || ccr_read_file(path, S3_FILE_MAX, &data, &len) != 0) {
        ccr_err_clear();
        return ENOENT;
    }
    for (line = strtok_r((char *)data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *t, *eq;
        if (line[0] == ' ' || line[0] == '\t')
            continue; /* a nested value (s3 = ...) */
        t = trim(line);
        if (t[0] == '#' || t[0] == ';' || t[0] == '\0')
            continue;
        if (t[0] == '[') {
            char *close = strchr(t, ']');
            if (close == NULL)
                continue;
            *close = '\0';
            in_section = strcmp(trim(t + 1), section) == 0;
            continue;
        }
        if (!in_section || (eq = strchr(t, '=')) == NULL)
            continue;
        *eq = '\0';
        if (strcmp(trim(t), key) != 0)
            continue;
        t = trim(eq + 1);
        if (secret)
            *out = secmem_dup(t, cap);
        else if ((*out = strdup(t)) != NULL && cap != NULL)
            *cap = strlen(t) + 1;
        rc = *out == NULL ? ENOMEM : 0;
        break;
    }
    ccr_freezero(data, len);
    return rc;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

void fetch_s3_cred_env_from_environ(struct fetch_s3_cred_env *e)
{
    static char cred_path[4096], conf_path[4096];
    const char *home = env_nonempty("HOME");
    const char *off = env_nonempty("AWS_EC2_METADATA_DISABLED");

    memset(e, 0, sizeof *e);
    e->access_key_id = env_nonempty("AWS_ACCESS_KEY_ID");
    e->secret_access_key = env_nonempty("AWS_SECRET_ACCESS_KEY");
    e->session_token = env_nonempty("AWS_SESSION_TOKEN");
    e->web_identity_token_file = env_nonempty("AWS_WEB_IDENTITY_TOKEN_FILE");
    e->role_arn = env_nonempty("AWS_ROLE_ARN");
    e->role_session_name = env_nonempty("AWS_ROLE_SESSION_NAME");
    e->sts_endpoint = env_nonempty("AWS_ENDPOINT_URL_STS");
    e->profile = env_nonempty("AWS_PROFILE");
    e->credentials_file = env_nonempty("AWS_SHARED_CREDENTIALS_FILE");
    e->config_file = env_nonempty("AWS_CONFIG_FILE");
    if (home != NULL && e->credentials_file == NULL) {
        snprintf(cred_path, sizeof cred_path, "%s/.aws/credentials", home);
        e->credentials_file = cred_path;
    }
    if (home != NULL && e->config_file == NULL) {
        snprintf(conf_path, sizeof conf_path, "%s/.aws/config", home);
        e->config_file = conf_path;
    }
    e->imds_endpoint = env_nonempty("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    e->imds_disabled = off != NULL && strcasecmp(off, "true") == 0;
}

static void config_section(const struct fetch_s3_cred_env *e, char *out, size_t len)
{
    const char *p = e->profile ? e->profile : "default";
    if (strcmp(p, "default") == 0)
        snprintf(out, len, "default");
    else
        snprintf(out, len, "profile %s", p);
}

char *fetch_s3_profile_region(const struct fetch_s3_cred_env *e)
{
    char section[300], *v = NULL;
    config_section(e, section, sizeof section);
    if (fetch_s3_ini_get(e->config_file, section, "region", 0, &v, NULL) != 0)
        return NULL;
    return v;
}

/* The keys of one profile in one file: 0, ENOENT when the file has none, EINVAL when half. */
static int creds_from_file(const char *path, const char *section, const char *what,
                           struct fetch_s3_creds *out)
{
    char *akid = NULL, *secret = NULL, *token = NULL;
    size_t akid_cap = 0, secret_cap = 0, token_cap = 0;
    int ra = fetch_s3_ini_get(path, section, "aws_access_key_id", 0, &akid, &akid_cap);
    int rs = fetch_s3_ini_get(path, section, "aws_secret_access_key", 1, &secret, &secret_cap);
    int rc;

    (void)fetch_s3_ini_get(path, section, "aws_session_token", 1, &token, &token_cap);
    if (ra == ENOENT && rs == ENOENT)
        rc = ENOENT;
    else if (ra != 0 || rs != 0)
        rc = ra == ENOMEM || rs == ENOMEM
                 ? ENOMEM
                 : ccr_err_set(EINVAL, "%s %s, [%s]: aws_access_key_id and aws_secret_access_key go together",
                               what, path, section);
    else {
        snprintf(out->source, sizeof out->source, "%s", what);
        rc = fetch_s3_creds_set(out, akid, secret, token, what);
    }
    free(akid);
    ccr_secmem_free(secret, secret_cap);
    ccr_secmem_free(token, token_cap);
    return rc;
}

static int web_identity(const struct fetch_s3_cred_env *e, struct fetch_s3_creds *out)
{
    struct net_http_client_opts co;
    struct net_http_client *client = NULL;
    struct net_http_request rq;
    struct net_http_reply reply = {0, NULL, 0, 0};
    struct ccr_dynbuf body;
    uint8_t *jwt = NULL;
    size_t jwt_len = 0;
    char base[512], shown[512], *enc_token = NULL, *enc_arn = NULL, *enc_name = NULL;
    char session[64];
    int rc;

    if ((rc = ccr_read_file(e->web_identity_token_file, S3_TOKEN_FILE_MAX, &jwt, &jwt_len)) != 0)
        return ccr_err_wrap(rc, "AWS_WEB_IDENTITY_TOKEN_FILE: ");
    while (jwt_len > 0 && isspace(jwt[jwt_len - 1]))
        jwt[--jwt_len] = '\0';
    if (jwt_len == 0 || memchr(jwt, '\0', jwt_len) != NULL) {
        ccr_freezero(jwt, jwt_len);
        return ccr_err_set(EINVAL, "AWS_WEB_IDENTITY_TOKEN_FILE %s: empty or not text",
                           e->web_identity_token_file);
    }
    if (e->sts_endpoint != NULL)
        snprintf(base, sizeof base, "%s", e->sts_endpoint);
    else
        snprintf(base, sizeof base, "https://sts.%s.amazonaws.com", e->region ? e->region : "us-east-1");
    fetch_url_scrub(base, shown, sizeof shown);
    snprintf(session, sizeof session, "ccrfs-%llu", (unsigned long long)(ccr_clock_wall_ms() / 1000));
    enc_token = net_url_escape((const char *)jwt);
    enc_arn = net_url_escape(e->role_arn);
    enc_name = net_url_escape(e->role_session_name ? e->role_session_name : session);
    ccr_freezero(jwt, jwt_len);
    ccr_dynbuf_init(&body, 0);
    if (enc_token == NULL || enc_arn == NULL || enc_name == NULL ||
        ccr_dynbuf_addf(&body,
                        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=%s&RoleSessionName=%s&"
                        "WebIdentityToken=%s",
                        enc_arn, enc_name, enc_token) != 0) {
        rc = ENOMEM;
        goto out;
    }
    memset(&co, 0, sizeof co);
    co.base_url = base;
    co.who = "STS";
    co.transport.ca_file = e->opt ? e->opt->ca_file : NULL;
    co.transport.connect_timeout_ms =
        e->opt && e->opt->connect_timeout_ms ? e->opt->connect_timeout_ms : 10000;
    co.transport.timeout_ms = 30000;
    co.retry.base_ms = 100;
    co.retry.cap_ms = 2000;
    co.retry.budget_ms = 5000;
    co.reply_max = 1u << 20;
    if ((rc = net_http_client_new(&co, &client)) != 0)
        goto out;
    memset(&rq, 0, sizeof rq);
    rq.method = "POST";
    rq.path = "/";
    rq.body = body.data;
    rq.body_len = body.len;
    rq.content_type = "application/x-www-form-urlencoded";
    if ((rc = net_http_client_do(client, &rq, &reply)) != 0) {
        rc = ccr_err_wrap(rc, "web identity: ");
        goto out;
    }
    if (reply.status != 200) {
        char code[64], msg[200];
        if (fetch_s3_error_parse(reply.body, reply.len, code, sizeof code, msg, sizeof msg) != 0) {
            /* STS wraps its Error in an ErrorResponse */
            code[0] = msg[0] = '\0';
            const char *c = strstr(reply.body, "<Code>");
            if (c != NULL)
                snprintf(code, sizeof code, "%.*s", (int)strcspn(c + 6, "<"), c + 6);
        }
        rc = ccr_err_set(reply.status == 400 || reply.status == 403 ? EACCES : EIO,
                         "web identity: STS %s AssumeRoleWithWebIdentity answered HTTP %ld %s%s%s", shown,
                         reply.status, code, msg[0] ? ": " : "", msg);
        goto out;
    }
    snprintf(out->source, sizeof out->source, "web identity");
    rc = fetch_s3_sts_parse(reply.body, reply.len, out);
out:
    net_http_reply_free(&reply);
    net_http_client_free(client);
    ccr_dynbuf_free_wiped(&body);
    if (enc_token != NULL)
        ccr_freezero(enc_token, strlen(enc_token));
    free(enc_arn);
    free(enc_name);
    return rc;
}

/* IMDSv2: a session token from PUT /latest/api/token, then the role name and its
 * credentials, each GET carrying the token. */
struct imds_call {
    const char *header; /* "Name: value" */
};

static int imds_prepare(void *arg, struct fetch_http_req *r, struct curl_slist **headers)
{
    const struct imds_call *c = r->user;
    struct curl_slist *n;
    (void)arg;
    if (c == NULL || c->header == NULL)
        return 0;
    if ((n = curl_slist_append(*headers, c->header)) == NULL)
        return ENOMEM;
    *headers = n;
    return 0;
}

static int imds_get(struct fetch_http *h, const char *url, const char *header, const char *method,
                    struct fetch_http_req *r)
{
    static const uint8_t none[1];
    struct fetch_http_req *p = r;
    struct imds_call call = {header};
    struct fetch_source empty;

    memset(r, 0, sizeof *r);
    r->method = method;
    r->url = url;
    r->key = "instance metadata";
    r->grow_max = 64u << 10;
    r->user = &call;
    if (strcmp(method, "PUT") == 0) {
        fetch_source_memory(&empty, none, 0);
        r->src = &empty;
    }
    return fetch_http_run(h, &p, 1);
}

static int imds(const struct fetch_s3_cred_env *e, struct fetch_s3_creds *out)
{
    struct fetch_options o;
    struct fetch_http *h = NULL;
    struct fetch_http_req r;
    char base[512], url[1024], header[256], role[256];
    size_t n;
    int rc;

    memset(&o, 0, sizeof o);
    o.ca_file = e->opt ? e->opt->ca_file : NULL;
    o.connect_timeout_ms = 1000; /* off EC2 nothing answers: give up soon, as the SDKs do */
    o.low_speed_time_s = 2;
    o.retry_budget_ms = 2000;
    o.max_in_flight = 1;
    snprintf(base, sizeof base, "%s", e->imds_endpoint ? e->imds_endpoint : S3_IMDS_DEFAULT);
    n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        base[--n] = '\0';
    if ((rc = fetch_http_create(&o, imds_prepare, NULL, &h)) != 0)
        return rc;
    snprintf(url, sizeof url, "%s/latest/api/token", base);
    if ((rc = imds_get(h, url, "X-aws-ec2-metadata-token-ttl-seconds: " S3_IMDS_TTL, "PUT", &r)) != 0)
        goto out;
    if (r.body == NULL || r.body_len == 0 || r.body_len > 200 || memchr(r.body, '\0', r.body_len) != NULL) {
        rc = ccr_err_set(EIO, "instance metadata: empty or malformed session token");
        goto free_body;
    }
    snprintf(header, sizeof header, "X-aws-ec2-metadata-token: %.*s", (int)r.body_len, (const char *)r.body);
    ccr_freezero(r.body, r.body_len);
    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/", base);
    if ((rc = imds_get(h, url, header, "GET", &r)) != 0)
        goto wipe_header;
    n = strcspn(r.body ? (const char *)r.body : "", "\r\n");
    if (r.body == NULL || n == 0 || n >= sizeof role || n > r.body_len) {
        rc = ccr_err_set(ENOENT, "instance metadata: no IAM role attached to this instance");
        goto free_body;
    }
    snprintf(role, sizeof role, "%.*s", (int)n, (const char *)r.body);
    free(r.body);
    if (strspn(role, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-") !=
        strlen(role)) {
        rc = ccr_err_set(EIO, "instance metadata: malformed role name");
        goto wipe_header;
    }
    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/%s", base, role);
    if ((rc = imds_get(h, url, header, "GET", &r)) != 0)
        goto wipe_header;
    snprintf(out->source, sizeof out->source, "instance metadata");
    rc = fetch_s3_imds_parse((const char *)r.body, r.body_len, out);
free_body:
    if (r.body != NULL)
        ccr_freezero(r.body, r.body_len);
wipe_header:
    OPENSSL_cleanse(header, sizeof header);
out:
    fetch_http_destroy(h);
    return rc;
}

int fetch_s3_creds_resolve(const struct fetch_s3_cred_env *e, struct fetch_s3_creds *out)
{
    char section[300];
    int rc;

    memset(out, 0, sizeof *out);
    if (e->access_key_id != NULL || e->secret_access_key != NULL) {
        if (e->access_key_id == NULL || e->secret_access_key == NULL)
            return ccr_err_set(EINVAL,
                               "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: only one is set");
        snprintf(out->source, sizeof out->source, "environment");
        return fetch_s3_creds_set(out, e->access_key_id, e->secret_access_key, e->session_token,
                                  "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY");
    }
    if (e->web_identity_token_file != NULL && e->role_arn != NULL)
        return web_identity(e, out);
    {
        /* The profile may name them instead: web_identity_token_file and role_arn. */
        struct fetch_s3_cred_env from_profile = *e;
        char *file = NULL, *role = NULL, *session = NULL;
        config_section(e, section, sizeof section);
        if (fetch_s3_ini_get(e->config_file, section, "web_identity_token_file", 0, &file, NULL) == 0 &&
            fetch_s3_ini_get(e->config_file, section, "role_arn", 0, &role, NULL) == 0) {
            (void)fetch_s3_ini_get(e->config_file, section, "role_session_name", 0, &session, NULL);
            from_profile.web_identity_token_file = file;
            from_profile.role_arn = role;
            if (session != NULL)
                from_profile.role_session_name = session;
            rc = web_identity(&from_profile, out);
            free(file);
            free(role);
            free(session);
            return rc;
        }
        free(file);
        free(role);
    }
    snprintf(section, sizeof section, "%s", e->profile ? e->profile : "default");
    if ((rc = creds_from_file(e->credentials_file, section, "shared credentials file", out)) != ENOENT)
        return rc;
    config_section(e, section, sizeof section);
    if ((rc = creds_from_file(e->config_file, section, "config file", out)) != ENOENT)
        return rc;
    if (e->profile != NULL && strcmp(e->profile, "default") != 0)
        return ccr_err_set(ENOENT, "AWS_PROFILE %s: no such profile with keys in %s or %s", e->profile,
                           e->credentials_file ? e->credentials_file : "(no credentials file)",
                           e->config_file ? e->config_file : "(no config file)");
    if (e->imds_disabled)
        return ccr_err_set(ENOENT,
                           "no AWS credentials: none in the environment, no web identity, none in the "
                           "shared files, and AWS_EC2_METADATA_DISABLED is set");
    if ((rc = imds(e, out)) != 0)
        return ccr_err_wrap(rc == ENOENT ? ENOENT : rc,
                            "no AWS credentials in the environment, web identity or shared files, and "
                            "instance metadata: ");
    return 0;
}
