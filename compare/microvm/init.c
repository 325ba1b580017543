// /init of the comparison's MicroVM initramfs: mounts /proc, /sys, /dev (with /dev/pts and
// /dev/shm) and a tmpfs on /tmp, brings the loopback interface up (busybox's ip),
// runs /job.sh with /bin/sh (busybox), prints its exit status, and reboots, which QEMU's
// -no-reboot turns into an exit. Static, so the initramfs needs no libc.
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
    mkdir("/dev/pts", 0755);
    mount("devpts", "/dev/pts", "devpts", 0, "ptmxmode=0666");
    mkdir("/dev/shm", 01777);
    mount("tmpfs", "/dev/shm", "tmpfs", 0, NULL);
    if (fork() == 0) {
        execl("/bin/busybox", "ip", "link", "set", "lo", "up", (char *)NULL);
        _exit(127);
    }
    wait(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "/job.sh", (char *)NULL);
        perror("/bin/sh");
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    printf("microvm-init: exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    fflush(stdout);
    sync();
    reboot(RB_AUTOBOOT);
    return 0;
}
