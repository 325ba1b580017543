/* System V semaphores and message queues: get by key, operations all-or-nothing, blocking
 * and IPC_NOWAIT, SEM_UNDO at exit, typed messages, control commands and their errors. */
#include "../compat.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

union semun { int val; struct semid_ds *buf; unsigned short *array; };

CASE(semget_creates_finds_and_refuses) {
    int id = semget(IPC_PRIVATE, 3, 0600);
    EXPECT(id >= 0);
    key_t key = 0x4a0e0000 + getpid();
    int a = semget(key, 2, IPC_CREAT | 0600);
    EXPECT(a >= 0);
    EXPECT_EQ(semget(key, 2, 0600), a);
    EXPECT_EQ(semget(key, 0, 0), a);
    EXPECT_ERRNO(semget(key, 2, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
    EXPECT_ERRNO(semget(key, 5, 0600), EINVAL);          /* more than it has */
    EXPECT_ERRNO(semget(key + 1, 1, 0600), ENOENT);
    EXPECT_ERRNO(semget(IPC_PRIVATE, 0, 0600), EINVAL);
    EXPECT_OK(semctl(id, 0, IPC_RMID));
    EXPECT_OK(semctl(a, 0, IPC_RMID));
    EXPECT_ERRNO(semctl(a, 0, GETVAL), EINVAL);
}

CASE(semop_is_all_or_nothing) {
    int id = semget(IPC_PRIVATE, 2, 0600);
    EXPECT(id >= 0);
    union semun u = { .val = 1 };
    EXPECT_OK(semctl(id, 0, SETVAL, u));
    struct sembuf ops[2] = { { 0, -1, IPC_NOWAIT }, { 1, -1, IPC_NOWAIT } }; /* the second would block */
    EXPECT_ERRNO(semop(id, ops, 2), EAGAIN);
    EXPECT_EQ(semctl(id, 0, GETVAL), 1); /* the first was not applied */
    struct sembuf up = { 1, 5, 0 };
    EXPECT_OK(semop(id, &up, 1));
    EXPECT_OK(semop(id, ops, 2));
    EXPECT_EQ(semctl(id, 0, GETVAL), 0);
    EXPECT_EQ(semctl(id, 1, GETVAL), 4);
    EXPECT_EQ(semctl(id, 1, GETPID), getpid());
    struct sembuf zero = { 0, 0, IPC_NOWAIT };
    EXPECT_OK(semop(id, &zero, 1));
    struct sembuf bad = { 2, 1, 0 };
    EXPECT_ERRNO(semop(id, &bad, 1), EFBIG);
    EXPECT_ERRNO(semop(id, &up, 0), EINVAL);
    struct sembuf big = { 1, 32767, 0 };
    EXPECT_ERRNO(semop(id, &big, 1), ERANGE);
    u.val = 40000;
    EXPECT_ERRNO(semctl(id, 0, SETVAL, u), ERANGE);
    EXPECT_OK(semctl(id, 0, IPC_RMID));
}

CASE(semop_blocks_until_another_process_posts) {
    int id = semget(IPC_PRIVATE, 1, 0600);
    pid_t c = fork();
    if (c == 0) {
        usleep(100000);
        struct sembuf up = { 0, 1, 0 };
        _exit(semop(id, &up, 1) == 0 ? 0 : 3);
    }
    struct sembuf down = { 0, -1, 0 };
    EXPECT_OK(semop(id, &down, 1)); /* waits for the child */
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct timespec ts = { 0, 50000000 };
    EXPECT_ERRNO(semtimedop(id, &down, 1, &ts), EAGAIN); /* times out */
    EXPECT_OK(semctl(id, 0, IPC_RMID));
}

CASE(sem_undo_is_applied_at_exit) {
    int id = semget(IPC_PRIVATE, 1, 0600);
    union semun u = { .val = 5 };
    EXPECT_OK(semctl(id, 0, SETVAL, u));
    pid_t c = fork();
    if (c == 0) {
        struct sembuf take = { 0, -2, SEM_UNDO };
        _exit(semop(id, &take, 1) == 0 ? 0 : 3);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT_EQ(semctl(id, 0, GETVAL), 5); /* given back when the child exited */
    EXPECT_OK(semctl(id, 0, IPC_RMID));
}

CASE(semctl_getall_setall_and_stat) {
    int id = semget(IPC_PRIVATE, 3, 0640);
    unsigned short in[3] = { 1, 2, 3 }, out[3] = { 0 };
    union semun u = { .array = in };
    EXPECT_OK(semctl(id, 0, SETALL, u));
    u.array = out;
    EXPECT_OK(semctl(id, 0, GETALL, u));
    EXPECT(out[0] == 1 && out[1] == 2 && out[2] == 3);
    struct semid_ds ds;
    u.buf = &ds;
    EXPECT_OK(semctl(id, 0, IPC_STAT, u));
    EXPECT_EQ(ds.sem_nsems, 3);
    EXPECT_EQ(ds.sem_perm.mode & 0777, 0640);
    EXPECT_EQ(ds.sem_perm.uid, geteuid());
    EXPECT_EQ(semctl(id, 0, GETNCNT), 0);
    EXPECT_EQ(semctl(id, 0, GETZCNT), 0);
    EXPECT_ERRNO(semctl(id, 7, GETVAL), EINVAL);
    EXPECT_ERRNO(semctl(id, 0, 99), EINVAL);
    EXPECT_OK(semctl(id, 0, IPC_RMID));
}

static void semop_then_removed(int id) {
    struct sembuf down = { 0, -1, 0 };
    _exit(semop(id, &down, 1) == -1 && errno == EIDRM ? 0 : 3);
}

CASE(removing_a_set_wakes_its_waiters_with_eidrm) {
    int id = semget(IPC_PRIVATE, 1, 0600);
    pid_t c = fork();
    if (c == 0) semop_then_removed(id);
    usleep(100000);
    EXPECT_OK(semctl(id, 0, IPC_RMID));
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

struct msg { long type; char text[64]; };

CASE(msgsnd_and_msgrcv_by_type) {
    int q = msgget(IPC_PRIVATE, 0600);
    EXPECT(q >= 0);
    struct msg m = { 2, "two" };
    EXPECT_OK(msgsnd(q, &m, 4, 0));
    m.type = 1; strcpy(m.text, "one");
    EXPECT_OK(msgsnd(q, &m, 4, 0));
    m.type = 3; strcpy(m.text, "three");
    EXPECT_OK(msgsnd(q, &m, 6, 0));
    struct msg r;
    EXPECT_EQ(msgrcv(q, &r, sizeof r.text, 3, 0), 6);       /* that type */
    EXPECT_STREQ(r.text, "three");
    EXPECT_EQ(msgrcv(q, &r, sizeof r.text, -5, 0), 4);      /* the lowest type at most 5 */
    EXPECT_EQ(r.type, 1);
    EXPECT_EQ(msgrcv(q, &r, sizeof r.text, 0, 0), 4);       /* the first */
    EXPECT_STREQ(r.text, "two");
    EXPECT_ERRNO(msgrcv(q, &r, sizeof r.text, 0, IPC_NOWAIT), ENOMSG);
    m.type = 0;
    EXPECT_ERRNO(msgsnd(q, &m, 4, 0), EINVAL);
    EXPECT_OK(msgctl(q, IPC_RMID, NULL));
}

CASE(msgrcv_too_long_is_e2big_unless_noerror) {
    int q = msgget(IPC_PRIVATE, 0600);
    struct msg m = { 1, "abcdefgh" };
    EXPECT_OK(msgsnd(q, &m, 9, 0));
    struct msg r;
    EXPECT_ERRNO(msgrcv(q, &r, 4, 0, 0), E2BIG);             /* and it stays */
    EXPECT_EQ(msgrcv(q, &r, 4, 0, MSG_NOERROR), 4);
    EXPECT(memcmp(r.text, "abcd", 4) == 0);
    m.type = 7;
    EXPECT_OK(msgsnd(q, &m, 2, 0));
    EXPECT_EQ(msgrcv(q, &r, sizeof r.text, 7, MSG_EXCEPT | IPC_NOWAIT), -1); /* only type 7 there */
    EXPECT_EQ(errno, ENOMSG);
    EXPECT_OK(msgctl(q, IPC_RMID, NULL));
}

CASE(msgsnd_blocks_when_full_and_msgrcv_waits) {
    int q = msgget(IPC_PRIVATE, 0600);
    struct msqid_ds ds;
    EXPECT_OK(msgctl(q, IPC_STAT, &ds));
    EXPECT_EQ(ds.msg_qnum, 0);
    ds.msg_qbytes = 16;
    EXPECT_OK(msgctl(q, IPC_SET, &ds));
    struct msg m = { 1, "0123456789abcdef" };
    EXPECT_OK(msgsnd(q, &m, 16, 0));
    EXPECT_ERRNO(msgsnd(q, &m, 1, IPC_NOWAIT), EAGAIN); /* full */
    pid_t c = fork();
    if (c == 0) {
        struct msg r;
        usleep(100000);
        if (msgrcv(q, &r, sizeof r.text, 0, 0) != 16) _exit(3);
        if (msgrcv(q, &r, sizeof r.text, 0, 0) != 1) _exit(4); /* waits for the parent's */
        _exit(0);
    }
    EXPECT_OK(msgsnd(q, &m, 1, 0)); /* waits until the child took the first */
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT_OK(msgctl(q, IPC_STAT, &ds));
    EXPECT_EQ(ds.msg_qnum, 0);
    EXPECT_EQ(ds.msg_lrpid, c);
    EXPECT_EQ(ds.msg_lspid, getpid());
    EXPECT_OK(msgctl(q, IPC_RMID, NULL));
    EXPECT_ERRNO(msgsnd(q, &m, 1, 0), EINVAL);
}

CASE(msgget_by_key_and_permissions) {
    key_t key = 0x4a0f0000 + getpid();
    int q = msgget(key, IPC_CREAT | 0600);
    EXPECT(q >= 0);
    EXPECT_EQ(msgget(key, 0), q);
    EXPECT_ERRNO(msgget(key, IPC_CREAT | IPC_EXCL), EEXIST);
    EXPECT_ERRNO(msgget(key + 1, 0), ENOENT);
    pid_t c = fork();
    if (c == 0) {
        if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0) _exit(3);
        struct msg m = { 1, "x" };
        _exit(geteuid() != 65534 || (msgsnd(q, &m, 1, 0) == -1 && errno == EACCES) ? 0 : 4);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT_OK(msgctl(q, IPC_RMID, NULL));
}

/* SHM_INFO's shm_rss counts the pages that hold data, as the rss column of
 * /proc/sysvipc/shm does (summed over every segment), and shm_tot every page. */
CASE(shm_info_rss_counts_touched_pages_as_proc_sysvipc_shm) {
    long ps = sysconf(_SC_PAGESIZE);
    int id = shmget(IPC_PRIVATE, 4 * ps, IPC_CREAT | 0600);
    EXPECT(id >= 0);
    char *p = shmat(id, NULL, 0);
    EXPECT(p != (char *)-1);
    p[0] = 1;
    p[2 * ps] = 1;
    struct shm_info info;
    EXPECT(shmctl(0, SHM_INFO, (struct shmid_ds *)&info) >= 0);
    FILE *f = fopen("/proc/sysvipc/shm", "r");
    EXPECT(f != NULL);
    char line[512];
    EXPECT(fgets(line, sizeof line, f) != NULL); /* the header */
    unsigned long rss_pages = 0, total_pages = 0, rss, swap, size;
    int used = 0, mine = 0, shmid;
    while (fscanf(f, "%*i %i %*i %lu %*i %*i %*i %*i %*i %*i %*i %*i %*i %*i %lu %lu", &shmid, &size, &rss, &swap) == 4) {
        used++;
        rss_pages += rss / ps;
        total_pages += (size + ps - 1) / ps;
        if (shmid == id) { mine = 1; EXPECT_EQ(rss, 2 * ps); }
    }
    fclose(f);
    EXPECT(mine);
    EXPECT_EQ(info.used_ids, used);
    EXPECT_EQ(info.shm_rss, rss_pages);
    EXPECT_EQ(info.shm_tot, total_pages);
    shmdt(p);
    shmctl(id, IPC_RMID, NULL);
}

COMPAT_MAIN()

/* The line of /proc/sysvipc/<file> whose second column is id, or "" */
static const char *sysvipc_line(const char *file, int id) {
    static char line[512];
    char path[64];
    snprintf(path, sizeof path, "/proc/sysvipc/%s", file);
    FILE *f = fopen(path, "r");
    if (!f) return "";
    while (fgets(line, sizeof line, f)) {
        int key, got;
        if (sscanf(line, "%d %d", &key, &got) == 2 && got == id) { fclose(f); return line; }
    }
    fclose(f);
    return "";
}

CASE(proc_sysvipc_lists_each_object_in_linux_columns) {
    char head[256];
    FILE *f = fopen("/proc/sysvipc/shm", "r");
    EXPECT(f != NULL);
    EXPECT(fgets(head, sizeof head, f) != NULL);
    fclose(f);
    EXPECT_STREQ(head, "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid"
                       "      atime      dtime      ctime                   rss                  swap\n");
    int shm = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0640);
    int sem = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
    int msg = msgget(IPC_PRIVATE, IPC_CREAT | 0604);
    EXPECT(shm >= 0 && sem >= 0 && msg >= 0);
    struct { long type; char text[5]; } m = {1, "hello"};
    EXPECT_OK(msgsnd(msg, &m, 5, 0));
    char *p = shmat(shm, NULL, 0);
    EXPECT(p != (void *)-1);
    p[0] = 1;
    int key, id, nattch;
    unsigned perms, cpid, lpid;
    unsigned long size, rss;
    EXPECT_EQ(sscanf(sysvipc_line("shm", shm), "%d %d %o %lu %u %u %d %*u %*u %*u %*u %*u %*u %*u %lu",
                     &key, &id, &perms, &size, &cpid, &lpid, &nattch, &rss), 8);
    EXPECT_EQ(perms, 0640);
    EXPECT_EQ(size, 8192);
    EXPECT_EQ(cpid, getpid());
    EXPECT_EQ(lpid, getpid());
    EXPECT_EQ(nattch, 1);
    EXPECT_EQ(rss, 4096); /* the one page touched */
    unsigned nsems;
    EXPECT_EQ(sscanf(sysvipc_line("sem", sem), "%d %d %o %u", &key, &id, &perms, &nsems), 4);
    EXPECT_EQ(perms, 0600);
    EXPECT_EQ(nsems, 3);
    unsigned long cbytes, qnum;
    unsigned lspid;
    EXPECT_EQ(sscanf(sysvipc_line("msg", msg), "%d %d %o %lu %lu %u", &key, &id, &perms, &cbytes, &qnum, &lspid), 6);
    EXPECT_EQ(perms, 0604);
    EXPECT_EQ(cbytes, 5);
    EXPECT_EQ(qnum, 1);
    EXPECT_EQ(lspid, getpid());
    EXPECT_OK(shmdt(p));
    EXPECT_OK(shmctl(shm, IPC_RMID, NULL));
    EXPECT_OK(semctl(sem, 0, IPC_RMID));
    EXPECT_OK(msgctl(msg, IPC_RMID, NULL));
    EXPECT_STREQ(sysvipc_line("sem", sem), "");
    EXPECT_STREQ(sysvipc_line("msg", msg), "");
    EXPECT_STREQ(sysvipc_line("shm", shm), "");
}

CASE(shm_info_limits_match_proc_sys_kernel) {
    struct shminfo info;
    EXPECT(shmctl(0, IPC_INFO, (struct shmid_ds *)&info) >= 0);
    char text[64];
    EXPECT(slurp("/proc/sys/kernel/shmall", text, sizeof text) > 0);
    EXPECT_EQ(strtoull(text, NULL, 10), info.shmall);
    EXPECT(slurp("/proc/sys/kernel/shmmax", text, sizeof text) > 0);
    EXPECT_EQ(strtoull(text, NULL, 10), info.shmmax);
    EXPECT(slurp("/proc/sys/kernel/shmmni", text, sizeof text) > 0);
    EXPECT_EQ(strtoull(text, NULL, 10), info.shmmni);
}

/* kernel.{msg,sem,shm}_next_id (CHECKPOINT_RESTORE): the namespace's next object gets the id
 * asked for, or the first free one above it, and the file reads -1 again; read-only (0444)
 * to anyone without CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE over the namespace. */
static void next_id_is_not_writable(void) {
    if (open("/proc/sys/kernel/msg_next_id", O_WRONLY) >= 0 || errno != EACCES) _exit(1);
    char text[32];
    if (slurp("/proc/sys/kernel/msg_next_id", text, sizeof text) <= 0 || strcmp(text, "-1\n") != 0) _exit(2);
}

static void set_next_id(const char *name, const char *value) {
    char path[64];
    snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
    int fd = open(path, O_WRONLY);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, value, strlen(value)), (long)strlen(value));
    close(fd);
}

CASE(ipc_next_id_sysctls_give_the_next_object_that_id_once) {
    pid_t child = fork();
    if (child == 0) {
        EXPECT_OK(unshare(CLONE_NEWIPC)); /* the host's namespace is left alone */
        char text[32];
        EXPECT(slurp("/proc/sys/kernel/msg_next_id", text, sizeof text) > 0);
        EXPECT_STREQ(text, "-1\n");
        struct stat st;
        EXPECT_OK(stat("/proc/sys/kernel/msg_next_id", &st));
        EXPECT_EQ(st.st_mode & 07777, 0444);
        set_next_id("msg_next_id", "5000");
        EXPECT_EQ(msgget(IPC_PRIVATE, 0600), 5000);
        EXPECT(slurp("/proc/sys/kernel/msg_next_id", text, sizeof text) > 0);
        EXPECT_STREQ(text, "-1\n");
        set_next_id("msg_next_id", "5000");
        EXPECT_EQ(msgget(IPC_PRIVATE, 0600), 5001); /* 5000 is taken */
        EXPECT(msgget(IPC_PRIVATE, 0600) >= 0);    /* then counted as before */
        int fd = open("/proc/sys/kernel/msg_next_id", O_WRONLY);
        EXPECT(fd >= 0);
        EXPECT_ERRNO(write(fd, "-2", 2), EINVAL);
        close(fd);
        set_next_id("shm_next_id", "7");
        EXPECT_EQ(shmget(IPC_PRIVATE, 4096, 0600), 7);
        set_next_id("sem_next_id", "2147483647");
        EXPECT_EQ(semget(IPC_PRIVATE, 1, 0600), 2147483647);
        AS_NOBODY(next_id_is_not_writable);
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
}

CASE(msgrcv_msg_copy_reads_the_nth_message_and_leaves_it) {
    int q = msgget(IPC_PRIVATE, 0600);
    EXPECT(q >= 0);
    struct { long type; char text[16]; } m = { 7, "first" }, r;
    EXPECT_OK(msgsnd(q, &m, 6, 0));
    m.type = 3; strcpy(m.text, "second");
    EXPECT_OK(msgsnd(q, &m, 7, 0));
    EXPECT_ERRNO(msgrcv(q, &r, sizeof r.text, 0, MSG_COPY), EINVAL);               /* without IPC_NOWAIT */
    EXPECT_ERRNO(msgrcv(q, &r, sizeof r.text, 0, MSG_COPY | IPC_NOWAIT | MSG_EXCEPT), EINVAL);
    EXPECT_EQ(msgrcv(q, &r, sizeof r.text, 1, MSG_COPY | IPC_NOWAIT), 7);
    EXPECT_EQ(r.type, 3);
    EXPECT_STREQ(r.text, "second");
    EXPECT_ERRNO(msgrcv(q, &r, sizeof r.text, 2, MSG_COPY | IPC_NOWAIT), ENOMSG);
    EXPECT_EQ(msgrcv(q, &r, sizeof r.text, 0, IPC_NOWAIT), 6); /* both still there */
    EXPECT_STREQ(r.text, "first");
    EXPECT_OK(msgctl(q, IPC_RMID, NULL));
}
