/*
 * uuid4: random (version 4) UUIDs as lower-case canonical text, the ids the
 * SQLite store gives memories (PostgreSQL's gen_random_uuid() does the same
 * there). uuid4_from_bytes is pure; uuid4_generate reads the kernel's
 * random source (getrandom). No state.
 */
#ifndef MW_UUID4_H
#define MW_UUID4_H

#include <stdbool.h>

#define UUID4_LEN 36

/* Sets the version (4) and variant (10xx) bits of b and writes it as "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx". */
void uuid4_from_bytes(const unsigned char b[16], char out[UUID4_LEN + 1]);

/* A fresh random UUID. Aborts with a log line if the kernel gives no randomness (a broken system). */
void uuid4_generate(char out[UUID4_LEN + 1]);

/* s is a UUID in canonical form (any version), lower- or upper-case hex: 8-4-4-4-12. */
bool uuid4_is_canonical(const char *s);

#endif
