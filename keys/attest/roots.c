/* The trusted SEV-SNP roots. */
#include "keys/attest/roots.h"
#include "common/array.h"
#include "common/err.h"
#include "common/fileio.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

struct root {
    X509 *ask, *ark, *asvk; /* asvk may be NULL */
    char name[64];
    int is_test;
};

struct keys_snp_roots {
    struct ccr_array v; /* of struct root */
};

int keys_snp_roots_new(struct keys_snp_roots **out)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return ENOMEM;
    ccr_array_init(&(*out)->v, sizeof(struct root));
    return 0;
}

static int add_pair(struct keys_snp_roots *roots, X509 *ask, X509 *ark, X509 *asvk, const char *name,
                    int is_test)
{
    struct root *v;
    EVP_PKEY *ark_key = X509_get0_pubkey(ark);

    if (ark_key == NULL || X509_verify(ark, ark_key) != 1)
        return ccr_err_set(EINVAL, "%s: the ARK is not self-signed", name);
    if (X509_verify(ask, ark_key) != 1)
        return ccr_err_set(EINVAL, "%s: the ASK is not signed by the ARK", name);
    if (asvk != NULL && X509_verify(asvk, ark_key) != 1)
        return ccr_err_set(EINVAL, "%s: the ASVK is not signed by the ARK", name);
    if ((v = ccr_array_push(&roots->v)) == NULL)
        return ENOMEM;
    v->ask = ask;
    v->ark = ark;
    v->asvk = asvk;
    snprintf(v->name, sizeof v->name, "%s", name);
    v->is_test = is_test;
    return 0;
}

int keys_snp_roots_add_pem(struct keys_snp_roots *roots, const char *pem, const char *name, int is_test)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *ask = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    X509 *ark = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    X509 *asvk = bio && ark ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    int rc;

    BIO_free(bio);
    ERR_clear_error(); /* the end of the text reads as an error when there is no ASVK */
    if (ask == NULL || ark == NULL) {
        X509_free(ask);
        X509_free(ark);
        X509_free(asvk);
        return ccr_err_set(
            EINVAL, "%s: expected two PEM certificates (ASK then ARK), then optionally the ASVK", name);
    }
    if ((rc = add_pair(roots, ask, ark, asvk, name, is_test)) != 0) {
        X509_free(ask);
        X509_free(ark);
        X509_free(asvk);
    }
    return rc;
}

static int add_amd(struct keys_snp_roots *roots, const char *ask_ark, const char *asvk, const char *name)
{
    size_t a = strlen(ask_ark), b = strlen(asvk);
    char *pem = malloc(a + b + 1);
    int rc;

    if (pem == NULL)
        return ENOMEM;
    memcpy(pem, ask_ark, a);
    memcpy(pem + a, asvk, b + 1);
    rc = keys_snp_roots_add_pem(roots, pem, name, 0);
    free(pem);
    return rc;
}

int keys_snp_roots_amd(struct keys_snp_roots **out)
{
    int rc = keys_snp_roots_new(out);
    if (rc == 0)
        rc = add_amd(*out, keys_amd_milan_ask_ark_pem, keys_amd_milan_asvk_pem, "AMD Milan");
    if (rc == 0)
        rc = add_amd(*out, keys_amd_genoa_ask_ark_pem, keys_amd_genoa_asvk_pem, "AMD Genoa");
    if (rc == 0)
        rc = add_amd(*out, keys_amd_turin_ask_ark_pem, keys_amd_turin_asvk_pem, "AMD Turin");
    if (rc != 0) {
        keys_snp_roots_free(*out);
        *out = NULL;
    }
    return rc;
}

int keys_snp_roots_add_sim(struct keys_snp_roots *roots, const char *dir)
{
    char *p_ask = ccr_path_join(dir, "ask.pem"), *p_ark = ccr_path_join(dir, "ark.pem");
    uint8_t *a = NULL, *b = NULL;
    size_t alen, blen;
    char *pem = NULL;
    int rc = ENOMEM;

    if (p_ask == NULL || p_ark == NULL)
        goto out;
    if ((rc = ccr_read_file(p_ask, 1 << 16, &a, &alen)) != 0 ||
        (rc = ccr_read_file(p_ark, 1 << 16, &b, &blen)) != 0)
        goto out;
    pem = malloc(alen + blen + 1);
    if (pem == NULL) {
        rc = ENOMEM;
        goto out;
    }
    memcpy(pem, a, alen);
    memcpy(pem + alen, b, blen);
    pem[alen + blen] = '\0';
    rc = keys_snp_roots_add_pem(roots, pem, "simulated SEV-SNP test root", 1);
out:
    free(p_ask);
    free(p_ark);
    free(a);
    free(b);
    free(pem);
    return rc;
}

int keys_snp_roots_find(struct keys_snp_roots *roots, X509 *vcek, X509 **ask, X509 **ark, const char **name,
                        int *is_test)
{
    for (size_t i = 0; i < roots->v.len; i++) {
        struct root *r = &CCR_ARRAY_AT(&roots->v, struct root, i);
        X509 *issuer = NULL;
        if (X509_check_issued(r->ask, vcek) == X509_V_OK && X509_verify(vcek, X509_get0_pubkey(r->ask)) == 1)
            issuer = r->ask;
        else if (r->asvk != NULL && X509_check_issued(r->asvk, vcek) == X509_V_OK &&
                 X509_verify(vcek, X509_get0_pubkey(r->asvk)) == 1)
            issuer = r->asvk;
        if (issuer != NULL) {
            *ask = issuer;
            *ark = r->ark;
            if (name)
                *name = r->name;
            if (is_test)
                *is_test = r->is_test;
            return 0;
        }
    }
    ERR_clear_error();
    return ccr_err_set(
        ENOENT, "the VCEK/VLEK was not issued by any trusted root (%zu trusted: AMD Milan, Genoa, Turin%s)",
        roots->v.len, roots->v.len > 3 ? " and a test root" : "");
}

void keys_snp_roots_free(struct keys_snp_roots *roots)
{
    if (roots == NULL)
        return;
    for (size_t i = 0; i < roots->v.len; i++) {
        X509_free(CCR_ARRAY_AT(&roots->v, struct root, i).ask);
        X509_free(CCR_ARRAY_AT(&roots->v, struct root, i).ark);
        X509_free(CCR_ARRAY_AT(&roots->v, struct root, i).asvk);
    }
    ccr_array_free(&roots->v);
    free(roots);
}
