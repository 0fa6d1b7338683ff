/* models/base.h - common types, error codes and helpers for every layer.
 *
 * Errors are negative int codes and 0 means OK (libuv style).  Functions
 * that can fail on user input also fill a struct sim_err with a one-line
 * message of the form "FILE:LINE: FIELD: what is wrong" (the FILE/LINE part
 * is added by whoever knows it; models only know fields and values).
 * Nothing in models/ aborts on bad input: assert() guards our own bugs only.
 */
#ifndef TLBSIM_BASE_H
#define TLBSIM_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t  u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t  s64;
typedef u64 cycles_t;           /* simulated core cycles */

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
/* For the few hot-path helpers that -O2 would otherwise leave out of line. */
#define sim_always_inline inline __attribute__((always_inline))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CYCLES_NEVER UINT64_MAX

/* name, value, message */
#define SIM_ERRNO_MAP(XX)                                   \
    XX(OK,      0,  "success")                              \
    XX(EINVAL, -1,  "invalid argument")                     \
    XX(ENOMEM, -2,  "out of memory")                        \
    XX(EPARSE, -3,  "parse error")                          \
    XX(EIO,    -4,  "input/output error")                   \
    XX(ERANGE, -5,  "value out of range")                   \
    XX(ENOENT, -6,  "no such object")                       \
    XX(EEXIST, -7,  "object already exists")                \
    XX(ELIMIT, -8,  "configured limit exceeded")            \
    XX(EINTR,  -9,  "interrupted")                          \
    XX(EINTERNAL, -10, "internal error")

enum sim_errno {
#define XX(name, val, msg) SIM_##name = val,
    SIM_ERRNO_MAP(XX)
#undef XX
};

const char *sim_strerror(int err);      /* static string; never NULL */

#define SIM_ERR_MSG 512
struct sim_err {
    int  code;                          /* SIM_OK or a SIM_E* code */
    char msg[SIM_ERR_MSG];              /* one line, no trailing newline */
};

/* Record an error (printf format) and return its code, so callers can write
 * `return sim_err_set(err, SIM_EINVAL, "va: not canonical");`.  err may be
 * NULL, in which case only the code is returned. */
int sim_err_set(struct sim_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix an existing message ("file:line: " + old message). */
void sim_err_prefix(struct sim_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* x86-64 address helpers ------------------------------------------------- */
#define PAGE_SHIFT_4K 12
#define PAGE_SHIFT_2M 21
#define PAGE_SHIFT_1G 30

/* Canonical for 48-bit (4-level) or 57-bit (5-level) virtual addresses. */
static inline bool va_canonical(u64 va, unsigned va_bits)
{
    s64 s = (s64)(va << (64 - va_bits)) >> (64 - va_bits);
    return (u64)s == va;
}
static inline bool va_is_kernel(u64 va) { return (va >> 63) != 0; }

/* Deterministic PRNG (xoshiro256** would do; splitmix64 is enough here). */
static inline u64 sim_rand_next(u64 *state)
{
    u64 z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
