/*
 * vec: float vectors as memworker moves them around: pgvector's binary wire
 * format (what libpq sends with parameter format 1 and $n::vector), the text
 * form "[0.1,0.2]" (SQLite, debugging), little-endian float32 BLOBs (old Mem0
 * SQLite stores and our SQLite backend), and the similarity maths memsearch
 * reports. Pure functions on caller-owned buffers: no allocation, no state,
 * safe on any thread or loop.
 */
#ifndef MW_VEC_H
#define MW_VEC_H

#include <stdbool.h>
#include <stddef.h>

/* pgvector's limit for the vector type. */
#define VEC_MAX_DIMS 16000

/* Bytes of the pgvector binary form of a dims-vector: 4 + 4 * dims. */
size_t vec_pg_size(int dims);

/*
 * Writes v in pgvector's binary format into out: int16 dims, int16 0
 * (unused), dims x float4, all big-endian. Returns the bytes written
 * (vec_pg_size(dims)), or -1 when dims is outside 1..VEC_MAX_DIMS, a
 * component is NaN or infinite (pgvector would refuse it), or outlen is too
 * short. A zero vector is encoded: whether it may be stored is the caller's
 * call (see vec_valid).
 */
int vec_encode_pg(const float *v, int dims, unsigned char *out, size_t outlen) __attribute__((warn_unused_result));

/*
 * Inverse of vec_encode_pg into out[0..dims-1]. Returns 0, or -1 when len is
 * not vec_pg_size(dims), the header's dimension is not dims, its unused
 * field is not 0, or a component is not finite. out is unspecified on -1.
 */
int vec_decode_pg(const unsigned char *in, size_t len, float *out, int dims) __attribute__((warn_unused_result));

/* Buffer size that always fits vec_text's output for dims components, NUL included. */
size_t vec_text_size(int dims);

/*
 * Writes "[c0,c1,...]" (each component in the shortest form that reads back
 * to the same float, as pgvector prints; C locale) into out. Returns the length
 * without the NUL, or -1 when dims is out of range, a component is not
 * finite or outlen is too short (out then holds "" if outlen > 0).
 */
int vec_text(const float *v, int dims, char *out, size_t outlen) __attribute__((warn_unused_result));

/*
 * Parses "[1, -2.5e-3, 3]" (pgvector's text form; also a JSON array of
 * numbers) into out[0..maxdims-1]. Whitespace around tokens is allowed.
 * Returns the number of components, or -1 on anything else: empty vector,
 * more than maxdims components, NaN, infinities or overflow, trailing text.
 * The decimal point is '.': memworker's programs never call setlocale.
 */
int vec_parse_text(const char *s, float *out, int maxdims) __attribute__((warn_unused_result));

/*
 * Cosine similarity (1 - cosine distance, pgvector's <=> operator), in
 * double, clamped to [-1, 1]; 0 when either vector is all zero.
 */
double vec_cosine_sim(const float *a, const float *b, int dims);

/* Scales v to unit length in place; leaves an all-zero vector alone. */
void vec_normalize(float *v, int dims);

/* dims in 1..VEC_MAX_DIMS, every component finite, not all zero. */
bool vec_valid(const float *v, int dims);

/* out[0..4*dims-1] = v as little-endian IEEE float32, whatever the host order. */
void vec_to_le_blob(const float *v, int dims, unsigned char *out);

/* out[0..dims-1] from a little-endian float32 BLOB of 4*dims bytes. */
void vec_from_le_blob(const unsigned char *in, int dims, float *out);

#endif
