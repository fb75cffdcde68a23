/*
 * SHA-256 (FIPS 180-4, section 6.2), written for this example: plain C99,
 * no dependencies, no global state. A context is used by one thread at a
 * time; different contexts may be used on different threads at once.
 *
 *     ex_sha256_t s;
 *     ex_sha256_init(&s);
 *     ex_sha256_update(&s, data, len);   // any number of times
 *     ex_sha256_final(&s, digest);       // 32 bytes, big-endian words
 */
#ifndef EX_SHA256_H
#define EX_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define EX_SHA256_DIGEST_SIZE 32
#define EX_SHA256_BLOCK_SIZE 64

typedef struct ex_sha256_s {
  uint32_t h[8];                       /* the hash value H(i) */
  uint64_t bytes;                      /* message length so far */
  uint8_t block[EX_SHA256_BLOCK_SIZE]; /* a partial block */
  size_t used;                         /* bytes in `block` */
} ex_sha256_t;

void ex_sha256_init(ex_sha256_t* s);
void ex_sha256_update(ex_sha256_t* s, const void* data, size_t len);
/* Pads, writes the digest and leaves `s` to be initialised again. */
void ex_sha256_final(ex_sha256_t* s, uint8_t digest[EX_SHA256_DIGEST_SIZE]);

/* The digest of one buffer. */
void ex_sha256(const void* data, size_t len,
               uint8_t digest[EX_SHA256_DIGEST_SIZE]);

/* Writes the 64 lowercase hex characters of `digest` and a NUL to `hex`. */
void ex_sha256_hex(const uint8_t digest[EX_SHA256_DIGEST_SIZE],
                   char hex[2 * EX_SHA256_DIGEST_SIZE + 1]);

#endif /* EX_SHA256_H */
