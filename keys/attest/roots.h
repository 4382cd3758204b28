/* Which SEV-SNP roots a verifier trusts: AMD's Milan, Genoa and Turin ARKs (with their
 * ASKs) by default, and a simulator's test root only when told to. */
#ifndef CCRFS_KEYS_ATTEST_ROOTS_H
#define CCRFS_KEYS_ATTEST_ROOTS_H

#include <openssl/x509.h>

extern const char keys_amd_milan_ask_ark_pem[];
extern const char keys_amd_genoa_ask_ark_pem[];
extern const char keys_amd_turin_ask_ark_pem[];
extern const char keys_amd_milan_asvk_pem[];
extern const char keys_amd_genoa_asvk_pem[];
extern const char keys_amd_turin_asvk_pem[];

struct keys_snp_roots;

/* An empty set, or one holding AMD's three product roots (each ARK self-signature and
 * ASK and ASVK signature checked on load). */
int keys_snp_roots_new(struct keys_snp_roots **out);
int keys_snp_roots_amd(struct keys_snp_roots **out);
/* Adds a root from a simulator folder (ark.pem, ask.pem), marked as a test root. */
int keys_snp_roots_add_sim(struct keys_snp_roots *roots, const char *dir);
/* Adds an ASK+ARK pair from PEM text (ASK first), with an optional third certificate, the
 * ASVK that issues VLEKs (as AMD's KDS and Trustee bundle them); name is for messages. */
int keys_snp_roots_add_pem(struct keys_snp_roots *roots, const char *pem, const char *name, int is_test);
/* Finds the root whose ASK issued this VCEK, or whose ASVK issued this VLEK; *ask is then
 * that issuer. ENOENT with a message when none does. The returned certificates belong to
 * the set. */
int keys_snp_roots_find(struct keys_snp_roots *roots, X509 *vcek, X509 **ask, X509 **ark, const char **name,
                        int *is_test);
void keys_snp_roots_free(struct keys_snp_roots *roots);

#endif
