// A signal handler that clobbers ymm0 must not change the interrupted code's ymm0 (full XSAVE frames).
#include <immintrin.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static void handler(int s) {
    volatile __m256 junk = _mm256_set1_ps(-1.0f); (void)junk;
    __asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0\n vpcmpeqd %%ymm1, %%ymm1, %%ymm1" ::: "xmm0", "xmm1");
}
int main(void) {
    signal(SIGUSR1, handler);
    float out[8];
    __m256 v = _mm256_set_ps(8, 7, 6, 5, 4, 3, 2, 1);
    __asm__ volatile("vmovaps %1, %%ymm0\n"
                     "mov $62, %%eax\n mov %2, %%edi\n mov $10, %%esi\n syscall\n"   /* kill(getpid(), SIGUSR1) */
                     "vmovups %%ymm0, %0\n" : "=m"(out) : "x"(v), "r"(getpid()) : "rax", "rdi", "rsi", "rcx", "r11", "xmm0", "memory");
    printf("ymm0 after the handler: %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n", out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7]);
    return 0;
}
