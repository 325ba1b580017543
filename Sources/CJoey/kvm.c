// The KVM platform's host side: the KVM ioctls (structures only; the logic is in
// JoeyPlatform/KVM) and the supervisor image, the few instructions the guest's ring 0 runs.
//
// The image (JOEY_KVM_* offsets, CJoey.h) is copied into the supervisor area at start-up:
//   page 0 (user, read+execute): the syscall trampoline, where MSR_LSTAR points. On this
//     hypervisor (kvm_pvm) a user `syscall` jumps there without leaving ring 3, so the
//     trampoline is a ud2: its #UD enters ring 0 through the IDT like every other exception.
//   page 1 (supervisor): one 16-byte entry per exception vector. Each saves rax and cr2 on
//     the ring-0 stack (the TSS's rsp0, per vCPU) and exits to the sentry with an `out` to
//     port = vector; the sentry reads the CPU's frame from that stack.
//     Then `iretq` (the way back to ring 3: the sentry writes the frame and points rip
//     there), a variant that first reloads cr3 (a TLB flush after page-table edits), and a
//     loop that writes page-table entries again from the guest (see KVMAddressSpace).
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "CJoey.h"

#define VECTOR(n) ".balign 16\n push %rax\n mov %cr2, %rax\n push %rax\n outb %al, $" #n "\n ud2\n"
__asm__(
    ".pushsection .rodata.joey_kvm_image, \"a\"\n"
    ".balign 4096\n"
    ".globl joey_kvm_image_start\n"
    "joey_kvm_image_start:\n"
    " ud2\n"
    ".balign 4096\n"
    "joey_kvm_vectors:\n"
    VECTOR(0) VECTOR(1) VECTOR(2) VECTOR(3) VECTOR(4) VECTOR(5) VECTOR(6) VECTOR(7)
    VECTOR(8) VECTOR(9) VECTOR(10) VECTOR(11) VECTOR(12) VECTOR(13) VECTOR(14) VECTOR(15)
    VECTOR(16) VECTOR(17) VECTOR(18) VECTOR(19) VECTOR(20) VECTOR(21) VECTOR(22) VECTOR(23)
    VECTOR(24) VECTOR(25) VECTOR(26) VECTOR(27) VECTOR(28) VECTOR(29) VECTOR(30) VECTOR(31)
    ".balign 16\n"
    "joey_kvm_iret:\n"
    " iretq\n"
    ".balign 16\n"
    "joey_kvm_flush:\n"
    " push %rax\n mov %cr3, %rax\n mov %rax, %cr3\n pop %rax\n iretq\n"
    // Page-table entries the host changed, written again by the guest (rsi: their addresses,
    // rcx: how many), so the hypervisor's shadow of them follows; then back to the host
    // (port 32), which enters the guest through the cr3 reload.
    ".balign 64\n"
    "joey_kvm_apply:\n"
    "1: test %rcx, %rcx\n jz 2f\n mov (%rsi), %rax\n mov (%rax), %rdx\n mov %rdx, (%rax)\n"
    " add $8, %rsi\n dec %rcx\n jmp 1b\n"
    "2: outb %al, $32\n ud2\n"
    ".balign 4096\n"
    ".globl joey_kvm_image_end\n"
    "joey_kvm_image_end:\n"
    ".popsection\n");
extern const char joey_kvm_image_start[], joey_kvm_image_end[];

const void *joey_kvm_image(uint64_t *size) {
    *size = (uint64_t)(joey_kvm_image_end - joey_kvm_image_start);
    return joey_kvm_image_start;
}

static int64_t result(int r) { return r < 0 ? -errno : r; }

int64_t joey_kvm_open(void) { return result(open("/dev/kvm", O_RDWR | O_CLOEXEC)); }
int64_t joey_kvm_api_version(int kvm) { return result(ioctl(kvm, KVM_GET_API_VERSION, 0)); }
int64_t joey_kvm_create_vm(int kvm) { return result(ioctl(kvm, KVM_CREATE_VM, 0)); }
int64_t joey_kvm_vcpu_mmap_size(int kvm) { return result(ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)); }

int64_t joey_kvm_set_memory(int vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva) {
    struct kvm_userspace_memory_region r = {
        .slot = slot, .guest_phys_addr = gpa, .memory_size = size, .userspace_addr = (uint64_t)hva};
    return result(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r));
}

int64_t joey_kvm_create_vcpu(int vm, uint32_t id) { return result(ioctl(vm, KVM_CREATE_VCPU, id)); }

int64_t joey_kvm_set_supported_cpuid(int kvm, int vcpu) {
    static struct { struct kvm_cpuid2 h; struct kvm_cpuid_entry2 e[256]; } c;
    static int have;
    if (!have) {
        c.h.nent = 256;
        if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &c) < 0) return -errno;
        have = 1;
    }
    return result(ioctl(vcpu, KVM_SET_CPUID2, &c));
}

// 64-bit ring 0 with paging on `cr3`, the GDT and TSS of this vCPU, the shared IDT.
int64_t joey_kvm_set_supervisor_state(int vcpu, uint64_t cr3, uint64_t gdt, uint64_t idt, uint64_t tss) {
    struct kvm_sregs s;
    if (ioctl(vcpu, KVM_GET_SREGS, &s) < 0) return -errno;
    struct kvm_segment code = {.limit = 0xffffffff, .selector = JOEY_KVM_KERNEL_CS, .type = 11, .present = 1,
                               .s = 1, .l = 1, .g = 1};
    struct kvm_segment data = {.limit = 0xffffffff, .selector = JOEY_KVM_KERNEL_DS, .type = 3, .present = 1,
                               .s = 1, .db = 1, .g = 1};
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.tr = (struct kvm_segment){.base = tss, .limit = 0x67, .selector = JOEY_KVM_TSS, .type = 11, .present = 1};
    s.ldt = (struct kvm_segment){.unusable = 1};
    s.gdt.base = gdt;
    s.gdt.limit = JOEY_KVM_GDT_SIZE - 1;
    s.idt.base = idt;
    s.idt.limit = 32 * 16 - 1;
    s.cr0 = 0x80050033;                     // PG AM WP NE ET MP PE
    s.cr3 = cr3;
    s.cr4 = 0x20 | 0x200 | 0x400;           // PAE OSFXSR OSXMMEXCPT
    s.efer = 0x1 | 0x100 | 0x400 | 0x800;   // SCE LME LMA NXE
    return result(ioctl(vcpu, KVM_SET_SREGS, &s));
}

int64_t joey_kvm_set_msr(int vcpu, uint32_t index, uint64_t value) {
    struct { struct kvm_msrs h; struct kvm_msr_entry e[1]; } m = {.h = {.nmsrs = 1}};
    m.e[0].index = index;
    m.e[0].data = value;
    int n = ioctl(vcpu, KVM_SET_MSRS, &m);
    return n == 1 ? 0 : n < 0 ? -errno : -EINVAL;
}


int64_t joey_kvm_run(int vcpu) { return result(ioctl(vcpu, KVM_RUN, 0)); }

// The x87/SSE state in fxsave's 512-byte layout (what signal frames carry).
int64_t joey_kvm_get_fxsave(int vcpu, void *buf512) {
    struct kvm_fpu f;
    if (ioctl(vcpu, KVM_GET_FPU, &f) < 0) return -errno;
    uint8_t *b = buf512;
    memset(b, 0, 512);
    memcpy(b + 0, &f.fcw, 2);
    memcpy(b + 2, &f.fsw, 2);
    b[4] = f.ftwx;
    memcpy(b + 6, &f.last_opcode, 2);
    memcpy(b + 8, &f.last_ip, 8);
    memcpy(b + 16, &f.last_dp, 8);
    memcpy(b + 24, &f.mxcsr, 4);
    uint32_t mask = 0xffbf;
    memcpy(b + 28, &mask, 4);
    for (int i = 0; i < 8; i++) memcpy(b + 32 + 16 * i, f.fpr[i], 16);
    for (int i = 0; i < 16; i++) memcpy(b + 160 + 16 * i, f.xmm[i], 16);
    return 0;
}

int64_t joey_kvm_set_fxsave(int vcpu, const void *buf512) {
    struct kvm_fpu f;
    memset(&f, 0, sizeof f);
    const uint8_t *b = buf512;
    memcpy(&f.fcw, b + 0, 2);
    memcpy(&f.fsw, b + 2, 2);
    f.ftwx = b[4];
    memcpy(&f.last_opcode, b + 6, 2);
    memcpy(&f.last_ip, b + 8, 8);
    memcpy(&f.last_dp, b + 16, 8);
    memcpy(&f.mxcsr, b + 24, 4);
    for (int i = 0; i < 8; i++) memcpy(f.fpr[i], b + 32 + 16 * i, 16);
    for (int i = 0; i < 16; i++) memcpy(f.xmm[i], b + 160 + 16 * i, 16);
    return result(ioctl(vcpu, KVM_SET_FPU, &f));
}

// kvm_run fields (the shared page of a vCPU).
void joey_kvm_sync_regs(void *run) { ((struct kvm_run *)run)->kvm_valid_regs = KVM_SYNC_X86_REGS; }
struct kvm_regs *joey_kvm_run_regs(void *run) { return &((struct kvm_run *)run)->s.regs.regs; }
void joey_kvm_mark_regs_dirty(void *run) { ((struct kvm_run *)run)->kvm_dirty_regs = KVM_SYNC_X86_REGS; }
uint32_t joey_kvm_exit_reason(void *run) { return ((struct kvm_run *)run)->exit_reason; }
/// The port of a KVM_EXIT_IO exit, or -1 for any other exit.
int32_t joey_kvm_exit_port(void *run) {
    struct kvm_run *r = run;
    return r->exit_reason == KVM_EXIT_IO ? r->io.port : -1;
}
void joey_kvm_set_immediate_exit(void *run, uint8_t on) {
    __atomic_store_n(&((struct kvm_run *)run)->immediate_exit, on, __ATOMIC_SEQ_CST);
}

static void kick(int sig) { (void)sig; }

// A handler that does nothing, so that the signal only makes a vCPU's KVM_RUN return
// (EINTR); without SA_RESTART.
int64_t joey_kvm_install_kick_handler(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = kick;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL) == 0 ? 0 : -errno;
}

// Back to ring 0 after the vCPU stopped in guest code (a signal made KVM_RUN return there):
// the selectors of the supervisor, everything else (cr3, the fs and gs bases) kept.
int64_t joey_kvm_enter_supervisor(int vcpu) {
    struct kvm_sregs s;
    if (ioctl(vcpu, KVM_GET_SREGS, &s) < 0) return -errno;
    s.cs = (struct kvm_segment){.limit = 0xffffffff, .selector = JOEY_KVM_KERNEL_CS, .type = 11, .present = 1,
                                .s = 1, .l = 1, .g = 1};
    s.ss = (struct kvm_segment){.limit = 0xffffffff, .selector = JOEY_KVM_KERNEL_DS, .type = 3, .present = 1,
                                .s = 1, .db = 1, .g = 1};
    return ioctl(vcpu, KVM_SET_SREGS, &s) < 0 ? -errno : 0;
}

// The vCPU's XSAVE area (standard format), its first `size` bytes.
int64_t joey_kvm_get_xsave(int vcpu, void *buf, uint64_t size) {
    struct kvm_xsave x;
    if (ioctl(vcpu, KVM_GET_XSAVE, &x) < 0) return -errno;
    if (size > sizeof x.region) size = sizeof x.region;
    memcpy(buf, x.region, size);
    return (int64_t)size;
}

int64_t joey_kvm_set_xsave(int vcpu, const void *buf, uint64_t size) {
    struct kvm_xsave x;
    if (ioctl(vcpu, KVM_GET_XSAVE, &x) < 0) return -errno;
    if (size > sizeof x.region) size = sizeof x.region;
    memcpy(x.region, buf, size);
    return ioctl(vcpu, KVM_SET_XSAVE, &x) < 0 ? -errno : 0;
}

/// The size of the XSAVE area for the features the host enabled (CPUID 0xD.0 EBX).
uint64_t joey_xsave_size(void) {
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0xd), "c"(0));
    return b;
}
