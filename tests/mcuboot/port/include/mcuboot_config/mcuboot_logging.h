/* SPDX-License-Identifier: MIT */
/* bootutil's log, to stderr when BOOTUTIL_LOG is set (1 errors ... 4 debug). */
#ifndef MCUBOOT_LOGGING_H
#define MCUBOOT_LOGGING_H

void port_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define MCUBOOT_LOG_ERR(...) port_log(1, __VA_ARGS__)
#define MCUBOOT_LOG_WRN(...) port_log(2, __VA_ARGS__)
#define MCUBOOT_LOG_INF(...) port_log(3, __VA_ARGS__)
#define MCUBOOT_LOG_DBG(...) port_log(4, __VA_ARGS__)
#define MCUBOOT_LOG_SIM(...) port_log(5, __VA_ARGS__)
#define MCUBOOT_LOG_MODULE_DECLARE(module)
#define MCUBOOT_LOG_MODULE_REGISTER(module)

#endif
