/* Files that live on the host, first written in the sandbox (the sentry copies them up, with
 * its lock let go for large ones) while other threads map and read them:
 * for each DIR/fN (8 MiB less 200 bytes, byte i = (i * 7 + N) % 251), at once
 *   A appends a 100-byte tail (this copies the file up),
 *   B maps the file MAP_SHARED (which copies it up too, if first),
 *   C preads it at scattered offsets;
 * then the mapping, read() and the file's size must all show the original bytes and the tail.
 * Prints one line; exits 1 on the first difference. Usage: copy_up_race DIR FILES */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE ((8 << 20) - 200) /* the tail ends inside the last page the mapping was made with */
#define TAIL 100

static char path[4096];
static int file;
static pthread_barrier_t start;
static char *mapping;
static int readerBad = -1;

static char want(long i) { return (char)((i * 7 + file) % 251); }

static void *appender(void *arg) {
    (void)arg;
    pthread_barrier_wait(&start);
    int fd = open(path, O_WRONLY | O_APPEND);
    char tail[TAIL];
    memset(tail, 'T', TAIL);
    if (fd < 0 || write(fd, tail, TAIL) != TAIL) { perror("append"); exit(1); }
    close(fd);
    return NULL;
}

static void *mapper(void *arg) {
    (void)arg;
    int fd = open(path, O_RDONLY);
    pthread_barrier_wait(&start);
    mapping = mmap(NULL, SIZE + TAIL, PROT_READ, MAP_SHARED, fd, 0);
    if (mapping == MAP_FAILED) { perror("mmap"); exit(1); }
    close(fd);
    return NULL;
}

static void *reader(void *arg) {
    (void)arg;
    int fd = open(path, O_RDONLY);
    pthread_barrier_wait(&start);
    char buf[4096];
    for (long off = 12345; off + (long)sizeof buf <= SIZE; off += 257 * 1024) {
        if (pread(fd, buf, sizeof buf, off) != (ssize_t)sizeof buf) { readerBad = (int)off; break; }
        for (int i = 0; i < (int)sizeof buf; i++)
            if (buf[i] != want(off + i)) { readerBad = (int)(off + i); break; }
        if (readerBad >= 0) break;
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s DIR FILES\n", argv[0]); return 2; }
    int files = atoi(argv[2]);
    static char back[SIZE + TAIL];
    for (file = 0; file < files; file++) {
        snprintf(path, sizeof path, "%s/f%d", argv[1], file);
        pthread_barrier_init(&start, NULL, 3);
        pthread_t a, b, c;
        pthread_create(&a, NULL, appender, NULL);
        pthread_create(&b, NULL, mapper, NULL);
        pthread_create(&c, NULL, reader, NULL);
        pthread_join(a, NULL); pthread_join(b, NULL); pthread_join(c, NULL);
        pthread_barrier_destroy(&start);
        if (readerBad >= 0) { printf("file %d: a read during the copy-up differs at %d\n", file, readerBad); return 1; }
        int fd = open(path, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0 || st.st_size != SIZE + TAIL) {
            printf("file %d: size %lld, not %d\n", file, (long long)st.st_size, SIZE + TAIL);
            return 1;
        }
        if (pread(fd, back, SIZE + TAIL, 0) != SIZE + TAIL) { printf("file %d: short read\n", file); return 1; }
        close(fd);
        for (long i = 0; i < SIZE + TAIL; i++) {
            char w = i < SIZE ? want(i) : 'T';
            if (back[i] != w || mapping[i] != w) {
                printf("file %d: byte %ld: read %d, mapping %d, want %d\n", file, i, back[i], mapping[i], w);
                return 1;
            }
        }
        munmap(mapping, SIZE + TAIL);
    }
    printf("%d files: the appends, mappings and reads agree\n", files);
    return 0;
}
