#ifndef TRIBUTARY_CCRC32C_H
#define TRIBUTARY_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Extends a CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) over `length` bytes.
/// `crc` is the running value as returned by a previous call, 0 for a fresh checksum; the
/// pre- and post-inversion are applied inside, so `tributary_crc32c(0, data, n)` is the CRC of data.
uint32_t tributary_crc32c(uint32_t crc, const void *data, size_t length);

/// The same computation in portable code (slicing-by-8), for tests and machines without the instruction.
uint32_t tributary_crc32c_portable(uint32_t crc, const void *data, size_t length);

/// 1 when `tributary_crc32c` uses the CPU's crc32 instruction.
int tributary_crc32c_is_hardware_accelerated(void);

#endif
