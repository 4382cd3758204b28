/* The broker's source of VCEKs when the evidence carries none (guest-components sends
 * cert_chain null when its host supplies no certificates): AMD's Key Distribution Service,
 * or a mirror of it, asked in the URL form AMD documents and Trustee's verifier uses, with
 * each certificate kept in an on-disk cache. Whatever comes back is only a candidate: the
 * caller still checks it against the AMD roots and the report. */
#ifndef CCRFS_KEYS_BROKER_KDS_H
#define CCRFS_KEYS_BROKER_KDS_H

#include "keys/attest/snp.h"

#include <stddef.h>
#include <stdint.h>

#define KEYS_KDS_DEFAULT_URL "https://kdsintf.amd.com"

/* The VCEK request for a report as a path below the KDS base URL:
 *   /vcek/v1/{Milan|Genoa}/<hwid: 64-byte chip id, hex>?blSPL=NN&teeSPL=NN&snpSPL=NN&ucodeSPL=NN
 *   /vcek/v1/Turin/<hwid: first 8 bytes of the chip id, hex>?fmcSPL=NN&blSPL=..&ucodeSPL=NN
 * with the reported TCB (Turin's TCB layout has an FMC byte first). The product comes from
 * the report's CPUID family and model (version 3 and later); for version 2, which carries
 * none, the index-th guess (0: Milan, 1: Genoa). ENOENT when index is past the guesses;
 * EINVAL naming the reason when no VCEK can be asked for (chip id masked, VLEK-signed
 * report, unknown CPU). */
int keys_kds_vcek_path(const uint8_t report[KEYS_SNP_REPORT_LEN], unsigned index, char *path,
                       size_t path_len);

struct keys_kds;

/* base_url: http(s) URL of the KDS (NULL: AMD's); cache_dir: where certificates are kept
 * (created when missing); ca_file: extra CA for an https mirror (NULL: system store). */
int keys_kds_new(const char *base_url, const char *cache_dir, const char *ca_file, struct keys_kds **out);
/* The VCEK (DER, malloc'd) for the report: from the cache, else from the KDS (then cached).
 * from_cache tells which. EACCES/ENOENT/EIO naming the URL (scrubbed) when the KDS has none
 * or cannot be reached. Safe to call from several threads. */
int keys_kds_vcek(struct keys_kds *k, const uint8_t report[KEYS_SNP_REPORT_LEN], uint8_t **der, size_t *len,
                  int *from_cache);
void keys_kds_free(struct keys_kds *k);

#endif
