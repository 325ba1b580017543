// Joey's vDSO: the code guests call for clock_gettime, gettimeofday, time, getcpu and clock_getres
// without a system call. It is compiled here into a section of its own (joey_vdso_text)
// and never runs in the sentry: the sentry copies the section's bytes into the one-page
// ELF image it builds (Task/VDSO.swift) and maps that into every guest, right after the
// data page ([vvar]) the sentry's timekeeper keeps current.
//
// The copy works because the code refers to nothing outside itself: no globals, no jump
// tables, and calls only to code in the same section (vdso_read, shared by the entries so
// the image fits its page), which the copy keeps at the same distance. It finds the data
// page from its own address: the image is one page, and the data page is the page before it.
//
// The sentry's own clock_gettime reads the same page through the same function, so a time
// a guest got from the vDSO and one it got from the system call never go backwards.
#include "CJoey.h"
#include <cpuid.h>
#include <time.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <errno.h>

#define VDSO_INLINE static inline __attribute__((always_inline))
#define VDSO_SHARED static __attribute__((section("joey_vdso_text"), noinline, no_instrument_function, \
                                           no_stack_protector))
#define VDSO_ENTRY __attribute__((section("joey_vdso_text"), used, noinline, no_instrument_function, \
                                  no_stack_protector, visibility("hidden")))

VDSO_INLINE uint64_t vdso_rdtsc(void) {
    uint32_t lo, hi;
    // lfence keeps the read from being done before earlier loads (Linux's rdtsc_ordered).
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
    return ((uint64_t)hi << 32) | lo;
}

/// Nanoseconds of `clock` from the data page, or -1 when the page cannot answer (not
/// calibrated yet, or a clock it does not keep): the caller makes the system call.
VDSO_SHARED int vdso_read(const volatile joey_vdso_data *d, int clock, uint64_t *ns) {
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME &&
        clock != CLOCK_REALTIME_COARSE && clock != CLOCK_MONOTONIC_COARSE) return -1;
    for (;;) {
        uint32_t seq = d->seq;
        __asm__ volatile("" ::: "memory");
        if (seq & 1) { __asm__ volatile("pause"); continue; }
        if (!d->ready) return -1;
        uint64_t delta = vdso_rdtsc() - d->tsc_base;
        // A TSC a little behind the base (another CPU) counts as no time passed.
        if ((int64_t)delta < 0) delta = 0;
        uint64_t hi, lo;
        __asm__("mulq %3" : "=a"(lo), "=d"(hi) : "a"(delta), "rm"(d->mult));
        uint64_t value = d->mono_base + ((hi << 32) | (lo >> 32));
        if (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE) {
            int64_t rate = d->real_rate;
            if (rate != 0) {
                uint64_t until = value < d->real_end ? value : d->real_end;
                uint64_t elapsed = until > d->real_anchor ? until - d->real_anchor : 0;
                value += (uint64_t)(int64_t)(((__int128)(int64_t)elapsed * rate) >> 32);
            }
            value += (uint64_t)d->realtime_offset;
        }
        else if (clock == CLOCK_BOOTTIME) value += (uint64_t)d->boottime_offset;
        __asm__ volatile("" ::: "memory");
        if (d->seq == seq) { *ns = value; return 0; }
    }
}

/// The data page: the page before the one this code runs in.
VDSO_INLINE const volatile joey_vdso_data *vdso_data(void) {
    uint64_t here;
    __asm__("lea 0(%%rip), %0" : "=r"(here));
    return (const volatile joey_vdso_data *)((here & ~(uint64_t)4095) - 4096);
}

VDSO_INLINE long vdso_syscall2(long nr, long a, long b) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return ret;
}

VDSO_ENTRY int joey_vdso_clock_gettime(int clock, struct timespec *ts) {
    uint64_t ns;
    if (vdso_read(vdso_data(), clock, &ns) != 0) return (int)vdso_syscall2(SYS_clock_gettime, clock, (long)ts);
    ts->tv_sec = (time_t)(ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
    return 0;
}

VDSO_ENTRY int joey_vdso_clock_getres(int clock, struct timespec *res) {
    // The precise clocks count in nanoseconds, as the system call says; the rest ask it.
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_MONOTONIC_RAW &&
        clock != CLOCK_BOOTTIME && clock != CLOCK_TAI) return (int)vdso_syscall2(SYS_clock_getres, clock, (long)res);
    if (res) { res->tv_sec = 0; res->tv_nsec = 1; }
    return 0;
}

VDSO_ENTRY int joey_vdso_gettimeofday(struct timeval *tv, void *tz) {
    uint64_t ns;
    if (vdso_read(vdso_data(), CLOCK_REALTIME, &ns) != 0) return (int)vdso_syscall2(SYS_gettimeofday, (long)tv, (long)tz);
    if (tv) {
        tv->tv_sec = (time_t)(ns / 1000000000);
        tv->tv_usec = (suseconds_t)(ns % 1000000000 / 1000);
    }
    if (tz) {
        // Read apart from the clock's sequence: the zone changes only by settimeofday, and
        // a reader racing it gets the old zone or the new, as on Linux.
        ((int *)tz)[0] = vdso_data()->tz_minuteswest;
        ((int *)tz)[1] = vdso_data()->tz_dsttime;
    }
    return 0;
}

VDSO_ENTRY time_t joey_vdso_time(time_t *t) {
    uint64_t ns;
    if (vdso_read(vdso_data(), CLOCK_REALTIME, &ns) != 0) return (time_t)vdso_syscall2(SYS_time, (long)t, 0);
    time_t sec = (time_t)(ns / 1000000000);
    if (t) *t = sec;
    return sec;
}

VDSO_ENTRY long joey_vdso_getcpu(unsigned *cpu, unsigned *node, void *cache) {
    (void)cache;
    if (vdso_data()->getcpu_by_syscall) return vdso_syscall2(SYS_getcpu, (long)cpu, (long)node);
    // Linux keeps (node << 12) | cpu in the limit of GDT entry 15 for every process: the
    // stub's host CPU, as the getcpu system call reports the sentry's.
    unsigned p;
    __asm__("lsl %1, %0" : "=r"(p) : "r"(15 * 8 + 3));
    if (cpu) *cpu = p & 0xfff;
    if (node) *node = 0;
    return 0;
}

extern const uint8_t __start_joey_vdso_text[];
extern const uint8_t __stop_joey_vdso_text[];

const uint8_t *joey_vdso_code(uint64_t *length) {
    *length = (uint64_t)(__stop_joey_vdso_text - __start_joey_vdso_text);
    return __start_joey_vdso_text;
}

uint64_t joey_vdso_entry(int which) {
    const void *entries[] = {
        (const void *)joey_vdso_clock_gettime, (const void *)joey_vdso_gettimeofday,
        (const void *)joey_vdso_time, (const void *)joey_vdso_getcpu, (const void *)joey_vdso_clock_getres,
    };
    if (which < 0 || which >= (int)(sizeof entries / sizeof entries[0])) return UINT64_MAX;
    return (uint64_t)((const uint8_t *)entries[which] - __start_joey_vdso_text);
}

int joey_vdso_clock(const joey_vdso_data *d, int clock, uint64_t *ns) { return vdso_read(d, clock, ns); }

void joey_vdso_publish(joey_vdso_data *d, const joey_vdso_data *params) {
    uint32_t seq = d->seq;
    __atomic_store_n(&d->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    d->tsc_base = params->tsc_base;
    d->mult = params->mult;
    d->mono_base = params->mono_base;
    d->realtime_offset = params->realtime_offset;
    d->boottime_offset = params->boottime_offset;
    d->tz_minuteswest = params->tz_minuteswest;
    d->tz_dsttime = params->tz_dsttime;
    d->real_anchor = params->real_anchor;
    d->real_end = params->real_end;
    d->real_rate = params->real_rate;
    d->ready = params->ready;
    __atomic_store_n(&d->seq, seq + 2, __ATOMIC_RELEASE);
}

uint64_t joey_rdtsc(void) { return vdso_rdtsc(); }

int joey_adjtimex_read(joey_ntp_state *out) {
    struct timex tx = {0};
    int state = adjtimex(&tx);
    if (state < 0) return -errno;
    out->freq = tx.freq; out->maxerror = tx.maxerror; out->esterror = tx.esterror;
    out->constant = tx.constant; out->tick = tx.tick; out->status = tx.status; out->tai = tx.tai;
    return state;
}

int joey_cpu_has_invariant_tsc(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000007, &a, &b, &c, &d)) return 0;
    return (d >> 8) & 1;
}
