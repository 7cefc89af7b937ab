/*
 * b64: standard base64 (RFC 4648, with padding), for embeddings sent as
 * encoding_format "base64" (little-endian float32 bytes): 4 bytes a float
 * instead of ~10 characters of JSON number.
 */
#ifndef MW_B64_H
#define MW_B64_H

#include <stddef.h>

/* Encodes len bytes; returns a malloc'd NUL-terminated string. */
char *b64_encode(const unsigned char *in, size_t len);
/*
 * Decodes into a malloc'd buffer (*outlen bytes, none for inlen 0); NULL on
 * bad input: a length that is not a multiple of 4, a byte outside the
 * alphabet ('\0' and bytes >= 0x80 included), '=' other than as padding
 * ("xx==" or "xxx=" at the very end). Bits under the padding are not
 * checked.
 */
unsigned char *b64_decode(const char *in, size_t inlen, size_t *outlen);

#endif
