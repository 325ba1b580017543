// Three threads map host files privately (the sentry fills each file's shared image with its
// kernel lock let go) while two others call execve at once: exactly one execve wins and its
// program runs alone, as on Linux.
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *files[] = {"/usr/bin/gcc", "/bin/sh", "/usr/bin/python3", "/proc/self/exe"};

static void *mapper(void *arg) {
    for (long i = (long)arg; ; i++) {
        int fd = open(files[i % 4], O_RDONLY);
        if (fd < 0) continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size > 0) {
            char *p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) { perror("mmap"); exit(3); }
            volatile char c = p[st.st_size / 2];
            (void)c;
            munmap(p, st.st_size);
        }
        close(fd);
    }
    return NULL;
}

static void *execer(void *arg) {
    usleep(1000);
    execl("/proc/self/exe", "execve_while_threads_map", (char *)arg, (char *)NULL);
    perror("execl");
    exit(4);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        printf("the new program runs alone\n");
        return 0;
    }
    pthread_t t[5];
    for (long i = 0; i < 3; i++) pthread_create(&t[i], NULL, mapper, (void *)i);
    pthread_create(&t[3], NULL, execer, "A");
    pthread_create(&t[4], NULL, execer, "B");
    pthread_join(t[3], NULL);
    return 5;
}
