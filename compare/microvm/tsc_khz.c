// Prints the host's TSC rate in kHz, measured against CLOCK_MONOTONIC_RAW over 200 ms. A
// guest's TSC runs at the host's rate under TCG and KVM alike; the MicroVM's kernel is told
// it (tsc_early_khz) because its own calibration against the PIT fails, and its boot then
// hangs, when QEMU's thread is descheduled mid-measurement on a busy host.
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(void) {
    double t0 = now_ns();
    unsigned long long c0 = __rdtsc();
    struct timespec pause = {0, 200000000};
    nanosleep(&pause, NULL);
    double t1 = now_ns();
    unsigned long long c1 = __rdtsc();
    printf("%.0f\n", (double)(c1 - c0) / (t1 - t0) * 1e6);
    return 0;
}
