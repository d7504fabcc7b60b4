/* SPDX-License-Identifier: MIT */
/*
 * Shape of the example's "ML model": a two-layer int8 perceptron. Shared by the host program that
 * makes the weights (gen_model.c), the assembly file that embeds them (model.S) and the code that
 * runs them (infer.c), so that the three cannot disagree. Only #defines: model.S includes it too.
 */
#ifndef XIP_APP_MODEL_H
#define XIP_APP_MODEL_H

#define MODEL_IN     256  /* input features (one window of sensor samples) */
#define MODEL_HIDDEN 1024 /* hidden units */
#define MODEL_OUT    4    /* classes */
#define MODEL_SHIFT  7    /* hidden activations are rescaled by 2^-7 before layer 2 */

/* 256 KiB + 4 KiB: far more than the app's code, and the reason it lives in QSPI */
#define MODEL_W1_SIZE (MODEL_IN * MODEL_HIDDEN)
#define MODEL_W2_SIZE (MODEL_HIDDEN * MODEL_OUT)
#define MODEL_SIZE    (MODEL_W1_SIZE + MODEL_W2_SIZE)

/* Fixed seed: the weights, hence both payloads, are the same on every build host. */
#define MODEL_SEED 0x6d6f646cu

#endif
