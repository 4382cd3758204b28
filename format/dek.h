/* The data encryption key (DEK): 32 bytes in locked memory, wiped when freed.
 * Nothing here knows where the key came from (a key file, a broker, Azure SKR). */
#ifndef CCRFS_FORMAT_DEK_H
#define CCRFS_FORMAT_DEK_H

#include <stddef.h>
#include <stdint.h>

#define FMT_DEK_LEN 32

struct fmt_dek {
    uint8_t *bytes; /* FMT_DEK_LEN bytes of locked memory */
};

/* Copies 32 bytes into a new key; the caller wipes its own copy. */
int fmt_dek_from_bytes(const uint8_t *bytes, size_t len, struct fmt_dek **out);
/* Reads a key file: exactly 32 raw bytes. Names the problem (missing, short, long). */
int fmt_dek_load_file(const char *path, struct fmt_dek **out);
/* Creates a key file with 32 fresh random bytes, mode 0600; EEXIST when path exists. */
int fmt_dek_generate_file(const char *path);
void fmt_dek_free(struct fmt_dek *dek);

#endif
