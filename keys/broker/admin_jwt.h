/* Admin bearer tokens as Trustee's KBS checks them (kbs/src/admin, bearer_jwt): a compact
 * JWS signed with the administrator's private key and checked with the public key given to
 * the server as a PEM file. The algorithm comes from the token's header and must fit the key
 * (EdDSA for Ed25519, ES256/ES384 for P-256/P-384, RS256/RS384/RS512/PS256/PS384/PS512 for
 * RSA); "exp" is required (60 s leeway, as jsonwebtoken's default validation), "nbf" is
 * honoured when present, and a string "role" claim is required (Trustee v0.21+). */
#ifndef CCRFS_KEYS_BROKER_ADMIN_JWT_H
#define CCRFS_KEYS_BROKER_ADMIN_JWT_H

#include <openssl/evp.h>
#include <stddef.h>
#include <time.h>

#define KEYS_ADMIN_JWT_LEEWAY       60
#define KEYS_ADMIN_JWT_DEFAULT_ROLE "admin"

/* Loads a PEM public key (EC, RSA or Ed25519), or a private key's public half. */
int keys_admin_jwt_load_public(const char *pem_file, EVP_PKEY **out);
/* Loads a PEM private key (EC P-256/P-384, RSA or Ed25519) to sign with. */
int keys_admin_jwt_load_private(const char *pem_file, EVP_PKEY **out);

/* Checks token at time now (0: the clock). role: the role that is allowed (NULL: any role,
 * but the claim must be there). role_out (may be NULL) gets the token's role. EACCES with a
 * message naming the failed check (malformed, algorithm, signature, expired, role). */
int keys_admin_jwt_verify(EVP_PKEY *pub, const char *token, time_t now, const char *role, char *role_out,
                          size_t role_len);

/* A token for role, issued at now (0: the clock) and valid ttl seconds: claims iat, exp,
 * role. malloc'd. */
int keys_admin_jwt_sign(EVP_PKEY *priv, const char *role, time_t now, unsigned ttl, char **token);

#endif
