/* SPDX-License-Identifier: MIT */
/*
 * xip-app: the part of the example that runs from internal flash (MCUboot image 0): vector
 * table, start-up, and a main loop that feeds sensor windows to the model in QSPI (image 1).
 */
#include <stdint.h>

#include "model.h"

int model_infer(const int8_t input[MODEL_IN], int32_t scores[MODEL_OUT]);
void reset_handler(void);
void board_qspi_xip_enable(void);
int main(void);

/* xip-app.ld */
extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];

static void halt(void)
{
	for (;;)
		;
}

/* ARMv8-M exception table: MCUboot jumps to the initial SP and reset vector at slot + 0x200. */
__attribute__((section(".vector_table"), used)) static const uintptr_t vector_table[16] = {
    [0] = (uintptr_t)_estack,       /* initial main stack pointer */
    [1] = (uintptr_t)reset_handler, /* Reset */
    [2] = (uintptr_t)halt,          /* NMI */
    [3] = (uintptr_t)halt,          /* HardFault */
    [4] = (uintptr_t)halt,          /* MemManage */
    [5] = (uintptr_t)halt,          /* BusFault */
    [6] = (uintptr_t)halt,          /* UsageFault */
    [7] = (uintptr_t)halt,          /* SecureFault */
    [11] = (uintptr_t)halt,         /* SVCall */
    [14] = (uintptr_t)halt,         /* PendSV */
    [15] = (uintptr_t)halt,         /* SysTick */
};

/* .data: runs in RAM (VMA 0x20000000), its initial value is stored in flash after .rodata */
static uint32_t sensor_state = 0x2545f491u;

/* .rodata: stays in internal flash with the code that uses it */
static const char *const class_names[MODEL_OUT] = {"idle", "walk", "run", "fall"};

/* .bss: NOLOAD, in neither payload */
volatile int32_t last_class;
const char *volatile last_label;
volatile uint32_t inference_count;

/*
 * Code and weights in .extflash_* are only reachable once the QSPI peripheral is set up for XIP
 * (pins, interface config, ACTIVATE). In a Zephyr build the nordic,qspi-nor driver does that
 * before main(); this bare-metal example is about the image layout, so a board file provides it.
 */
__attribute__((weak)) void board_qspi_xip_enable(void)
{
}

void reset_handler(void)
{
	/* volatile: keeps GCC from turning these loops into memcpy/memset, which -nostdlib lacks */
	volatile uint32_t *dst = _sdata;
	const uint32_t *src = _sidata;

	while (dst < _edata)
		*dst++ = *src++;
	for (dst = _sbss; dst < _ebss;)
		*dst++ = 0;
	board_qspi_xip_enable();
	main();
	halt();
}

/* One window of fake sensor samples (xorshift32), standing in for an accelerometer FIFO. */
static void read_window(int8_t window[MODEL_IN])
{
	uint32_t x = sensor_state;

	for (int i = 0; i < MODEL_IN; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		window[i] = (int8_t)(x >> 24);
	}
	sensor_state = x;
}

int main(void)
{
	int8_t window[MODEL_IN];
	int32_t scores[MODEL_OUT];

	for (;;) {
		read_window(window);
		/* a long call: 256 MiB away, so the linker adds a veneer in internal flash */
		last_class = model_infer(window, scores);
		last_label = class_names[last_class & (MODEL_OUT - 1)];
		inference_count = inference_count + 1;
	}
}
