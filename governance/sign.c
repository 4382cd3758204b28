/* Ed25519 / ECDSA P-256 keys for checkpoints and contract signatures. */
#include "governance/sign.h"
#include "common/encoding.h"
#include "common/err.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct gov_key {
    EVP_PKEY *pkey;
    int ed25519;
    int rsa_pss; /* RSA, signing RSA-PSS SHA-256 salt 32, as Azure Clean Room's governance does */
};

/* Azure Clean Room's governance verifies RSA-PSS with SHA-256 and a 32-byte salt. */
#define RSA_PSS_SALT_LEN 32
#define RSA_MIN_BITS     2048

static int ossl_fail(int code, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return ccr_err_set(code, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

static int wrap_pkey(EVP_PKEY *pkey, const char *what, int allow_rsa, struct gov_key **out)
{
    struct gov_key *k;
    int id = EVP_PKEY_get_base_id(pkey);

    if (allow_rsa && id == EVP_PKEY_RSA) {
        if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS) {
            EVP_PKEY_free(pkey);
            return ccr_err_set(EINVAL, "%s: RSA key shorter than %d bits", what, RSA_MIN_BITS);
        }
    } else if (id != EVP_PKEY_ED25519 && !(id == EVP_PKEY_EC && EVP_PKEY_is_a(pkey, "EC"))) {
        EVP_PKEY_free(pkey);
        return ccr_err_set(EINVAL, "%s: key type is neither Ed25519 nor ECDSA P-256", what);
    }
    if (id == EVP_PKEY_EC) {
        char group[64] = "";
        size_t glen = 0;
        if (!EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof group, &glen) ||
            strcmp(group, "prime256v1") != 0) {
            EVP_PKEY_free(pkey);
            return ccr_err_set(EINVAL, "%s: EC key is not on curve P-256 (%s)", what, group);
        }
    }
    k = calloc(1, sizeof *k);
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return ENOMEM;
    }
    k->pkey = pkey;
    k->ed25519 = id == EVP_PKEY_ED25519;
    k->rsa_pss = id == EVP_PKEY_RSA;
    *out = k;
    return 0;
}

int gov_key_generate_file(const char *path, const char *alg)
{
    EVP_PKEY *pkey = NULL;
    FILE *f;
    int fd, ok;

    if (strcmp(alg, "ed25519") == 0)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else if (strcmp(alg, "p256") == 0)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    else
        return ccr_err_set(EINVAL, "unknown key algorithm '%s' (ed25519 or p256)", alg);
    if (pkey == NULL)
        return ossl_fail(EIO, "key generation failed");
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        EVP_PKEY_free(pkey);
        return ccr_err_set(e, "%s: %s", path, strerror(e));
    }
    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(path);
        EVP_PKEY_free(pkey);
        return ccr_err_set(EIO, "%s: cannot open for writing", path);
    }
    ok = PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
    ok = (fflush(f) == 0) && ok && fsync(fd) == 0;
    fclose(f);
    EVP_PKEY_free(pkey);
    if (!ok) {
        unlink(path);
        return ossl_fail(EIO, "writing the key file failed");
    }
    return 0;
}

int gov_key_load_private(const char *path, struct gov_key **out)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *pkey;
    if (f == NULL)
        return ccr_err_set(errno, "%s: %s", path, strerror(errno));
    pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (pkey == NULL) {
        ERR_clear_error();
        return ccr_err_set(EINVAL, "%s: not a PEM private key", path);
    }
    return wrap_pkey(pkey, path, 0, out);
}

int gov_key_load_public(const char *path, struct gov_key **out)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *pkey;
    if (f == NULL)
        return ccr_err_set(errno, "%s: %s", path, strerror(errno));
    pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (pkey == NULL) {
        ERR_clear_error();
        rewind(f);
        pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    }
    fclose(f);
    if (pkey == NULL) {
        ERR_clear_error();
        return ccr_err_set(EINVAL, "%s: not a PEM public or private key", path);
    }
    return wrap_pkey(pkey, path, 0, out);
}

static int from_public_b64(const char *b64, int allow_rsa, struct gov_key **out)
{
    uint8_t *der;
    size_t der_len;
    const unsigned char *p;
    EVP_PKEY *pkey;

    if (ccr_b64_decode(b64, strlen(b64), &der, &der_len, CCR_B64_STD) != 0)
        return ccr_err_set(EINVAL, "public key: not valid base64");
    p = der;
    pkey = d2i_PUBKEY(NULL, &p, (long)der_len);
    if (pkey == NULL || p != der + der_len) {
        EVP_PKEY_free(pkey);
        free(der);
        ERR_clear_error();
        return ccr_err_set(EINVAL, "public key: not a DER SubjectPublicKeyInfo");
    }
    free(der);
    return wrap_pkey(pkey, "public key", allow_rsa, out);
}

int gov_key_from_public_b64(const char *b64, struct gov_key **out)
{
    return from_public_b64(b64, 0, out);
}

int gov_key_from_public_b64_any(const char *b64, struct gov_key **out)
{
    return from_public_b64(b64, 1, out);
}

int gov_key_from_public_pem(const char *pem, size_t len, struct gov_key **out)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey;

    if (bio == NULL || len > INT32_MAX) {
        BIO_free(bio);
        return ENOMEM;
    }
    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (pkey == NULL) {
        ERR_clear_error();
        return ccr_err_set(EINVAL, "public key: not a PEM SubjectPublicKeyInfo");
    }
    return wrap_pkey(pkey, "public key", 1, out);
}

int gov_key_generate_rsa_pss(struct gov_key **out)
{
    /* With OpenSSL's secure heap initialised, the private numbers live in locked memory. */
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_MIN_BITS);
    if (pkey == NULL)
        return ossl_fail(EIO, "key generation failed");
    return wrap_pkey(pkey, "signing key", 1, out);
}

int gov_key_public_pem(const struct gov_key *k, char **out, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long n;

    if (bio == NULL)
        return ENOMEM;
    if (PEM_write_bio_PUBKEY(bio, k->pkey) != 1 || (n = BIO_get_mem_data(bio, &data)) <= 0) {
        BIO_free(bio);
        return ossl_fail(EIO, "cannot encode the public key as PEM");
    }
    if ((*out = malloc((size_t)n + 1)) == NULL) {
        BIO_free(bio);
        return ENOMEM;
    }
    memcpy(*out, data, (size_t)n);
    (*out)[n] = '\0';
    *len = (size_t)n;
    BIO_free(bio);
    return 0;
}

struct evp_pkey_st *gov_key_evp(const struct gov_key *k)
{
    return k->pkey;
}

int gov_key_from_evp(struct evp_pkey_st *pkey, struct gov_key **out)
{
    if (pkey == NULL || EVP_PKEY_up_ref(pkey) != 1)
        return ccr_err_set(EINVAL, "no signing key given");
    return wrap_pkey(pkey, "signing key", 1, out);
}

void gov_key_free(struct gov_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

const char *gov_key_alg(const struct gov_key *k)
{
    return k->ed25519 ? "ed25519" : k->rsa_pss ? "rsa-pss" : "p256";
}

static char *b64_of(const uint8_t *p, size_t n)
{
    char *s = malloc(ccr_b64_encoded_size(n, CCR_B64_STD));
    if (s != NULL)
        ccr_b64_encode(p, n, s, CCR_B64_STD);
    return s;
}

int gov_key_public_b64(const struct gov_key *k, char **out)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k->pkey, &der);
    if (n <= 0)
        return ossl_fail(EIO, "cannot encode the public key");
    *out = b64_of(der, (size_t)n);
    OPENSSL_free(der);
    return *out == NULL ? ENOMEM : 0;
}

static int pss_params(EVP_PKEY_CTX *pctx)
{
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                   EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALT_LEN) == 1 &&
                   EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1
               ? 1
               : 0;
}

int gov_key_sign_b64(const struct gov_key *k, const void *msg, size_t len, char **sig_b64)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    int rc = 0;

    if (ctx == NULL)
        return ENOMEM;
    EVP_PKEY_CTX *pctx = NULL;
    if (EVP_DigestSignInit(ctx, &pctx, k->ed25519 ? NULL : EVP_sha256(), NULL, k->pkey) != 1 ||
        (k->rsa_pss && pss_params(pctx) != 1) || EVP_DigestSign(ctx, NULL, &sig_len, msg, len) != 1 ||
        (sig = malloc(sig_len)) == NULL || EVP_DigestSign(ctx, sig, &sig_len, msg, len) != 1) {
        rc = ossl_fail(EIO, "signing failed (is this a private key?)");
    } else {
        *sig_b64 = b64_of(sig, sig_len);
        if (*sig_b64 == NULL)
            rc = ENOMEM;
    }
    free(sig);
    EVP_MD_CTX_free(ctx);
    return rc;
}

int gov_key_verify_b64(const struct gov_key *k, const void *msg, size_t len, const char *sig_b64)
{
    EVP_MD_CTX *ctx;
    uint8_t *sig;
    size_t sig_len;
    int ok;

    if (ccr_b64_decode(sig_b64, strlen(sig_b64), &sig, &sig_len, CCR_B64_STD) != 0 || sig_len == 0)
        return ccr_err_set(EINVAL, "signature: not valid base64");
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        free(sig);
        return ENOMEM;
    }
    EVP_PKEY_CTX *pctx = NULL;
    ok = EVP_DigestVerifyInit(ctx, &pctx, k->ed25519 ? NULL : EVP_sha256(), NULL, k->pkey) == 1 &&
         (!k->rsa_pss || pss_params(pctx) == 1) && EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    free(sig);
    ERR_clear_error();
    return ok ? 0 : ccr_err_set(EBADMSG, "signature does not verify");
}
