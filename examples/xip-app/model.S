/* SPDX-License-Identifier: MIT */
/*
 * Embeds the generated weights in the QSPI image. .incbin keeps the 260 KiB out of a C array
 * (no huge generated source to compile) and the section name sends them to .extflash_rodata.
 * model.bin is found through the assembler's include path (-Wa,-I<build dir>).
 */
#include "model.h"

	.section .extflash_rodata.model, "a", %progbits
	.balign 4

	.global model_w1
	.type model_w1, %object
	.size model_w1, MODEL_W1_SIZE
model_w1:
	.incbin "model.bin", 0, MODEL_W1_SIZE

	.global model_w2
	.type model_w2, %object
	.size model_w2, MODEL_W2_SIZE
model_w2:
	.incbin "model.bin", MODEL_W1_SIZE, MODEL_W2_SIZE
