/* SPDX-License-Identifier: MIT */
/*
 * The inference code, executed in place from QSPI next to its weights. It is a leaf function: a
 * call from QSPI back into internal flash would need a long-branch veneer in QSPI, and then an
 * update of one image without the other would jump into stale code.
 */
#include <stdint.h>

#include "model.h"

int model_infer(const int8_t input[MODEL_IN], int32_t scores[MODEL_OUT]);

/* model.S: read through the XIP window, never copied to RAM (512 KiB could not hold much more) */
extern const int8_t model_w1[MODEL_W1_SIZE];
extern const int8_t model_w2[MODEL_W2_SIZE];

__attribute__((section(".extflash_text.model_infer"), noinline)) int model_infer(
    const int8_t input[MODEL_IN], int32_t scores[MODEL_OUT])
{
	int best = 0;

	for (int o = 0; o < MODEL_OUT; o++)
		scores[o] = 0;
	for (int h = 0; h < MODEL_HIDDEN; h++) {
		const int8_t *w = &model_w1[h * MODEL_IN];
		int32_t act = 0;

		for (int i = 0; i < MODEL_IN; i++)
			act += input[i] * w[i];
		if (act <= 0) /* ReLU */
			continue;
		act >>= MODEL_SHIFT;
		for (int o = 0; o < MODEL_OUT; o++)
			scores[o] += act * model_w2[h * MODEL_OUT + o];
	}
	for (int o = 1; o < MODEL_OUT; o++)
		if (scores[o] > scores[best])
			best = o;
	return best;
}
