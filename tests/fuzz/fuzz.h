/* Fuzz targets for parsers of untrusted input. Each target file defines
 * LLVMFuzzerTestOneInput and fuzz_seeds(). Built with clang and -DCCRFS_FUZZ=ON they are
 * libFuzzer programs; otherwise standalone.c drives them with deterministic mutations of
 * their seeds, as a unit test. */
#ifndef CCRFS_TESTS_FUZZ_H
#define CCRFS_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_seed {
    uint8_t *data;
    size_t len;
};
/* Valid inputs to start mutating from; the caller frees each data and the array. */
size_t fuzz_seeds(struct fuzz_seed **out);

#endif
