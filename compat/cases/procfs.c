/* /proc as ps, top, lsof and psutil read it: per-thread directories, fdinfo, statm, io,
 * the task state and context switches in status, and the system-wide vmstat and stat. */
#include "../compat.h"
#include <sys/prctl.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <termios.h>

/* The number after "key" in a /proc file's text ("VmRSS:\t  123 kB" gives 123); -1 if absent. */
static long long field(const char *text, const char *key) {
    const char *p = strstr(text, key);
    if (!p) return -1;
    p += strlen(key);
    while (*p == ' ' || *p == '\t' || *p == ':') p++;
    return strtoll(p, NULL, 10);
}

static pthread_barrier_t started, finish;
static void *parked(void *arg) {
    (void)arg;
    pthread_barrier_wait(&started);
    pthread_barrier_wait(&finish);
    return NULL;
}

CASE(proc_self_task_lists_every_thread_and_tid_directories_are_theirs) {
    pthread_t th[2];
    pthread_barrier_init(&started, NULL, 3);
    pthread_barrier_init(&finish, NULL, 3);
    for (int i = 0; i < 2; i++) EXPECT(pthread_create(&th[i], NULL, parked, NULL) == 0);
    pthread_barrier_wait(&started);
    DIR *d = opendir("/proc/self/task");
    EXPECT(d != NULL);
    int count = 0, sawSelf = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        count++;
        if (atoi(e->d_name) == getpid()) sawSelf = 1;
        char path[128], buf[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        EXPECT(slurp(path, buf, sizeof buf) > 0);
        EXPECT(atoi(buf) == atoi(e->d_name)); /* a thread's stat starts with its own id */
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        EXPECT(slurp(path, buf, sizeof buf) > 0);
        EXPECT(field(buf, "\nPid:") == atoi(e->d_name));
        EXPECT(field(buf, "\nTgid:") == getpid());
    }
    closedir(d);
    EXPECT(count == 3);
    EXPECT(sawSelf);
    /* A thread's id reaches its process's directory too, though /proc does not list it. */
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)syscall(SYS_gettid));
    EXPECT(slurp(path, buf, sizeof buf) > 0);
    pthread_barrier_wait(&finish);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
}

CASE(proc_fdinfo_shows_position_flags_and_inode) {
    int fd = open(scratch_path("fdinfo"), O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC | O_TRUNC, 0644);
    EXPECT(fd >= 0);
    EXPECT(write(fd, "hello", 5) == 5);
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    EXPECT(slurp(path, buf, sizeof buf) > 0);
    EXPECT(strncmp(buf, "pos:\t5\n", 7) == 0);
    const char *f = strstr(buf, "\nflags:\t");
    EXPECT(f != NULL);
    long flags = strtol(f + 8, NULL, 8);
    EXPECT((flags & O_ACCMODE) == O_WRONLY);
    EXPECT(flags & O_APPEND);
    EXPECT(flags & O_CLOEXEC);
    struct stat st;
    EXPECT(fstat(fd, &st) == 0);
    EXPECT(field(buf, "\nino:") == (long long)st.st_ino);
    EXPECT(strstr(buf, "\nmnt_id:\t") != NULL);
    close(fd);
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    EXPECT_ERRNO(open(path, O_RDONLY), ENOENT);
}

CASE(proc_fd_link_mode_tells_how_the_file_is_open) {
    int r = open("/dev/null", O_RDONLY), w = open("/dev/null", O_WRONLY), rw = open("/dev/null", O_RDWR);
    EXPECT(r >= 0 && w >= 0 && rw >= 0);
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/self/fd/%d", r);
    EXPECT(lstat(path, &st) == 0);
    EXPECT((st.st_mode & 0777) == 0500);
    snprintf(path, sizeof path, "/proc/self/fd/%d", w);
    EXPECT(lstat(path, &st) == 0);
    EXPECT((st.st_mode & 0777) == 0300);
    snprintf(path, sizeof path, "/proc/self/fd/%d", rw);
    EXPECT(lstat(path, &st) == 0);
    EXPECT((st.st_mode & 0777) == 0700);
}

/* d_path: a file whose last name is gone, and a removed directory, read back with
 * " (deleted)" after their path; following the link still reaches them. */
CASE(proc_links_of_removed_files_say_deleted) {
    char file[512], link[64], got[600], want[600];
    snprintf(file, sizeof file, "%s", scratch_path("f"));
    int fd = open(file, O_RDWR | O_CREAT, 0644);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "kept", 4), 4);
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, got, sizeof got - 1);
    EXPECT(n > 0);
    got[n] = 0;
    EXPECT_STREQ(got, file);
    EXPECT_OK(unlink(file));
    n = readlink(link, got, sizeof got - 1);
    EXPECT(n > 0);
    got[n] = 0;
    snprintf(want, sizeof want, "%s (deleted)", file);
    EXPECT_STREQ(got, want);
    int again = open(link, O_RDONLY);
    EXPECT(again >= 0);
    char b[8] = {0};
    EXPECT_EQ(read(again, b, sizeof b), 4);
    EXPECT_STREQ(b, "kept");
    EXPECT_OK(mkdir(scratch_path("d"), 0755));
    EXPECT_OK(chdir(scratch_path("d")));
    EXPECT_OK(rmdir(scratch_path("d")));
    n = readlink("/proc/self/cwd", got, sizeof got - 1);
    EXPECT(n > 0);
    got[n] = 0;
    snprintf(want, sizeof want, "%s (deleted)", scratch_path("d"));
    EXPECT_STREQ(got, want);
}

/* d_path follows the file: renamed in its directory (a rotated log), moved to another,
 * then unlinked there. */
CASE(proc_fd_link_follows_a_renamed_file) {
    char link[64], got[600], want[600];
    EXPECT_OK(mkdir(scratch_path("sub"), 0755));
    int fd = open(scratch_path("app.log"), O_WRONLY | O_CREAT, 0644);
    EXPECT(fd >= 0);
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const char *steps[][2] = {{"app.log", "app.log.1"}, {"app.log.1", "sub/moved"}};
    for (int i = 0; i < 2; i++) {
        EXPECT_OK(rename(scratch_path(steps[i][0]), scratch_path(steps[i][1])));
        ssize_t n = readlink(link, got, sizeof got - 1);
        EXPECT(n > 0);
        got[n] = 0;
        EXPECT_STREQ(got, scratch_path(steps[i][1]));
    }
    EXPECT_OK(unlink(scratch_path("sub/moved")));
    ssize_t n = readlink(link, got, sizeof got - 1);
    EXPECT(n > 0);
    got[n] = 0;
    snprintf(want, sizeof want, "%s (deleted)", scratch_path("sub/moved"));
    EXPECT_STREQ(got, want);
}

CASE(proc_statm_resident_grows_with_touched_memory_and_matches_status) {
    char buf[256], status[8192];
    EXPECT(slurp("/proc/self/statm", buf, sizeof buf) > 0);
    long size0, res0;
    EXPECT(sscanf(buf, "%ld %ld", &size0, &res0) == 2);
    const size_t len = 16 << 20;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    for (size_t o = 0; o < len; o += 4096) p[o] = 1;
    long size1, res1;
    EXPECT(slurp("/proc/self/statm", buf, sizeof buf) > 0);
    EXPECT(sscanf(buf, "%ld %ld", &size1, &res1) == 2);
    EXPECT(size1 >= size0 + (long)(len / 4096));
    EXPECT(res1 >= res0 + (long)(len / 4096) * 3 / 4);
    /* status says the same in kB. */
    EXPECT(slurp("/proc/self/status", status, sizeof status) > 0);
    long long rss = field(status, "\nVmRSS:"), vm = field(status, "\nVmSize:");
    EXPECT(rss >= res1 * 4 * 3 / 4 && rss <= res1 * 4 * 5 / 4 + 1024);
    EXPECT(vm >= size1 * 4 - 1024 && vm <= size1 * 4 + 1024);
    EXPECT(field(status, "\nVmHWM:") >= rss * 3 / 4);
    munmap(p, len);
}

CASE(proc_self_is_running_and_a_sleeping_child_is_sleeping) {
    char buf[1024];
    EXPECT(slurp("/proc/self/stat", buf, sizeof buf) > 0);
    char *close_paren = strrchr(buf, ')');
    EXPECT(close_paren && close_paren[1] == ' ' && close_paren[2] == 'R');
    EXPECT(slurp("/proc/self/status", buf, sizeof buf) > 0);
    EXPECT(strstr(buf, "\nState:\tR (running)\n") != NULL);
    pid_t child = fork();
    if (child == 0) { pause(); _exit(0); }
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", child);
    int sleeping = 0;
    for (int i = 0; i < 200 && !sleeping; i++) {
        EXPECT(slurp(path, buf, sizeof buf) > 0);
        close_paren = strrchr(buf, ')');
        sleeping = close_paren && close_paren[2] == 'S';
        if (!sleeping) usleep(10000);
    }
    EXPECT(sleeping);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

CASE(proc_status_counts_voluntary_switches_and_lists_allowed_cpus) {
    char buf[8192];
    EXPECT(slurp("/proc/self/status", buf, sizeof buf) > 0);
    long long before = field(buf, "\nvoluntary_ctxt_switches:");
    EXPECT(before >= 0);
    EXPECT(field(buf, "\nnonvoluntary_ctxt_switches:") >= 0);
    for (int i = 0; i < 5; i++) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    EXPECT(slurp("/proc/self/status", buf, sizeof buf) > 0);
    EXPECT(field(buf, "\nvoluntary_ctxt_switches:") >= before + 5);
    /* Cpus_allowed_list names the CPUs sched_getaffinity gives. */
    cpu_set_t set;
    EXPECT(sched_getaffinity(0, sizeof set, &set) == 0);
    const char *l = strstr(buf, "\nCpus_allowed_list:\t");
    EXPECT(l != NULL);
    int first = -1;
    for (int c = 0; c < CPU_SETSIZE; c++) if (CPU_ISSET(c, &set)) { first = c; break; }
    EXPECT(atoi(l + strlen("\nCpus_allowed_list:\t")) == first);
    EXPECT(strstr(buf, "\nCpus_allowed:\t") != NULL);
}

CASE(proc_self_io_counts_characters_read_and_written) {
    char buf[512];
    EXPECT(slurp("/proc/self/io", buf, sizeof buf) > 0);
    long long wchar = field(buf, "wchar:"), syscw = field(buf, "\nsyscw:"), rchar = field(buf, "rchar:");
    EXPECT(wchar >= 0 && syscw >= 0 && rchar >= 0);
    int p[2];
    EXPECT(pipe(p) == 0);
    char data[3000] = {0};
    EXPECT(write(p[1], data, sizeof data) == (ssize_t)sizeof data);
    EXPECT(read(p[0], data, sizeof data) == (ssize_t)sizeof data);
    EXPECT(slurp("/proc/self/io", buf, sizeof buf) > 0);
    EXPECT(field(buf, "wchar:") >= wchar + 3000);
    EXPECT(field(buf, "\nsyscw:") >= syscw + 1);
    EXPECT(field(buf, "rchar:") >= rchar + 3000);
    EXPECT(field(buf, "\nread_bytes:") >= 0);
}

CASE(proc_vmstat_and_stat_have_the_counters_vmstat_reads) {
    char buf[65536];
    EXPECT(slurp("/proc/vmstat", buf, sizeof buf) > 0);
    EXPECT(field(buf, "nr_free_pages ") > 0);
    EXPECT(field(buf, "\npgfault ") >= 0);
    EXPECT(field(buf, "\npswpin ") >= 0);
    EXPECT(slurp("/proc/stat", buf, sizeof buf) > 0);
    EXPECT(field(buf, "\nctxt ") > 0);
    EXPECT(field(buf, "\nintr ") > 0);
}

/* btime is the second the system booted, fixed: psutil and ps add a process's start ticks to
 * it, and a btime that moved by a second between their reads gave two start times. Read over
 * a second, so every phase of the clocks' fractions is crossed. */
CASE(proc_stat_btime_is_the_same_at_every_read) {
    static char buf[1 << 14];
    EXPECT(slurp("/proc/stat", buf, sizeof buf) > 0);
    long long first = field(buf, "\nbtime ");
    EXPECT(first > 0);
    for (int i = 0; i < 12; i++) {
        usleep(100 * 1000);
        EXPECT(slurp("/proc/stat", buf, sizeof buf) > 0);
        EXPECT(field(buf, "\nbtime ") == first);
    }
}

CASE(proc_net_unix_shows_a_socket_path_byte_for_byte) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    EXPECT(s >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    char name[sizeof a.sun_path];
    EXPECT(snprintf(name, sizeof name, "%s\xc0\x80", scratch_path("sock")) < (int)sizeof name);
    unlink(name);
    strcpy(a.sun_path, name);
    EXPECT(bind(s, (struct sockaddr *)&a, sizeof a) == 0);
    EXPECT(listen(s, 1) == 0);
    static char buf[1 << 16];
    EXPECT(slurp("/proc/net/unix", buf, sizeof buf) > 0);
    char line[sizeof name + 8];
    snprintf(line, sizeof line, " %s\n", name);
    EXPECT(strstr(buf, line) != NULL);
    close(s);
    unlink(name);
}

/* The random driver's /proc/sys/kernel/random: boot_id one UUID for the boot, uuid a new
 * one each time, both version 4; entropy_avail what RNDGETENTCNT on /dev/urandom says
 * (which answers other requests with EINVAL, and pool changes without CAP_SYS_ADMIN EPERM). */
static int is_uuid4(const char *s) {
    if (strlen(s) != 37 || s[36] != '\n') return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i])) return 0;
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

CASE(proc_sys_kernel_random_gives_uuids_and_the_entropy_count) {
    char a[64], b[64];
    EXPECT_EQ(slurp("/proc/sys/kernel/random/boot_id", a, sizeof a), 37);
    EXPECT_EQ(slurp("/proc/sys/kernel/random/boot_id", b, sizeof b), 37);
    EXPECT(is_uuid4(a));
    EXPECT_STREQ(a, b);
    EXPECT_EQ(slurp("/proc/sys/kernel/random/uuid", a, sizeof a), 37);
    EXPECT_EQ(slurp("/proc/sys/kernel/random/uuid", b, sizeof b), 37);
    EXPECT(is_uuid4(a) && is_uuid4(b));
    EXPECT(strcmp(a, b) != 0);
    EXPECT(slurp("/proc/sys/kernel/random/entropy_avail", a, sizeof a) > 0);
    EXPECT(slurp("/proc/sys/kernel/random/poolsize", b, sizeof b) > 0);
    EXPECT(atoi(b) > 0);
    int fd = open("/dev/urandom", O_RDONLY);
    EXPECT(fd >= 0);
    int count = -1;
    EXPECT_OK(ioctl(fd, RNDGETENTCNT, &count));
    EXPECT(count >= 0 && abs(count - atoi(a)) <= 2);
    struct termios t;
    EXPECT_ERRNO(ioctl(fd, TCGETS, &t), EINVAL);
    if (geteuid() == 0) {
        pid_t c = fork();
        if (c == 0) {
            int one = 1;
            if (setresuid(65534, 65534, 65534) != 0) _exit(2);
            _exit(ioctl(fd, RNDADDTOENTCNT, &one) == -1 && errno == EPERM ? 0 : 1);
        }
        int st;
        EXPECT_EQ(waitpid(c, &st, 0), c);
        EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
}

/* /proc/config.gz (IKCONFIG_PROC) is the running kernel's configuration, gzipped: gzip
 * reads it, and it says of itself that it is there. Skipped where the kernel has none. */
CASE(proc_config_gz_is_the_gzipped_kernel_configuration) {
    if (access("/proc/config.gz", R_OK) != 0) return;
    if (system("command -v gzip > /dev/null") != 0) return; /* needs gzip to read it */
    FILE *p = popen("gzip -dc /proc/config.gz", "r");
    EXPECT(p != NULL);
    char line[512];
    int self = 0, procfs = 0, lines = 0;
    while (fgets(line, sizeof line, p)) {
        lines++;
        if (strcmp(line, "CONFIG_IKCONFIG_PROC=y\n") == 0) self = 1;
        if (strcmp(line, "CONFIG_PROC_FS=y\n") == 0) procfs = 1;
    }
    EXPECT_EQ(pclose(p), 0);
    EXPECT(lines > 10);
    EXPECT(self);
    EXPECT(procfs);
}

/* The entry of /proc/self/pagemap for the page at `address`. */
static uint64_t pagemap_entry(int fd, void *address) {
    uint64_t e = 0;
    if (pread(fd, &e, 8, ((uintptr_t)address / 4096) * 8) != 8) compat_fail(__FILE__, __LINE__, "pagemap read: %s", strerror(errno));
    return e;
}

CASE(pagemap_shows_present_file_and_exclusive_pages) {
    int fd = open("/proc/self/pagemap", O_RDONLY);
    EXPECT(fd >= 0);
    const uint64_t present = 1ULL << 63, file = 1ULL << 61, exclusive = 1ULL << 56;
    char *anon = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(anon != MAP_FAILED);
    anon[0] = 1;
    anon[2 * 4096] = 1;
    uint64_t e0 = pagemap_entry(fd, anon), e1 = pagemap_entry(fd, anon + 4096), e2 = pagemap_entry(fd, anon + 2 * 4096);
    EXPECT(e0 & present);
    EXPECT(!(e1 & present));
    EXPECT(e2 & present);
    EXPECT(!(e0 & file));
    EXPECT(e0 & exclusive);
    /* A file mapped with MAP_POPULATE: its pages are there, and they are a file's. */
    int f = open(scratch_path("populated"), O_RDWR | O_CREAT, 0600);
    EXPECT_OK(ftruncate(f, 2 * 4096));
    char *mapped = mmap(NULL, 2 * 4096, PROT_READ, MAP_SHARED | MAP_POPULATE, f, 0);
    EXPECT(mapped != MAP_FAILED);
    uint64_t m1 = pagemap_entry(fd, mapped + 4096);
    EXPECT(m1 & present);
    EXPECT(m1 & file);
    /* Nothing mapped: 0. */
    EXPECT_OK(munmap(anon + 3 * 4096, 4096));
    EXPECT_EQ(pagemap_entry(fd, anon + 3 * 4096), 0);
    /* Whole entries only. */
    uint64_t e;
    EXPECT_ERRNO(pread(fd, &e, 4, ((uintptr_t)anon / 4096) * 8), EINVAL);
    EXPECT_ERRNO(pread(fd, &e, 8, ((uintptr_t)anon / 4096) * 8 + 4), EINVAL);
}

CASE(maps_shows_a_file_name_as_its_bytes) {
    /* psutil's memory_maps test: a name that is not UTF-8 comes back byte for byte. */
    char path[600];
    snprintf(path, sizeof path, "%s/odd\xc0\x80name", scratch());
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    EXPECT(fd >= 0);
    EXPECT_OK(ftruncate(fd, 4096));
    void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    EXPECT(p != MAP_FAILED);
    static char maps[1 << 16];
    EXPECT(slurp("/proc/self/maps", maps, sizeof maps) > 0);
    EXPECT(strstr(maps, path) != NULL);
    static char smaps[1 << 18];
    EXPECT(slurp("/proc/self/smaps", smaps, sizeof smaps) > 0);
    EXPECT(strstr(smaps, path) != NULL);
}

/* /proc/PID/oom_score_adj (-1000...1000), its legacy form oom_adj (-17...15) and oom_score:
 * how the OOM killer ranks the process. Lowering it takes CAP_SYS_RESOURCE: below what a
 * writer holding it last set, or for oom_adj below the current value. (Root may lack it: in
 * a container, say; the case checks what the caller holds.) */
static int read_number(const char *path) {
    char buf[32] = {0};
    EXPECT(slurp(path, buf, sizeof buf) > 0);
    return atoi(buf);
}

static int write_text(const char *path, const char *text) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) return errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = n < 0 ? errno : 0;
    close(fd);
    return e;
}

/* Whether the caller's effective set holds capability `cap`. */
static int holds_capability(int cap) {
    char status[4096] = {0};
    EXPECT(slurp("/proc/self/status", status, sizeof status) > 0);
    char *line = strstr(status, "CapEff:");
    EXPECT(line != NULL);
    return (strtoull(line + 7, NULL, 16) >> cap) & 1;
}

static int parent_held_sys_resource;

static void nobody_adjusts_its_oom_score(void) {
    EXPECT_EQ(read_number("/proc/self/oom_score_adj"), 100); /* inherited */
    /* Its setuid left it undumpable, its /proc files root's: dumpable again, they are its own. */
    EXPECT_EQ(write_text("/proc/self/oom_score_adj", "300"), EACCES);
    EXPECT_OK(prctl(PR_SET_DUMPABLE, 1));
    EXPECT_EQ(write_text("/proc/self/oom_score_adj", "300"), 0);
    EXPECT_EQ(write_text("/proc/self/oom_score_adj", "150"), 0);
    /* Not below what the privileged parent set. */
    EXPECT_EQ(write_text("/proc/self/oom_score_adj", "99"), parent_held_sys_resource ? EACCES : 0);
    /* The legacy file refuses any lowering. */
    EXPECT_EQ(write_text("/proc/self/oom_adj", "-1"), EACCES);
    EXPECT_EQ(write_text("/proc/self/oom_adj", "15"), 0);
    EXPECT_EQ(read_number("/proc/self/oom_score_adj"), 1000);
}

CASE(oom_score_adj_and_oom_adj_set_how_the_oom_killer_ranks_a_process) {
    int privileged = holds_capability(24 /* CAP_SYS_RESOURCE */);
    EXPECT_EQ(write_text("/proc/self/oom_score_adj", "0\n"), 0);
    EXPECT_EQ(write_text("/proc/self/oom_score_adj", "500\n"), 0);
    EXPECT_EQ(read_number("/proc/self/oom_score_adj"), 500);
    EXPECT_EQ(read_number("/proc/self/oom_adj"), 8); /* 500 * 17 / 1000 */
    EXPECT_EQ(write_text("/proc/self/oom_adj", "15"), 0);
    EXPECT_EQ(read_number("/proc/self/oom_score_adj"), 1000);
    EXPECT_EQ(read_number("/proc/self/oom_adj"), 15);
    int score = read_number("/proc/self/oom_score");
    EXPECT(score >= 1000 && score <= 2000);
    EXPECT_EQ(write_text("/proc/self/oom_score_adj", "1001"), EINVAL);
    EXPECT_EQ(write_text("/proc/self/oom_score_adj", "-1001"), EINVAL);
    EXPECT_EQ(write_text("/proc/self/oom_score_adj", "ten"), EINVAL);
    EXPECT_EQ(write_text("/proc/self/oom_adj", "16"), EINVAL);
    EXPECT_EQ(write_text("/proc/self/oom_score_adj", "0"), 0);
    score = read_number("/proc/self/oom_score");
    EXPECT(score >= 0 && score <= 1000);
    if (privileged) {
        EXPECT_EQ(write_text("/proc/self/oom_adj", "-17"), 0);
        EXPECT_EQ(read_number("/proc/self/oom_score_adj"), -1000);
        EXPECT_EQ(read_number("/proc/self/oom_score"), 0); /* never chosen */
        EXPECT_EQ(write_text("/proc/self/oom_score_adj", "0"), 0);
    } else {
        EXPECT_EQ(write_text("/proc/self/oom_adj", "-17"), EACCES);
    }
    EXPECT_EQ(write_text("/proc/self/oom_score_adj", "100"), 0);
    parent_held_sys_resource = privileged;
    AS_NOBODY(nobody_adjusts_its_oom_score);
    EXPECT_EQ(read_number("/proc/self/oom_score_adj"), 100);
}

COMPAT_MAIN()

/* ---- /proc/PID/smaps and smaps_rollup ---- */

/* The named fields (in kB) of the smaps entry whose range starts at `start`; -1 if absent. */
static void smaps_entry(void *start, const char **names, long *values, int count) {
    char want[32], line[512];
    snprintf(want, sizeof want, "%lx-", (unsigned long)start);
    for (int i = 0; i < count; i++) values[i] = -1;
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return;
    int inside = 0;
    while (fgets(line, sizeof line, f)) {
        /* A mapping's line starts with its address in lowercase hex; field names are capitalized. */
        if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f')) {
            inside = strncmp(line, want, strlen(want)) == 0;
            continue;
        }
        if (!inside) continue;
        for (int i = 0; i < count; i++) {
            size_t n = strlen(names[i]);
            if (strncmp(line, names[i], n) == 0 && line[n] == ':') values[i] = atol(line + n + 1);
        }
    }
    fclose(f);
}

/* The /proc/self/maps line whose range starts at `start`, into `out`; 0 if there is none. */
static int maps_line_at(void *start, char *out, size_t size) {
    char want[32], line[512];
    snprintf(want, sizeof want, "%lx-", (unsigned long)start);
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, want, strlen(want)) == 0) {
            snprintf(out, size, "%s", line);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* Anonymous mappings made side by side with the same flags are one mapping, as mprotect
 * splits and rejoins; its offset is 0 however it was cut. */
CASE(neighbouring_anonymous_mappings_are_one_mapping) {
    long ps = sysconf(_SC_PAGESIZE);
    char *r = mmap(NULL, 8 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(r != MAP_FAILED);
    EXPECT_OK(munmap(r, 8 * ps));
    for (int i = 0; i < 8; i++) {
        char *m = mmap(r + i * ps, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        EXPECT(m == r + i * ps);
        m[0] = (char)i;
    }
    char line[512], want[64];
    EXPECT(maps_line_at(r, line, sizeof line));
    snprintf(want, sizeof want, "%lx-%lx rw-p 00000000 00:00 0", (unsigned long)r, (unsigned long)(r + 8 * ps));
    EXPECT_EQ(strncmp(line, want, strlen(want)), 0);
    EXPECT_OK(mprotect(r + 3 * ps, 2 * ps, PROT_READ));
    EXPECT(maps_line_at(r + 3 * ps, line, sizeof line));
    snprintf(want, sizeof want, "%lx-%lx r--p 00000000 00:00 0", (unsigned long)(r + 3 * ps), (unsigned long)(r + 5 * ps));
    EXPECT_EQ(strncmp(line, want, strlen(want)), 0);
    EXPECT(maps_line_at(r + 5 * ps, line, sizeof line));
    snprintf(want, sizeof want, "%lx-%lx rw-p 00000000 00:00 0", (unsigned long)(r + 5 * ps), (unsigned long)(r + 8 * ps));
    EXPECT_EQ(strncmp(line, want, strlen(want)), 0);
    EXPECT_OK(mprotect(r + 3 * ps, 2 * ps, PROT_READ | PROT_WRITE));
    EXPECT(maps_line_at(r, line, sizeof line));
    snprintf(want, sizeof want, "%lx-%lx rw-p 00000000 00:00 0", (unsigned long)r, (unsigned long)(r + 8 * ps));
    EXPECT_EQ(strncmp(line, want, strlen(want)), 0);
    for (int i = 0; i < 8; i++) EXPECT_EQ(r[i * ps], (char)i);
    /* One mapping to mremap, too: it moves whole. */
    char *moved = mremap(r, 8 * ps, 16 * ps, MREMAP_MAYMOVE);
    EXPECT(moved != MAP_FAILED);
    for (int i = 0; i < 8; i++) EXPECT_EQ(moved[i * ps], (char)i);
}

CASE(proc_smaps_counts_touched_private_pages_and_sharing_after_fork) {
    char *p = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    for (int i = 0; i < 5; i++) p[i * 4096] = 1;
    const char *names[] = { "Size", "Rss", "Pss", "Private_Dirty", "Shared_Dirty", "Anonymous", "Swap" };
    long v[7];
    smaps_entry(p, names, v, 7);
    EXPECT_EQ(v[0], 64);
    EXPECT_EQ(v[1], 20);
    EXPECT_EQ(v[2], 20);
    EXPECT_EQ(v[3], 20);
    EXPECT_EQ(v[4], 0);
    EXPECT_EQ(v[5], 20);
    EXPECT_EQ(v[6], 0);
    /* A forked child maps the same pages until one side writes: shared, Pss halved. */
    int go[2];
    EXPECT_OK(pipe(go));
    pid_t c = fork();
    if (c == 0) { char b; close(go[1]); _exit(read(go[0], &b, 1) < 0); }
    smaps_entry(p, names, v, 7);
    EXPECT_EQ(v[1], 20);
    EXPECT_EQ(v[2], 10);
    EXPECT_EQ(v[3], 0);
    EXPECT_EQ(v[4], 20);
    close(go[1]);
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    close(go[0]);
    /* The rollup holds at least this mapping. */
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    EXPECT(f != NULL);
    char line[256];
    long rss = -1;
    int rollup = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (strstr(line, "[rollup]")) rollup = 1;
        if (strncmp(line, "Rss:", 4) == 0) rss = atol(line + 4);
    }
    if (f) fclose(f);
    EXPECT(rollup);
    EXPECT(rss >= 20);
    EXPECT_OK(munmap(p, 16 * 4096));
}

static volatile unsigned leader_word;
static void *wake_leader_once_asleep(void *arg) {
    (void)arg;
    char path[64], text[512];
    snprintf(path, sizeof path, "/proc/%d/stat", getpid());
    for (int i = 0; i < 2000; i++) {
        /* the state letter follows the command's closing parenthesis */
        if (slurp(path, text, sizeof text) > 0 && strstr(text, ") S ")) {
            leader_word = 1;
            syscall(SYS_futex, &leader_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
            return (void *)1;
        }
        usleep(1000);
    }
    leader_word = 1;
    syscall(SYS_futex, &leader_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    return NULL;
}

CASE(proc_pid_stat_shows_the_leaders_state_while_other_threads_run) {
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, wake_leader_once_asleep, NULL), 0);
    while (leader_word == 0) syscall(SYS_futex, &leader_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    void *seen;
    EXPECT_EQ(pthread_join(t, &seen), 0);
    EXPECT(seen == (void *)1); /* the process read as sleeping while its poller ran */
}

CASE(proc_pid_mem_reads_and_writes_memory_as_a_debugger_does) {
    int fd = open("/proc/self/mem", O_RDWR);
    EXPECT(fd >= 0);
    static char word[16] = "original";
    char got[16] = {0};
    EXPECT_EQ(pread(fd, got, 8, (off_t)(unsigned long)word), 8);
    EXPECT(memcmp(got, "original", 8) == 0);
    EXPECT_EQ(pwrite(fd, "replaced", 8, (off_t)(unsigned long)word), 8);
    EXPECT(memcmp(word, "replaced", 8) == 0);
    /* protection is ignored for private memory: a read-only page is written (a copy) */
    int f = open(scratch_path("f"), O_RDWR | O_CREAT | O_TRUNC, 0600);
    char page[4096];
    memset(page, 'f', sizeof page);
    EXPECT_EQ(write(f, page, sizeof page), 4096);
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, f, 0);
    EXPECT_EQ(pwrite(fd, "XY", 2, (off_t)(unsigned long)ro), 2);
    EXPECT_EQ(ro[0], 'X');
    char back[2];
    EXPECT_EQ(pread(f, back, 2, 0), 2);
    EXPECT_EQ(back[0], 'f'); /* the file is untouched */
    /* but not a read-only shared mapping */
    char *shared = mmap(NULL, 4096, PROT_READ, MAP_SHARED, f, 0);
    EXPECT_ERRNO(pwrite(fd, "XY", 2, (off_t)(unsigned long)shared), EIO);
    /* nothing mapped there */
    char *gone = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_OK(munmap(gone, 4096));
    EXPECT_ERRNO(pread(fd, got, 8, (off_t)(unsigned long)gone), EIO);
    /* another user's process: refused at open */
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/mem", parent);
        if (setresuid(1000, 1000, 1000) != 0) _exit(1);
        _exit(open(path, O_RDONLY) == -1 && errno == EACCES ? 0 : 2);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(st, 0);
}

/* /proc/PID/timers (CHECKPOINT_RESTORE): the POSIX timers, newest first, as show_timer prints
 * them: the id, the signal and sigev_value, how the timer notifies whom, the clock. */
CASE(proc_pid_timers_lists_the_posix_timers_newest_first) {
    timer_t a, b, c;
    struct sigevent ev = { 0 };
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_value.sival_ptr = (void *)0x1234;
    EXPECT_OK(timer_create(CLOCK_MONOTONIC, &ev, &a));
    ev.sigev_notify = SIGEV_NONE;
    EXPECT_OK(timer_create(CLOCK_PROCESS_CPUTIME_ID, &ev, &b));
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev._sigev_un._tid = gettid();
    ev.sigev_signo = SIGUSR2;
    EXPECT_OK(timer_create(CLOCK_BOOTTIME, &ev, &c));
    char want[512], got[512];
    snprintf(want, sizeof want,
             "ID: %d\nsignal: 12/0000000000001234\nnotify: signal/tid.%d\nClockID: 7\n"
             "ID: %d\nsignal: 10/0000000000001234\nnotify: none/pid.%d\nClockID: -6\n"
             "ID: %d\nsignal: 10/0000000000001234\nnotify: signal/pid.%d\nClockID: 1\n",
             (int)(long)c, gettid(), (int)(long)b, getpid(), (int)(long)a, getpid());
    EXPECT(slurp("/proc/self/timers", got, sizeof got) > 0);
    EXPECT_STREQ(got, want);
    EXPECT_OK(timer_delete(b));
    EXPECT(slurp("/proc/self/timers", got, sizeof got) > 0);
    EXPECT(strstr(got, "none/") == NULL);
}
