// MAP_SHARED mappings of a file in a directory the sandbox writes through to (the test runs it
// natively and under --rootfs-writable and compares): stores, read/write, other mappings,
// a forked child and another process agree, and what was stored reaches the file even though
// nothing is unmapped or synced before exit. argv[1]: the directory.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char path[4096], small[4096];

static void show(const char *what, const char *p, size_t n) { printf("%s: %.*s\n", what, (int)n, p); }

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    snprintf(path, sizeof path, "%s/shared.dat", argv[1]);
    snprintf(small, sizeof small, "%s/small.dat", argv[1]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, 16384) != 0) { perror("open"); return 1; }
    char *m = mmap(0, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) { perror("mmap"); return 1; }
    char buf[32] = {0};

    memcpy(m, "stored", 6);
    pread(fd, buf, 6, 0);
    show("read after a store", buf, 6);

    pwrite(fd, "written", 7, 100);
    show("mapping after write()", m + 100, 7);

    char *m2 = mmap(0, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    show("second mapping", m2, 6);
    memcpy(m2 + 8192, "second", 6);
    show("first mapping sees the second's store", m + 8192, 6);

    int ro = open(path, O_RDONLY);
    char *r = mmap(0, 4096, PROT_READ, MAP_SHARED, ro, 0);
    pwrite(fd, "later", 5, 200);
    show("read-only mapping sees a later write()", r + 200, 5);

    pid_t child = fork();
    if (child == 0) { memcpy(m + 300, "forked", 6); _exit(0); }
    waitpid(child, 0, 0);
    show("parent sees the forked child's store", m + 300, 6);
    pread(fd, buf, 6, 300);
    show("read sees it", buf, 6);

    // Another process opens and maps the file on its own.
    child = fork();
    if (child == 0) {
        int f = open(path, O_RDWR);
        char *o = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
        show("a fresh mapping in another process", o, 6);
        memcpy(o + 400, "other", 5);
        _exit(0); // no munmap, no msync
    }
    waitpid(child, 0, 0);
    show("its store, through the mapping", m + 400, 5);

    char *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    show("a private mapping copies what is stored", p + 300, 6);
    memcpy(p, "PRIVATE", 7);
    pread(fd, buf, 6, 0);
    show("its own store stays private", buf, 6);

    ftruncate(fd, 20000);
    memcpy(m + 16000, "grown", 5);
    pread(fd, buf, 5, 16000);
    show("after ftruncate up", buf, 5);

    // A 10-byte file stays 10 bytes.
    int s = open(small, O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(s, "0123456789", 10);
    char *sm = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
    memcpy(sm, "ab", 2);
    sm[20] = 'z'; // past the end, inside the page: never written to the file
    msync(sm, 4096, MS_SYNC);
    struct stat st;
    fstat(s, &st);
    printf("small file size after msync: %lld\n", (long long)st.st_size);

    memcpy(m + 500, "at exit", 7);
    fsync(fd);
    memcpy(m + 600, "unsynced", 8);
    return 0;
}
