/*
 * mhash: the identity of a memory's text and the gate text passes before it
 * can become one. mhash_memory() is Mem0's hash (md5 of the UTF-8 text,
 * lowercase hex), so rows written by Mem0 and by memworker dedupe against
 * each other; mhash_utf8_valid() is the strict check that sends malformed
 * entries to the dead-letter stream. Pure functions, no state.
 */
#ifndef MW_MHASH_H
#define MW_MHASH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * out = lowercase hex MD5 of text's bytes exactly as stored (no trimming,
 * no normalisation), NUL-terminated; NULL hashes as "". Aborts with a log
 * line if the crypto library refuses MD5 (a FIPS-only OpenSSL): without the
 * hash no memory can be written, a broken installation, not a runtime error.
 */
void mhash_memory(const char *text, char out[33]);

/*
 * Strict UTF-8 (RFC 3629) over s[0..len-1]: no overlong forms, no UTF-16
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
 * sequence. U+0000 is refused as well: PostgreSQL text cannot hold it and
 * every string past this gate is a C string.
 */
bool mhash_utf8_valid(const char *s, size_t len);

#endif
