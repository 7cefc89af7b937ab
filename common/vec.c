/* vec: interim (replaced by the prompt branch's full module). */
#include "vec.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

int vec_encode_pg(const float *v, int dims, unsigned char *out, size_t outlen)
{
	size_t need = 4 + 4 * (size_t)dims;
	int i;

	if (dims < 1 || dims > 16000 || outlen < need)
		return -1;
	out[0] = (unsigned char)(dims >> 8);
	out[1] = (unsigned char)dims;
	out[2] = out[3] = 0;
	for (i = 0; i < dims; i++) {
		uint32_t u;
		if (!isfinite(v[i]))
			return -1;
		memcpy(&u, &v[i], 4);
		out[4 + 4 * i] = (unsigned char)(u >> 24);
		out[5 + 4 * i] = (unsigned char)(u >> 16);
		out[6 + 4 * i] = (unsigned char)(u >> 8);
		out[7 + 4 * i] = (unsigned char)u;
	}
	return (int)need;
}
