/* sim/io/crc32.h - CRC-32 of IEEE 802.3 (zlib's crc32, PNG's and the binary
 * trace form's checksum).  Thread-safe: the tables are built before main. */
#ifndef TLBSIM_CRC32_H
#define TLBSIM_CRC32_H

#include <stddef.h>

#include "../../models/base.h"

/* Running CRC: crc32_update(crc32_update(0, a), b) == crc32_update(0, a ++ b);
 * crc32_update(0, "123456789", 9) == 0xcbf43926. */
u32 crc32_update(u32 crc, const u8 *p, size_t n);

#endif
