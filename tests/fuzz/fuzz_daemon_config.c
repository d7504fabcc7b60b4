/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: dfu-mgrd's configuration parser (src/daemon/config.c). Whatever the file
 * holds, a load either succeeds with values in their ranges or fails with a message naming the
 * file and leaves the configuration exactly as it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char path[64], err[512] = "";
	int fd = memfd_create("dfu-mgrd.conf", MFD_CLOEXEC), rc;

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (config_defaults(&c) < 0)
		abort();
	c.max_attempts = 77;
	rc = config_load(&c, path, false, err, sizeof(err));
	if (rc < 0) {
		if (strncmp(err, path, strlen(path)) != 0 || c.max_attempts != 77 || c.n_maps ||
		    strcmp(c.paths[PATH_STATE], "/var/lib/dfu-mgr") != 0)
			abort();
	} else {
		if (rc != 0 || c.max_parallel < 1 || c.max_parallel > 64 || c.max_attempts < 1 ||
		    c.retry_max_s < c.retry_initial_s || c.n_maps > CONFIG_PRODUCT_MAPS)
			abort();
		for (size_t i = 0; i < CONFIG_PATHS; i++)
			if (!c.paths[i] || (c.paths[i][0] && c.paths[i][0] != '/'))
				abort();
		for (size_t i = 0; i < c.n_maps; i++)
			if (!c.maps[i].product[0] || strchr(c.maps[i].product, '/'))
				abort();
	}
	config_done(&c);
	close(fd);
	return 0;
}
