/* vec: interim (replaced by the prompt branch's full module). */
#ifndef MW_VEC_H
#define MW_VEC_H
#include <stddef.h>
int vec_encode_pg(const float *v, int dims, unsigned char *out, size_t outlen);
#endif
