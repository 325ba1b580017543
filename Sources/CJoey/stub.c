// The stub: the code a stub process runs. It is copied to a fixed page near the top of
// the sentry's address space so every forked stub has it at the same address, then the
// stub unmaps everything else. Only the sentry (through ptrace) ever makes it run code.
#define _GNU_SOURCE
#include "CJoey.h"
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>
#include <sys/random.h>
#include <sys/epoll.h>
#include <sys/auxv.h>
#include <sys/sysinfo.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/rseq.h>
#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <linux/futex.h>


// The code page: everything a stub process runs, position independent, with no stack (a
// guest thread's stack is the guest's), in five parts.
//
// The factory loop (joey_factory_loop): the stub factory waits for a request on its page,
// reads it into registers, clones a stub process with CLONE_PARENT (the sentry's child) and
// posts the pid. Registers: rbx stub, r12 factory page, ebp request, r14 MemoryFile fd,
// r15 pipe fd, r13 host-file socket fd, r9 the MemoryFile offset of the new stub's request
// and result pages.
//
// A new stub process's setup (.Lf_child): it moves its three descriptors to their fixed
// numbers, closes the rest, maps its request page read-only and its result page, unmaps the
// factory page, installs the systrap handler for the caught signals (signals stay blocked
// in this thread), and becomes the control thread.
//
// The control thread (.Lc_loop): it never runs guest code. Each time the request page's seq
// changes it runs the batch of system calls there, stores their results and writes one byte
// to its pipe, the only completion a guest thread cannot forge (its filter kills write). A clone's
// child, started with rsp at its thread area, becomes a guest thread (.Lt_start): it takes
// the area's signal stack, unblocks signals and installs its platform's filter, then
// reports ready with ud2 (systrap) or parks at joey_stub_park (ptrace).
//
// The systrap handler (joey_systrap_handler): every signal a systrap guest thread takes. It
// finds its control page below its signal stack (uc_stack.ss_sp, which the kernel fills from
// the thread's sigaltstack), records the frame, hands over to the sentry, and then returns to
// the guest with rt_sigreturn, runs the sentry's request (exit), or exits when told DEAD.
//
// The patched-syscall path (joey_patch_entry to .Lp_exit_end): a guest system call whose
// `mov $N, %eax; syscall` the sentry rewrote into a jump through its trap table arrives here
// without a signal. With gs at its thread area (the sentry keeps it there while the guest's
// own gs base is 0) it stores the registers in the area's register block, hands over the
// same way, and returns straight to the guest; it runs with signals unblocked, so the
// handler recognizes it by the interrupted rip.
_Static_assert(offsetof(joey_systrap_ctrl, state) == 0, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, stub_waiting) == 4, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, sentry_waiting) == 8, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, signo) == 12, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, frame) == 16, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, info) == 24, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, fs_base) == 32, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, gs_base) == 40, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, bases_dirty) == 48, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, has_fsgsbase) == 52, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, spin) == 56, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, sentry_blocking) == 60, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, req_nr) == 64, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, req_args) == 72, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, req_result) == 120, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, fast) == 128 && offsetof(joey_systrap_ctrl, fp_dirty) == 132 &&
               offsetof(joey_systrap_ctrl, xsave_mask) == 136 && offsetof(joey_systrap_ctrl, bounce) == 144 &&
               offsetof(joey_systrap_ctrl, yields) == 148,
               "ctrl layout");
_Static_assert(sizeof(joey_systrap_ctrl) <= JOEY_SYSTRAP_REGS, "ctrl below the register block");
_Static_assert(JOEY_SYSTRAP_REGS == 0x100 && JOEY_SYSTRAP_XSAVE_AREA == 0x1000 && JOEY_SYSTRAP_SIGSTACK == 0x4000 &&
               JOEY_STUB_BELOW == 0x20000000 && JOEY_STUB_AREA_SIZE == 0x10000, "offsets the code page spells out");
_Static_assert(offsetof(joey_factory_page, memfd) == 8 && offsetof(joey_factory_page, pipefd) == 12 &&
               offsetof(joey_factory_page, pages) == 16 && offsetof(joey_factory_page, result) == 24 &&
               offsetof(joey_factory_page, sockfd) == 36,
               "factory page layout");
_Static_assert(offsetof(joey_space_request, zero_mask) == 0x40 && offsetof(joey_space_request, action) == 0x48 &&
               offsetof(joey_space_request, prog_len) == 0x68 && offsetof(joey_space_request, filter) == 0x78 &&
               offsetof(joey_space_request, kind) == 4 && offsetof(joey_space_request, count) == 8 &&
               offsetof(joey_space_request, ops) == 0x278 && sizeof(joey_space_op) == 56 &&
               sizeof(joey_space_request) <= 4096 && JOEY_SPACE_RECV_MSG >= JOEY_SPACE_MAX_OPS * 8,
               "request page layout");

#define FAIL_IF_NEGATIVE(code) "  test %rax, %rax\n  js .Lf_fail" #code "\n"
#define SIGACTION(sig) \
    "  mov $13, %eax\n  mov $" #sig ", %edi\n  lea 0x1048(%rbx), %rsi\n  xor %edx, %edx\n" \
    "  mov $8, %r10d\n  syscall\n" FAIL_IF_NEGATIVE(120)

__asm__(
    ".text\n"
    ".globl joey_stub_code_start\n"
    ".globl joey_stub_code_end\n"
    ".globl joey_stub_syscall_site\n"
    ".globl joey_stub_park\n"
    ".globl joey_stub_parked\n"
    ".globl joey_stub_ready\n"
    ".globl joey_factory_loop\n"
    ".globl joey_systrap_handler\n"
    ".globl joey_patch_entry\n"
    ".globl joey_patch_stub_address\n"
    ".p2align 12\n"
    "joey_stub_code_start:\n"
    // The ptrace platform's injection site (a thread's own exit).
    "joey_stub_syscall_site:\n"
    "  syscall\n"
    "  int3\n"
    "  jmp joey_stub_syscall_site\n"

    // ---- the factory ----
    "joey_factory_loop:\n"
    "  lea joey_stub_code_start(%rip), %rbx\n"
    "  xor %edi, %edi\n"
    "  mov %rbx, %rsi\n"
    "  mov $11, %eax\n"
    "  syscall\n"
    "  lea 0x4000(%rbx), %rdi\n"
    "  movabs $0x7ffffffff000, %rsi\n"
    "  sub %rdi, %rsi\n"
    "  mov $11, %eax\n"
    "  syscall\n"
    "  lea 0x3000(%rbx), %r12\n"
    ".Lf_wait:\n"
    "  mov 0(%r12), %eax\n"
    "  cmp 4(%r12), %eax\n"
    "  jne .Lf_work\n"
    "  mov %eax, %edx\n"
    "  mov $202, %eax\n"
    "  mov %r12, %rdi\n"
    "  xor %esi, %esi\n"
    "  xor %r10d, %r10d\n"
    "  syscall\n"
    "  jmp .Lf_wait\n"
    ".Lf_work:\n"
    "  mov %eax, %ebp\n"
    "  movslq 8(%r12), %r14\n"
    "  movslq 12(%r12), %r15\n"
    "  movslq 36(%r12), %r13\n"
    "  mov 16(%r12), %r9\n"
    "  mov $56, %eax\n"
    "  mov $0x8000, %edi\n"
    "  xor %esi, %esi\n"
    "  xor %edx, %edx\n"
    "  xor %r10d, %r10d\n"
    "  xor %r8d, %r8d\n"
    "  syscall\n"
    "  test %rax, %rax\n"
    "  jz .Lf_child\n"
    "  mov %rax, 24(%r12)\n"
    "  mov %ebp, 4(%r12)\n"
    "  mov $202, %eax\n"
    "  lea 4(%r12), %rdi\n"
    "  mov $1, %esi\n"
    "  mov $1, %edx\n"
    "  syscall\n"
    "  jmp .Lf_wait\n"

    // ---- a new stub process ----
    ".Lf_child:\n"
    "  mov $157, %eax\n"
    "  mov $1, %edi\n"
    "  mov $9, %esi\n"
    "  syscall\n"
    "  cmp $3, %r14\n"
    "  je .Lf_pipe\n"
    "  mov $33, %eax\n"
    "  mov %r14, %rdi\n"
    "  mov $3, %esi\n"
    "  syscall\n"
    FAIL_IF_NEGATIVE(127)
    ".Lf_pipe:\n"
    "  mov $33, %eax\n"
    "  mov %r15, %rdi\n"
    "  mov $4, %esi\n"
    "  syscall\n"
    FAIL_IF_NEGATIVE(127)
    "  cmp $5, %r13\n"
    "  je .Lf_sock\n"
    "  mov $33, %eax\n"
    "  mov %r13, %rdi\n"
    "  mov $5, %esi\n"
    "  syscall\n"
    FAIL_IF_NEGATIVE(127)
    ".Lf_sock:\n"
    "  mov $436, %eax\n"
    "  xor %edi, %edi\n"
    "  mov $2, %esi\n"
    "  xor %edx, %edx\n"
    "  syscall\n"
    "  mov $436, %eax\n"
    "  mov $6, %edi\n"
    "  mov $0xffffffff, %esi\n"
    "  xor %edx, %edx\n"
    "  syscall\n"
    // The request page, read-only; the result page after it.
    "  mov $9, %eax\n"
    "  lea 0x1000(%rbx), %rdi\n"
    "  mov $0x1000, %esi\n"
    "  mov $1, %edx\n"
    "  mov $0x11, %r10d\n"
    "  mov $3, %r8d\n"
    "  syscall\n"
    "  lea 0x1000(%rbx), %rdi\n"
    "  cmp %rdi, %rax\n"
    "  jne .Lf_fail122\n"
    "  mov $9, %eax\n"
    "  lea 0x2000(%rbx), %rdi\n"
    "  mov $0x1000, %esi\n"
    "  mov $3, %edx\n"
    "  mov $0x11, %r10d\n"
    "  mov $3, %r8d\n"
    "  add $0x1000, %r9\n"
    "  syscall\n"
    "  lea 0x2000(%rbx), %rdi\n"
    "  cmp %rdi, %rax\n"
    "  jne .Lf_fail122\n"
    "  mov $11, %eax\n"
    "  lea 0x3000(%rbx), %rdi\n"
    "  mov $0x1000, %esi\n"
    "  syscall\n"
    SIGACTION(31) SIGACTION(11) SIGACTION(7) SIGACTION(8) SIGACTION(4) SIGACTION(5) SIGACTION(23)
    "  lea 0x1000(%rbx), %r12\n"
    "  xor %r13d, %r13d\n"

    // ---- the control thread ----
    // It sleeps until seq changes (no spinning: the sentry keeps it on the CPU of the
    // thread that wakes it, StubSpace.run).
    ".Lc_loop:\n"
    "  mov $202, %eax\n"
    "  mov %r12, %rdi\n"
    "  xor %esi, %esi\n"
    "  mov %r13d, %edx\n"
    "  xor %r10d, %r10d\n"
    "  syscall\n"
    "  mov 0(%r12), %eax\n"
    "  cmp %eax, %r13d\n"
    "  je .Lc_loop\n"
    ".Lc_do:\n"
    "  mov %eax, %r13d\n"
    "  mov 8(%r12), %r14d\n"
    "  cmp $60, %r14d\n"
    "  jbe 1f\n"
    "  mov $60, %r14d\n"
    "1:\n"
    "  xor %r15d, %r15d\n"
    "  lea 0x278(%r12), %rbp\n"
    ".Lc_op:\n"
    "  cmp %r14d, %r15d\n"
    "  jae .Lc_done\n"
    "  mov 0(%rbp), %rax\n"
    "  mov 8(%rbp), %rdi\n"
    "  mov 16(%rbp), %rsi\n"
    "  mov 24(%rbp), %rdx\n"
    "  mov 32(%rbp), %r10\n"
    "  mov 40(%rbp), %r8\n"
    "  mov 48(%rbp), %r9\n"
    "  syscall\n"
    "  test %rax, %rax\n"
    "  jnz .Lc_store\n"
    "  cmpq $56, 0(%rbp)\n"
    "  je .Lt_start\n"
    ".Lc_store:\n"
    "  mov %rax, 0x1000(%r12,%r15,8)\n"
    // A failed op ends its batch (what follows may depend on it).
    "  cmp $-4095, %rax\n"
    "  jae .Lc_done\n"
    "  inc %r15d\n"
    "  add $56, %rbp\n"
    "  jmp .Lc_op\n"
    ".Lc_done:\n"
    "  mov $1, %eax\n"
    "  mov $4, %edi\n"
    "  mov %r12, %rsi\n"
    "  mov $1, %edx\n"
    "  syscall\n"
    "  jmp .Lc_loop\n"

    // ---- a new guest thread: rsp is its area ----
    ".Lt_start:\n"
    "  lea 0x4000(%rsp), %rax\n"
    "  mov %rax, 0x800(%rsp)\n"
    "  movq $0, 0x808(%rsp)\n"
    "  movq $0xc000, 0x810(%rsp)\n"
    "  mov $131, %eax\n"
    "  lea 0x800(%rsp), %rdi\n"
    "  xor %esi, %esi\n"
    "  syscall\n"
    FAIL_IF_NEGATIVE(121)
    "  mov $14, %eax\n"
    "  mov $2, %edi\n"
    "  lea 0x40(%r12), %rsi\n"
    "  xor %edx, %edx\n"
    "  mov $8, %r10d\n"
    "  syscall\n"
    "  mov $317, %eax\n"
    "  mov $1, %edi\n"
    "  xor %esi, %esi\n"
    "  lea 0x68(%r12), %rdx\n"
    "  cmpl $2, 4(%r12)\n"
    "  je .Lt_ptrace\n"
    "  syscall\n"
    "  test %rax, %rax\n"
    "  jnz .Lf_fail123\n"
    // Ready: the SIGILL the sentry takes as the thread's start. A systrap thread whose guest
    // thread ended is sent back here (SystrapThread.retire) to start the next one.
    "joey_stub_ready:\n"
    "  ud2\n"
    // A ptrace thread parks after its filter call: the sentry stops it at or after
    // joey_stub_parked (rax holds the call's result there).
    ".Lt_ptrace:\n"
    "  syscall\n"
    "joey_stub_parked:\n"
    "  test %rax, %rax\n"
    "  jnz .Lf_fail123\n"
    "joey_stub_park:\n"
    "  pause\n"
    "  jmp joey_stub_park\n"
    ".Lf_fail120:\n  mov $120, %edi\n  jmp .Lf_exit\n"
    ".Lf_fail121:\n  mov $121, %edi\n  jmp .Lf_exit\n"
    ".Lf_fail122:\n  mov $122, %edi\n  jmp .Lf_exit\n"
    ".Lf_fail123:\n  mov $123, %edi\n  jmp .Lf_exit\n"
    ".Lf_fail127:\n  mov $127, %edi\n"
    ".Lf_exit:\n"
    "  mov $231, %eax\n"
    "  syscall\n"
    "  ud2\n"

    // ---- the systrap handler ----
    // r13/r14d keep siginfo and signo while the patched path's ranges are checked.
    "joey_systrap_handler:\n"
    "  mov 16(%rdx), %rbx\n"
    "  sub $0x4000, %rbx\n"
    // Killed (the sentry posts DEAD, then signals): exit, wherever the thread was, even in
    // a wait loop of the code page it jumped into with registers of its own.
    "  cmpl $4, 0(%rbx)\n"
    "  je .Ljs_exit\n"
    "  mov %rdx, %r12\n"
    "  mov %rsi, %r13\n"
    "  mov %edi, %r14d\n"
    "  mov 168(%rdx), %rax\n"
    "  lea joey_patch_entry(%rip), %rcx\n"
    "  cmp %rcx, %rax\n"
    "  jb .Ljs_record\n"
    "  lea .Ljs_post(%rip), %rcx\n"
    "  cmp %rcx, %rax\n"
    "  jb .Ljs_in_entry\n"
    "  lea .Lp_exit(%rip), %rcx\n"
    "  cmp %rcx, %rax\n"
    "  jb .Ljs_in_wait\n"
    "  lea .Lp_exit_end(%rip), %rcx\n"
    "  cmp %rcx, %rax\n"
    "  jae .Ljs_record\n"
    // In the patched path's exit (or answered, still in its wait), the guest's registers
    // are the sentry's answer in the register block: the signal is taken as if at the
    // guest's next instruction. At .Lp_bounce (a ud2) that answer is simply resumed
    // through this frame.
    ".Ljs_convert:\n"
    "  lea 0x128(%rbx), %rsi\n"
    "  lea 40(%rdx), %rdi\n"
    "  mov $18, %ecx\n"
    "  rep movsq\n"
    "  lea .Lp_bounce(%rip), %rcx\n"
    "  cmp %rcx, %rax\n"
    "  jne .Ljs_record\n"
    "  cmp $4, %r14d\n"
    "  jne .Ljs_record\n"
    "  jmp .Ljs_resume\n"
    // The patched path runs with signals unblocked. An interrupt (SIGURG) asks for what a
    // thread there is doing anyway: going to the sentry (the entry runs straight to its
    // post, unless its fallback jump loops on itself), or parked with it after posting
    // (its control page says a patched event is in hand: waiting, or running a request or
    // an XSAVE for the sentry, which must not be answered by an interrupt's post). Anything
    // else, such as a guest that jumped into the code page with registers of its own, is
    // an ordinary interrupt.
    ".Ljs_in_entry:\n"
    "  cmp $23, %r14d\n"
    "  jne .Ljs_record\n"
    "  lea .Lp_slow_jump(%rip), %rcx\n"
    "  cmp %rcx, %rax\n"
    "  je .Ljs_record\n"
    "  jmp .Ljs_ignore\n"
    ".Ljs_in_wait:\n"
    "  cmp $23, %r14d\n"
    "  jne .Ljs_record\n"
    "  cmpl $0, 128(%rbx)\n"
    "  je .Ljs_record\n"
    "  cmpl $2, 0(%rbx)\n"
    "  je .Ljs_convert\n"
    ".Ljs_ignore:\n"
    "  mov %r12, %rsp\n"
    "  mov $15, %eax\n"
    "  syscall\n"
    ".Ljs_record:\n"
    "  movl $0, 128(%rbx)\n"
    "  mov %r14d, 12(%rbx)\n"
    "  mov %r12, 16(%rbx)\n"
    "  mov %r13, 24(%rbx)\n"
    "  cmpl $0, 52(%rbx)\n"
    "  je .Ljs_post\n"
    // Bases the sentry set but the thread has not loaded yet are the guest's.
    "  cmpl $0, 48(%rbx)\n"
    "  jne .Ljs_post\n"
    "  rdfsbase %rax\n"
    "  mov %rax, 32(%rbx)\n"
    "  rdgsbase %rax\n"
    "  mov %rax, 40(%rbx)\n"
    "  jmp .Ljs_post\n"
    // The stub's address, for the patched path's check of gs. Data, kept out of the range
    // where an interrupt is ignored (joey_patch_entry to .Ljs_post): a guest that jumps into
    // its bytes (00 e0 fe ...: a loopne on itself) must stay interruptible.
    ".p2align 3\n"
    "joey_patch_stub_address:\n"
    "  .quad 0\n"

    // ---- a patched system call ----
    // A trap-table entry (Task/SyscallPatching.swift) jumps here with rcx at the entry: its
    // return address at +8, its system call number at +30, its trapping fallback at +29.
    // The guest's stack is never touched (a thread may make a call on a stack it has just
    // unmapped): the arithmetic flags are kept in ax (lahf, seto) until they are stored.
    // Nothing here trusts gs: unless it is one of this stub's thread areas (the guest may
    // have set its own), the entry's trapping fallback runs instead.
    "joey_patch_entry:\n"
    "  lahf\n"
    "  seto %al\n"
    "  rdgsbase %r11\n"
    "  sub joey_patch_stub_address(%rip), %r11\n"
    "  neg %r11\n"
    "  test $0xffff, %r11d\n"
    "  jnz .Lp_slow\n"
    "  test %r11, %r11\n"
    "  jz .Lp_slow\n"
    "  cmp $0x20000000, %r11\n"
    "  ja .Lp_slow\n"
    "  mov %r8, %gs:0x128\n"
    "  mov %r9, %gs:0x130\n"
    "  mov %r10, %gs:0x138\n"
    "  mov %r12, %gs:0x148\n"
    "  mov %r13, %gs:0x150\n"
    "  mov %r14, %gs:0x158\n"
    "  mov %r15, %gs:0x160\n"
    "  mov %rdi, %gs:0x168\n"
    "  mov %rsi, %gs:0x170\n"
    "  mov %rbp, %gs:0x178\n"
    "  mov %rbx, %gs:0x180\n"
    "  mov %rdx, %gs:0x188\n"
    "  mov %rsp, %gs:0x1a0\n"
    // eflags: IF, bit 1, OF from al, SF ZF AF PF CF from ah; r11 as syscall leaves it.
    "  movzbl %al, %r11d\n"
    "  shl $11, %r11d\n"
    "  movzbl %ah, %ebx\n"
    "  and $0xd5, %ebx\n"
    "  or %ebx, %r11d\n"
    "  or $0x202, %r11d\n"
    "  mov %r11, %gs:0x140\n"
    "  mov %r11, %gs:0x1b0\n"
    "  mov 30(%rcx), %eax\n"
    "  mov %rax, %gs:0x190\n"
    "  mov 8(%rcx), %rax\n"
    "  mov %rax, %gs:0x198\n"
    "  mov %rax, %gs:0x1a8\n"
    "  rdgsbase %rbx\n"
    "  movl $31, 12(%rbx)\n"
    "  lea 0x100(%rbx), %rax\n"
    "  mov %rax, 16(%rbx)\n"
    "  movl $1, 128(%rbx)\n"
    "  rdfsbase %rax\n"
    "  mov %rax, 32(%rbx)\n"
    "  mov %rbx, 40(%rbx)\n"
    "  jmp .Ljs_post\n"
    ".Lp_slow:\n"
    "  add $0x7f, %al\n"
    "  sahf\n"
    "  lea 29(%rcx), %rcx\n"
    ".Lp_slow_jump:\n"
    "  jmp *%rcx\n"

    // ---- handing over (the handler's and the patched path's) ----
    ".Ljs_post:\n"
    "  mov $1, %eax\n"
    "  xchg %eax, 0(%rbx)\n"
    "  cmpl $0, 8(%rbx)\n"
    "  je .Ljs_wait\n"
    "  mov $202, %eax\n"
    "  lea 0(%rbx), %rdi\n"
    "  mov $1, %esi\n"
    "  mov $1, %edx\n"
    "  syscall\n"
    ".Ljs_wait:\n"
    "  mov 56(%rbx), %ecx\n"
    "  mov 148(%rbx), %r15d\n"
    ".Ljs_spin:\n"
    "  mov 0(%rbx), %eax\n"
    "  cmp $1, %eax\n"
    "  jne .Ljs_got\n"
    "  cmpl $0, 60(%rbx)\n"
    "  jne .Ljs_sleep\n"
    "  test %ecx, %ecx\n"
    "  jz .Ljs_yield\n"
    "  pause\n"
    "  dec %ecx\n"
    "  jmp .Ljs_spin\n"
    // Then a few sched_yields before sleeping: when the sentry thread shares this CPU, a
    // yield runs it at once, and its answer needs no futex wake-up (this thread is not
    // marked sleeping).
    ".Ljs_yield:\n"
    "  test %r15d, %r15d\n"
    "  jz .Ljs_sleep\n"
    "  dec %r15d\n"
    "  mov $24, %eax\n"
    "  syscall\n"
    "  xor %ecx, %ecx\n"
    "  jmp .Ljs_spin\n"
    ".Ljs_sleep:\n"
    "  mov $1, %eax\n"
    "  xchg %eax, 4(%rbx)\n"
    "  cmpl $1, 0(%rbx)\n"
    "  jne .Ljs_woke\n"
    "  mov $202, %eax\n"
    "  lea 0(%rbx), %rdi\n"
    "  xor %esi, %esi\n"
    "  mov $1, %edx\n"
    "  xor %r10d, %r10d\n"
    "  syscall\n"
    ".Ljs_woke:\n"
    "  movl $0, 4(%rbx)\n"
    "  jmp .Ljs_wait\n"
    ".Ljs_got:\n"
    "  cmp $3, %eax\n"
    "  je .Ljs_request\n"
    "  cmp $5, %eax\n"
    "  je .Ljs_xsave\n"
    "  cmp $2, %eax\n"
    "  jne .Ljs_exit\n"
    "  cmpl $0, 128(%rbx)\n"
    "  jne .Lp_exit\n"
    ".Ljs_resume:\n"
    "  cmpl $0, 48(%rbx)\n"
    "  je .Ljs_return\n"
    "  movl $0, 48(%rbx)\n"
    "  cmpl $0, 52(%rbx)\n"
    "  je .Ljs_prctl\n"
    "  mov 32(%rbx), %rax\n"
    "  wrfsbase %rax\n"
    "  mov 40(%rbx), %rax\n"
    "  wrgsbase %rax\n"
    "  jmp .Ljs_return\n"
    ".Ljs_prctl:\n"
    "  mov $158, %eax\n"
    "  mov $0x1002, %edi\n"
    "  mov 32(%rbx), %rsi\n"
    "  syscall\n"
    "  mov $158, %eax\n"
    "  mov $0x1001, %edi\n"
    "  mov 40(%rbx), %rsi\n"
    "  syscall\n"
    ".Ljs_return:\n"
    "  movl $0, 0(%rbx)\n"
    "  mov %r12, %rsp\n"
    "  mov $15, %eax\n"
    "  syscall\n"
    // DEAD, or anything else: this thread is done.
    ".Ljs_exit:\n"
    "  mov $60, %eax\n"
    "  xor %edi, %edi\n"
    "  syscall\n"
    "  ud2\n"
    ".Ljs_request:\n"
    "  mov 64(%rbx), %rax\n"
    "  mov 72(%rbx), %rdi\n"
    "  mov 80(%rbx), %rsi\n"
    "  mov 88(%rbx), %rdx\n"
    "  mov 96(%rbx), %r10\n"
    "  mov 104(%rbx), %r8\n"
    "  mov 112(%rbx), %r9\n"
    "  syscall\n"
    "  mov %rax, 120(%rbx)\n"
    "  xor %r8d, %r8d\n"
    "  xor %r9d, %r9d\n"
    "  xor %r10d, %r10d\n"
    "  jmp .Ljs_post\n"
    // A patched-syscall event's FPU state is still the CPU's: saved on request.
    ".Ljs_xsave:\n"
    "  mov 136(%rbx), %eax\n"
    "  mov 140(%rbx), %edx\n"
    "  xsave64 0x1000(%rbx)\n"
    "  jmp .Ljs_post\n"

    // ---- the patched path's exit: the sentry's answer, without the stack ----
    ".Lp_exit:\n"
    "  movl $0, 128(%rbx)\n"
    "  cmpl $0, 48(%rbx)\n"
    "  je .Lp_fp\n"
    "  mov 32(%rbx), %rax\n"
    "  wrfsbase %rax\n"
    "  mov 40(%rbx), %rax\n"
    "  wrgsbase %rax\n"
    "  movl $0, 48(%rbx)\n"
    ".Lp_fp:\n"
    "  cmpl $0, 132(%rbx)\n"
    "  je .Lp_regs\n"
    "  mov 136(%rbx), %eax\n"
    "  mov 140(%rbx), %edx\n"
    "  xrstor64 0x1000(%rbx)\n"
    "  movl $0, 132(%rbx)\n"
    ".Lp_regs:\n"
    "  movl $0, 0(%rbx)\n"
    "  cmpl $0, 144(%rbx)\n"
    "  je .Lp_fast\n"
    "  movl $0, 144(%rbx)\n"
    ".Lp_bounce:\n"
    "  ud2\n"
    ".Lp_fast:\n"
    "  mov 0x128(%rbx), %r8\n"
    "  mov 0x130(%rbx), %r9\n"
    "  mov 0x138(%rbx), %r10\n"
    "  mov 0x140(%rbx), %r11\n"
    "  mov 0x148(%rbx), %r12\n"
    "  mov 0x150(%rbx), %r13\n"
    "  mov 0x158(%rbx), %r14\n"
    "  mov 0x160(%rbx), %r15\n"
    "  mov 0x168(%rbx), %rdi\n"
    "  mov 0x170(%rbx), %rsi\n"
    "  mov 0x178(%rbx), %rbp\n"
    "  mov 0x188(%rbx), %rdx\n"
    "  mov 0x198(%rbx), %rcx\n"
    "  mov 0x180(%rbx), %rbx\n"
    // OF (add), then SF ZF AF PF CF (sahf); then the last registers, flag-free.
    "  mov %gs:0x1b0, %rax\n"
    "  shr $11, %rax\n"
    "  and $1, %eax\n"
    "  add $0x7f, %al\n"
    "  mov %gs:0x1b0, %ah\n"
    "  sahf\n"
    "  mov %gs:0x190, %rax\n"
    "  mov %gs:0x1a0, %rsp\n"
    "  jmp *%gs:0x1a8\n"
    ".Lp_exit_end:\n"
    "joey_stub_code_end:\n"
);

extern char joey_stub_code_start[], joey_stub_code_end[], joey_stub_syscall_site[], joey_stub_park[],
    joey_stub_parked[], joey_stub_ready[], joey_factory_loop[], joey_systrap_handler[], joey_patch_entry[],
    joey_patch_stub_address[];

static uint64_t stub_page;

uint64_t joey_stub_install(void) {
    if (stub_page) return stub_page;
    // Highest free candidate; the guest's layout is derived from wherever it lands.
    static const uint64_t candidates[] = {
        0x7fffffffe000ULL - 0x1000ULL * 16, 0x7ffb00000000ULL, 0x7ff000000000ULL, 0x7f0000000000ULL,
    };
    for (unsigned i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        // The whole region is reserved so nothing of the sentry's lands there; only the code
        // page is accessible (stubs map their own pages over the rest).
        uint64_t base = candidates[i] - JOEY_STUB_BELOW;
        void *p = mmap((void *)base, JOEY_STUB_REGION_SIZE, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == MAP_FAILED) continue;
        if ((uint64_t)p != base) { munmap(p, JOEY_STUB_REGION_SIZE); continue; }
        void *code = (char *)p + JOEY_STUB_BELOW;
        size_t n = (size_t)(joey_stub_code_end - joey_stub_code_start);
        if (n > JOEY_STUB_SIZE || mprotect(code, JOEY_STUB_SIZE, PROT_READ | PROT_WRITE) != 0) {
            munmap(p, JOEY_STUB_REGION_SIZE);
            continue;
        }
        memcpy(code, joey_stub_code_start, n);
        // The patched-syscall entry checks gs against the stub's own address.
        uint64_t self = (uint64_t)code;
        memcpy((char *)code + (joey_patch_stub_address - joey_stub_code_start), &self, sizeof self);
        if (mprotect(code, JOEY_STUB_SIZE, PROT_READ | PROT_EXEC) != 0) { munmap(p, JOEY_STUB_REGION_SIZE); continue; }
        stub_page = (uint64_t)code;
        return stub_page;
    }
    return 0;
}

uint64_t joey_stub_syscall_offset(void) {
    return (uint64_t)(joey_stub_syscall_site - joey_stub_code_start);
}

uint64_t joey_stub_patch_entry_offset(void) {
    return (uint64_t)(joey_patch_entry - joey_stub_code_start);
}

uint64_t joey_stub_park_offset(void) {
    return (uint64_t)(joey_stub_park - joey_stub_code_start);
}

uint64_t joey_stub_parked_offset(void) {
    return (uint64_t)(joey_stub_parked - joey_stub_code_start);
}

uint64_t joey_stub_ready_offset(void) {
    return (uint64_t)(joey_stub_ready - joey_stub_code_start);
}

#define LD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define JGE(k, t, f) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (k), (t), (f))
#define JGT(k, t, f) BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (k), (t), (f))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)
#define ALLOW_NR(nr) JEQ((nr), 0, 1), RET(SECCOMP_RET_ALLOW)
// Whether the calling instruction lies in the code page: falls through when it does,
// returns `outside` when not (three words of the instruction pointer checked in turn).
#define FROM_CODE_PAGE(hi, lo, end, outside) \
    LD(offsetof(struct seccomp_data, instruction_pointer) + 4), JEQ((hi), 1, 0), RET(outside), \
    LD(offsetof(struct seccomp_data, instruction_pointer)), JGE((lo), 1, 0), RET(outside), \
    JGE((end), 0, 1), RET(outside)
// A filter's start: a call of another ABI or from outside the code page traps (SIGSYS);
// otherwise the system call number is loaded for what follows.
#define TRAP_UNLESS_FROM_CODE_PAGE(hi, lo, end) \
    LD(offsetof(struct seccomp_data, arch)), JEQ(AUDIT_ARCH_X86_64, 1, 0), RET(SECCOMP_RET_TRAP), \
    FROM_CODE_PAGE(hi, lo, end, SECCOMP_RET_TRAP), LD(offsetof(struct seccomp_data, nr))

// A ptrace guest thread's filter: system calls only from the code page (the factory's filter
// narrows them further). A guest call through the vsyscall page (which the kernel emulates
// with a seccomp check but no PTRACE_SYSEMU stop) traps instead: the sentry takes the SIGSYS
// as the guest's call. Defense in depth: PTRACE_SYSEMU stops every guest system call before
// seccomp runs.
static int ptrace_thread_filter(uint64_t stub, struct sock_filter *out, int room) {
    uint32_t hi = (uint32_t)(stub >> 32), lo = (uint32_t)stub, end = lo + (uint32_t)JOEY_STUB_SIZE;
    if (end < lo) return -1; // the page must not straddle a 4 GiB boundary
    struct sock_filter f[] = {
        LD(offsetof(struct seccomp_data, arch)),
        JEQ(AUDIT_ARCH_X86_64, 1, 0),
        RET(SECCOMP_RET_KILL_PROCESS),
        LD(offsetof(struct seccomp_data, instruction_pointer) + 4),
        JEQ(0xffffffffU, 0, 5),
        LD(offsetof(struct seccomp_data, instruction_pointer)),
        JGE(0xff600000U, 0, 2),
        JGE(0xff601000U, 1, 0),
        RET(SECCOMP_RET_TRAP), // the vsyscall page
        RET(SECCOMP_RET_KILL_PROCESS),
        FROM_CODE_PAGE(hi, lo, end, SECCOMP_RET_KILL_PROCESS),
        RET(SECCOMP_RET_ALLOW),
    };
    int n = (int)(sizeof f / sizeof f[0]);
    if (n > room) return -1;
    memcpy(out, f, sizeof f);
    return n;
}

// A systrap guest thread's filter: every system call from outside the code page traps
// (SIGSYS to the handler, which hands it to the sentry). From inside, a guest could jump to
// any `syscall` instruction with its own registers, so only what the handler itself makes is
// allowed: rt_sigreturn, futex wait/wake, sched_yield, arch_prctl(SET_FS/GS) and exit (of
// this thread).
// Everything else kills the stub: the control thread's calls (mmap, munmap, mprotect,
// clone, write to its pipe) are out of a guest thread's reach, whatever it stores where.
static int systrap_thread_filter(uint64_t stub, struct sock_filter *out, int room) {
    uint32_t hi = (uint32_t)(stub >> 32), lo = (uint32_t)stub, end = lo + (uint32_t)JOEY_STUB_SIZE;
    if (end < lo) return -1;
    struct sock_filter f[] = {
        TRAP_UNLESS_FROM_CODE_PAGE(hi, lo, end),
        ALLOW_NR(SYS_rt_sigreturn),
        ALLOW_NR(SYS_exit),
        ALLOW_NR(SYS_sched_yield),
        // futex: FUTEX_WAIT or FUTEX_WAKE only
        JEQ(SYS_futex, 0, 6),
        LD(ARG_HI(1)),
        JEQ(0, 0, 2),
        LD(ARG_LO(1)),
        JGT(1, 0, 1),
        RET(SECCOMP_RET_KILL_PROCESS),
        RET(SECCOMP_RET_ALLOW),
        // arch_prctl: ARCH_SET_GS or ARCH_SET_FS only
        JEQ(SYS_arch_prctl, 0, 7),
        LD(ARG_HI(0)),
        JEQ(0, 0, 3),
        LD(ARG_LO(0)),
        JEQ(0x1001, 2, 0),
        JEQ(0x1002, 1, 0),
        RET(SECCOMP_RET_KILL_PROCESS),
        RET(SECCOMP_RET_ALLOW),
        RET(SECCOMP_RET_KILL_PROCESS),
    };
    int n = (int)(sizeof f / sizeof f[0]);
    if (n > room) return -1;
    memcpy(out, f, sizeof f);
    return n;
}

// The factory's own filter, which every stub thread inherits under its own: from the code
// page only the calls the factory, a new stub's setup, the control thread and the handlers
// make (each guest thread's filter narrows this further); from anywhere else SIGSYS, which a
// guest thread's filter turns into the guest's trapped system call (systrap) or a kill
// (ptrace).
static int install_factory_filter(uint64_t stub) {
    uint32_t hi = (uint32_t)(stub >> 32), lo = (uint32_t)stub, end = lo + (uint32_t)JOEY_STUB_SIZE;
    if (end < lo) return -1;
    struct sock_filter f[] = {
        TRAP_UNLESS_FROM_CODE_PAGE(hi, lo, end),
        ALLOW_NR(SYS_futex), ALLOW_NR(SYS_clone), ALLOW_NR(SYS_mmap), ALLOW_NR(SYS_munmap),
        ALLOW_NR(SYS_mprotect), ALLOW_NR(SYS_prctl), ALLOW_NR(SYS_dup2), ALLOW_NR(SYS_close_range),
        ALLOW_NR(SYS_sigaltstack), ALLOW_NR(SYS_rt_sigaction), ALLOW_NR(SYS_rt_sigprocmask),
        ALLOW_NR(SYS_seccomp), ALLOW_NR(SYS_rt_sigreturn), ALLOW_NR(SYS_arch_prctl),
        ALLOW_NR(SYS_write), ALLOW_NR(SYS_exit), ALLOW_NR(SYS_exit_group), ALLOW_NR(SYS_sched_yield),
        ALLOW_NR(SYS_recvmsg),
        RET(SECCOMP_RET_KILL_PROCESS),
    };
    struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

void joey_stub_drop_capabilities(void) {
    // Version 3 headers take two data words (64 capabilities); all zero: none held.
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    syscall(SYS_capset, &hdr, data);
}

struct kernel_sigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

int joey_space_prepare(joey_space_request *page, uint32_t kind, uint64_t stub) {
    memset(page, 0, sizeof *page);
    page->kind = kind;
    // Every caught signal runs the handler on the thread's own stack with all signals blocked.
    uint64_t handler = stub + (uint64_t)(joey_systrap_handler - joey_stub_code_start);
    struct kernel_sigaction ka = {
        .handler = (void *)handler,
        .flags = SA_SIGINFO | SA_ONSTACK | SA_RESTORER,
        .restorer = (void *)handler,
        .mask = ~0ULL,
    };
    _Static_assert(sizeof ka == sizeof page->action, "kernel_sigaction");
    memcpy(page->action, &ka, sizeof ka);
    int room = (int)(sizeof page->filter / sizeof(struct sock_filter));
    struct sock_filter *f = (struct sock_filter *)page->filter;
    int n = kind == JOEY_STUB_KIND_PTRACE ? ptrace_thread_filter(stub, f, room) : systrap_thread_filter(stub, f, room);
    if (n < 0) return -EINVAL;
    page->prog_len = (uint16_t)n;
    page->prog_filter = stub + JOEY_STUB_REQUEST_OFFSET + offsetof(joey_space_request, filter);
    return 0;
}

uint64_t joey_space_prepare_recv(void *result, uint64_t stub) {
    // The header, its iovec, the byte and the control buffer, in that order.
    struct recv_area {
        struct msghdr msg;
        struct iovec iov;
        uint64_t byte;
        union { char b[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    };
    _Static_assert(JOEY_SPACE_RECV_MSG + sizeof(struct recv_area) <= 4096, "result page layout");
    uint64_t at = stub + JOEY_STUB_REQUEST_OFFSET + 0x1000 + JOEY_SPACE_RECV_MSG;
    struct recv_area *area = (struct recv_area *)((char *)result + JOEY_SPACE_RECV_MSG);
    memset(area, 0, sizeof *area);
    area->iov.iov_base = (void *)(at + offsetof(struct recv_area, byte));
    area->iov.iov_len = 1;
    area->msg.msg_iov = (struct iovec *)(at + offsetof(struct recv_area, iov));
    area->msg.msg_iovlen = 1;
    area->msg.msg_control = (void *)(at + offsetof(struct recv_area, control));
    area->msg.msg_controllen = sizeof area->control;
    return at;
}

int64_t joey_factory_start(joey_factory_page **page_out) {
    uint64_t stub = joey_stub_install();
    if (!stub) return -ENOMEM;
    // The page is shared with the factory: mapped here first, at the address the factory
    // uses, so the fork below inherits the same shared mapping.
    int fd = (int)syscall(SYS_memfd_create, "joey-stub-factory", MFD_CLOEXEC);
    if (fd < 0) return -errno;
    joey_factory_page *page = MAP_FAILED;
    if (ftruncate(fd, 4096) == 0)
        page = mmap((void *)(stub + JOEY_FACTORY_PAGE_OFFSET), 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    int err = errno;
    close(fd);
    if (page == MAP_FAILED) return -err;
    memset(page, 0, 4096);
    // The factory shares the sentry's descriptor table (CLONE_FILES), so every stub it forks
    // starts from the sentry's current descriptors and keeps only the ones it is told to.
    // A raw clone: glibc's fork would run atfork handlers in a process that is about to
    // drop everything glibc knows.
    long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) return -errno;
    if (pid > 0) { *page_out = page; return pid; }

    // The factory: only direct system calls from here on, and never a close (the
    // descriptor table is the sentry's).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    joey_stub_drop_capabilities(); // a stub holds nothing the guest could use
    // A process group of its own: terminal signals go to the sentry, never straight to a
    // stub. Not a session of its own: that would be an autogroup of its own too, which the
    // scheduler gives half of a CPU the stub shares with its sentry thread, so a yield to
    // the other half would mostly come straight back (Spinning.swift).
    setpgid(0, 0);
    for (int s = 1; s < 65; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        signal(s, SIG_DFL);
    }
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL); // guest threads unblock what they catch
    // glibc registered rseq for the cloning thread; its area is about to be unmapped, and
    // the kernel would fault the factory on its next return to user mode.
    if (__rseq_size > 0) {
        // Registered with the full 32-byte struct rseq whatever __rseq_size says.
        syscall(SYS_rseq, (char *)__builtin_thread_pointer() + __rseq_offset, 32, 1 /* UNREGISTER */, 0x53053053);
    }
    // Every stub forked from here inherits the registration (it belongs to the address
    // space, and fork copies it): the sentry's MEMBARRIER_CMD_GLOBAL_EXPEDITED then reaches
    // every running guest thread, which is how it serves the guest's membarrier(2).
    long registered = syscall(SYS_membarrier, 4 /* MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED */, 0, 0);
    __atomic_store_n(&page->membarrier, registered == 0 ? 1 : -errno, __ATOMIC_RELEASE);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) syscall(SYS_exit_group, 124);
    if (install_factory_filter(stub) != 0) syscall(SYS_exit_group, 123);
    ((void (*)(void))(stub + (uint64_t)(joey_factory_loop - joey_stub_code_start)))();
    syscall(SYS_exit_group, 125);
    return 0;
}

int32_t joey_factory_membarrier(joey_factory_page *page) { return __atomic_load_n(&page->membarrier, __ATOMIC_ACQUIRE); }

int64_t joey_factory_spawn(joey_factory_page *page, pid_t factory, int memfd, int pipefd, int sockfd, uint64_t pages) {
    page->memfd = memfd;
    page->pipefd = pipefd;
    page->sockfd = sockfd;
    page->pages = pages;
    page->result = -EAGAIN;
    uint32_t seq = page->request + 1;
    __atomic_store_n(&page->request, seq, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &page->request, FUTEX_WAKE, 1, NULL, NULL, 0);
    for (int spins = 0;; spins++) {
        uint32_t done = __atomic_load_n(&page->done, __ATOMIC_ACQUIRE);
        if (done == seq) return page->result;
        if (spins < 2000) { __builtin_ia32_pause(); continue; }
        struct timespec ts = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 };
        syscall(SYS_futex, &page->done, FUTEX_WAIT, done, &ts, NULL, 0);
        int status;
        // The factory is the sentry's child: gone (or reaped before) means no more stubs.
        if (__atomic_load_n(&page->done, __ATOMIC_ACQUIRE) != seq) {
            pid_t w = waitpid(factory, &status, WNOHANG | __WALL);
            if (w == factory || (w < 0 && errno == ECHILD)) return -ECHILD;
        }
    }
}

int64_t joey_space_run(joey_space_request *req, uint32_t count, int pipefd) {
    req->count = count;
    __atomic_add_fetch(&req->seq, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &req->seq, FUTEX_WAKE, 1, NULL, NULL, 0);
    char byte;
    for (;;) {
        ssize_t n = read(pipefd, &byte, 1);
        if (n == 1) return 0;
        if (n < 0 && errno == EINTR) continue;
        return -ESRCH; // the stub process is gone (its write end closed)
    }
}

int64_t joey_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno;
}

int64_t joey_tgkill(pid_t pid, pid_t tid, int sig) {
    return syscall(SYS_tgkill, pid, tid, sig) == 0 ? 0 : -errno;
}

static cpu_set_t joey_allowed;
static int joey_allowed_known;

int joey_allowed_cpus(int *out, int max) {
    if (!__atomic_load_n(&joey_allowed_known, __ATOMIC_ACQUIRE)) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) != 0) {
            CPU_ZERO(&set);
            long n = sysconf(_SC_NPROCESSORS_ONLN);
            for (long i = 0; i < n && i < CPU_SETSIZE; i++) CPU_SET(i, &set);
        }
        joey_allowed = set;
        __atomic_store_n(&joey_allowed_known, 1, __ATOMIC_RELEASE);
    }
    int n = 0;
    for (int i = 0; i < CPU_SETSIZE; i++) {
        if (!CPU_ISSET(i, &joey_allowed)) continue;
        if (n < max) out[n] = i;
        n++;
    }
    return n;
}

int64_t joey_pin_thread(pid_t tid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
    else if (__atomic_load_n(&joey_allowed_known, __ATOMIC_ACQUIRE)) set = joey_allowed;
    else return -EINVAL;
    return sched_setaffinity(tid, sizeof set, &set) == 0 ? 0 : -errno;
}

int64_t joey_restrict_thread(pid_t tid, const int *cpus, int n) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < n; i++)
        if (cpus[i] >= 0 && cpus[i] < CPU_SETSIZE) CPU_SET(cpus[i], &set);
    if (CPU_COUNT(&set) == 0) return -EINVAL;
    return sched_setaffinity(tid, sizeof set, &set) == 0 ? 0 : -errno;
}

int joey_mutex_init_adaptive(pthread_mutex_t *m) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
    int r = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return r;
}

int joey_attr_allowed_cpus(pthread_attr_t *attr) {
    if (!__atomic_load_n(&joey_allowed_known, __ATOMIC_ACQUIRE)) return 0;
    return pthread_attr_setaffinity_np(attr, sizeof joey_allowed, &joey_allowed);
}

pid_t joey_gettid(void) { return (pid_t)syscall(SYS_gettid); }

int64_t joey_ptrace(long request, pid_t pid, uint64_t addr, uint64_t data) {
    errno = 0;
    long r = ptrace((enum __ptrace_request)request, pid, (void *)addr, (void *)data);
    if (r == -1 && errno) return -errno;
    return r;
}

int64_t joey_ptrace_syscall_arch(pid_t pid) {
    // struct ptrace_syscall_info: op (u8), 3 bytes of padding, arch (u32), ...
    unsigned char info[88];
    memset(info, 0, sizeof info);
    if (ptrace((enum __ptrace_request)0x420e /* PTRACE_GET_SYSCALL_INFO */, pid, (void *)sizeof info, info) < 0) return -errno;
    uint32_t arch;
    memcpy(&arch, info + 4, sizeof arch);
    return arch;
}

int64_t joey_ptrace_syscall_op(pid_t pid) {
    unsigned char info[88];
    memset(info, 0, sizeof info);
    if (ptrace((enum __ptrace_request)0x420e /* PTRACE_GET_SYSCALL_INFO */, pid, (void *)sizeof info, info) < 0) return -errno;
    return info[0];
}

int64_t joey_getregs(pid_t pid, joey_regs *regs) {
    return ptrace(PTRACE_GETREGS, pid, 0, regs) == 0 ? 0 : -errno;
}
int64_t joey_setregs(pid_t pid, const joey_regs *regs) {
    return ptrace(PTRACE_SETREGS, pid, 0, (void *)regs) == 0 ? 0 : -errno;
}
int64_t joey_getfpregs(pid_t pid, void *buf) {
    return ptrace(PTRACE_GETFPREGS, pid, 0, buf) == 0 ? 0 : -errno;
}
int64_t joey_setfpregs(pid_t pid, const void *buf) {
    return ptrace(PTRACE_SETFPREGS, pid, 0, (void *)buf) == 0 ? 0 : -errno;
}
int64_t joey_getxstate(pid_t pid, void *buf, uint64_t size) {
    struct iovec iov = { buf, size };
    if (ptrace(PTRACE_GETREGSET, pid, (void *)0x202 /* NT_X86_XSTATE */, &iov) != 0) return -errno;
    return (int64_t)iov.iov_len;
}
int64_t joey_setxstate(pid_t pid, const void *buf, uint64_t size) {
    struct iovec iov = { (void *)buf, size };
    return ptrace(PTRACE_SETREGSET, pid, (void *)0x202, &iov) == 0 ? 0 : -errno;
}

int64_t joey_getsiginfo(pid_t pid, joey_siginfo *out) {
    siginfo_t si;
    if (ptrace(PTRACE_GETSIGINFO, pid, 0, &si) != 0) return -errno;
    out->signo = si.si_signo;
    out->code = si.si_code;
    out->errno_ = si.si_errno;
    out->pid = si.si_pid;
    out->addr = (uint64_t)si.si_addr;
    out->status = si.si_status;
    out->uid = (int32_t)si.si_uid;
    return 0;
}
int64_t joey_wait(pid_t pid, int *status) {
    for (;;) {
        pid_t r = waitpid(pid, status, __WALL);
        if (r >= 0) return r;
        if (errno != EINTR) return -errno;
    }
}
int64_t joey_kill(pid_t pid, int sig) { return kill(pid, sig) == 0 ? 0 : -errno; }

int64_t joey_punch_hole(int fd, uint64_t offset, uint64_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length) == 0 ? 0 : -errno;
}
int64_t joey_seek_data(int fd, uint64_t offset) {
    off_t r = lseek(fd, (off_t)offset, SEEK_DATA);
    return r >= 0 ? r : -errno;
}
int64_t joey_seek_hole(int fd, uint64_t offset) {
    off_t r = lseek(fd, (off_t)offset, SEEK_HOLE);
    return r >= 0 ? r : -errno;
}

int joey_setfsuid(uint32_t uid) {
    return (int)syscall(SYS_setfsuid, uid);
}

int joey_setns(int fd, int nstype) {
    return setns(fd, nstype) == 0 ? 0 : -errno;
}

int joey_unshare(int flags) {
    return unshare(flags) == 0 ? 0 : -errno;
}

int joey_accept4(int fd, int flags) {
    return accept4(fd, NULL, NULL, flags);
}

int joey_epoll_create(void) {
    int r = epoll_create1(EPOLL_CLOEXEC);
    return r >= 0 ? r : -errno;
}

int joey_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(epfd, op, fd, &ev) == 0 ? 0 : -errno;
}

int joey_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) { datas[i] = evs[i].data.u64; events[i] = evs[i].events; }
    return n;
}

int64_t joey_getrandom(void *buf, uint64_t len) {
    ssize_t r = getrandom(buf, len, 0);
    return r >= 0 ? r : -errno;
}
uint64_t joey_getauxval(uint64_t type) { return getauxval(type); }
void joey_meminfo(uint64_t *total, uint64_t *free_) {
    struct sysinfo si;
    if (sysinfo(&si) != 0) { *total = 0; *free_ = 0; return; }
    *total = (uint64_t)si.totalram * si.mem_unit;
    *free_ = (uint64_t)si.freeram * si.mem_unit;
}

int joey_fstatfs(int fd, uint64_t out[8]) {
    struct statfs st;
    if (fstatfs(fd, &st) != 0) return -errno;
    uint64_t unit = (uint64_t)st.f_bsize;
    out[0] = st.f_blocks * unit / 4096;
    out[1] = st.f_bfree * unit / 4096;
    out[2] = st.f_bavail * unit / 4096;
    out[3] = st.f_files;
    out[4] = st.f_ffree;
    out[5] = (uint64_t)st.f_namelen;
    out[6] = (uint64_t)st.f_type;
    out[7] = (uint64_t)st.f_flags;
    _Static_assert(JOEY_ST_NOEXEC == ST_NOEXEC, "ST_NOEXEC");
    return 0;
}

int joey_signal_ignored(int sig) {
    struct sigaction old;
    return sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN;
}

int joey_current_cpu(void) { return sched_getcpu(); }
int64_t joey_membarrier(int cmd) {
    long r = syscall(SYS_membarrier, cmd, 0, 0);
    return r < 0 ? -errno : r;
}

int64_t joey_memfd_create(const char *name) {
    int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

int64_t joey_fallocate(int fd, int mode, int64_t offset, int64_t length) {
    return fallocate(fd, mode, offset, length) == 0 ? 0 : -errno;
}

int64_t joey_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags) == 0 ? 0 : -errno;
}

struct joey_open_how { uint64_t flags, mode, resolve; };
int64_t joey_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct joey_open_how how = { flags, mode, resolve };
    long fd = syscall(437 /* SYS_openat2 */, dirfd, path, &how, sizeof how);
    return fd >= 0 ? fd : -errno;
}
int joey_syncfs(int fd) {
    return syncfs(fd) == 0 ? 0 : -errno;
}

int64_t joey_pread_nowait(int fd, void *buf, size_t count, int64_t offset) {
    struct iovec v = { .iov_base = buf, .iov_len = count };
    ssize_t r = preadv2(fd, &v, 1, offset, RWF_NOWAIT);
    return r >= 0 ? r : -errno;
}

int64_t joey_ioctl(int fd, unsigned long request, void *arg) {
    int r = ioctl(fd, request, arg);
    return r >= 0 ? r : -errno;
}

int joey_wifexited(int s) { return WIFEXITED(s); }
int joey_wexitstatus(int s) { return WEXITSTATUS(s); }
int joey_wifsignaled(int s) { return WIFSIGNALED(s); }
int joey_wtermsig(int s) { return WTERMSIG(s); }
int joey_wifstopped(int s) { return WIFSTOPPED(s); }
int joey_wstopsig(int s) { return WSTOPSIG(s); }
