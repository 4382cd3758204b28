#include "format/crypto.h"
#include "common/err.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static pthread_key_t crypto_ctx_key;
static EVP_CIPHER *crypto_gcm; /* fetched once: implicit fetches per call are slow */

static void crypto_ctx_free(void *ctx)
{
    EVP_CIPHER_CTX_free(ctx);
}

static void crypto_init(void)
{
    crypto_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    (void)pthread_key_create(&crypto_ctx_key, crypto_ctx_free);
}

static EVP_CIPHER_CTX *crypto_thread_ctx(void)
{
    EVP_CIPHER_CTX *ctx;

    pthread_once(&crypto_once, crypto_init);
    if (crypto_gcm == NULL)
        return NULL;
    ctx = pthread_getspecific(crypto_ctx_key);
    if (ctx == NULL) {
        ctx = EVP_CIPHER_CTX_new();
        if (ctx != NULL && pthread_setspecific(crypto_ctx_key, ctx) != 0) {
            EVP_CIPHER_CTX_free(ctx);
            ctx = NULL;
        }
    }
    return ctx;
}

/* The context keeps the expanded key after an operation; keying it again with zeros overwrites
 * that schedule in place (no allocation), so no thread's context holds a key between calls
 * and a revocation leaves none behind. */
static void crypto_ctx_forget_key(EVP_CIPHER_CTX *ctx)
{
    static const uint8_t zero_key[FMT_KEY_LEN];
    (void)EVP_CipherInit_ex2(ctx, NULL, zero_key, NULL, -1, NULL);
}

int fmt_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                    const char *info, uint8_t *out, size_t out_len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[5];
    int ok;

    EVP_KDF_free(kdf);
    if (kctx == NULL)
        return ccr_err_set(EIO, "HKDF is not available in this OpenSSL");
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
    params[4] = OSSL_PARAM_construct_end();
    ok = EVP_KDF_derive(kctx, out, out_len, params);
    EVP_KDF_CTX_free(kctx);
    return ok == 1 ? 0 : ccr_err_set(EIO, "HKDF derivation failed");
}

int fmt_gcm_seal(const uint8_t key[FMT_KEY_LEN], const uint8_t nonce[FMT_NONCE_LEN], const uint8_t *aad,
                 size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[FMT_TAG_LEN])
{
    EVP_CIPHER_CTX *ctx = crypto_thread_ctx();
    int n, ok;

    if (ctx == NULL)
        return ccr_err_set(ENOMEM, "no cipher context");
    if (len > INT32_MAX || aad_len > INT32_MAX)
        return ccr_err_set(EINVAL, "GCM message too long");
    ok = EVP_EncryptInit_ex2(ctx, crypto_gcm, key, nonce, NULL) == 1 &&
         (aad_len == 0 || EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1) &&
         (len == 0 || EVP_EncryptUpdate(ctx, out, &n, in, (int)len) == 1) &&
         EVP_EncryptFinal_ex(ctx, out + len, &n) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, FMT_TAG_LEN, tag) == 1;
    crypto_ctx_forget_key(ctx);
    return ok ? 0 : ccr_err_set(EIO, "AES-GCM encryption failed");
}

int fmt_gcm_open(const uint8_t key[FMT_KEY_LEN], const uint8_t nonce[FMT_NONCE_LEN], const uint8_t *aad,
                 size_t aad_len, const uint8_t *in, size_t len, const uint8_t tag[FMT_TAG_LEN], uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = crypto_thread_ctx();
    int n, ok;

    if (ctx == NULL)
        return ccr_err_set(ENOMEM, "no cipher context");
    if (len > INT32_MAX || aad_len > INT32_MAX)
        return ccr_err_set(EINVAL, "GCM message too long");
    ok = EVP_DecryptInit_ex2(ctx, crypto_gcm, key, nonce, NULL) == 1 &&
         (aad_len == 0 || EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1) &&
         (len == 0 || EVP_DecryptUpdate(ctx, out, &n, in, (int)len) == 1) &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, FMT_TAG_LEN, (void *)tag) == 1;
    /* EVP_DecryptFinal_ex compares the tag in constant time. */
    if (ok)
        ok = EVP_DecryptFinal_ex(ctx, out + len, &n) == 1;
    crypto_ctx_forget_key(ctx);
    if (!ok) {
        OPENSSL_cleanse(out, len);
        return ccr_err_set(EBADMSG, "authentication failed");
    }
    return 0;
}

void fmt_sha256(const void *data, size_t len, uint8_t out[FMT_SHA256_LEN])
{
    SHA256(data, len, out);
}
