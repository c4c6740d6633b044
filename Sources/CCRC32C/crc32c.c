// CRC-32C (Castagnoli). Kafka record batches v2 carry it over everything from `attributes` to the end.
// The hardware path uses SSE4.2's crc32 instruction on x86-64 and the ARMv8 CRC extension on arm64,
// chosen once at run time; everything else uses slicing-by-8 tables built on first use.

#include "CCRC32C.h"

#include <string.h>

#define CRC32C_POLYNOMIAL_REFLECTED 0x82F63B78u

static uint32_t slicing_table[8][256];
static int slicing_table_ready = 0;

static void build_slicing_table(void) {
    for (uint32_t byte = 0; byte < 256; byte++) {
        uint32_t crc = byte;
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 1u) ? (crc >> 1) ^ CRC32C_POLYNOMIAL_REFLECTED : (crc >> 1);
        }
        slicing_table[0][byte] = crc;
    }
    for (uint32_t byte = 0; byte < 256; byte++) {
        uint32_t crc = slicing_table[0][byte];
        for (int slice = 1; slice < 8; slice++) {
            crc = slicing_table[0][crc & 0xFFu] ^ (crc >> 8);
            slicing_table[slice][byte] = crc;
        }
    }
    __atomic_store_n(&slicing_table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t tributary_crc32c_portable(uint32_t crc, const void *data, size_t length) {
    if (!__atomic_load_n(&slicing_table_ready, __ATOMIC_ACQUIRE)) {
        // Building twice from two threads writes identical values; the release store publishes them.
        build_slicing_table();
    }
    const uint8_t *bytes = (const uint8_t *)data;
    crc = ~crc;
    while (length >= 8) {
        uint32_t low, high;
        memcpy(&low, bytes, 4);
        memcpy(&high, bytes + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        low = __builtin_bswap32(low);
        high = __builtin_bswap32(high);
#endif
        low ^= crc;
        crc = slicing_table[7][low & 0xFFu] ^ slicing_table[6][(low >> 8) & 0xFFu] ^
              slicing_table[5][(low >> 16) & 0xFFu] ^ slicing_table[4][low >> 24] ^
              slicing_table[3][high & 0xFFu] ^ slicing_table[2][(high >> 8) & 0xFFu] ^
              slicing_table[1][(high >> 16) & 0xFFu] ^ slicing_table[0][high >> 24];
        bytes += 8;
        length -= 8;
    }
    while (length > 0) {
        crc = slicing_table[0][(crc ^ *bytes) & 0xFFu] ^ (crc >> 8);
        bytes++;
        length--;
    }
    return ~crc;
}

#if defined(__x86_64__)
#include <cpuid.h>

__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    const uint8_t *bytes = (const uint8_t *)data;
    uint64_t running = ~crc;
    while (length > 0 && ((uintptr_t)bytes & 7u) != 0) {
        running = __builtin_ia32_crc32qi((uint32_t)running, *bytes);
        bytes++;
        length--;
    }
    // One 8-byte step per instruction: about 8 GB/s at 3 GHz, far above what a disk or a socket delivers.
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        running = __builtin_ia32_crc32di(running, word);
        bytes += 8;
        length -= 8;
    }
    while (length > 0) {
        running = __builtin_ia32_crc32qi((uint32_t)running, *bytes);
        bytes++;
        length--;
    }
    return ~(uint32_t)running;
}

static int detect_hardware(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        return 0;
    }
    return (ecx & bit_SSE4_2) != 0;
}
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif

__attribute__((target("crc")))
static uint32_t crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    const uint8_t *bytes = (const uint8_t *)data;
    uint32_t running = ~crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        running = __builtin_arm_crc32cd(running, word);
        bytes += 8;
        length -= 8;
    }
    while (length > 0) {
        running = __builtin_arm_crc32cb(running, *bytes);
        bytes++;
        length--;
    }
    return ~running;
}

static int detect_hardware(void) {
    return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
}
#else
static uint32_t crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    return tributary_crc32c_portable(crc, data, length);
}

static int detect_hardware(void) {
    return 0;
}
#endif

// -1 unknown, 0 portable, 1 hardware. Racing first callers compute the same answer.
static int hardware_state = -1;

int tributary_crc32c_is_hardware_accelerated(void) {
    int state = __atomic_load_n(&hardware_state, __ATOMIC_RELAXED);
    if (state < 0) {
        state = detect_hardware();
        __atomic_store_n(&hardware_state, state, __ATOMIC_RELAXED);
    }
    return state;
}

uint32_t tributary_crc32c(uint32_t crc, const void *data, size_t length) {
    if (tributary_crc32c_is_hardware_accelerated()) {
        return crc32c_hardware(crc, data, length);
    }
    return tributary_crc32c_portable(crc, data, length);
}
