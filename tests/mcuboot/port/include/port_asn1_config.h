/* SPDX-License-Identifier: MIT */
/* MCUboot's copy of mbedTLS's ASN.1 parser, alone (MBEDTLS_CONFIG_FILE of the host port). */
#ifndef PORT_ASN1_CONFIG_H
#define PORT_ASN1_CONFIG_H
#define MBEDTLS_ASN1_PARSE_C
#endif
