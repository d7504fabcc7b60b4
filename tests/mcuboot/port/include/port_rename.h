/* SPDX-License-Identifier: MIT */
/*
 * Included before every file of the host port's bootutil: MCUboot's ASN.1 parser is a copy of
 * mbedTLS's, and the test program also links the system's mbedTLS (libdfumgr, the emulator).
 * The copy's functions get names of their own so that neither binds to the other's.
 */
#ifndef PORT_RENAME_H
#define PORT_RENAME_H
#define mbedtls_asn1_get_len              mcuboot_port_asn1_get_len
#define mbedtls_asn1_get_tag              mcuboot_port_asn1_get_tag
#define mbedtls_asn1_get_bool             mcuboot_port_asn1_get_bool
#define mbedtls_asn1_get_int              mcuboot_port_asn1_get_int
#define mbedtls_asn1_get_enum             mcuboot_port_asn1_get_enum
#define mbedtls_asn1_get_mpi              mcuboot_port_asn1_get_mpi
#define mbedtls_asn1_get_bitstring        mcuboot_port_asn1_get_bitstring
#define mbedtls_asn1_traverse_sequence_of mcuboot_port_asn1_traverse_sequence_of
#define mbedtls_asn1_get_bitstring_null   mcuboot_port_asn1_get_bitstring_null
#define mbedtls_asn1_sequence_free        mcuboot_port_asn1_sequence_free
#define mbedtls_asn1_get_sequence_of      mcuboot_port_asn1_get_sequence_of
#define mbedtls_asn1_get_alg              mcuboot_port_asn1_get_alg
#define mbedtls_asn1_get_alg_null         mcuboot_port_asn1_get_alg_null
#define mbedtls_asn1_free_named_data      mcuboot_port_asn1_free_named_data
#define mbedtls_asn1_free_named_data_list mcuboot_port_asn1_free_named_data_list
#define mbedtls_asn1_find_named_data      mcuboot_port_asn1_find_named_data
#define mbedtls_platform_zeroize          mcuboot_port_platform_zeroize
#define mbedtls_platform_gmtime_r         mcuboot_port_platform_gmtime_r
#endif
