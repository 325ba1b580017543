/* The vDSO: the ELF image at AT_SYSINFO_EHDR, found the way musl and Go find it (program
 * headers, DT_HASH, symbol versions), its time functions answering without a system call
 * (a seccomp filter that fails those calls does not touch them), and agreeing with the
 * system calls they stand for. */
#include "../compat.h"
#include <elf.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);
typedef int (*gettimeofday_fn)(struct timeval *, void *);
typedef time_t (*time_fn)(time_t *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

/* A symbol of the vDSO with version `version`, as musl's __vdsosym looks it up. */
static void *vdso_symbol(const char *name, const char *version) {
    const Elf64_Ehdr *eh = (const void *)getauxval(AT_SYSINFO_EHDR);
    if (!eh) return NULL;
    const Elf64_Phdr *ph = (const void *)((const char *)eh + eh->e_phoff);
    uintptr_t base = 0;
    const Elf64_Dyn *dyn = NULL;
    int have_base = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && !have_base) { base = (uintptr_t)eh + ph[i].p_offset - ph[i].p_vaddr; have_base = 1; }
        if (ph[i].p_type == PT_DYNAMIC) dyn = (const void *)((const char *)eh + ph[i].p_offset);
    }
    if (!have_base || !dyn) return NULL;
    const char *strings = NULL;
    const Elf64_Sym *syms = NULL;
    const Elf32_Word *hash = NULL;
    const Elf64_Half *versym = NULL;
    const Elf64_Verdef *verdef = NULL;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        void *p = (void *)(base + dyn->d_un.d_ptr);
        if (dyn->d_tag == DT_STRTAB) strings = p;
        if (dyn->d_tag == DT_SYMTAB) syms = p;
        if (dyn->d_tag == DT_HASH) hash = p;
        if (dyn->d_tag == DT_VERSYM) versym = p;
        if (dyn->d_tag == DT_VERDEF) verdef = p;
    }
    if (!strings || !syms || !hash || !versym || !verdef) return NULL;
    for (Elf32_Word i = 0; i < hash[1]; i++) {
        if (ELF64_ST_TYPE(syms[i].st_info) != STT_FUNC || syms[i].st_shndx == SHN_UNDEF) continue;
        if (strcmp(strings + syms[i].st_name, name) != 0) continue;
        for (const Elf64_Verdef *d = verdef;; d = (const void *)((const char *)d + d->vd_next)) {
            if (!(d->vd_flags & VER_FLG_BASE) && d->vd_ndx == (versym[i] & 0x7fff)) {
                const Elf64_Verdaux *aux = (const void *)((const char *)d + d->vd_aux);
                if (strcmp(strings + aux->vda_name, version) == 0) return (void *)(base + syms[i].st_value);
            }
            if (!d->vd_next) break;
        }
    }
    return NULL;
}

static int64_t ns_of(struct timespec t) { return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec; }

static clock_gettime_fn vdso_clock_gettime(void) {
    clock_gettime_fn f = (clock_gettime_fn)vdso_symbol("__vdso_clock_gettime", "LINUX_2.6");
    if (!f) compat_fail(__FILE__, __LINE__, "no __vdso_clock_gettime@LINUX_2.6");
    return f;
}

CASE(vdso_image_is_an_elf_shared_object) {
    const Elf64_Ehdr *eh = (const void *)getauxval(AT_SYSINFO_EHDR);
    EXPECT(eh != NULL);
    EXPECT(memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0);
    EXPECT_EQ(eh->e_ident[EI_CLASS], ELFCLASS64);
    EXPECT_EQ(eh->e_type, ET_DYN);
    EXPECT_EQ(eh->e_machine, EM_X86_64);
    EXPECT_EQ((uintptr_t)eh & 4095, 0);
}

CASE(vdso_exports_the_linux_2_6_functions) {
    EXPECT(vdso_symbol("__vdso_clock_gettime", "LINUX_2.6") != NULL);
    EXPECT(vdso_symbol("__vdso_gettimeofday", "LINUX_2.6") != NULL);
    EXPECT(vdso_symbol("__vdso_time", "LINUX_2.6") != NULL);
    EXPECT(vdso_symbol("__vdso_getcpu", "LINUX_2.6") != NULL);
    EXPECT(vdso_symbol("clock_gettime", "LINUX_2.6") != NULL);
    EXPECT(vdso_symbol("__vdso_clock_gettime", "LINUX_9.9") == NULL);
    EXPECT(vdso_symbol("__vdso_no_such_function", "LINUX_2.6") == NULL);
}

/* The legacy vsyscall page (vsyscall=xonly, Linux's default): gettimeofday at +0, time at
 * +0x400 and getcpu at +0x800 answer as the system calls do, and return to the caller. */
CASE(vsyscall_page_answers_gettimeofday_time_and_getcpu) {
    long (*vgettimeofday)(struct timeval *, void *) = (void *)0xffffffffff600000UL;
    long (*vtime)(long *) = (void *)0xffffffffff600400UL;
    long (*vgetcpu)(unsigned *, unsigned *, void *) = (void *)0xffffffffff600800UL;
    struct timeval tv = {0, 0};
    EXPECT_EQ(vgettimeofday(&tv, NULL), 0);
    long now = (long)time(NULL);
    EXPECT(labs(tv.tv_sec - now) <= 2);
    long t = 0;
    EXPECT_EQ(vtime(&t), t);
    EXPECT(labs(t - now) <= 2);
    unsigned cpu = 100000, node = 100000;
    EXPECT_EQ(vgetcpu(&cpu, &node, NULL), 0);
    EXPECT(cpu < CPU_SETSIZE);
    EXPECT_EQ(node, 0);
}

CASE(vsyscall_page_is_last_in_proc_self_maps) {
    FILE *f = fopen("/proc/self/maps", "r");
    EXPECT(f != NULL);
    char line[512], last[512] = "";
    while (fgets(line, sizeof line, f)) strcpy(last, line);
    fclose(f);
    static const char start[] = "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 ";
    EXPECT(strncmp(last, start, sizeof start - 1) == 0);
    EXPECT(strstr(last, " [vsyscall]\n") != NULL);
}

CASE(vdso_is_shown_in_proc_self_maps) {
    uintptr_t eh = getauxval(AT_SYSINFO_EHDR);
    FILE *f = fopen("/proc/self/maps", "r");
    EXPECT(f != NULL);
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long start, end;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3) continue;
        if (strstr(line, "[vdso]")) {
            EXPECT_EQ(start, eh);
            EXPECT_STREQ(perms, "r-xp");
            found = 1;
        }
    }
    fclose(f);
    EXPECT(found);
}

/* With a filter that fails clock_gettime, gettimeofday and time with EPERM, the vDSO's
 * functions still answer: they make no system call for these clocks. */
CASE(vdso_time_functions_make_no_system_call) {
    clock_gettime_fn cg = vdso_clock_gettime();
    gettimeofday_fn gtod = (gettimeofday_fn)vdso_symbol("__vdso_gettimeofday", "LINUX_2.6");
    time_fn tm = (time_fn)vdso_symbol("__vdso_time", "LINUX_2.6");
    EXPECT(gtod && tm);
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clock_gettime, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_gettimeofday, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_time, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    };
    struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
    EXPECT_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    EXPECT_OK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
    struct timespec ts;
    EXPECT_ERRNO(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts), EPERM);
    EXPECT_EQ(cg(CLOCK_MONOTONIC, &ts), 0);
    EXPECT_EQ(cg(CLOCK_REALTIME, &ts), 0);
    EXPECT(ts.tv_sec > 1600000000);
    EXPECT_EQ(cg(CLOCK_BOOTTIME, &ts), 0);
    EXPECT_EQ(cg(CLOCK_MONOTONIC_COARSE, &ts), 0);
    EXPECT_EQ(cg(CLOCK_REALTIME_COARSE, &ts), 0);
    struct timeval tv;
    EXPECT_EQ(gtod(&tv, NULL), 0);
    EXPECT(tv.tv_sec > 1600000000 && tv.tv_usec >= 0 && tv.tv_usec < 1000000);
    time_t t = 0;
    EXPECT(tm(&t) > 1600000000);
    EXPECT(t > 1600000000);
}

/* Clocks the vDSO does not keep are the system call's answer, errors included. */
CASE(vdso_clock_gettime_falls_back_to_the_system_call) {
    clock_gettime_fn cg = vdso_clock_gettime();
    struct timespec ts = {-1, -1};
    EXPECT_EQ(cg(CLOCK_PROCESS_CPUTIME_ID, &ts), 0);
    EXPECT(ts.tv_sec >= 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);
    EXPECT_EQ(cg(CLOCK_MONOTONIC_RAW, &ts), 0);
    EXPECT_EQ(cg(1000, &ts), -EINVAL);
}

CASE(vdso_clock_getres_matches_the_system_call) {
    typedef int (*getres_fn)(clockid_t, struct timespec *);
    getres_fn gr = (getres_fn)vdso_symbol("__vdso_clock_getres", "LINUX_2.6");
    EXPECT(gr != NULL);
    for (clockid_t c = 0; c <= 12; c++) {
        struct timespec a = {-1, -1}, b = {-1, -1};
        errno = 0;
        long want = syscall(SYS_clock_getres, c, &b);
        long got = gr(c, &a);
        if (want == -1) EXPECT_EQ(got, -errno);
        else {
            EXPECT_EQ(got, 0);
            EXPECT(a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec);
        }
    }
}

CASE(vdso_and_system_call_monotonic_never_go_backwards) {
    clock_gettime_fn cg = vdso_clock_gettime();
    int64_t prev = 0;
    for (int i = 0; i < 20000; i++) {
        struct timespec ts;
        if (i % 2) EXPECT_EQ(cg(CLOCK_MONOTONIC, &ts), 0);
        else EXPECT_OK(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts));
        EXPECT(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);
        EXPECT(ns_of(ts) >= prev);
        prev = ns_of(ts);
    }
}

CASE(vdso_realtime_agrees_with_the_system_call) {
    clock_gettime_fn cg = vdso_clock_gettime();
    struct timespec a, b, c;
    EXPECT_EQ(cg(CLOCK_REALTIME, &a), 0);
    EXPECT_OK(syscall(SYS_clock_gettime, CLOCK_REALTIME, &b));
    EXPECT_EQ(cg(CLOCK_REALTIME, &c), 0);
    /* Within a millisecond either way (a host's clock may be adjusted in between). */
    EXPECT(ns_of(b) > ns_of(a) - 1000000 && ns_of(b) < ns_of(c) + 1000000);
    struct timeval tv;
    gettimeofday_fn gtod = (gettimeofday_fn)vdso_symbol("__vdso_gettimeofday", "LINUX_2.6");
    EXPECT_EQ(gtod(&tv, NULL), 0);
    EXPECT(tv.tv_sec >= a.tv_sec && tv.tv_sec <= c.tv_sec + 1);
}

/* A 50 ms sleep measured with the vDSO's clock takes at least 50 ms. */
CASE(vdso_monotonic_measures_a_sleep) {
    clock_gettime_fn cg = vdso_clock_gettime();
    struct timespec a, b, d = {0, 50000000};
    EXPECT_EQ(cg(CLOCK_MONOTONIC, &a), 0);
    while (nanosleep(&d, &d) != 0 && errno == EINTR) {}
    EXPECT_EQ(cg(CLOCK_MONOTONIC, &b), 0);
    EXPECT(ns_of(b) - ns_of(a) >= 50000000);
    EXPECT(ns_of(b) - ns_of(a) < 5000000000LL);
}

CASE(vdso_getcpu_names_an_online_cpu) {
    getcpu_fn gc = (getcpu_fn)vdso_symbol("__vdso_getcpu", "LINUX_2.6");
    EXPECT(gc != NULL);
    unsigned cpu = 9999, node = 9999;
    EXPECT_EQ(gc(&cpu, &node, NULL), 0);
    EXPECT(cpu < (unsigned)sysconf(_SC_NPROCESSORS_CONF));
    EXPECT(node < 1024);
    EXPECT_EQ(gc(NULL, NULL, NULL), 0);
}

static void *thread_reads_clock(void *arg) {
    clock_gettime_fn cg = arg;
    struct timespec ts;
    for (int i = 0; i < 1000; i++)
        if (cg(CLOCK_MONOTONIC, &ts) != 0) return (void *)1;
    return NULL;
}

/* The same image serves every thread, and a forked child. */
CASE(vdso_works_in_threads_and_forked_children) {
    clock_gettime_fn cg = vdso_clock_gettime();
    pthread_t th[4];
    for (int i = 0; i < 4; i++) EXPECT_EQ(pthread_create(&th[i], NULL, thread_reads_clock, (void *)cg), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        EXPECT_EQ(pthread_join(th[i], &r), 0);
        EXPECT(r == NULL);
    }
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec ts;
        _exit(cg(CLOCK_MONOTONIC, &ts) == 0 && getauxval(AT_SYSINFO_EHDR) != 0 ? 0 : 1);
    }
    int status;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

COMPAT_MAIN()
