// The sentry's confinement: its seccomp filter (built with libseccomp), its capabilities
// (with libcap) and no_new_privs. Each function is one host operation; the policy (which
// calls, which capabilities) is data in Swift (JoeySandbox/Confinement.swift).
#define _GNU_SOURCE
#include "CJoey.h"
#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// The filter the rules describe; NULL (errno set) when libseccomp refuses one.
static scmp_filter_ctx build_filter(const joey_seccomp_rule *rules, int count) {
    // Anything not listed traps: in the sentry that is a SIGSYS (reported, then the sentry
    // exits); a guest call in a systrap stub traps anyway, so the stubs, which inherit this
    // filter, keep working under it.
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!ctx) { errno = ENOMEM; return NULL; }
    for (int i = 0; i < count; i++) {
        const joey_seccomp_rule *x = &rules[i];
        uint32_t action = x->errno_value ? SCMP_ACT_ERRNO((uint32_t)x->errno_value) : SCMP_ACT_ALLOW;
        int r = x->arg < 0 ? seccomp_rule_add(ctx, action, x->nr, 0)
                           : seccomp_rule_add(ctx, action, x->nr, 1,
                                              SCMP_CMP((unsigned)x->arg, SCMP_CMP_MASKED_EQ, x->mask, x->value));
        if (r != 0) { seccomp_release(ctx); errno = -r; return NULL; }
    }
    return ctx;
}

int joey_seccomp_install(const joey_seccomp_rule *rules, int count) {
    scmp_filter_ctx ctx = build_filter(rules, count);
    if (!ctx) return -errno;
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (r == 0) r = seccomp_load(ctx);
    seccomp_release(ctx);
    return r;
}

int joey_seccomp_export(const joey_seccomp_rule *rules, int count, int fd) {
    scmp_filter_ctx ctx = build_filter(rules, count);
    if (!ctx) return -errno;
    int r = seccomp_export_pfc(ctx, fd);
    seccomp_release(ctx);
    return r;
}

int joey_pivot_to_empty_root(const char **step) {
    // A mount namespace of its own, where nothing propagates back to the host.
    *step = "unshare(CLONE_NEWNS)";
    if (unshare(CLONE_NEWNS) != 0) return -errno;
    *step = "making every mount private";
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -errno;
    // An empty tmpfs (over /tmp, in this namespace only) becomes the root.
    *step = "mounting an empty tmpfs for the new root";
    if (mount("joey-sentry-root", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k,mode=0755") != 0) return -errno;
    *step = "making the old root's mount point";
    if (mkdir("/tmp/old", 0700) != 0) return -errno;
    *step = "pivot_root";
    if (syscall(SYS_pivot_root, "/tmp", "/tmp/old") != 0) return -errno;
    *step = "chdir to the new root";
    if (chdir("/") != 0) return -errno;
    *step = "detaching the host's root";
    if (umount2("/old", MNT_DETACH) != 0) return -errno;
    *step = "removing the old root's mount point";
    if (rmdir("/old") != 0) return -errno;
    *step = "making the new root read-only";
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) return -errno;
    *step = "";
    return 0;
}

int joey_caps_limit(uint64_t keep) {
    // The bounding set first (dropping from it needs CAP_SETPCAP, which goes below).
    for (int c = 0; c <= CAP_LAST_CAP; c++) {
        if (keep & (1ULL << c)) continue;
        if (CAP_IS_SUPPORTED(c) && cap_drop_bound((cap_value_t)c) != 0 && errno != EINVAL) return -errno;
    }
    if (cap_reset_ambient() != 0 && errno != EINVAL) return -errno;
    cap_t caps = cap_init();
    if (!caps) return -errno;
    for (int c = 0; c <= CAP_LAST_CAP; c++) {
        if (!(keep & (1ULL << c))) continue;
        cap_value_t v = (cap_value_t)c;
        cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET);
        cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET);
    }
    int r = cap_set_proc(caps) == 0 ? 0 : -errno;
    cap_free(caps);
    return r;
}

uint64_t joey_caps_permitted(void) {
    cap_t caps = cap_get_proc();
    if (!caps) return 0;
    uint64_t mask = 0;
    for (int c = 0; c <= CAP_LAST_CAP && c < 64; c++) {
        cap_flag_value_t v = CAP_CLEAR;
        if (cap_get_flag(caps, (cap_value_t)c, CAP_PERMITTED, &v) == 0 && v == CAP_SET) mask |= 1ULL << c;
    }
    cap_free(caps);
    return mask;
}

int64_t joey_raw_syscall0(int64_t nr) {
    long r = syscall(nr, 0, 0, 0, 0, 0, 0);
    return r == -1 ? -errno : r;
}

int joey_no_new_privs(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : -errno;
}

static void sigsys_report(int sig, siginfo_t *info, void *context) {
    (void)sig; (void)context;
    char msg[160] = "joey: the sentry made host system call ";
    size_t n = strlen(msg);
    char digits[12];
    int d = 0;
    unsigned nr = (unsigned)info->si_syscall;
    do { digits[d++] = (char)('0' + nr % 10); nr /= 10; } while (nr && d < 11);
    while (d > 0 && n < sizeof msg - 1) msg[n++] = digits[--d];
    const char *tail = ", which its seccomp allow-list does not include (rerun with --unconfined, and report it)\n";
    for (const char *t = tail; *t && n < sizeof msg - 1; t++) msg[n++] = *t;
    ssize_t w = write(2, msg, n);
    (void)w;
    _exit(70);
}

int joey_report_sigsys(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = sigsys_report;
    sa.sa_flags = SA_SIGINFO;
    sigfillset(&sa.sa_mask);
    return sigaction(SIGSYS, &sa, NULL) == 0 ? 0 : -errno;
}
