/* SPDX-License-Identifier: MIT */
/*
 * Host tool: writes the example model's weights (MODEL_SIZE int8 values) to the file named on the
 * command line. A trained model would come from a training pipeline; pseudo-random weights from a
 * fixed seed give the same size and the same build-to-build reproducibility.
 */
#include <stdint.h>
#include <stdio.h>

#include "model.h"

/* xorshift32 (Marsaglia 2003): tiny, and the same output on every host and libc. */
static uint32_t next(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

int main(int argc, char **argv)
{
	static uint8_t weights[MODEL_SIZE];
	uint32_t state = MODEL_SEED;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTPUT\n", argv[0]);
		return 64;
	}
	for (size_t i = 0; i < sizeof(weights); i++)
		weights[i] = (uint8_t)(next(&state) >> 24);
	f = fopen(argv[1], "wb");
	if (!f) {
		perror(argv[1]);
		return 74;
	}
	if (fwrite(weights, 1, sizeof(weights), f) != sizeof(weights) || fclose(f) != 0) {
		perror(argv[1]);
		return 74;
	}
	return 0;
}
