/* Memory management: mmap, munmap, mprotect, brk, mremap, madvise, mincore, msync, faults. */
#include "../compat.h"
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/syscall.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static long page(void) { return sysconf(_SC_PAGESIZE); }

/* Anonymous read-write private pages, or the test fails. */
static char *anon(size_t len) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) compat_fail(__FILE__, __LINE__, "mmap anon: %s", strerror(errno));
    return p;
}

/* A scratch file holding `len` bytes of `c`, opened read-write. */
static int file_of(const char *name, size_t len, char c) {
    int fd = open(scratch_path(name), O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd < 0) compat_fail(__FILE__, __LINE__, "open: %s", strerror(errno));
    char *buf = malloc(len);
    memset(buf, c, len);
    if (write(fd, buf, len) != (ssize_t)len) compat_fail(__FILE__, __LINE__, "write: %s", strerror(errno));
    free(buf);
    return fd;
}

/* Fault catching: touch an address, report the signal, si_code and si_addr. */
static sigjmp_buf fault_jmp;
static volatile int fault_sig, fault_code;
static void *volatile fault_addr;
static void fault_handler(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    fault_sig = sig;
    fault_code = si->si_code;
    fault_addr = si->si_addr;
    siglongjmp(fault_jmp, 1);
}
static void catch_faults(void) {
    struct sigaction sa = {0};
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    fault_sig = 0;
    fault_code = 0;
    fault_addr = NULL;
}
/* 1 if writing *p faulted (details in fault_*), 0 otherwise. */
static int write_faults(volatile char *p) {
    catch_faults();
    if (sigsetjmp(fault_jmp, 1) == 0) {
        *p = 1;
        return 0;
    }
    return 1;
}
static int read_faults(volatile char *p) {
    catch_faults();
    if (sigsetjmp(fault_jmp, 1) == 0) {
        char c = *p;
        (void)c;
        return 0;
    }
    return 1;
}

/* ---- mmap ---- */

CASE(mmap_anonymous_private_is_zeroed_and_writable) {
    long ps = page();
    char *p = anon(4 * ps);
    for (long i = 0; i < 4 * ps; i++) EXPECT_EQ(p[i], 0);
    memset(p, 0x5a, 4 * ps);
    EXPECT_EQ(p[4 * ps - 1], 0x5a);
    EXPECT_EQ(((uintptr_t)p) % ps, 0);
    EXPECT_OK(munmap(p, 4 * ps));
}

CASE(mmap_anonymous_shared_is_zeroed_and_writable) {
    long ps = page();
    char *p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT_EQ(p[0], 0);
    EXPECT_EQ(p[2 * ps - 1], 0);
    strcpy(p + ps, "shared");
    EXPECT_STREQ(p + ps, "shared");
    EXPECT_OK(munmap(p, 2 * ps));
}

CASE(mmap_fixed_replaces_existing_mapping) {
    long ps = page();
    char *p = anon(3 * ps);
    memset(p, 'a', 3 * ps);
    char *q = mmap(p + ps, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    EXPECT(q == p + ps);
    EXPECT_EQ(p[0], 'a');
    EXPECT_EQ(p[ps], 0);        /* the new mapping is fresh zero pages */
    EXPECT_EQ(p[2 * ps - 1], 0);
    EXPECT_EQ(p[2 * ps], 'a');
}

CASE(mmap_fixed_noreplace_over_existing_is_eexist) {
    long ps = page();
    char *p = anon(2 * ps);
    p[0] = 7;
    EXPECT(mmap(p, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EEXIST);
    EXPECT_EQ(p[0], 7); /* the old mapping is untouched */
}

CASE(mmap_fixed_noreplace_on_free_range_succeeds) {
    long ps = page();
    char *p = anon(2 * ps);
    EXPECT_OK(munmap(p, 2 * ps));
    char *q = mmap(p, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    EXPECT(q == p);
    q[0] = 1;
}

CASE(mmap_fixed_unaligned_address_is_einval) {
    long ps = page();
    char *p = anon(2 * ps);
    EXPECT(mmap(p + 1, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EINVAL);
}

CASE(mmap_zero_length_is_einval) {
    EXPECT(mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EINVAL);
}

CASE(mmap_huge_length_is_enomem) {
    EXPECT(mmap(NULL, (size_t)-1 & ~(size_t)0xfffff, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
    EXPECT_EQ(errno, ENOMEM);
}

CASE(mmap_unaligned_offset_is_einval) {
    int fd = file_of("f", 8192, 'x');
    EXPECT(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 100) == MAP_FAILED);
    EXPECT_EQ(errno, EINVAL);
}

CASE(mmap_bad_fd_is_ebadf) {
    EXPECT(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 9999, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EBADF);
}

CASE(mmap_bad_fd_is_ebadf_before_zero_length_or_bad_type) {
    int fd = file_of("f", 4096, 'x');
    EXPECT_OK(close(fd));
    EXPECT(mmap(NULL, 0, PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EBADF);
    EXPECT(mmap(NULL, 4096, PROT_READ, 0, fd, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EBADF);
    EXPECT(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 100) == MAP_FAILED);
    EXPECT_EQ(errno, EINVAL); /* the offset is checked first */
}

CASE(mmap_neither_shared_nor_private_is_einval) {
    EXPECT(mmap(NULL, 4096, PROT_READ, MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EINVAL);
}

CASE(mmap_shared_writable_on_readonly_fd_is_eacces) {
    int fd = file_of("f", 4096, 'x');
    close(fd);
    fd = open(scratch_path("f"), O_RDONLY);
    EXPECT(fd >= 0);
    EXPECT(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EACCES);
    /* A private writable mapping of the same fd is fine. */
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    EXPECT(p != MAP_FAILED);
    p[0] = 'y';
}

CASE(mmap_of_write_only_fd_is_eacces) {
    int fd = file_of("f", 4096, 'x');
    close(fd);
    fd = open(scratch_path("f"), O_WRONLY);
    EXPECT(fd >= 0);
    EXPECT(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EACCES);
}

CASE(mmap_of_directory_is_enodev) {
    int fd = open(".", O_RDONLY | O_DIRECTORY);
    EXPECT(fd >= 0);
    EXPECT(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED);
    EXPECT_EQ(errno, ENODEV);
}

CASE(mmap_file_private_sees_file_content) {
    long ps = page();
    int fd = file_of("f", 2 * ps, 'q');
    EXPECT_EQ(pwrite(fd, "hello", 5, ps), 5);
    char *p = mmap(NULL, ps, PROT_READ, MAP_PRIVATE, fd, ps); /* second page */
    EXPECT(p != MAP_FAILED);
    EXPECT(memcmp(p, "helloqq", 7) == 0);
    EXPECT_EQ(p[ps - 1], 'q');
}

CASE(mmap_file_private_writes_do_not_reach_file) {
    long ps = page();
    int fd = file_of("f", ps, 'a');
    char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    EXPECT(p != MAP_FAILED);
    memcpy(p, "XYZ", 3);
    EXPECT_OK(msync(p, ps, MS_SYNC));
    EXPECT_OK(munmap(p, ps));
    char buf[4] = {0};
    EXPECT_EQ(pread(fd, buf, 3, 0), 3);
    EXPECT_STREQ(buf, "aaa");
}

/* Private mappings of one host file (one the sandbox only reads: /bin/true) are each the
 * file's own copy: a write to one is not seen by a second mapping of the same range, by a
 * mapping inside it, by a forked child's new mapping, or by read(). */
CASE(mmap_host_file_private_mappings_are_independent) {
    long ps = page();
    int fd = open("/bin/true", O_RDONLY);
    EXPECT(fd >= 0);
    unsigned char orig[64];
    EXPECT_EQ(pread(fd, orig, sizeof orig, ps), sizeof orig);
    char *p = mmap(NULL, 3 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    EXPECT(p != MAP_FAILED);
    memset(p + ps, 'X', 64);
    char *q = mmap(NULL, 3 * ps, PROT_READ, MAP_PRIVATE, fd, 0);
    char *inner = mmap(NULL, ps, PROT_READ, MAP_PRIVATE, fd, ps);
    EXPECT(q != MAP_FAILED && inner != MAP_FAILED);
    EXPECT(memcmp(q + ps, orig, 64) == 0);
    EXPECT(memcmp(inner, orig, 64) == 0);
    pid_t c = fork();
    if (c == 0) {
        char *r = mmap(NULL, ps, PROT_READ, MAP_PRIVATE, fd, ps);
        _exit(r != MAP_FAILED && memcmp(r, orig, 64) == 0 && p[ps] == 'X' ? 0 : 1);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unsigned char buf[64];
    EXPECT_EQ(pread(fd, buf, sizeof buf, ps), sizeof buf);
    EXPECT(memcmp(buf, orig, 64) == 0);
    EXPECT_EQ(p[ps], 'X');
}

/* A large file the host holds (the lower layer in a sandbox): the C library. */
static int open_big_host_file(off_t *size) {
    static const char *paths[] = {"/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/proc/self/exe"};
    for (unsigned i = 0; i < sizeof paths / sizeof *paths; i++) {
        int fd = open(paths[i], O_RDONLY);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size >= 256 * 1024) {
            *size = st.st_size & ~(off_t)(page() - 1);
            return fd;
        }
        if (fd >= 0) close(fd);
    }
    compat_fail(__FILE__, __LINE__, "no host file of 256 KiB to map");
    return -1;
}

/* Whether `len` bytes at `p` are the file's from `offset`. */
static int is_file_content(int fd, const char *p, off_t offset, size_t len) {
    char *buf = malloc(len);
    int same = pread(fd, buf, len, offset) == (ssize_t)len && memcmp(buf, p, len) == 0;
    free(buf);
    return same;
}

/* A private mapping of a host file reads as the file wherever it is first touched: pages
 * touched last to first and far apart, pages the kernel reads for write() and
 * process_vm_readv before the program ever touched them, and a forked child's first touch. */
CASE(mmap_host_file_private_pages_read_as_the_file_in_any_order) {
    long ps = page();
    off_t size;
    int fd = open_big_host_file(&size);
    char *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    EXPECT(p != MAP_FAILED);
    /* The kernel's reads first: write() to a pipe, then process_vm_readv, of untouched pages. */
    int pfd[2];
    EXPECT_OK(pipe(pfd));
    off_t mid = (size / 2) & ~(off_t)(ps - 1);
    EXPECT_EQ(write(pfd[1], p + mid + 100, 1000), 1000);
    char got[1000];
    EXPECT_EQ(read(pfd[0], got, sizeof got), (ssize_t)sizeof got);
    EXPECT(is_file_content(fd, got, mid + 100, sizeof got));
    struct iovec local = {got, sizeof got}, remote = {p + size - 3 * ps, sizeof got};
    EXPECT_EQ(process_vm_readv(getpid(), &local, 1, &remote, 1, 0), (ssize_t)sizeof got);
    EXPECT(is_file_content(fd, got, size - 3 * ps, sizeof got));
    /* The program's own touches, from the end back, 40 pages apart. */
    for (off_t at = size - ps; at >= 0; at -= 40 * ps) EXPECT(is_file_content(fd, p + at, at, ps));
    pid_t c = fork();
    if (c == 0) _exit(is_file_content(fd, p + ps * 7, ps * 7, ps) && is_file_content(fd, p + size - 2 * ps, size - 2 * ps, ps) ? 0 : 1);
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT(is_file_content(fd, p, 0, size));
}

/* A private host file mapping put over memory the program wrote shows the file there, not
 * what was there before; moved by mremap before it was touched, it still reads as the file;
 * made writable and written, it keeps the write and the file does not see it. */
CASE(mmap_fixed_host_file_over_written_memory_shows_the_file) {
    long ps = page();
    off_t size;
    int fd = open_big_host_file(&size);
    size_t len = 64 * ps;
    char *p = anon(len);
    memset(p, 'Z', len);
    EXPECT(mmap(p, len, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 16 * ps) == p);
    EXPECT(is_file_content(fd, p + 40 * ps, 56 * ps, ps));
    EXPECT(is_file_content(fd, p, 16 * ps, len));
    char *q = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    EXPECT(q != MAP_FAILED);
    char *moved = mremap(q, len, 2 * len, MREMAP_MAYMOVE);
    EXPECT(moved != MAP_FAILED);
    EXPECT(is_file_content(fd, moved + 50 * ps, 50 * ps, ps));
    EXPECT(is_file_content(fd, moved, 0, len));
    EXPECT_OK(mprotect(p + 8 * ps, 8 * ps, PROT_READ | PROT_WRITE));
    memset(p + 9 * ps, 'W', ps);
    EXPECT_EQ(p[9 * ps], 'W');
    EXPECT(is_file_content(fd, p + 8 * ps, 24 * ps, ps));
    EXPECT(is_file_content(fd, p + 10 * ps, 26 * ps, 6 * ps));
    char *again = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 16 * ps);
    EXPECT(again != MAP_FAILED);
    EXPECT(is_file_content(fd, again, 16 * ps, len));
}

/* A private host file mapping written where the program may not write (/proc/self/mem, as
 * a debugger pokes a breakpoint into code) keeps the write to itself and to a child forked
 * after it: the file, the page next to it and a second mapping read as the file, and
 * MADV_DONTNEED gives the file's bytes back. */
CASE(mmap_host_file_private_forced_write_stays_private) {
    long ps = page();
    off_t size;
    int fd = open_big_host_file(&size);
    char *p = mmap(NULL, 8 * ps, PROT_READ, MAP_PRIVATE, fd, 0);
    EXPECT(p != MAP_FAILED);
    int mem = open("/proc/self/mem", O_RDWR);
    EXPECT(mem >= 0);
    EXPECT_EQ(pwrite(mem, "JOEY", 4, (off_t)(uintptr_t)(p + 3 * ps + 10)), 4);
    EXPECT(memcmp(p + 3 * ps + 10, "JOEY", 4) == 0);
    EXPECT(is_file_content(fd, p + 4 * ps, 4 * ps, ps));
    char *q = mmap(NULL, 8 * ps, PROT_READ, MAP_PRIVATE, fd, 0);
    EXPECT(q != MAP_FAILED);
    EXPECT(is_file_content(fd, q, 0, 8 * ps));
    pid_t c = fork();
    if (c == 0) _exit(memcmp(p + 3 * ps + 10, "JOEY", 4) == 0 && is_file_content(fd, q + 3 * ps, 3 * ps, ps) ? 0 : 1);
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT_OK(madvise(p, 8 * ps, MADV_DONTNEED));
    EXPECT(is_file_content(fd, p, 0, 8 * ps));
    close(mem);
    close(fd);
}

CASE(mmap_file_shared_writes_reach_file_after_msync) {
    long ps = page();
    int fd = file_of("f", ps, 'a');
    char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT(p != MAP_FAILED);
    memcpy(p + 10, "shared!", 7);
    EXPECT_OK(msync(p, ps, MS_SYNC));
    char buf[8] = {0};
    EXPECT_EQ(pread(fd, buf, 7, 10), 7);
    EXPECT_STREQ(buf, "shared!");
}

CASE(mmap_file_shared_writes_reach_file_after_munmap) {
    long ps = page();
    int fd = file_of("f", ps, 'a');
    char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT(p != MAP_FAILED);
    memcpy(p, "gone", 4);
    EXPECT_OK(munmap(p, ps));
    close(fd);
    fd = open(scratch_path("f"), O_RDONLY);
    char buf[5] = {0};
    EXPECT_EQ(read(fd, buf, 4), 4);
    EXPECT_STREQ(buf, "gone");
}

CASE(mmap_file_shared_sees_later_write_syscall) {
    long ps = page();
    int fd = file_of("f", ps, 'a');
    char *p = mmap(NULL, ps, PROT_READ, MAP_SHARED, fd, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT_EQ(p[0], 'a');
    EXPECT_EQ(pwrite(fd, "new", 3, 0), 3);
    EXPECT(memcmp(p, "newa", 4) == 0);
}

CASE(mmap_beyond_eof_reads_zero_within_last_page) {
    long ps = page();
    int fd = file_of("f", 100, 'z');
    char *p = mmap(NULL, ps, PROT_READ, MAP_PRIVATE, fd, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT_EQ(p[99], 'z');
    for (long i = 100; i < ps; i++) EXPECT_EQ(p[i], 0);
}

CASE(mmap_access_past_last_file_page_is_sigbus) {
    long ps = page();
    int fd = file_of("f", 100, 'z');
    char *p = mmap(NULL, 2 * ps, PROT_READ, MAP_PRIVATE, fd, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT_EQ(p[0], 'z');
    EXPECT(read_faults(p + ps));
    EXPECT_EQ(fault_sig, SIGBUS);
    EXPECT(fault_addr == p + ps);
}

/* ---- faults ---- */

CASE(write_to_readonly_page_is_segv_accerr) {
    long ps = page();
    char *p = mmap(NULL, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT(write_faults(p + 123));
    EXPECT_EQ(fault_sig, SIGSEGV);
    EXPECT_EQ(fault_code, SEGV_ACCERR);
    EXPECT(fault_addr == p + 123);
}

CASE(access_to_unmapped_page_is_segv_maperr) {
    long ps = page();
    char *p = anon(ps);
    EXPECT_OK(munmap(p, ps));
    EXPECT(read_faults(p + 8));
    EXPECT_EQ(fault_sig, SIGSEGV);
    EXPECT_EQ(fault_code, SEGV_MAPERR);
    EXPECT(fault_addr == p + 8);
}

CASE(read_of_prot_none_page_is_segv_accerr) {
    long ps = page();
    char *p = mmap(NULL, ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT(read_faults(p));
    EXPECT_EQ(fault_sig, SIGSEGV);
    EXPECT_EQ(fault_code, SEGV_ACCERR);
    EXPECT(fault_addr == p);
}

/* A file mapping longer than the file: the page holding the end reads zeroes past it; pages
   wholly past the end are SIGBUS (BUS_ADRERR), and the kernel's own copies there are EFAULT. */
static char *map_short_file(long ps, int shared) {
    int fd = open(scratch_path("short"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "abc", 3), 3);
    char *p = mmap(NULL, 3 * ps, PROT_READ | PROT_WRITE, shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
    EXPECT(p != MAP_FAILED);
    close(fd);
    return p;
}

CASE(file_mapping_past_eof_is_sigbus_private) {
    long ps = page();
    char *p = map_short_file(ps, 0);
    EXPECT_EQ(p[0], 'a');
    EXPECT_EQ(p[ps - 1], 0);
    EXPECT(!write_faults(p + 5));
    EXPECT(read_faults(p + ps + 7));
    EXPECT_EQ(fault_sig, SIGBUS);
    EXPECT_EQ(fault_code, BUS_ADRERR);
    EXPECT(fault_addr == p + ps + 7);
    EXPECT(write_faults(p + 2 * ps));
    EXPECT_EQ(fault_sig, SIGBUS);
}

CASE(file_mapping_past_eof_is_sigbus_shared) {
    long ps = page();
    char *p = map_short_file(ps, 1);
    EXPECT(!read_faults(p + ps - 1));
    EXPECT(write_faults(p + ps));
    EXPECT_EQ(fault_sig, SIGBUS);
    EXPECT_EQ(fault_code, BUS_ADRERR);
}

CASE(read_into_file_mapping_past_eof_is_efault) {
    long ps = page();
    char *p = map_short_file(ps, 0);
    int fds[2];
    EXPECT_OK(pipe(fds));
    EXPECT_EQ(write(fds[1], "xyz", 3), 3);
    EXPECT_ERRNO(read(fds[0], p + ps, 3), EFAULT);
    EXPECT_EQ(read(fds[0], p + 10, 3), 3);
    EXPECT_EQ(p[10], 'x');
    close(fds[0]);
    close(fds[1]);
}

CASE(mprotect_over_file_mapping_past_eof_succeeds) {
    long ps = page();
    char *p = map_short_file(ps, 0);
    EXPECT_OK(mprotect(p, 3 * ps, PROT_READ));
    EXPECT_EQ(p[1], 'b');
    EXPECT(write_faults(p + 1));
    EXPECT_EQ(fault_sig, SIGSEGV);
    EXPECT(read_faults(p + ps));
    EXPECT_EQ(fault_sig, SIGBUS);
}

/* Truncation takes what lies wholly past the new end out of every mapping of the file, in
   every process (Linux's truncate_pagecache): a touch there is SIGBUS. Grown again, the file
   has those pages back, reading zeros. */
CASE(truncate_makes_the_shared_tail_sigbus_in_every_process) {
    long ps = page();
    int fd = open(scratch_path("t"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    EXPECT(fd >= 0);
    EXPECT_OK(ftruncate(fd, 3 * ps));
    volatile char *p = mmap(NULL, 3 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT(p != MAP_FAILED);
    p[2 * ps] = 'z';
    int go[2];
    EXPECT_OK(pipe(go));
    pid_t c = fork();
    if (c == 0) {
        prctl(PR_SET_DUMPABLE, 0); /* no core file */
        char b;
        if (read(go[0], &b, 1) != 1) _exit(2);
        if (p[0] != 'y') _exit(3); /* the parent's store after the fork */
        char z = p[2 * ps];        /* past the new end: SIGBUS */
        _exit(z == 'z' ? 4 : 5);
    }
    p[0] = 'y';
    EXPECT_OK(ftruncate(fd, ps));
    EXPECT_EQ(write(go[1], "g", 1), 1);
    int st = 0;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFSIGNALED(st));
    if (WIFSIGNALED(st)) EXPECT_EQ(WTERMSIG(st), SIGBUS);
    EXPECT(read_faults(p + ps));
    EXPECT_EQ(fault_sig, SIGBUS);
    EXPECT_EQ(fault_code, BUS_ADRERR);
    EXPECT_EQ(p[0], 'y');
    EXPECT_OK(ftruncate(fd, 3 * ps));
    EXPECT(!read_faults(p + 2 * ps));
    EXPECT_EQ(p[2 * ps], 0);
    p[ps] = 'q';
    char b = 0;
    EXPECT_EQ(pread(fd, &b, 1, ps), 1);
    EXPECT_EQ(b, 'q');
    close(go[0]);
    close(go[1]);
    close(fd);
}

/* A shared mapping whose file shrank is still one mapping (Linux checks the end at each
   fault): /proc/self/maps lists it once, and mremap can shrink it or move it whole, the pages
   past the end still SIGBUS at the new address. CPython's mmap.resize truncates, then
   mremaps (test_mmap's test_basic). */
static int maps_has_range(void *start, void *end) {
    char want[64], line[512];
    snprintf(want, sizeof want, "%lx-%lx ", (unsigned long)start, (unsigned long)end);
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return 0;
    int found = 0;
    while (fgets(line, sizeof line, f)) found |= strncmp(line, want, strlen(want)) == 0;
    fclose(f);
    return found;
}

CASE(mremap_of_a_shared_mapping_after_its_file_shrank) {
    long ps = page();
    int fd = open(scratch_path("t"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    EXPECT(fd >= 0);
    EXPECT_OK(ftruncate(fd, 3 * ps));
    char *p = mmap(NULL, 3 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT(p != MAP_FAILED);
    p[0] = 'a';
    EXPECT_OK(ftruncate(fd, ps));
    EXPECT(maps_has_range(p, p + 3 * ps)); /* one line, the whole three pages */
    EXPECT_OK(msync(p, 3 * ps, MS_SYNC));
    /* Moved whole to a new place: the first page is the file's, the rest past its end. */
    char *to = mmap(NULL, 3 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(to != MAP_FAILED);
    char *q = mremap(p, 3 * ps, 3 * ps, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    EXPECT(q == to);
    if (q == to) {
        EXPECT_EQ(q[0], 'a');
        EXPECT(read_faults(q + ps));
        EXPECT_EQ(fault_sig, SIGBUS);
        EXPECT(read_faults(q + 2 * ps));
        EXPECT_EQ(fault_sig, SIGBUS);
        p = q;
    }
    /* Shrunk in place, as mmap.resize(512) does after its ftruncate. */
    EXPECT(mremap(p, 3 * ps, ps, MREMAP_MAYMOVE) == p);
    EXPECT_EQ(p[0], 'a');
    EXPECT_OK(munmap(p, ps));
    close(fd);
}

CASE(mremap_of_a_private_mapping_past_its_files_end_still_sigbus) {
    long ps = page();
    int fd = open(scratch_path("t"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "hello", 5), 5);
    char *p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    EXPECT(p != MAP_FAILED);
    /* Its second page lies wholly past the file's end; moved alone, it still is. */
    char *to = mmap(NULL, ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(to != MAP_FAILED);
    char *q = mremap(p + ps, ps, ps, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    EXPECT(q == to);
    if (q == to) {
        EXPECT(read_faults(q));
        EXPECT_EQ(fault_sig, SIGBUS);
        EXPECT_OK(munmap(q, ps));
    }
    EXPECT_EQ(p[0], 'h');
    EXPECT_OK(munmap(p, ps));
    close(fd);
}

CASE(open_o_trunc_makes_a_shared_mapping_sigbus) {
    long ps = page();
    int fd = open(scratch_path("t"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    EXPECT(fd >= 0);
    EXPECT_OK(ftruncate(fd, ps));
    volatile char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT(p != MAP_FAILED);
    p[0] = 'a';
    int again = open(scratch_path("t"), O_RDWR | O_TRUNC);
    EXPECT(again >= 0);
    EXPECT(read_faults(p));
    EXPECT_EQ(fault_sig, SIGBUS);
    close(again);
    close(fd);
}

CASE(segv_with_default_action_kills_with_sigsegv) {
    pid_t pid = fork();
    if (pid == 0) {
        volatile char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        *p = 1;
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFSIGNALED(st));
    EXPECT_EQ(WTERMSIG(st), SIGSEGV);
}

/* ---- munmap ---- */

CASE(munmap_unaligned_address_is_einval) {
    long ps = page();
    char *p = anon(2 * ps);
    EXPECT_ERRNO(munmap(p + 1, ps), EINVAL);
}

CASE(munmap_zero_length_is_einval) {
    char *p = anon(page());
    EXPECT_ERRNO(munmap(p, 0), EINVAL);
}

CASE(munmap_of_unmapped_range_succeeds) {
    long ps = page();
    char *p = anon(ps);
    EXPECT_OK(munmap(p, ps));
    EXPECT_OK(munmap(p, ps));
}

CASE(munmap_middle_page_splits_mapping) {
    long ps = page();
    char *p = anon(3 * ps);
    memset(p, 'm', 3 * ps);
    EXPECT_OK(munmap(p + ps, ps));
    EXPECT_EQ(p[0], 'm');
    EXPECT_EQ(p[3 * ps - 1], 'm');
    EXPECT(read_faults(p + ps));
    EXPECT_EQ(fault_code, SEGV_MAPERR);
    unsigned char vec[1];
    EXPECT_ERRNO(mincore(p + ps, ps, vec), ENOMEM);
    EXPECT_OK(mincore(p + 2 * ps, ps, vec));
    /* The two halves are independent mappings now: unmap each. */
    EXPECT_OK(munmap(p, ps));
    EXPECT_EQ(p[2 * ps], 'm');
}

/* ---- mprotect ---- */

CASE(mprotect_readonly_then_readwrite) {
    long ps = page();
    char *p = anon(ps);
    p[0] = 'a';
    EXPECT_OK(mprotect(p, ps, PROT_READ));
    EXPECT_EQ(p[0], 'a');
    EXPECT(write_faults(p));
    EXPECT_EQ(fault_code, SEGV_ACCERR);
    EXPECT_OK(mprotect(p, ps, PROT_READ | PROT_WRITE));
    EXPECT(!write_faults(p));
    EXPECT_EQ(p[0], 1);
}

CASE(mprotect_part_of_mapping_only_affects_that_part) {
    long ps = page();
    char *p = anon(3 * ps);
    EXPECT_OK(mprotect(p + ps, ps, PROT_READ));
    EXPECT(!write_faults(p));
    EXPECT(!write_faults(p + 2 * ps));
    EXPECT(write_faults(p + ps));
    EXPECT(fault_addr == p + ps);
}

CASE(mprotect_of_unmapped_range_is_enomem) {
    long ps = page();
    char *p = anon(ps);
    EXPECT_OK(munmap(p, ps));
    EXPECT_ERRNO(mprotect(p, ps, PROT_READ), ENOMEM);
}

CASE(mprotect_unaligned_address_is_einval) {
    char *p = anon(page());
    EXPECT_ERRNO(mprotect(p + 1, 16, PROT_READ), EINVAL);
}

CASE(mprotect_unknown_prot_bits_is_einval) {
    char *p = anon(page());
    EXPECT_ERRNO(mprotect(p, page(), PROT_READ | 0x100), EINVAL);
}

CASE(mprotect_write_on_readonly_shared_file_mapping_is_eacces) {
    long ps = page();
    int fd = file_of("f", ps, 'r');
    close(fd);
    fd = open(scratch_path("f"), O_RDONLY);
    char *p = mmap(NULL, ps, PROT_READ, MAP_SHARED, fd, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT_ERRNO(mprotect(p, ps, PROT_READ | PROT_WRITE), EACCES);
}

/* ---- brk ---- */

CASE(brk_zero_returns_current_break) {
    long a = syscall(SYS_brk, 0);
    long b = syscall(SYS_brk, 0);
    EXPECT(a > 0);
    EXPECT_EQ(a, b);
    EXPECT((void *)a == sbrk(0));
}

CASE(brk_grow_gives_writable_zeroed_memory) {
    long ps = page();
    long cur = syscall(SYS_brk, 0);
    long want = cur + 4 * ps;
    EXPECT_EQ(syscall(SYS_brk, want), want);
    EXPECT_EQ(syscall(SYS_brk, 0), want);
    char *p = (char *)((cur + ps - 1) & ~(ps - 1));
    EXPECT_EQ(p[0], 0);
    memset(p, 'b', 2 * ps);
    EXPECT_EQ(p[2 * ps - 1], 'b');
}

CASE(brk_shrink_releases_memory) {
    long ps = page();
    long cur = (syscall(SYS_brk, 0) + ps - 1) & ~(ps - 1);
    EXPECT_EQ(syscall(SYS_brk, cur + 4 * ps), cur + 4 * ps);
    char *p = (char *)cur;
    p[3 * ps] = 'x';
    EXPECT_EQ(syscall(SYS_brk, cur + ps), cur + ps);
    EXPECT_EQ(syscall(SYS_brk, 0), cur + ps);
    p[0] = 'y'; /* still mapped */
    EXPECT(read_faults(p + 3 * ps));
    EXPECT_EQ(fault_code, SEGV_MAPERR);
    /* Growing again gives zero pages, not the old content. */
    EXPECT_EQ(syscall(SYS_brk, cur + 4 * ps), cur + 4 * ps);
    EXPECT_EQ(p[3 * ps], 0);
}

CASE(brk_below_start_returns_current_break) {
    long cur = syscall(SYS_brk, 0);
    /* A request Linux refuses leaves the break where it was and returns it. */
    EXPECT_EQ(syscall(SYS_brk, 4096), cur);
    EXPECT_EQ(syscall(SYS_brk, 0), cur);
}

/* ---- mremap ---- */

CASE(mremap_grow_in_place) {
    long ps = page();
    char *p = anon(2 * ps);
    EXPECT_OK(munmap(p + ps, ps));
    p[0] = 'g';
    char *q = mremap(p, ps, 2 * ps, 0);
    EXPECT(q == p);
    EXPECT_EQ(q[0], 'g');
    EXPECT_EQ(q[2 * ps - 1], 0);
    q[2 * ps - 1] = 1;
}

CASE(mremap_grow_blocked_without_maymove_is_enomem) {
    long ps = page();
    char *p = anon(2 * ps);
    /* The second page stays mapped: there is no room to grow in place. */
    EXPECT(mremap(p, ps, 2 * ps, 0) == MAP_FAILED);
    EXPECT_EQ(errno, ENOMEM);
}

CASE(mremap_maymove_moves_and_keeps_content) {
    long ps = page();
    char *p = anon(2 * ps);
    EXPECT_OK(mprotect(p + ps, ps, PROT_NONE)); /* a blocker right after the first page */
    strcpy(p, "moved content");
    char *q = mremap(p, ps, 8 * ps, MREMAP_MAYMOVE);
    EXPECT(q != MAP_FAILED);
    EXPECT(q != p);
    EXPECT_STREQ(q, "moved content");
    EXPECT_EQ(q[8 * ps - 1], 0);
    /* The old address is no longer mapped. */
    unsigned char vec[1];
    EXPECT_ERRNO(mincore(p, ps, vec), ENOMEM);
}

CASE(mremap_shrink_unmaps_tail) {
    long ps = page();
    char *p = anon(4 * ps);
    p[0] = 's';
    char *q = mremap(p, 4 * ps, ps, 0);
    EXPECT(q == p);
    EXPECT_EQ(q[0], 's');
    EXPECT(read_faults(p + 2 * ps));
    EXPECT_EQ(fault_code, SEGV_MAPERR);
}

CASE(mremap_invalid_flags_is_einval) {
    long ps = page();
    char *p = anon(ps);
    EXPECT(mremap(p, ps, 2 * ps, 0x80) == MAP_FAILED);
    EXPECT_EQ(errno, EINVAL);
}

CASE(mremap_fixed_without_maymove_is_einval) {
    long ps = page();
    char *p = anon(ps);
    char *dst = anon(ps);
    EXPECT(mremap(p, ps, ps, MREMAP_FIXED, dst) == MAP_FAILED);
    EXPECT_EQ(errno, EINVAL);
}

CASE(mremap_unaligned_address_is_einval) {
    long ps = page();
    char *p = anon(ps);
    EXPECT(mremap(p + 1, ps, 2 * ps, MREMAP_MAYMOVE) == MAP_FAILED);
    EXPECT_EQ(errno, EINVAL);
}

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

CASE(mremap_zero_old_size_of_a_private_mapping_is_einval) {
    long ps = page();
    char *p = anon(ps);
    EXPECT(mremap(p, 0, ps, MREMAP_MAYMOVE) == MAP_FAILED);
    EXPECT_EQ(errno, EINVAL);
}

/* An old size of 0 duplicates a shared mapping: a second view of the same pages. */
CASE(mremap_zero_old_size_duplicates_a_shared_mapping) {
    long ps = page();
    char *p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    p[0] = 'A';
    /* Without MREMAP_MAYMOVE there is no room: the mapping cannot be "grown" in place. */
    EXPECT(mremap(p, 0, ps, 0) == MAP_FAILED);
    EXPECT_EQ(errno, ENOMEM);
    char *q = mremap(p, 0, ps, MREMAP_MAYMOVE);
    EXPECT(q != MAP_FAILED);
    EXPECT(q != p);
    EXPECT_EQ(q[0], 'A');
    q[0] = 'B';
    EXPECT_EQ(p[0], 'B'); /* the old mapping stays, over the same pages */
    p[1] = 'C';
    EXPECT_EQ(q[1], 'C');
}

CASE(mremap_dontunmap_needs_maymove_and_equal_sizes) {
    long ps = page();
    char *p = anon(2 * ps);
    EXPECT(mremap(p, ps, ps, MREMAP_DONTUNMAP, NULL) == MAP_FAILED);
    EXPECT_EQ(errno, EINVAL);
    EXPECT(mremap(p, ps, 2 * ps, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL) == MAP_FAILED);
    EXPECT_EQ(errno, EINVAL);
}

/* (glibc passes the fifth argument, the new address, when it reads it: it must be given.) */
/* The pages move; the old range stays mapped, and private anonymous memory there is new
 * zero pages. */
CASE(mremap_dontunmap_moves_the_pages_and_leaves_the_old_range_empty) {
    long ps = page();
    char *p = anon(2 * ps);
    memset(p, 'x', 2 * ps);
    char *q = mremap(p, 2 * ps, 2 * ps, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
    EXPECT(q != MAP_FAILED);
    EXPECT(q != p);
    EXPECT_EQ(q[0], 'x');
    EXPECT_EQ(q[2 * ps - 1], 'x');
    EXPECT_EQ(p[0], 0);
    EXPECT_EQ(p[2 * ps - 1], 0);
    p[0] = 'n'; /* still mapped, writable, and apart from the new range */
    EXPECT_EQ(q[0], 'x');
}

/* A shared mapping's old range keeps the same pages. */
CASE(mremap_dontunmap_of_a_shared_mapping_keeps_both_views) {
    long ps = page();
    char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    p[0] = 'a';
    char *q = mremap(p, ps, ps, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
    EXPECT(q != MAP_FAILED);
    EXPECT(q != p);
    EXPECT_EQ(q[0], 'a');
    q[0] = 'b';
    EXPECT_EQ(p[0], 'b');
}

/* A private file mapping's old range reads the file again. */
CASE(mremap_dontunmap_of_a_private_file_mapping_rereads_the_file) {
    long ps = page();
    char path[] = "/tmp/compat-dontunmap-XXXXXX";
    int fd = mkstemp(path);
    EXPECT(fd >= 0);
    unlink(path);
    char *buf = malloc(ps);
    memset(buf, 'F', ps);
    EXPECT_EQ(write(fd, buf, ps), ps);
    free(buf);
    char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    EXPECT(p != MAP_FAILED);
    p[0] = 'P';
    char *q = mremap(p, ps, ps, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
    EXPECT(q != MAP_FAILED);
    EXPECT_EQ(q[0], 'P');
    EXPECT_EQ(p[0], 'F');
    close(fd);
}

CASE(mremap_unmapped_address_is_efault) {
    long ps = page();
    char *p = anon(ps);
    EXPECT_OK(munmap(p, ps));
    EXPECT(mremap(p, ps, 2 * ps, MREMAP_MAYMOVE) == MAP_FAILED);
    EXPECT_EQ(errno, EFAULT);
}

/* ---- madvise ---- */

CASE(madvise_dontneed_zeroes_private_anonymous) {
    long ps = page();
    char *p = anon(2 * ps);
    memset(p, 'd', 2 * ps);
    EXPECT_OK(madvise(p, 2 * ps, MADV_DONTNEED));
    EXPECT_EQ(p[0], 0);
    EXPECT_EQ(p[2 * ps - 1], 0);
}

CASE(madvise_dontneed_keeps_shared_anonymous_content) {
    long ps = page();
    char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    p[0] = 'k';
    EXPECT_OK(madvise(p, ps, MADV_DONTNEED));
    EXPECT_EQ(p[0], 'k');
}

CASE(madvise_dontneed_on_private_file_mapping_restores_file_content) {
    long ps = page();
    int fd = file_of("f", ps, 'o');
    char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    EXPECT(p != MAP_FAILED);
    p[0] = 'W';
    EXPECT_OK(madvise(p, ps, MADV_DONTNEED));
    EXPECT_EQ(p[0], 'o');
}

CASE(madvise_invalid_advice_is_einval) {
    char *p = anon(page());
    EXPECT_ERRNO(madvise(p, page(), 12345), EINVAL);
}

CASE(madvise_unaligned_address_is_einval) {
    char *p = anon(page());
    EXPECT_ERRNO(madvise(p + 1, 10, MADV_NORMAL), EINVAL);
}

CASE(madvise_unmapped_range_is_enomem) {
    long ps = page();
    char *p = anon(ps);
    EXPECT_OK(munmap(p, ps));
    EXPECT_ERRNO(madvise(p, ps, MADV_NORMAL), ENOMEM);
}

/* ---- mincore ---- */

CASE(mincore_reports_touched_pages_resident) {
    long ps = page();
    char *p = anon(2 * ps);
    p[0] = 1;
    p[ps] = 1;
    unsigned char vec[2] = {0, 0};
    EXPECT_OK(mincore(p, 2 * ps, vec));
    EXPECT_EQ(vec[0] & 1, 1);
    EXPECT_EQ(vec[1] & 1, 1);
}

CASE(mincore_tells_untouched_anonymous_pages_apart) {
    long ps = page();
    char *p = anon(6 * ps);
    p[ps] = 1;
    p[3 * ps + 100] = 1;
    unsigned char vec[6];
    memset(vec, 7, sizeof vec);
    EXPECT_OK(mincore(p, 6 * ps, vec));
    EXPECT_EQ(vec[0] & 1, 0);
    EXPECT_EQ(vec[1] & 1, 1);
    EXPECT_EQ(vec[2] & 1, 0);
    EXPECT_EQ(vec[3] & 1, 1);
    EXPECT_EQ(vec[4] & 1, 0);
    EXPECT_EQ(vec[5] & 1, 0);
    /* A range starting inside: its own first entry is page 3. */
    EXPECT_OK(mincore(p + 3 * ps, 2 * ps, vec));
    EXPECT_EQ(vec[0] & 1, 1);
    EXPECT_EQ(vec[1] & 1, 0);
    /* MADV_DONTNEED gives the pages back. */
    EXPECT_OK(madvise(p, 6 * ps, MADV_DONTNEED));
    EXPECT_OK(mincore(p, 6 * ps, vec));
    EXPECT_EQ(vec[1] & 1, 0);
    EXPECT_EQ(vec[3] & 1, 0);
}

CASE(mincore_unmapped_is_enomem) {
    long ps = page();
    char *p = anon(ps);
    EXPECT_OK(munmap(p, ps));
    unsigned char vec[1];
    EXPECT_ERRNO(mincore(p, ps, vec), ENOMEM);
}

CASE(mincore_unaligned_address_is_einval) {
    char *p = anon(page());
    unsigned char vec[1];
    EXPECT_ERRNO(mincore(p + 1, 10, vec), EINVAL);
}

CASE(mincore_bad_vector_pointer_is_efault) {
    char *p = anon(page());
    p[0] = 1;
    EXPECT_ERRNO(syscall(SYS_mincore, p, page(), (void *)1), EFAULT);
}

/* ---- msync ---- */

CASE(msync_sync_and_async_together_is_einval) {
    char *p = anon(page());
    EXPECT_ERRNO(msync(p, page(), MS_SYNC | MS_ASYNC), EINVAL);
}

CASE(msync_unknown_flag_is_einval) {
    char *p = anon(page());
    EXPECT_ERRNO(msync(p, page(), 0x100), EINVAL);
}

CASE(msync_unaligned_address_is_einval) {
    char *p = anon(page());
    EXPECT_ERRNO(msync(p + 1, 10, MS_SYNC), EINVAL);
}

CASE(msync_unmapped_range_is_enomem) {
    long ps = page();
    char *p = anon(ps);
    EXPECT_OK(munmap(p, ps));
    EXPECT_ERRNO(msync(p, ps, MS_SYNC), ENOMEM);
}

/* ---- fork and sharing ---- */

CASE(fork_child_writes_to_private_memory_invisible_to_parent) {
    long ps = page();
    char *p = anon(ps);
    strcpy(p, "parent");
    static char global[16] = "global";
    pid_t pid = fork();
    if (pid == 0) {
        int ok = strcmp(p, "parent") == 0 && strcmp(global, "global") == 0;
        strcpy(p, "child");
        strcpy(global, "CHILD");
        _exit(ok ? 0 : 3);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0); /* the child saw the parent's data */
    EXPECT_STREQ(p, "parent");
    EXPECT_STREQ(global, "global");
}

CASE(fork_parent_writes_after_fork_invisible_to_child) {
    char *p = anon(page());
    int pfd[2];
    EXPECT_OK(pipe(pfd));
    p[0] = 'o';
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(pfd[1]);
        if (read(pfd[0], &c, 1) != 1) _exit(2);
        _exit(p[0] == 'o' ? 0 : 3);
    }
    close(pfd[0]);
    p[0] = 'n';
    EXPECT_EQ(write(pfd[1], "g", 1), 1);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

CASE(shared_anonymous_memory_is_shared_across_fork) {
    char *p = mmap(NULL, page(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    strcpy(p, "before");
    pid_t pid = fork();
    if (pid == 0) {
        int ok = strcmp(p, "before") == 0;
        strcpy(p, "from child");
        _exit(ok ? 0 : 3);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
    EXPECT_STREQ(p, "from child");
}

CASE(shared_file_mapping_is_shared_across_fork) {
    long ps = page();
    int fd = file_of("f", ps, 0);
    char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT(p != MAP_FAILED);
    pid_t pid = fork();
    if (pid == 0) {
        strcpy(p, "file child");
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_STREQ(p, "file child");
    char buf[11] = {0};
    EXPECT_EQ(pread(fd, buf, 10, 0), 10);
    EXPECT_STREQ(buf, "file child");
}

CASE(fork_preserves_readonly_protection_in_child) {
    char *p = anon(page());
    EXPECT_OK(mprotect(p, page(), PROT_READ));
    pid_t pid = fork();
    if (pid == 0) {
        *(volatile char *)p = 1;
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFSIGNALED(st));
    EXPECT_EQ(WTERMSIG(st), SIGSEGV);
}

/* ---- /proc/self/maps ---- */

CASE(proc_self_maps_lists_new_mapping) {
    long ps = page();
    char *p = mmap(NULL, 3 * ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    char want[64];
    snprintf(want, sizeof want, "%lx-%lx r--p ", (unsigned long)p, (unsigned long)(p + 3 * ps));
    FILE *f = fopen("/proc/self/maps", "r");
    EXPECT(f != NULL);
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, want, strlen(want)) == 0) found = 1;
    fclose(f);
    EXPECT(found);
}

/* The permissions column of the line mapping p, or "" */
static const char *maps_perms(void *p) {
    static char perms[8];
    char want[32], line[1024];
    snprintf(want, sizeof want, "%lx-", (unsigned long)p);
    perms[0] = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return perms;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, want, strlen(want)) == 0) sscanf(line, "%*s %7s", perms);
    fclose(f);
    return perms;
}

CASE(proc_self_maps_shows_write_and_exec_only_as_asked) {
    long ps = page();
    char *p = mmap(NULL, ps, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT_STREQ(maps_perms(p), "-w-p");
    p[0] = 1; /* x86 lets a write-only page be read too; only the display differs */
    EXPECT_EQ(*(volatile char *)p, 1);
    EXPECT_OK(mprotect(p, ps, PROT_WRITE | PROT_EXEC));
    EXPECT_STREQ(maps_perms(p), "-wxp");
    EXPECT_OK(mprotect(p, ps, PROT_READ | PROT_WRITE));
    EXPECT_STREQ(maps_perms(p), "rw-p");
    char *q = mmap(NULL, ps, PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT_STREQ(maps_perms(q), "-w-s");
}

CASE(proc_self_maps_shows_file_mapping_path) {
    long ps = page();
    int fd = file_of("mapped-file", ps, 'x');
    char *p = mmap(NULL, ps, PROT_READ, MAP_SHARED, fd, 0);
    EXPECT(p != MAP_FAILED);
    char want[32];
    snprintf(want, sizeof want, "%lx-", (unsigned long)p);
    FILE *f = fopen("/proc/self/maps", "r");
    EXPECT(f != NULL);
    char line[1024];
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, want, strlen(want)) == 0) {
            found = 1;
            EXPECT(strstr(line, " r--s ") != NULL);
            EXPECT(strstr(line, "/mapped-file\n") != NULL);
        }
    fclose(f);
    EXPECT(found);
}

/* ---- syscalls touching bad guest memory ---- */

CASE(write_from_bad_pointer_is_efault) {
    int fd = open(scratch_path("f"), O_CREAT | O_WRONLY, 0644);
    EXPECT(fd >= 0);
    EXPECT_ERRNO(write(fd, (void *)1, 10), EFAULT);
}

CASE(read_into_readonly_page_is_efault) {
    long ps = page();
    char *p = mmap(NULL, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    int fd = open("/etc/passwd", O_RDONLY);
    EXPECT(fd >= 0);
    EXPECT_ERRNO(read(fd, p, 10), EFAULT);
}

CASE(read_into_prot_none_page_is_efault) {
    long ps = page();
    char *p = mmap(NULL, ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    int pfd[2];
    EXPECT_OK(pipe(pfd));
    EXPECT_EQ(write(pfd[1], "abc", 3), 3);
    EXPECT_ERRNO(read(pfd[0], p, 3), EFAULT);
}

/* ---- MAP_SHARED coherence on files, /dev/shm and memfd ----
 * Every check runs on three backings: a file in the scratch directory, a file in /dev/shm,
 * and a memfd. Stores through a shared mapping and read()/write() see one copy of the data,
 * without msync. */

enum backing { ON_FILE, ON_DEV_SHM, ON_MEMFD };
static int shm_serial;

/* A `len`-byte zero-filled object of the kind, opened read-write. With `name` (file and
 * /dev/shm only), its path is left there for reopening; otherwise a /dev/shm name is unlinked. */
static int shared_object(int kind, size_t len, char *name, size_t size) {
    char path[256];
    int fd;
    if (kind == ON_MEMFD) {
        fd = memfd_create("compat", 0);
    } else {
        if (kind == ON_FILE) snprintf(path, sizeof path, "%s", scratch_path("shared"));
        else snprintf(path, sizeof path, "/dev/shm/compat-%d-%d", getpid(), shm_serial++);
        fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd >= 0 && name) snprintf(name, size, "%s", path);
        else if (fd >= 0 && kind == ON_DEV_SHM) unlink(path);
    }
    if (fd < 0) compat_fail(__FILE__, __LINE__, "cannot create the object: %s", strerror(errno));
    if (ftruncate(fd, len) != 0) compat_fail(__FILE__, __LINE__, "ftruncate: %s", strerror(errno));
    return fd;
}

static char *map_shared(int fd, size_t len, off_t off) {
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
    if (p == MAP_FAILED) compat_fail(__FILE__, __LINE__, "mmap shared: %s", strerror(errno));
    return p;
}

#define ON_EVERY_BACKING(check)                               \
    CASE(check##_on_file) { check(ON_FILE); }                 \
    CASE(check##_on_dev_shm) { check(ON_DEV_SHM); }           \
    CASE(check##_on_memfd) { check(ON_MEMFD); }

static void shared_store_is_seen_by_read(int kind) {
    long ps = page();
    int fd = shared_object(kind, ps, NULL, 0);
    char *p = map_shared(fd, ps, 0);
    memcpy(p + 100, "coherent", 8);
    char buf[9] = {0};
    EXPECT_EQ(pread(fd, buf, 8, 100), 8);
    EXPECT_STREQ(buf, "coherent");
    memcpy(p + 100, "COHERENT", 8); /* a second store, after the file was read */
    EXPECT_EQ(lseek(fd, 100, SEEK_SET), 100);
    EXPECT_EQ(read(fd, buf, 8), 8);
    EXPECT_STREQ(buf, "COHERENT");
}
ON_EVERY_BACKING(shared_store_is_seen_by_read)

static void write_is_seen_through_shared_mapping(int kind) {
    long ps = page();
    int fd = shared_object(kind, ps, NULL, 0);
    char *p = map_shared(fd, ps, 0);
    EXPECT_EQ(p[0], 0); /* the page is in use before the write */
    EXPECT_EQ(write(fd, "written", 7), 7);
    EXPECT(memcmp(p, "written", 7) == 0);
    EXPECT_EQ(pwrite(fd, "again", 5, ps - 5), 5);
    EXPECT(memcmp(p + ps - 5, "again", 5) == 0);
}
ON_EVERY_BACKING(write_is_seen_through_shared_mapping)

static void two_shared_mappings_see_each_others_stores(int kind) {
    long ps = page();
    int fd = shared_object(kind, 2 * ps, NULL, 0);
    char *p = map_shared(fd, 2 * ps, 0);
    char *q = map_shared(fd, 2 * ps, 0);
    char *second = map_shared(fd, ps, ps); /* the second page alone */
    EXPECT(p != q);
    p[10] = 'x';
    EXPECT_EQ(q[10], 'x');
    q[20] = 'y';
    EXPECT_EQ(p[20], 'y');
    p[ps + 1] = 'z';
    EXPECT_EQ(second[1], 'z');
    second[2] = 'w';
    EXPECT_EQ(q[ps + 2], 'w');
}
ON_EVERY_BACKING(two_shared_mappings_see_each_others_stores)

static void fork_child_store_through_shared_mapping_is_seen(int kind) {
    long ps = page();
    int fd = shared_object(kind, ps, NULL, 0);
    char *p = map_shared(fd, ps, 0);
    EXPECT_EQ(p[0], 0); /* the parent uses the page before the child stores */
    pid_t pid = fork();
    if (pid == 0) {
        strcpy(p, "from child");
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT_STREQ(p, "from child");
    char buf[11] = {0};
    EXPECT_EQ(pread(fd, buf, 10, 0), 10);
    EXPECT_STREQ(buf, "from child");
}
ON_EVERY_BACKING(fork_child_store_through_shared_mapping_is_seen)

static void store_into_mapped_short_file_keeps_its_size(int kind) {
    long ps = page();
    int fd = shared_object(kind, 0, NULL, 0);
    EXPECT_EQ(write(fd, "0123456789", 10), 10);
    char *p = map_shared(fd, ps, 0);
    memcpy(p, "AB", 2);
    EXPECT_OK(munmap(p, ps));
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 10);
    char buf[17] = {0};
    EXPECT_EQ(pread(fd, buf, 16, 0), 10);
    EXPECT_STREQ(buf, "AB23456789");
}
ON_EVERY_BACKING(store_into_mapped_short_file_keeps_its_size)

static void ftruncate_grow_makes_mapped_tail_usable(int kind) {
    long ps = page();
    int fd = shared_object(kind, ps, NULL, 0);
    char *p = map_shared(fd, 2 * ps, 0); /* one page past the end */
    p[0] = 'a';
    EXPECT_OK(ftruncate(fd, 2 * ps));
    for (long i = ps; i < 2 * ps; i++) EXPECT_EQ(p[i], 0);
    memcpy(p + ps + 5, "grown", 5);
    char buf[6] = {0};
    EXPECT_EQ(pread(fd, buf, 5, ps + 5), 5);
    EXPECT_STREQ(buf, "grown");
    EXPECT_EQ(pread(fd, buf, 1, 0), 1);
    EXPECT_EQ(buf[0], 'a');
}
ON_EVERY_BACKING(ftruncate_grow_makes_mapped_tail_usable)

static void private_store_is_not_seen_by_read(int kind) {
    long ps = page();
    int fd = shared_object(kind, ps, NULL, 0);
    EXPECT_EQ(pwrite(fd, "original", 8, 0), 8);
    char *shared = map_shared(fd, ps, 0);
    char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT(memcmp(p, "original", 8) == 0);
    memcpy(p, "PRIVATE!", 8);
    char buf[9] = {0};
    EXPECT_EQ(pread(fd, buf, 8, 0), 8);
    EXPECT_STREQ(buf, "original");
    EXPECT(memcmp(shared, "original", 8) == 0);
    EXPECT_OK(munmap(p, ps));
    EXPECT_EQ(pread(fd, buf, 8, 0), 8);
    EXPECT_STREQ(buf, "original");
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, ps);
}
ON_EVERY_BACKING(private_store_is_not_seen_by_read)

/* Two processes that each open the object by name (not an inherited descriptor). */
static void independent_opens_share_through_shared_mappings(int kind) {
    long ps = page();
    char name[256];
    close(shared_object(kind, ps, name, sizeof name));
    int ready[2];
    EXPECT_OK(pipe(ready));
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        int fd = open(name, O_RDWR);
        if (fd < 0) _exit(2);
        volatile char *q = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (q == MAP_FAILED) _exit(3);
        if (write(ready[1], "r", 1) != 1) _exit(4);
        for (int i = 0; q[0] != 'P'; i++) {
            if (i > 5000) _exit(5);
            usleep(1000);
        }
        q[1] = 'C';
        _exit(0);
    }
    close(ready[1]);
    int fd = open(name, O_RDWR);
    char c;
    ssize_t got = read(ready[0], &c, 1);
    if (kind == ON_DEV_SHM) unlink(name);
    EXPECT(fd >= 0);
    EXPECT_EQ(got, 1);
    volatile char *p = map_shared(fd, ps, 0);
    p[0] = 'P';
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
    EXPECT_EQ(p[1], 'C');
    EXPECT_EQ(pread(fd, &c, 1, 1), 1);
    EXPECT_EQ(c, 'C');
}
CASE(independent_opens_share_through_shared_mappings_on_file) { independent_opens_share_through_shared_mappings(ON_FILE); }
CASE(independent_opens_share_through_shared_mappings_on_dev_shm) { independent_opens_share_through_shared_mappings(ON_DEV_SHM); }

/* ---- large untouched mappings (address space, not memory) ---- */

CASE(hundred_gib_of_untouched_mappings_fit) {
    /* Reservations cost address space only: glibc's per-thread malloc arenas, JITs and
     * sanitizers map far more than they touch. */
    void *maps[100];
    for (int i = 0; i < 100; i++) {
        maps[i] = mmap(NULL, 1UL << 30, i % 2 ? PROT_NONE : PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        EXPECT(maps[i] != MAP_FAILED);
    }
    ((char *)maps[0])[12345] = 1;
    for (int i = 0; i < 100; i++) EXPECT_OK(munmap(maps[i], 1UL << 30));
}

CASE(forks_of_a_process_with_a_large_untouched_mapping) {
    size_t len = 4UL << 30;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    EXPECT(p != MAP_FAILED);
    p[0] = 7;
    pid_t kids[24];
    for (int i = 0; i < 24; i++) {
        kids[i] = fork();
        EXPECT(kids[i] >= 0);
        if (kids[i] == 0) { pause(); _exit(p[0] == 7 ? 0 : 1); }
    }
    for (int i = 0; i < 24; i++) { kill(kids[i], SIGKILL); waitpid(kids[i], NULL, 0); }
}

CASE(private_mapping_of_a_large_sparse_file) {
    int fd = open("sparse", O_RDWR | O_CREAT, 0644);
    EXPECT(fd >= 0);
    EXPECT_OK(ftruncate(fd, 8L << 30));
    EXPECT_EQ(pwrite(fd, "hello", 5, 4L << 30), 5);
    char *p = mmap(NULL, 8L << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT(memcmp(p + (4L << 30), "hello", 5) == 0);
    EXPECT_EQ(p[12345], 0);
    p[0] = 'x';
    char c = 1;
    EXPECT_EQ(pread(fd, &c, 1, 0), 1);
    EXPECT_EQ(c, 0);
    EXPECT_OK(munmap(p, 8L << 30));
    close(fd);
}

/* ---- System V shared memory ---- */

CASE(shm_segment_is_shared_with_child_and_counts_attaches) {
    int id = shmget(IPC_PRIVATE, 100, IPC_CREAT | 0600);
    EXPECT(id >= 0);
    char *p = shmat(id, NULL, 0);
    EXPECT(p != (void *)-1);
    pid_t pid = fork();
    if (pid == 0) { strcpy(p, "from child"); _exit(0); }
    EXPECT_EQ(waitpid(pid, NULL, 0), pid);
    EXPECT_STREQ(p, "from child");
    struct shmid_ds ds;
    EXPECT_OK(shmctl(id, IPC_STAT, &ds));
    EXPECT_EQ(ds.shm_nattch, 1);
    EXPECT_EQ(ds.shm_segsz, 100);
    EXPECT_EQ(ds.shm_cpid, getpid());
    char *q = shmat(id, NULL, SHM_RDONLY);
    EXPECT_STREQ(q, "from child");
    EXPECT_OK(shmctl(id, IPC_STAT, &ds));
    EXPECT_EQ(ds.shm_nattch, 2);
    EXPECT_OK(shmdt(q));
    EXPECT_OK(shmctl(id, IPC_RMID, NULL));
    EXPECT_OK(shmctl(id, IPC_STAT, &ds)); /* still attached: lives on, marked SHM_DEST */
    EXPECT(ds.shm_perm.mode & 01000);
    EXPECT_OK(shmdt(p));
    EXPECT_ERRNO(shmctl(id, IPC_STAT, &ds), EINVAL);
}

CASE(shm_key_lookup_and_excl) {
    key_t key = 0x4a6f6579 + getpid();
    int id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
    EXPECT(id >= 0);
    EXPECT_EQ(shmget(key, 100, 0), id);
    EXPECT_ERRNO(shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
    EXPECT_ERRNO(shmget(key, 8192, 0), EINVAL); /* larger than the segment */
    EXPECT_OK(shmctl(id, IPC_RMID, NULL));
    EXPECT_ERRNO(shmget(key, 4096, 0), ENOENT);
}

CASE(shm_errors_follow_linux) {
    EXPECT_ERRNO(shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600), EINVAL);
    EXPECT_ERRNO(shmat(-1, NULL, 0), EINVAL);
    EXPECT_ERRNO(shmat(999999, NULL, 0), EINVAL);
    int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    EXPECT(shmat(id, (void *)0x10001, 0) == (void *)-1 && errno == EINVAL);
    char *p = shmat(id, (void *)0x10000001, SHM_RND); /* rounded down to SHMLBA */
    EXPECT(p == (void *)0x10000000);
    EXPECT_ERRNO(shmdt((char *)p + 4096), EINVAL);
    EXPECT_ERRNO(shmctl(id, 12345, NULL), EINVAL);
    EXPECT_OK(shmdt(p));
    EXPECT_OK(shmctl(id, IPC_RMID, NULL));
}

/* ---- mlock, protection keys, another process's memory ---- */

static long vmlck_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmLck:", 6) == 0) kb = atol(line + 6);
    fclose(f);
    return kb;
}

CASE(mlock_counts_locked_memory_and_needs_a_mapping) {
    char *p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    long before = vmlck_kb();
    EXPECT_OK(mlock(p + 100, 4096)); /* two pages: the range is rounded out */
    EXPECT_EQ(vmlck_kb() - before, 8);
    EXPECT_OK(mlock(p, 4096)); /* already locked: counted once */
    EXPECT_EQ(vmlck_kb() - before, 8);
    EXPECT_OK(munlock(p, 4 * 4096));
    EXPECT_EQ(vmlck_kb(), before);
    EXPECT_OK(munmap(p + 2 * 4096, 4096));
    EXPECT_ERRNO(mlock(p, 4 * 4096), ENOMEM); /* a hole in the range */
    EXPECT_ERRNO(syscall(SYS_mlock2, p, 4096, 2), EINVAL); /* unknown flag */
    EXPECT_OK(syscall(SYS_mlock2, p, 4096, 1)); /* MLOCK_ONFAULT */
    EXPECT_OK(munlockall());
    EXPECT_EQ(vmlck_kb(), before);
    EXPECT_ERRNO(mlockall(0), EINVAL);
    EXPECT_ERRNO(mlockall(MCL_ONFAULT), EINVAL);
}

static void mlock_over_limit(void) {
    struct rlimit r = { 4096, 4096 };
    if (setrlimit(RLIMIT_MEMLOCK, &r) != 0) _exit(3);
    /* Without CAP_IPC_LOCK (nobody): two pages are over a one-page limit. */
    if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0) _exit(4);
    char *p = mmap(NULL, 2 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mlock(p, 2 * 4096) != -1 || errno != ENOMEM) _exit(5);
    if (mlock(p, 4096) != 0) _exit(6);
    struct rlimit zero = { 0, 0 };
    if (setrlimit(RLIMIT_MEMLOCK, &zero) != 0) _exit(7);
    if (mlock(p + 4096, 4096) != -1 || errno != EPERM) _exit(8);
    _exit(0);
}

CASE(mlock_respects_rlimit_memlock) {
    pid_t c = fork();
    if (c == 0) mlock_over_limit();
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

/* ---- NUMA memory policies (the sandbox, as most machines, has one node: 0) ---- */

CASE(set_mempolicy_is_validated_kept_and_reported) {
    int mode = -1;
    unsigned long mask[2] = { ~0UL, ~0UL }, one = 1, two = 2;
    EXPECT_OK(syscall(SYS_get_mempolicy, &mode, mask, 64, 0, 0));
    EXPECT_EQ(mode, 0);             /* MPOL_DEFAULT, no nodes */
    EXPECT_EQ(mask[0], 0);
    EXPECT_EQ(mask[1], ~0UL);       /* 63 bits round up to one long: the next is not written */
    EXPECT_ERRNO(syscall(SYS_get_mempolicy, &mode, mask, 0, 0, 0), EINVAL); /* maxnode below the node count */
    EXPECT_ERRNO(syscall(SYS_get_mempolicy, &mode, NULL, 0, 0, 8), EINVAL);
    EXPECT_ERRNO(syscall(SYS_get_mempolicy, &mode, NULL, 0, &mode, 0), EINVAL); /* an address without MPOL_F_ADDR */
    EXPECT_ERRNO(syscall(SYS_get_mempolicy, &mode, NULL, 0, 0, 1), EINVAL); /* MPOL_F_NODE needs interleave */
    EXPECT_ERRNO(syscall(SYS_get_mempolicy, &mode, NULL, 0, 0, 5), EINVAL); /* MEMS_ALLOWED with F_NODE */
    EXPECT_ERRNO(syscall(SYS_get_mempolicy, &mode, mask, 65537, 0, 0), EINVAL); /* over a page of mask */
    EXPECT_ERRNO(syscall(SYS_get_mempolicy, (void *)8, NULL, 0, 0, 0), EFAULT);
    EXPECT_OK(syscall(SYS_get_mempolicy, &mode, mask, ~0UL, 0, 0));        /* rounds to no longs at all */
    EXPECT_ERRNO(syscall(SYS_set_mempolicy, 2, &one, 0), EINVAL);          /* maxnode 0 wraps: too many */
    unsigned long wide[3] = { 7, 7, 7 };
    EXPECT_OK(syscall(SYS_get_mempolicy, &mode, wide, 129, 0, 4)); /* MPOL_F_MEMS_ALLOWED */
    EXPECT_EQ(mode, 0);
    EXPECT_EQ(wide[0], 1);
    EXPECT_EQ(wide[1], 0);
    EXPECT_EQ(wide[2], 7);

    EXPECT_ERRNO(syscall(SYS_set_mempolicy, 7, NULL, 0), EINVAL);          /* no such mode */
    EXPECT_ERRNO(syscall(SYS_set_mempolicy, 0, &one, 64), EINVAL);         /* DEFAULT takes no nodes */
    EXPECT_ERRNO(syscall(SYS_set_mempolicy, 2, NULL, 0), EINVAL);          /* BIND needs nodes */
    EXPECT_ERRNO(syscall(SYS_set_mempolicy, 2, &two, 64), EINVAL);         /* node 1 is not online */
    EXPECT_ERRNO(syscall(SYS_set_mempolicy, 2, &one, 1), EINVAL);          /* maxnode 1: an empty mask */
    EXPECT_ERRNO(syscall(SYS_set_mempolicy, 4, &one, 64), EINVAL);         /* LOCAL takes no nodes */
    EXPECT_ERRNO(syscall(SYS_set_mempolicy, 3 | (1 << 15) | (1 << 14), &one, 64), EINVAL); /* STATIC and RELATIVE */
    EXPECT_ERRNO(syscall(SYS_set_mempolicy, 3 | (1 << 13), &one, 64), EINVAL); /* NUMA_BALANCING needs BIND */
    EXPECT_ERRNO(syscall(SYS_set_mempolicy, 2, &one, 100000), EINVAL);     /* over a page of mask */
    EXPECT_ERRNO(syscall(SYS_set_mempolicy, 2, (void *)8, 64), EFAULT);
    unsigned long big[20] = { 1 };
    big[17] = 1;                                                           /* node 1088: past any nodemask */
    EXPECT_ERRNO(syscall(SYS_set_mempolicy, 2, big, 64 * 20), EINVAL);
    big[17] = 0;
    EXPECT_OK(syscall(SYS_set_mempolicy, 2, big, 64 * 20));

    EXPECT_OK(syscall(SYS_set_mempolicy, 2, &one, 2));
    EXPECT_OK(syscall(SYS_get_mempolicy, &mode, mask, 64, 0, 0));
    EXPECT_EQ(mode, 2);
    EXPECT_EQ(mask[0], 1);
    EXPECT_OK(syscall(SYS_set_mempolicy, 3 | (1 << 15), &one, 64));       /* INTERLEAVE, static nodes */
    EXPECT_OK(syscall(SYS_get_mempolicy, &mode, mask, 64, 0, 0));
    EXPECT_EQ(mode, 3 | (1 << 15));
    EXPECT_OK(syscall(SYS_get_mempolicy, &mode, NULL, 0, 0, 1));           /* the next interleave node */
    EXPECT_EQ(mode, 0);
    EXPECT_OK(syscall(SYS_set_mempolicy, 2 | (1 << 14), &two, 64));       /* relative: node 1 folds onto 0 */
    EXPECT_OK(syscall(SYS_get_mempolicy, &mode, mask, 64, 0, 0));
    EXPECT_EQ(mode, 2 | (1 << 14));
    EXPECT_EQ(mask[0], 2);                                                 /* reported as given */
    EXPECT_OK(syscall(SYS_set_mempolicy, 1, NULL, 0));                     /* PREFERRED, no nodes: local */
    EXPECT_OK(syscall(SYS_get_mempolicy, &mode, mask, 64, 0, 0));
    EXPECT_EQ(mode, 4);
    EXPECT_EQ(mask[0], 0);

    /* Inherited across fork, as set. */
    EXPECT_OK(syscall(SYS_set_mempolicy, 2, &one, 64));
    pid_t c = fork();
    if (c == 0) {
        int m = -1;
        unsigned long k = 0;
        _exit(syscall(SYS_get_mempolicy, &m, &k, 64, 0, 0) == 0 && m == 2 && k == 1 ? 0 : 3);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT_OK(syscall(SYS_set_mempolicy, 0, NULL, 0));
}

CASE(mbind_sets_a_policy_on_part_of_a_mapping) {
    int mode = -1;
    unsigned long mask = 7, one = 1, two = 2;
    char *p = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT_OK(syscall(SYS_mbind, p + 4096, 4096, 2, &one, 64, 0));
    EXPECT_OK(syscall(SYS_get_mempolicy, &mode, &mask, 64, p + 4096, 2)); /* MPOL_F_ADDR */
    EXPECT_EQ(mode, 2);
    EXPECT_EQ(mask, 1);
    EXPECT_OK(syscall(SYS_get_mempolicy, &mode, &mask, 64, p, 2));        /* its neighbour keeps the default */
    EXPECT_EQ(mode, 0);
    EXPECT_EQ(mask, 0);
    EXPECT_OK(syscall(SYS_get_mempolicy, &mode, NULL, 0, p + 4096, 3));    /* the node of the page */
    EXPECT_EQ(mode, 0);
    EXPECT_ERRNO(syscall(SYS_get_mempolicy, &mode, NULL, 0, (void *)4096, 2), EFAULT);
    /* The range became its own mapping in /proc/self/maps. */
    char line[256], want[32];
    snprintf(want, sizeof want, "%lx-%lx ", (unsigned long)(p + 4096), (unsigned long)(p + 8192));
    FILE *f = fopen("/proc/self/maps", "r");
    EXPECT(f != NULL);
    int seen = 0;
    while (f && fgets(line, sizeof line, f)) seen |= strncmp(line, want, strlen(want)) == 0;
    if (f) fclose(f);
    EXPECT(seen);

    EXPECT_ERRNO(syscall(SYS_mbind, p + 1, 4096, 2, &one, 64, 0), EINVAL);  /* unaligned */
    EXPECT_ERRNO(syscall(SYS_mbind, p, 4096, 2, &one, 64, 8), EINVAL);      /* unknown flag */
    EXPECT_ERRNO(syscall(SYS_mbind, p, 4096, 7, &one, 64, 0), EINVAL);      /* no such mode */
    EXPECT_ERRNO(syscall(SYS_mbind, p, 4096, 2, &two, 64, 0), EINVAL);      /* node 1 */
    EXPECT_ERRNO(syscall(SYS_mbind, p, 4096, 0, &one, 64, 0), EINVAL);      /* DEFAULT takes no nodes */
    EXPECT_ERRNO(syscall(SYS_mbind, p, -4096UL, 2, &one, 64, 0), EINVAL);   /* wraps around */
    EXPECT_OK(syscall(SYS_mbind, p, 0, 2, &two, 64, 0));                   /* nothing: nodes are not looked at */
    EXPECT_OK(syscall(SYS_mbind, p, 4096, 2, &one, 64, 1 | 2));            /* STRICT | MOVE */
    EXPECT_OK(syscall(SYS_mbind, p, 4096, 1, NULL, 0, 0));                 /* local */
    EXPECT_OK(syscall(SYS_get_mempolicy, &mode, &mask, 64, p, 2));
    EXPECT_EQ(mode, 4);
    EXPECT_OK(syscall(SYS_mbind, p, 4096, 0, NULL, 0, 0));                 /* back to the default */
    EXPECT_OK(syscall(SYS_get_mempolicy, &mode, &mask, 64, p, 2));
    EXPECT_EQ(mode, 0);

    /* set_mempolicy_home_node: only for BIND or PREFERRED_MANY mappings. */
    EXPECT_ERRNO(syscall(SYS_set_mempolicy_home_node, p, 4096, 0, 1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_set_mempolicy_home_node, p, 4096, 1, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_set_mempolicy_home_node, p, 4096, 0, 0), ENOENT);   /* no policy there */
    EXPECT_OK(syscall(SYS_set_mempolicy_home_node, p + 4096, 4096, 0, 0));
    EXPECT_OK(syscall(SYS_mbind, p + 4096, 4096, 3, &one, 64, 0));
    EXPECT_ERRNO(syscall(SYS_set_mempolicy_home_node, p + 4096, 4096, 0, 0), EOPNOTSUPP);

    /* A hole in the range. */
    EXPECT_OK(munmap(p + 4096, 4096));
    EXPECT_ERRNO(syscall(SYS_mbind, p, 3 * 4096, 2, &one, 64, 0), EFAULT);
    EXPECT_OK(munmap(p, 3 * 4096));
}

/* ---- membarrier ---- */

CASE(membarrier_commands_and_registrations) {
    long q = syscall(SYS_membarrier, 0 /* QUERY */, 0, 0);
    EXPECT(q >= 0);
    EXPECT((q & 0x1f) == 0x1f); /* GLOBAL, GLOBAL_EXPEDITED, PRIVATE_EXPEDITED and their REGISTERs */
    EXPECT_ERRNO(syscall(SYS_membarrier, 0, 1, 0), EINVAL);   /* flags */
    EXPECT_ERRNO(syscall(SYS_membarrier, 3, 0, 0), EINVAL);   /* two commands */
    EXPECT_ERRNO(syscall(SYS_membarrier, 1 << 12, 0, 0), EINVAL);
    EXPECT_OK(syscall(SYS_membarrier, 1 /* GLOBAL */, 0, 0));
    EXPECT_OK(syscall(SYS_membarrier, 2 /* GLOBAL_EXPEDITED */, 0, 0)); /* needs no registration */
    /* The process registers before a private expedited barrier, once for all its threads. */
    pid_t c = fork();
    if (c == 0) {
        if (syscall(SYS_membarrier, 8, 0, 0) != -1 || errno != EPERM) _exit(3);
        if (syscall(SYS_membarrier, 16, 1, 0) != -1 || errno != EINVAL) _exit(4);
        if (syscall(SYS_membarrier, 16, 0, 0) != 0) _exit(5);
        if (syscall(SYS_membarrier, 8, 0, 0) != 0) _exit(6);
        if (syscall(SYS_membarrier, 8, 1, 0) != -1 || errno != EINVAL) _exit(7);
        if (syscall(SYS_membarrier, 4, 0, 0) != 0) _exit(8);
        if ((q & 512) && syscall(SYS_membarrier, 512, 0, 0) != (16 | 4)) _exit(9); /* GET_REGISTRATIONS */
        /* fork keeps the registration */
        pid_t g = fork();
        if (g == 0) _exit(syscall(SYS_membarrier, 8, 0, 0) == 0 ? 0 : 1);
        int gs;
        if (waitpid(g, &gs, 0) != g || !WIFEXITED(gs) || WEXITSTATUS(gs) != 0) _exit(10);
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

/* Store buffering: each side stores, then loads the other's word. With only a compiler
 * barrier on one side and membarrier on the other, both loads seeing 0 is forbidden. */
static volatile int sb_x, sb_y, sb_r1, sb_go, sb_done;

/* Spins, then yields: on a loaded machine the other side may not be running. */
static void sb_wait(volatile int *word, int value) {
    for (int n = 0; __atomic_load_n(word, __ATOMIC_ACQUIRE) != value; n++)
        if (n > 2000) sched_yield();
}

static void *sb_fast_side(void *arg) {
    int rounds = (int)(long)arg;
    for (int i = 1; i <= rounds; i++) {
        sb_wait(&sb_go, i);
        sb_x = 1;
        __asm__ volatile("" ::: "memory");
        sb_r1 = sb_y;
        __atomic_store_n(&sb_done, i, __ATOMIC_RELEASE);
    }
    return NULL;
}

CASE(membarrier_orders_a_store_before_another_threads_load) {
    enum { ROUNDS = 2000 };
    EXPECT_OK(syscall(SYS_membarrier, 16 /* REGISTER_PRIVATE_EXPEDITED */, 0, 0));
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, sb_fast_side, (void *)(long)ROUNDS), 0);
    int both_zero = 0;
    for (int i = 1; i <= ROUNDS; i++) {
        sb_x = 0; sb_y = 0;
        __atomic_store_n(&sb_go, i, __ATOMIC_SEQ_CST);
        sb_y = 1;
        __asm__ volatile("" ::: "memory");
        if (syscall(SYS_membarrier, 8 /* PRIVATE_EXPEDITED */, 0, 0) != 0) { both_zero = -1; break; }
        int r2 = sb_x;
        sb_wait(&sb_done, i);
        if (sb_r1 == 0 && r2 == 0) both_zero++;
    }
    EXPECT_EQ(pthread_join(t, NULL), 0);
    EXPECT_EQ(both_zero, 0);
}

CASE(pkey_mprotect_with_no_key_is_mprotect) {
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT_EQ(syscall(SYS_pkey_mprotect, p, 4096, PROT_READ, -1), 0);
    EXPECT_ERRNO(syscall(SYS_pkey_alloc, 1, 0), EINVAL); /* flags must be 0 */
    EXPECT_ERRNO(syscall(SYS_pkey_alloc, 0, 8), EINVAL); /* unknown access rights */
}

/* Address space is reserved, not memory: terabytes of mappings a program never touches (a
 * wasm runtime's guard regions, a collector's heap reservation) are Linux's to give. */
CASE(terabytes_of_untouched_mappings_can_be_reserved) {
    enum { N = 2048 };
    static char *maps[N];
    for (int i = 0; i < N; i++) {
        maps[i] = mmap(NULL, 1UL << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        EXPECT(maps[i] != MAP_FAILED);
    }
    maps[N - 1][5] = 'x';
    EXPECT_EQ(maps[N - 1][5], 'x');
    EXPECT_EQ(maps[0][1 << 20], 0);
    char *none = mmap(NULL, 4UL << 40, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    EXPECT(none != MAP_FAILED);
    EXPECT_OK(mprotect(none + (3UL << 40), 4096, PROT_READ | PROT_WRITE));
    none[(3UL << 40) + 7] = 'y';
    EXPECT_EQ(none[(3UL << 40) + 7], 'y');
    EXPECT_OK(munmap(none, 4UL << 40));
    for (int i = 0; i < N; i++) EXPECT_OK(munmap(maps[i], 1UL << 30));
}

#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE (1 << 1)
#define MPOL_MF_MOVE_ALL (1 << 2)
#endif

/* migrate_pages with one node: the masks (maxnode counts the bits plus one, at most a page of
 * them), the process, then the new nodes (an offline node: EINVAL for root, EPERM without
 * CAP_SYS_NICE; none left: EINVAL), and no page left behind. */
CASE(migrate_pages_checks_its_masks_and_has_nothing_to_move) {
    unsigned long zero = 0, node0 = 1, node1 = 2;
    EXPECT_EQ(syscall(SYS_migrate_pages, 0, 65, &node0, &node0), 0);
    EXPECT_EQ(syscall(SYS_migrate_pages, getpid(), 65, NULL, &node0), 0);
    EXPECT_ERRNO(syscall(SYS_migrate_pages, 0, 65, &node0, &node1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_migrate_pages, 0, 65, &node0, &zero), EINVAL);
    EXPECT_ERRNO(syscall(SYS_migrate_pages, 0, 65, &node0, NULL), EINVAL);
    EXPECT_ERRNO(syscall(SYS_migrate_pages, 0, 0, &node0, &node0), EINVAL); /* no bits: no nodes */
    EXPECT_ERRNO(syscall(SYS_migrate_pages, 0, 32770, &node0, &node0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_migrate_pages, 0, 65, (void *)8, &node0), EFAULT);
    EXPECT_ERRNO(syscall(SYS_migrate_pages, -1, 65, &node0, &node0), ESRCH);
    EXPECT_ERRNO(syscall(SYS_migrate_pages, 0x3fffffff, 65, &node0, &node0), ESRCH);
    pid_t parent = getpid();
    pid_t c = fork();
    if (c == 0) {
        if (setresuid(65534, 65534, 65534) != 0) _exit(1);
        if (syscall(SYS_migrate_pages, 0, 65, &node0, &node1) != -1 || errno != EPERM) _exit(2);
        if (syscall(SYS_migrate_pages, 0, 65, &node0, &node0) != 0) _exit(3);
        if (syscall(SYS_migrate_pages, parent, 65, &node0, &node0) != -1 || errno != EPERM) _exit(4);
        _exit(0);
    }
    EXPECT_EQ(wait_status(c), 0);
}

/* move_pages with one node: each status says where the page is (0), that it is mapped but not
 * yet in memory (-ENOENT) or that nothing is mapped there (-EFAULT), with or without nodes to
 * move to; a node that does not exist ends the call (ENODEV). */
CASE(move_pages_reports_each_page_and_checks_its_arguments) {
    long ps = page();
    char *a = mmap(NULL, 3 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(a != MAP_FAILED);
    a[0] = 1;
    EXPECT_OK(mprotect(a + 2 * ps, ps, PROT_NONE));
    int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "data", 4), 4);
    char *f = mmap(NULL, 2 * ps, PROT_READ, MAP_SHARED, fd, 0);
    EXPECT(f != MAP_FAILED);
    EXPECT_EQ(*(volatile char *)f, 'd');
    char *gone = mmap(NULL, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* the last mapping made */
    EXPECT_OK(munmap(gone, ps));
    void *pages[6] = { a + 5, a + ps, a + 2 * ps, gone, f, f + ps };
    int expect[6] = { 0, -ENOENT, -ENOENT, -EFAULT, 0, -ENOENT };
    int status[6], nodes[6] = { 0 };
    for (int pass = 0; pass < 2; pass++) {
        memset(status, 0x55, sizeof status);
        EXPECT_EQ(syscall(SYS_move_pages, 0, 6, pages, pass ? nodes : NULL, status, pass ? MPOL_MF_MOVE : 0), 0);
        for (int i = 0; i < 6; i++) EXPECT_EQ(status[i], expect[i]);
    }
    memset(status, 0x55, sizeof status);
    nodes[2] = 1;
    EXPECT_ERRNO(syscall(SYS_move_pages, 0, 6, pages, nodes, status, 0), ENODEV);
    EXPECT_EQ(status[0], 0);  /* the pages before the bad node have their status */
    EXPECT_EQ(status[1], -ENOENT);
    EXPECT_EQ(status[2], 0x55555555);
    nodes[2] = -1;
    EXPECT_ERRNO(syscall(SYS_move_pages, 0, 6, pages, nodes, status, 0), ENODEV);
    nodes[2] = 4096;
    EXPECT_ERRNO(syscall(SYS_move_pages, 0, 6, pages, nodes, status, 0), ENODEV);
    EXPECT_ERRNO(syscall(SYS_move_pages, 0, 6, pages, NULL, status, 8), EINVAL);
    EXPECT_ERRNO(syscall(SYS_move_pages, 0, 6, NULL, NULL, status, 0), EFAULT);
    EXPECT_ERRNO(syscall(SYS_move_pages, 0, 6, pages, NULL, NULL, 0), EFAULT);
    EXPECT_EQ(syscall(SYS_move_pages, 0, 0, NULL, NULL, NULL, 0), 0);
    EXPECT_ERRNO(syscall(SYS_move_pages, 0x3fffffff, 1, pages, NULL, status, 0), ESRCH);
    pid_t parent = getpid();
    pid_t c = fork();
    if (c == 0) {
        if (setresuid(65534, 65534, 65534) != 0) _exit(1);
        if (syscall(SYS_move_pages, 0, 1, pages, NULL, status, MPOL_MF_MOVE_ALL) != -1 || errno != EPERM) _exit(2);
        if (syscall(SYS_move_pages, parent, 1, pages, NULL, status, 0) != -1 || errno != EPERM) _exit(3);
        if (syscall(SYS_move_pages, 0, 1, pages, NULL, status, 0) != 0 || status[0] != 0) _exit(4);
        _exit(0);
    }
    EXPECT_EQ(wait_status(c), 0);
    close(fd);
}

/* process_vm_readv and kcmp ask ptrace_may_access: a process of the same user that made itself
 * undumpable is out of reach (without CAP_SYS_PTRACE), and within reach again once dumpable. */
CASE(process_vm_readv_and_kcmp_spare_an_undumpable_process) {
    static char secret[16] = "undumpable";
    int go[2], ready[2];
    EXPECT_OK(pipe(go));
    EXPECT_OK(pipe(ready));
    pid_t target = fork();
    if (target == 0) {
        char b;
        if (setresuid(65534, 65534, 65534) != 0) _exit(1);
        if (prctl(PR_SET_DUMPABLE, 0) != 0) _exit(2);
        if (write(ready[1], "r", 1) != 1) _exit(3);
        if (read(go[0], &b, 1) != 1) _exit(4); /* the prober is done with the undumpable self */
        if (prctl(PR_SET_DUMPABLE, 1) != 0) _exit(5);
        if (write(ready[1], "r", 1) != 1) _exit(6);
        ssize_t r = read(go[0], &b, 1); /* until the prober has finished */
        (void)r;
        _exit(0);
    }
    char b;
    EXPECT_EQ(read(ready[0], &b, 1), 1);
    pid_t prober = fork();
    if (prober == 0) {
        char buf[16];
        struct iovec local = { buf, sizeof buf }, remote = { secret, sizeof secret };
        if (setresuid(65534, 65534, 65534) != 0) _exit(1);
        if (process_vm_readv(target, &local, 1, &remote, 1, 0) != -1 || errno != EPERM) _exit(2);
        if (syscall(SYS_kcmp, getpid(), target, 1 /* KCMP_VM */, 0, 0) != -1 || errno != EPERM) _exit(3);
        if (write(go[1], "g", 1) != 1) _exit(4);
        if (read(ready[0], &b, 1) != 1) _exit(5);
        if (process_vm_readv(target, &local, 1, &remote, 1, 0) != (ssize_t)sizeof secret) _exit(6);
        if (strcmp(buf, "undumpable") != 0) _exit(7);
        if (syscall(SYS_kcmp, getpid(), target, 1, 0, 0) <= 0) _exit(8); /* another address space */
        _exit(0);
    }
    EXPECT_EQ(wait_status(prober), 0);
    EXPECT_EQ(write(go[1], "g", 1), 1);
    EXPECT_EQ(wait_status(target), 0);
}

CASE(process_vm_readv_and_writev_between_parent_and_child) {
    static char secret[32] = "from the parent";
    int sync[2];
    EXPECT_OK(pipe(sync));
    pid_t c = fork();
    if (c == 0) {
        char b;
        ssize_t r = read(sync[0], &b, 1); /* the parent wrote into us */
        (void)r;
        _exit(strcmp(secret, "written by parent") == 0 ? 0 : 3);
    }
    char buf[32] = {0};
    struct iovec local = { buf, sizeof buf }, remote = { secret, sizeof secret };
    EXPECT_EQ(process_vm_readv(c, &local, 1, &remote, 1, 0), (long)sizeof secret);
    EXPECT_STREQ(buf, "from the parent");
    char text[32] = "written by parent";
    struct iovec src = { text, sizeof text };
    EXPECT_EQ(process_vm_writev(c, &src, 1, &remote, 1, 0), (long)sizeof text);
    EXPECT_EQ(write(sync[1], "x", 1), 1);
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct iovec bad = { (void *)8, 16 };
    EXPECT_ERRNO(process_vm_readv(getpid(), &local, 1, &bad, 1, 0), EFAULT);
    EXPECT_ERRNO(process_vm_readv(getpid(), &local, 1, &remote, 1, 1), EINVAL);
    EXPECT_ERRNO(process_vm_readv(c, &local, 1, &remote, 1, 0), ESRCH); /* reaped */
}

COMPAT_MAIN()

/* ---- MAP_SHARED_VALIDATE, VM_MAYWRITE, and madvise/msync on what they cannot apply to ---- */

CASE(mmap_shared_validate_refuses_unknown_flags) {
    long ps = page();
    int fd = file_of("f", ps, 'x');
    EXPECT(mmap(NULL, ps, PROT_READ, MAP_SHARED_VALIDATE | (1 << 10), fd, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EOPNOTSUPP);
    EXPECT(mmap(NULL, ps, PROT_READ, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EOPNOTSUPP);
    EXPECT(mmap(NULL, ps, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EINVAL);
    char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_POPULATE, fd, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT_EQ(p[0], 'x');
    /* plain MAP_SHARED ignores what it does not know */
    EXPECT(mmap(NULL, ps, PROT_READ, MAP_SHARED | (1 << 10), fd, 0) != MAP_FAILED);
}

CASE(mprotect_cannot_add_write_where_mmap_could_not_have) {
    long ps = page();
    int zero = open("/dev/zero", O_RDONLY);
    char *p = mmap(NULL, ps, PROT_READ, MAP_SHARED, zero, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT_ERRNO(mprotect(p, ps, PROT_READ | PROT_WRITE), EACCES);
    char *q = mmap(NULL, ps, PROT_READ, MAP_PRIVATE, zero, 0); /* private: a copy, writable */
    EXPECT_OK(mprotect(q, ps, PROT_READ | PROT_WRITE));
    int m = memfd_create("sealed", MFD_ALLOW_SEALING);
    EXPECT_OK(ftruncate(m, ps));
    EXPECT_OK(fcntl(m, F_ADD_SEALS, F_SEAL_WRITE));
    char *s = mmap(NULL, ps, PROT_READ, MAP_SHARED, m, 0);
    EXPECT(s != MAP_FAILED);
    EXPECT_ERRNO(mprotect(s, ps, PROT_READ | PROT_WRITE), EACCES);
}

/* A MAP_GROWSDOWN mapping grows down over a fault just below it, page by page, while the
 * guard gap (256 pages) above the next mapping down holds; a touch that would bring it nearer
 * is SIGSEGV. Shared anonymous memory cannot grow down (EINVAL). */
static int touch_in_child(volatile char *p) {
    pid_t c = fork();
    if (c == 0) { *p = 1; _exit(0); }
    int st;
    if (waitpid(c, &st, 0) != c) return -1;
    return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

CASE(map_growsdown_grows_over_faults_below_but_keeps_the_guard_gap) {
    long ps = page();
    size_t reserved = (256 + 64) * ps;
    char *base = mmap(NULL, reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(base != MAP_FAILED);
    EXPECT_OK(munmap(base, reserved));
    char *top = base + reserved;
    char *stack = mmap(top - 4 * ps, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
    EXPECT(stack == top - 4 * ps);
    EXPECT_EQ(touch_in_child(stack - 1), 0);             /* the page below */
    EXPECT_EQ(touch_in_child(stack - 20 * ps), 0);       /* further, within the reserve */
    stack[-1] = 'g';                                     /* and in this process */
    EXPECT_EQ(stack[-1], 'g');
    /* A mapping at the reserve's bottom: growth may not come within the gap of it. */
    char *floor = mmap(base, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    EXPECT(floor == base);
    EXPECT_EQ(touch_in_child(base + ps + 10 * ps), SIGSEGV);
    EXPECT_EQ(touch_in_child(stack - 40 * ps), 0);       /* still 270+ pages above it */
    EXPECT(mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EINVAL);
    /* RLIMIT_STACK bounds the whole mapping, however many steps it grew in: 16 pages here. */
    pid_t c = fork();
    if (c == 0) {
        struct rlimit r = {16 * ps, RLIM_INFINITY};
        if (setrlimit(RLIMIT_STACK, &r) != 0) _exit(2);
        for (int i = 1; i <= 12; i++) stack[-i * ps] = 1; /* page by page: 4 + 12 = 16 */
        signal(SIGSEGV, SIG_DFL);
        stack[-13 * ps] = 1;                               /* a 17th page: SIGSEGV */
        _exit(3);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
}

/* F_SEAL_WRITE is EBUSY while a shared mapping may write the memfd (one made through an fd
 * open for writing, even read-only now, in this process or a child), but other seals are
 * not; once such mappings are gone, or beside private and read-only-fd ones, it seals. */
CASE(memfd_write_seal_is_ebusy_while_a_shared_mapping_may_write) {
    long ps = page();
    int m = memfd_create("sealing", MFD_ALLOW_SEALING);
    EXPECT_OK(ftruncate(m, ps));
    char *w = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    EXPECT(w != MAP_FAILED);
    EXPECT_ERRNO(fcntl(m, F_ADD_SEALS, F_SEAL_WRITE), EBUSY);
    EXPECT_EQ(fcntl(m, F_GET_SEALS), 0);
    EXPECT_OK(fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK));
    EXPECT_OK(munmap(w, ps));
    char *r = mmap(NULL, ps, PROT_READ, MAP_SHARED, m, 0); /* read-only, but may become writable */
    EXPECT(r != MAP_FAILED);
    EXPECT_ERRNO(fcntl(m, F_ADD_SEALS, F_SEAL_WRITE), EBUSY);
    pid_t kid = fork();
    if (kid == 0) {
        munmap(r, ps);
        _exit(fcntl(m, F_ADD_SEALS, F_SEAL_WRITE) == -1 && errno == EBUSY ? 0 : 1);
    }
    int status;
    EXPECT_EQ(waitpid(kid, &status, 0), kid);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* the parent's mapping still counts */
    EXPECT_OK(munmap(r, ps));
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", m);
    int ro = open(path, O_RDONLY);
    EXPECT(ro >= 0);
    char *viaro = mmap(NULL, ps, PROT_READ, MAP_SHARED, ro, 0);
    EXPECT(viaro != MAP_FAILED);
    char *priv = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, m, 0);
    EXPECT(priv != MAP_FAILED);
    EXPECT_OK(fcntl(m, F_ADD_SEALS, F_SEAL_WRITE));
    EXPECT_EQ(fcntl(m, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_WRITE);
}

CASE(madvise_and_msync_refuse_locked_and_unsuitable_memory) {
    long ps = page();
    int fd = file_of("f", 2 * ps, 'x');
    char *file = mmap(NULL, ps, PROT_READ, MAP_SHARED, fd, 0);
    char *priv = mmap(NULL, ps, PROT_READ, MAP_PRIVATE, fd, 0);
    char *shanon = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *anon = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_OK(mlock(file, ps));
    EXPECT_ERRNO(madvise(file, ps, MADV_REMOVE), EINVAL);
    EXPECT_ERRNO(madvise(file, ps, MADV_DONTNEED), EINVAL);
    EXPECT_ERRNO(madvise(file, ps, MADV_FREE), EINVAL);
    EXPECT_ERRNO(madvise(priv, ps, MADV_FREE), EINVAL);
    EXPECT_ERRNO(madvise(file, ps, MADV_WIPEONFORK), EINVAL);
    EXPECT_ERRNO(madvise(shanon, ps, MADV_WIPEONFORK), EINVAL);
    EXPECT_ERRNO(madvise(priv, ps, MADV_WIPEONFORK), EINVAL);
    EXPECT_ERRNO(madvise(anon, ps, MADV_REMOVE), EINVAL); /* private */
    EXPECT_OK(madvise(anon, ps, MADV_FREE));
    EXPECT_ERRNO(msync(file, ps, MS_INVALIDATE), EBUSY);
    EXPECT_OK(msync(file, ps, MS_SYNC));
    EXPECT_OK(munlock(file, ps));
    EXPECT_OK(msync(file, ps, MS_INVALIDATE));
}

CASE(madvise_remove_frees_shared_memory_and_punches_the_file) {
    long ps = page();
    int fd = file_of("f", 2 * ps, 'x');
    char *p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT(p != MAP_FAILED);
    EXPECT_OK(madvise(p + ps, ps, MADV_REMOVE));
    EXPECT_EQ(p[ps], 0);
    EXPECT_EQ(p[0], 'x');
    char c = 1;
    EXPECT_EQ(pread(fd, &c, 1, ps + 10), 1);
    EXPECT_EQ(c, 0); /* the file reads the hole */
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 2 * ps); /* KEEP_SIZE */
    char *a = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(a, 7, ps);
    EXPECT_OK(madvise(a, ps, MADV_REMOVE));
    EXPECT_EQ(a[100], 0);
    int ro = open("f", O_RDONLY);
    char *r = mmap(NULL, ps, PROT_READ, MAP_SHARED, ro, 0);
    EXPECT_ERRNO(madvise(r, ps, MADV_REMOVE), EACCES);
}

CASE(madvise_wipeonfork_and_dontfork_shape_the_child) {
    long ps = page();
    char *wipe = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *gone = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *kept = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(wipe, 0x5a, 4 * ps);
    memset(gone, 1, ps);
    memset(kept, 2, ps);
    EXPECT_OK(madvise(wipe, 4 * ps, MADV_WIPEONFORK));
    EXPECT_OK(madvise(gone, ps, MADV_DONTFORK));
    EXPECT_OK(madvise(kept, ps, MADV_WIPEONFORK));
    EXPECT_OK(madvise(kept, ps, MADV_KEEPONFORK));
    pid_t pid = fork();
    if (pid == 0) {
        if (wipe[0] != 0 || wipe[4 * ps - 1] != 0) _exit(1);
        if (kept[0] != 2) _exit(2);
        /* the advice is inherited: a grandchild sees zeroes again */
        wipe[0] = 9;
        pid_t g = fork();
        if (g == 0) _exit(wipe[0] == 0 ? 0 : 3);
        int gs;
        waitpid(g, &gs, 0);
        if (gs != 0) _exit(4);
        /* the DONTFORK range is not there at all */
        unsigned char v;
        _exit(mincore(gone, ps, &v) == -1 && errno == ENOMEM ? 0 : 5);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(st, 0);
    EXPECT_EQ(wipe[0], 0x5a); /* the parent keeps its data */
}

CASE(shm_lock_shows_shm_locked_in_the_mode) {
    int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    EXPECT(id >= 0);
    struct shmid_ds ds;
    EXPECT_OK(shmctl(id, SHM_LOCK, NULL));
    EXPECT_OK(shmctl(id, IPC_STAT, &ds));
    EXPECT_EQ(ds.shm_perm.mode & 07777, SHM_LOCKED | 0600);
    ds.shm_perm.mode = 0640;
    EXPECT_OK(shmctl(id, IPC_SET, &ds)); /* the permissions change, the lock stays */
    EXPECT_OK(shmctl(id, IPC_STAT, &ds));
    EXPECT_EQ(ds.shm_perm.mode & 07777, SHM_LOCKED | 0640);
    EXPECT_OK(shmctl(id, SHM_UNLOCK, NULL));
    EXPECT_OK(shmctl(id, IPC_STAT, &ds));
    EXPECT_EQ(ds.shm_perm.mode & 07777, 0640);
    EXPECT_OK(shmctl(id, IPC_RMID, NULL));
}

CASE(mlock_and_map_locked_fault_memory_in_and_mlock_onfault_does_not) {
    long ps = page();
    unsigned char v[8];
    char *a = mmap(NULL, 8 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_OK(mincore(a, 8 * ps, v));
    EXPECT_EQ(v[0] & 1, 0);
    EXPECT_OK(mlock(a, 3 * ps));
    EXPECT_OK(mincore(a, 8 * ps, v));
    EXPECT_EQ(v[0] & 1, 1);
    EXPECT_EQ(v[2] & 1, 1);
    EXPECT_EQ(v[3] & 1, 0);
    EXPECT_EQ(a[ps], 0); /* what it was */
    char *s = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT_OK(syscall(SYS_mlock2, s, 4 * ps, 0));
    EXPECT_OK(mincore(s, 4 * ps, v));
    EXPECT_EQ(v[3] & 1, 1);
    char *o = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_OK(syscall(SYS_mlock2, o, 4 * ps, 1 /* MLOCK_ONFAULT */));
    EXPECT_OK(mincore(o, 4 * ps, v));
    EXPECT_EQ(v[0] & 1, 0);
    /* MAP_LOCKED: locked (msync may not invalidate it) and faulted in */
    int fd = file_of("f", ps, 'x');
    char *l = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
    EXPECT(l != MAP_FAILED);
    EXPECT_ERRNO(msync(l, ps, MS_INVALIDATE), EBUSY);
    char *p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    EXPECT_OK(mincore(p, 2 * ps, v));
    EXPECT_EQ(v[1] & 1, 1);
}

/* mseal(2): a sealed mapping cannot be unmapped, moved, resized, mapped over, re-protected,
 * or (read-only anonymous) have its pages discarded; smaps shows "sl". */
#ifndef SYS_mseal
#define SYS_mseal 462
#endif
CASE(mseal_makes_mappings_immutable) {
    long page = 4096;
    char *m = mmap(NULL, 4 * page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(m != MAP_FAILED);
    EXPECT_ERRNO(syscall(SYS_mseal, m, page, 1), EINVAL);            /* flags */
    EXPECT_ERRNO(syscall(SYS_mseal, m + 1, page, 0), EINVAL);        /* alignment */
    EXPECT_ERRNO(syscall(SYS_mseal, m, -(unsigned long)page + 2, 0), EINVAL); /* rounds up to 0 */
    EXPECT_OK(syscall(SYS_mseal, m, 0, 0));
    EXPECT_OK(munmap(m + 3 * page, page));
    EXPECT_ERRNO(syscall(SYS_mseal, m + 2 * page, 2 * page, 0), ENOMEM); /* a hole: nothing sealed */
    EXPECT_OK(munmap(m + 2 * page, page));
    EXPECT_OK(syscall(SYS_mseal, m, page + 1, 0));                  /* two pages */
    EXPECT_ERRNO(munmap(m, page), EPERM);
    EXPECT_ERRNO(munmap(m + page, 2 * page), EPERM);
    EXPECT_ERRNO(mprotect(m, page, PROT_READ | PROT_WRITE), EPERM);
    EXPECT_ERRNO(madvise(m, page, MADV_DONTNEED), EPERM);
    EXPECT_OK(madvise(m, page, MADV_WILLNEED));
    EXPECT(mmap(m, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED && errno == EPERM);
    EXPECT(mremap(m, page, 2 * page, MREMAP_MAYMOVE) == MAP_FAILED && errno == EPERM);
    EXPECT(mremap(m, 2 * page, page, 0) == MAP_FAILED && errno == EPERM);
    char *elsewhere = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(mremap(elsewhere, page, page, MREMAP_MAYMOVE | MREMAP_FIXED, m) == MAP_FAILED && errno == EPERM);
    EXPECT_OK(munmap(elsewhere, page));
    EXPECT_OK(syscall(SYS_mseal, m, 2 * page, 0));                  /* again: fine */
    /* A writable sealed mapping may still drop its pages (only read-only ones are guarded). */
    char *w = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    w[0] = 7;
    EXPECT_OK(syscall(SYS_mseal, w, page, 0));
    EXPECT_OK(madvise(w, page, MADV_DONTNEED));
    EXPECT_EQ(w[0], 0);
    static char smaps[1 << 16];
    EXPECT(slurp("/proc/self/smaps", smaps, sizeof smaps) > 0);
    char start[32];
    snprintf(start, sizeof start, "%lx-", (unsigned long)m);
    char *at = strstr(smaps, start);
    EXPECT(at != NULL);
    char *flags = at ? strstr(at, "VmFlags:") : NULL;
    EXPECT(flags != NULL);
    if (flags) { char *nl = strchr(flags, '\n'); if (nl) *nl = 0; EXPECT(strstr(flags, " sl") != NULL); }
    /* A fork's child inherits the seal. */
    pid_t child = fork();
    if (child == 0) _exit(munmap(m, page) == -1 && errno == EPERM ? 0 : 1);
    EXPECT_EQ(wait_status(child), 0);
}

/* remap_file_pages(2): since Linux 4.0 an mmap(MAP_SHARED | MAP_FIXED) of the same file at
 * the page offset asked for, over part of a shared file mapping. */
CASE(remap_file_pages_maps_another_part_of_the_file_there) {
    long page = 4096;
    int fd = open("file", O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT(fd >= 0);
    for (int i = 0; i < 4; i++) { char c[4096]; memset(c, 'a' + i, sizeof c); EXPECT_EQ(write(fd, c, sizeof c), 4096); }
    char *m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT(m != MAP_FAILED);
    EXPECT_OK(syscall(SYS_remap_file_pages, m, page, 0, 3, 0));  /* page 0 shows the file's page 3 */
    EXPECT_EQ(m[0], 'd');
    EXPECT_EQ(m[page], 'b');
    m[0] = 'X';
    char c;
    EXPECT_EQ(pread(fd, &c, 1, 3 * page), 1);
    EXPECT_EQ(c, 'X');
    EXPECT_OK(syscall(SYS_remap_file_pages, m + page + 5, 2 * page + 7, 0, 0, 0)); /* rounded down */
    EXPECT_EQ(m[page], 'a');
    EXPECT_EQ(m[2 * page], 'b');
    EXPECT_ERRNO(syscall(SYS_remap_file_pages, m, page, PROT_READ, 0, 0), EINVAL);  /* prot */
    EXPECT_ERRNO(syscall(SYS_remap_file_pages, m, 0, 0, 0, 0), EINVAL);          /* size */
    EXPECT_ERRNO(syscall(SYS_remap_file_pages, m + 3 * page, 2 * page, 0, 0, 0), EINVAL); /* past it */
    char *priv = mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, 0);
    EXPECT_ERRNO(syscall(SYS_remap_file_pages, priv, page, 0, 1, 0), EINVAL);    /* not shared */
    char *anon = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_ERRNO(syscall(SYS_remap_file_pages, anon, page, 0, 1, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_remap_file_pages, m, page, 0, -1UL, 0), EINVAL);   /* wraps */
    /* SysV shared memory is a shared mapping of a file too. */
    int shm = shmget(IPC_PRIVATE, 2 * page, 0600);
    char *s = shmat(shm, NULL, 0);
    s[page] = 'S';
    EXPECT_OK(syscall(SYS_remap_file_pages, s, page, 0, 1, 0));
    EXPECT_EQ(s[0], 'S');
    EXPECT_OK(shmdt(s));
    EXPECT_OK(shmctl(shm, IPC_RMID, NULL));
    close(fd);
}

/* remap_file_pages over a SysV segment removed while attached: its id is gone (EINVAL). */
CASE(remap_file_pages_of_a_removed_shm_segment_is_einval) {
    int shm = shmget(IPC_PRIVATE, 4096, 0600);
    EXPECT(shm >= 0);
    char *s = shmat(shm, NULL, 0);
    EXPECT(s != (void *)-1);
    EXPECT_OK(syscall(SYS_remap_file_pages, s, 4096, 0, 0, 0));
    EXPECT_OK(shmctl(shm, IPC_RMID, NULL));
    s[0] = 1; /* still mapped */
    EXPECT_ERRNO(syscall(SYS_remap_file_pages, s, 4096, 0, 0, 0), EINVAL);
    munmap(s, 4096); /* (Linux's shmdt no longer sees a remapped attachment as one) */
}
