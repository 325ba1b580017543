// Reads a host file the test evicted from the host's page cache (so the sentry reads it from
// the disk, with its kernel lock released): two threads share one file position, as Linux
// serializes read() on it, every 64 KiB piece is read exactly once and holds its own bytes;
// then pread of the whole file, and read() after lseek, see the same bytes.
// Each 4 KiB block starts with its offset (8 bytes), then bytes (offset/4096 + i) % 251.
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIECE (64 << 10)
static int fd;
static long pieces_read[2];
static unsigned char *seen;
static long size;
static int bad;

static int check(const unsigned char *p, long at, long n) {
    for (long o = 0; o < n; o++) {
        long pos = at + o, block = pos / 4096, within = pos % 4096;
        unsigned char want = within < 8 ? (unsigned char)((uint64_t)(block * 4096) >> (8 * within)) : (unsigned char)((block + within) % 251);
        if (p[o] != want) return 0;
    }
    return 1;
}

static void *reader(void *arg) {
    long me = (long)arg;
    unsigned char *buf = malloc(PIECE);
    for (;;) {
        ssize_t n = read(fd, buf, PIECE);
        if (n <= 0) break;
        uint64_t at;
        memcpy(&at, buf, 8);
        if (at % PIECE != 0 || at >= (uint64_t)size || !check(buf, (long)at, n)) { bad = 1; break; }
        __atomic_fetch_add(&seen[at / PIECE], 1, __ATOMIC_RELAXED);
        pieces_read[me]++;
    }
    free(buf);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    fd = open(argv[1], O_RDONLY);
    if (fd < 0) { perror("open"); return 1; }
    size = lseek(fd, 0, SEEK_END);
    lseek(fd, 0, SEEK_SET);
    seen = calloc(size / PIECE + 1, 1);
    pthread_t t[2];
    for (long i = 0; i < 2; i++) pthread_create(&t[i], NULL, reader, (void *)i);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    long once = 0, twice = 0;
    for (long i = 0; i < size / PIECE; i++) { once += seen[i] == 1; twice += seen[i] > 1; }
    printf("shared position: %ld pieces, %ld read once, %ld more than once, content %s\n",
           size / PIECE, once, twice, bad ? "WRONG" : "ok");
    unsigned char *all = malloc(size);
    long done = 0;
    while (done < size) {
        ssize_t n = pread(fd, all + done, size - done > (1 << 20) ? 1 << 20 : size - done, done);
        if (n <= 0) break;
        done += n;
    }
    printf("pread: %ld bytes, content %s\n", done, check(all, 0, done) ? "ok" : "WRONG");
    lseek(fd, 12345, SEEK_SET);
    ssize_t n = read(fd, all, 3 << 20);
    printf("read after lseek: %zd bytes, content %s, position %ld\n", n, n > 0 && check(all, 12345, n) ? "ok" : "WRONG",
           (long)lseek(fd, 0, SEEK_CUR));
    return 0;
}
