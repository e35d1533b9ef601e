/* A whole frame copied by libc's memcpy (vectorised, chosen for this CPU when libc loads), not
 * by what gcc inlines for a known 1158 bytes (`rep movsq`, slower on a destination that is not
 * 8-byte aligned: frames packed 1158 bytes apart mostly are not; ~10% a copy on the bench
 * machine, as bench/ceilings.c found for the relay ceiling, which copies the same way). The
 * call goes through a pointer the compiler cannot see through, so it stays a call. */
#ifndef SRP_FRAMECOPY_H
#define SRP_FRAMECOPY_H
#include <string.h>

#include "frame.h"

static void *(*volatile srp_memcpy)(void *, const void *, size_t) = memcpy;

static inline void srp_copy_frame(void *dst, const void *src) {
    srp_memcpy(dst, src, SRP_PACKET_BYTES);
}

#endif
