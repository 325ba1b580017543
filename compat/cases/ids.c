/* Identity and host naming: user and group ids (each case runs in its own child, so
 * changing ids there is harmless), supplementary groups, fsuid, umask, uname,
 * hostname limits and capabilities. The suite runs as root. */
#include "../compat.h"
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

static void expect_resuid(uid_t r, uid_t e, uid_t s) {
    uid_t a = 99, b = 99, c = 99;
    EXPECT_OK(getresuid(&a, &b, &c));
    EXPECT_EQ(a, r);
    EXPECT_EQ(b, e);
    EXPECT_EQ(c, s);
}

static void expect_resgid(gid_t r, gid_t e, gid_t s) {
    gid_t a = 99, b = 99, c = 99;
    EXPECT_OK(getresgid(&a, &b, &c));
    EXPECT_EQ(a, r);
    EXPECT_EQ(b, e);
    EXPECT_EQ(c, s);
}

/* ---- ids as root ---- */

CASE(getuid_and_geteuid_are_zero_as_root) {
    EXPECT_EQ(getuid(), 0);
    EXPECT_EQ(geteuid(), 0);
}

CASE(getgid_and_getegid_are_zero_as_root) {
    EXPECT_EQ(getgid(), 0);
    EXPECT_EQ(getegid(), 0);
}

CASE(getresuid_and_getresgid_are_all_zero) {
    expect_resuid(0, 0, 0);
    expect_resgid(0, 0, 0);
}

/* ---- changing uids ---- */

CASE(setresuid_drop_all_then_setuid_zero_is_eperm) {
    EXPECT_OK(setresuid(1000, 1000, 1000));
    expect_resuid(1000, 1000, 1000);
    EXPECT_EQ(getuid(), 1000);
    EXPECT_EQ(geteuid(), 1000);
    EXPECT_ERRNO(setuid(0), EPERM);
    EXPECT_ERRNO(setresuid(-1, 0, -1), EPERM);
    expect_resuid(1000, 1000, 1000);
}

CASE(setresuid_keeping_saved_root_can_regain_root) {
    EXPECT_OK(setresuid(1000, 1000, 0));
    expect_resuid(1000, 1000, 0);
    EXPECT_OK(setresuid(0, 0, 0));
    expect_resuid(0, 0, 0);
}

CASE(setresuid_minus_one_leaves_id_unchanged) {
    EXPECT_OK(setresuid(2345, -1, -1));
    expect_resuid(2345, 0, 0);
    EXPECT_OK(setresuid(-1, 1234, -1)); /* euid is still 0, so this is privileged */
    expect_resuid(2345, 1234, 0);
}

CASE(unprivileged_setresuid_to_foreign_id_is_eperm) {
    EXPECT_OK(setresuid(1000, 1000, 1001));
    EXPECT_OK(setresuid(1001, -1, -1)); /* allowed: 1001 is the saved id */
    expect_resuid(1001, 1000, 1001);
    EXPECT_ERRNO(setresuid(-1, 1002, -1), EPERM);
}

CASE(setuid_as_root_sets_all_three_ids) {
    EXPECT_OK(setuid(1000));
    expect_resuid(1000, 1000, 1000);
}

CASE(setreuid_effective_only_updates_saved_id) {
    /* Setting euid to something other than the real uid also sets the saved uid. */
    EXPECT_OK(setreuid(-1, 1000));
    expect_resuid(0, 1000, 1000);
    EXPECT_OK(setreuid(-1, 0)); /* allowed: 0 is still the real uid */
    expect_resuid(0, 0, 1000);
}

CASE(setreuid_both_drops_root) {
    EXPECT_OK(setreuid(1000, 1001));
    expect_resuid(1000, 1001, 1001);
    EXPECT_ERRNO(setreuid(0, -1), EPERM);
}

CASE(seteuid_round_trip_as_root) {
    EXPECT_OK(seteuid(1000));
    EXPECT_EQ(geteuid(), 1000);
    EXPECT_EQ(getuid(), 0);
    EXPECT_OK(seteuid(0));
    EXPECT_EQ(geteuid(), 0);
}

CASE(setresgid_changes_and_reports_gids) {
    EXPECT_OK(setresgid(100, 200, 300));
    expect_resgid(100, 200, 300);
    EXPECT_EQ(getgid(), 100);
    EXPECT_EQ(getegid(), 200);
}

/* ---- supplementary groups ---- */

CASE(setgroups_getgroups_round_trip) {
    gid_t set[3] = {10, 20, 30};
    EXPECT_OK(setgroups(3, set));
    EXPECT_EQ(getgroups(0, NULL), 3);
    gid_t got[8] = {0};
    EXPECT_EQ(getgroups(8, got), 3);
    EXPECT_EQ(got[0], 10);
    EXPECT_EQ(got[1], 20);
    EXPECT_EQ(got[2], 30);
    EXPECT_OK(setgroups(0, NULL));
    EXPECT_EQ(getgroups(0, NULL), 0);
}

CASE(getgroups_too_small_size_is_einval) {
    gid_t set[3] = {1, 2, 3};
    EXPECT_OK(setgroups(3, set));
    gid_t got[2];
    EXPECT_ERRNO(getgroups(2, got), EINVAL);
}

CASE(setgroups_after_dropping_root_is_eperm) {
    EXPECT_OK(setresuid(1000, 1000, 1000));
    gid_t set[1] = {5};
    EXPECT_ERRNO(setgroups(1, set), EPERM);
}

/* ---- fsuid ---- */

CASE(setfsuid_returns_previous_fsuid) {
    EXPECT_EQ(setfsuid(1000), 0);
    EXPECT_EQ(setfsuid(-1), 1000); /* an invalid id changes nothing and reports the current one */
    EXPECT_EQ(setfsuid(0), 1000);
    EXPECT_EQ(setfsuid(-1), 0);
}

CASE(setfsgid_returns_previous_fsgid) {
    EXPECT_EQ(setfsgid(1000), 0);
    EXPECT_EQ(setfsgid(-1), 1000);
    EXPECT_EQ(setfsgid(0), 1000);
}

CASE(setfsuid_without_cap_setuid_takes_only_own_ids) {
    EXPECT_OK(setresgid(2000, 2001, 2002));
    EXPECT_OK(setresuid(1000, 1001, 1002));
    EXPECT_EQ(setfsuid(5000), 1001); /* not one of its ids: unchanged */
    EXPECT_EQ(setfsuid(1002), 1001); /* the saved id may be used */
    EXPECT_EQ(setfsuid(-1), 1002);
    EXPECT_EQ(setfsgid(5000), 2001);
    EXPECT_EQ(setfsgid(2000), 2001);
    EXPECT_EQ(setfsgid(-1), 2000);
}

CASE(setfsuid_owns_newly_created_files) {
    EXPECT_OK(chmod(scratch(), 0777)); /* fsuid 1000 loses CAP_DAC_OVERRIDE */
    setfsuid(1000);
    setfsgid(1001);
    int fd = open(scratch_path("owned"), O_CREAT | O_WRONLY, 0600);
    EXPECT(fd >= 0);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_uid, 1000);
    EXPECT_EQ(st.st_gid, 1001);
    EXPECT_EQ(geteuid(), 0); /* the effective uid did not move */
}

/* ---- umask ---- */

CASE(umask_returns_previous_mask) {
    umask(022);
    EXPECT_EQ(umask(077), 022);
    EXPECT_EQ(umask(0), 077);
    EXPECT_EQ(umask(01777), 0); /* only the permission bits are kept */
    EXPECT_EQ(umask(022), 0777);
}

CASE(umask_masks_open_and_mkdir_modes) {
    umask(027);
    int fd = open(scratch_path("f"), O_CREAT | O_WRONLY, 0666);
    EXPECT(fd >= 0);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_mode & 07777, 0640);
    EXPECT_OK(mkdir(scratch_path("d"), 0777));
    EXPECT_OK(stat(scratch_path("d"), &st));
    EXPECT_EQ(st.st_mode & 07777, 0750);
    umask(0);
    fd = open(scratch_path("g"), O_CREAT | O_WRONLY, 0666);
    EXPECT(fd >= 0);
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_mode & 07777, 0666);
}

CASE(umask_is_inherited_by_fork) {
    umask(0123);
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) _exit(umask(0) == 0123 ? 0 : 1);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- uname and host name ---- */

CASE(uname_sysname_is_linux) {
    struct utsname u;
    EXPECT_OK(uname(&u));
    EXPECT_STREQ(u.sysname, "Linux");
    EXPECT(u.release[0] >= '1' && u.release[0] <= '9');
}

CASE(uname_machine_is_x86_64) {
    struct utsname u;
    EXPECT_OK(uname(&u));
    EXPECT_STREQ(u.machine, "x86_64");
}

CASE(uname_nodename_matches_gethostname) {
    struct utsname u;
    EXPECT_OK(uname(&u));
    char host[256] = {0};
    EXPECT_OK(gethostname(host, sizeof host));
    EXPECT_STREQ(host, u.nodename);
}

CASE(uname_domainname_matches_getdomainname) {
    struct utsname u;
    EXPECT_OK(uname(&u));
    char dom[256] = {0};
    EXPECT_OK(getdomainname(dom, sizeof dom));
    EXPECT_STREQ(dom, u.domainname);
}

CASE(sethostname_too_long_is_einval) {
    /* Never succeeds: 65 bytes exceeds __NEW_UTS_LEN (64). */
    char name[80];
    memset(name, 'a', sizeof name);
    EXPECT_ERRNO(sethostname(name, 65), EINVAL);
    EXPECT_ERRNO(setdomainname(name, 65), EINVAL);
}

CASE(sethostname_unprivileged_is_eperm) {
    /* Never succeeds: without CAP_SYS_ADMIN the call is refused before anything changes. */
    EXPECT_OK(setresuid(1000, 1000, 1000));
    EXPECT_ERRNO(sethostname("x", 1), EPERM);
}

/* ---- capabilities ---- */

CASE(capget_self_reports_setuid_capability) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    EXPECT_OK(syscall(SYS_capget, &h, d));
    EXPECT(d[0].effective & (1u << CAP_SETUID));
    EXPECT(d[0].permitted & (1u << CAP_SETUID));
}

CASE(capget_bad_version_is_einval_and_reports_preferred) {
    struct __user_cap_header_struct h = {0x12345, 0};
    struct __user_cap_data_struct d[2];
    EXPECT_ERRNO(syscall(SYS_capget, &h, d), EINVAL);
    EXPECT_EQ(h.version, _LINUX_CAPABILITY_VERSION_3);
}

CASE(capabilities_cleared_after_dropping_root) {
    EXPECT_OK(setresuid(1000, 1000, 1000));
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0xff, sizeof d);
    EXPECT_OK(syscall(SYS_capget, &h, d));
    EXPECT_EQ(d[0].effective, 0);
    EXPECT_EQ(d[1].effective, 0);
    EXPECT_EQ(d[0].permitted, 0);
}

static int capget3(struct __user_cap_data_struct d[2]) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    return (int)syscall(SYS_capget, &h, d);
}

static int capset3(struct __user_cap_data_struct d[2]) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    return (int)syscall(SYS_capset, &h, d);
}

CASE(cap_last_cap_matches_capbset_read) {
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
    EXPECT(f != NULL);
    int last = -1;
    EXPECT_EQ(fscanf(f, "%d", &last), 1);
    EXPECT(last >= 36);
    EXPECT_EQ(prctl(PR_CAPBSET_READ, last, 0, 0, 0), 1);
    EXPECT_ERRNO(prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0), EINVAL);
}

CASE(capbset_drop_removes_from_bounding_set) {
    EXPECT_EQ(prctl(PR_CAPBSET_READ, CAP_NET_RAW, 0, 0, 0), 1);
    EXPECT_OK(prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0));
    EXPECT_EQ(prctl(PR_CAPBSET_READ, CAP_NET_RAW, 0, 0, 0), 0);
}

CASE(capset_drops_effective_and_cannot_raise_permitted_again) {
    struct __user_cap_data_struct d[2];
    EXPECT_OK(capget3(d));
    d[0].effective &= ~(1u << CAP_CHOWN);
    EXPECT_OK(capset3(d));
    struct __user_cap_data_struct e[2];
    EXPECT_OK(capget3(e));
    EXPECT_EQ(e[0].effective & (1u << CAP_CHOWN), 0);
    EXPECT(e[0].permitted & (1u << CAP_CHOWN));
    d[0].permitted &= ~(1u << CAP_KILL);
    d[0].effective &= ~(1u << CAP_KILL);
    EXPECT_OK(capset3(d));
    d[0].permitted |= 1u << CAP_KILL;
    EXPECT_ERRNO(capset3(d), EPERM);
    d[0].permitted &= ~(1u << CAP_KILL);
    d[0].effective |= 1u << CAP_KILL; /* effective must stay within permitted */
    EXPECT_ERRNO(capset3(d), EPERM);
}

CASE(keepcaps_keeps_permitted_across_setuid) {
    EXPECT_EQ(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0), 0);
    EXPECT_OK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
    EXPECT_ERRNO(prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0), EINVAL);
    EXPECT_OK(setresuid(1000, 1000, 1000));
    struct __user_cap_data_struct d[2];
    EXPECT_OK(capget3(d));
    EXPECT(d[0].permitted & (1u << CAP_SETUID));
    EXPECT_EQ(d[0].effective, 0); /* leaving euid 0 clears the effective set */
}

CASE(ambient_raise_needs_permitted_and_inheritable) {
    EXPECT_ERRNO(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0), EPERM);
    struct __user_cap_data_struct d[2];
    EXPECT_OK(capget3(d));
    d[0].inheritable |= 1u << CAP_NET_BIND_SERVICE;
    EXPECT_OK(capset3(d));
    EXPECT_OK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0));
    EXPECT_EQ(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0), 1);
    EXPECT_OK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
    EXPECT_EQ(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0), 0);
    EXPECT_ERRNO(prctl(PR_CAP_AMBIENT, 99, 0, 0, 0), EINVAL);
}

CASE(securebits_lock_and_shape_capability_rules) {
    EXPECT_EQ(prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), 0);
    EXPECT_ERRNO(prctl(PR_SET_SECUREBITS, 1 << 12, 0, 0, 0), EPERM); /* unknown bit */
    /* NO_CAP_AMBIENT_RAISE, locked */
    EXPECT_OK(prctl(PR_SET_SECUREBITS, 0xc0, 0, 0, 0));
    EXPECT_EQ(prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), 0xc0);
    EXPECT_ERRNO(prctl(PR_SET_SECUREBITS, 0x80, 0, 0, 0), EPERM); /* a locked bit stays */
    EXPECT_ERRNO(prctl(PR_SET_SECUREBITS, 0x40, 0, 0, 0), EPERM); /* a lock stays */
    struct __user_cap_data_struct d[2];
    EXPECT_OK(capget3(d));
    d[0].inheritable |= 1u << CAP_NET_BIND_SERVICE;
    EXPECT_OK(capset3(d));
    EXPECT_ERRNO(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0), EPERM);
    /* KEEP_CAPS is PR_SET_KEEPCAPS; locked, PR_SET_KEEPCAPS is EPERM */
    EXPECT_OK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
    EXPECT_EQ(prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), 0xd0);
    EXPECT_OK(prctl(PR_SET_SECUREBITS, 0xf0, 0, 0, 0));
    EXPECT_ERRNO(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), EPERM);
    /* inherited by fork; NO_SETUID_FIXUP keeps every set when the uids leave 0 */
    pid_t pid = fork();
    if (pid == 0) {
        if (prctl(PR_GET_SECUREBITS, 0, 0, 0, 0) != 0xf0) _exit(1);
        if (prctl(PR_SET_SECUREBITS, 0xf4, 0, 0, 0) != 0) _exit(2);
        if (setresuid(1000, 1000, 1000) != 0) _exit(3);
        struct __user_cap_data_struct c[2];
        if (capget3(c) != 0 || !(c[0].effective & (1u << CAP_SETUID))) _exit(4);
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(st, 0);
    /* without CAP_SETPCAP nothing changes */
    EXPECT_OK(capget3(d));
    d[0].effective &= ~(1u << CAP_SETPCAP);
    EXPECT_OK(capset3(d));
    EXPECT_ERRNO(prctl(PR_SET_SECUREBITS, 0xf0, 0, 0, 0), EPERM);
}

CASE(setuid_without_cap_setuid_is_eperm) {
    struct __user_cap_data_struct d[2];
    EXPECT_OK(capget3(d));
    d[0].effective &= ~(1u << CAP_SETUID);
    EXPECT_OK(capset3(d));
    EXPECT_ERRNO(setuid(1000), EPERM); /* uid 0 without the capability */
}

COMPAT_MAIN()
