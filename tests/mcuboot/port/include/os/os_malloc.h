/* SPDX-License-Identifier: MIT */
#ifndef OS_MALLOC_H
#define OS_MALLOC_H
#include <stdlib.h>
#endif
