/* Writes the sentry makes with its lock let go (to a file on a write-through host root while
 * the host writes; to a sandbox file between the pieces of a large write) stay what write(2)
 * promises:
 *  - appends: 2 processes x 2 threads, each with its own O_APPEND description, write records
 *    of 100 bytes to 150 KiB; every record must land once, whole, none overlapping another;
 *  - a shared mapping made as another thread starts a write, and read in at once: after the
 *    writes, the mapping, read() and what was written agree. (Whether its pages are read
 *    from the host file before the write reaches it is up to timing; seldom, here.)
 * Prints one line per check; exits 1 on the first failure. Usage: host_file_writes DIR */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WRITERS 4
#define RECORDS 60

static const char *dir;
static char appendPath[4096], mapPath[4096];

static void fail(const char *what) { perror(what); exit(1); }

/* Record r of writer w: "<w> <r> <len>\n", then bytes (w * 31 + r + i) % 26 + 'a', then '\n'. */
static size_t recordLength(int w, int r) { return 100 + (size_t)((w * 7919 + r * 104729) % (150 << 10)); }

static void writeRecords(int w) {
    int fd = open(appendPath, O_WRONLY | O_APPEND);
    if (fd < 0) fail("open append");
    for (int r = 0; r < RECORDS; r++) {
        size_t len = recordLength(w, r);
        char *rec = malloc(len);
        int head = snprintf(rec, len, "%d %d %zu\n", w, r, len);
        for (size_t i = head; i < len - 1; i++) rec[i] = (char)((w * 31 + r + i) % 26 + 'a');
        rec[len - 1] = '\n';
        if (write(fd, rec, len) != (ssize_t)len) fail("write record");
        free(rec);
    }
    close(fd);
}

static void *writerThread(void *arg) { writeRecords((int)(long)arg); return NULL; }

static int checkAppends(void) {
    int fd = open(appendPath, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) fail("open appended file");
    char *all = malloc(st.st_size + 1);
    if (pread(fd, all, st.st_size, 0) != st.st_size) fail("read appended file");
    close(fd);
    int seen[WRITERS][RECORDS] = {{0}};
    size_t expected = 0, at = 0;
    for (int w = 0; w < WRITERS; w++)
        for (int r = 0; r < RECORDS; r++) expected += recordLength(w, r);
    if ((size_t)st.st_size != expected) {
        printf("appends: file is %lld bytes, the records %zu\n", (long long)st.st_size, expected);
        return 1;
    }
    while (at < (size_t)st.st_size) {
        int w, r;
        size_t len;
        if (sscanf(all + at, "%d %d %zu\n", &w, &r, &len) != 3 || w < 0 || w >= WRITERS || r < 0 || r >= RECORDS
            || len != recordLength(w, r) || at + len > (size_t)st.st_size) {
            printf("appends: no whole record at byte %zu\n", at);
            return 1;
        }
        size_t head = strchr(all + at, '\n') - (all + at) + 1;
        for (size_t i = head; i < len - 1; i++)
            if (all[at + i] != (char)((w * 31 + r + i) % 26 + 'a')) {
                printf("appends: record %d/%d torn at byte %zu\n", w, r, i);
                return 1;
            }
        seen[w][r]++;
        at += len;
    }
    for (int w = 0; w < WRITERS; w++)
        for (int r = 0; r < RECORDS; r++)
            if (seen[w][r] != 1) { printf("appends: record %d/%d seen %d times\n", w, r, seen[w][r]); return 1; }
    printf("appends: %d records, each once and whole\n", WRITERS * RECORDS);
    return 0;
}

#define CHUNK (64 << 10)
#define CHUNKS 32
static int mapFD;
static volatile int generation, writing = -1;

static void *mapperThread(void *arg) {
    (void)arg;
    /* Map as the writer starts on one chunk, and read that chunk in first: its pages come
     * from the host file while the write may still be on its way there. */
    int target = generation % CHUNKS;
    while (writing < target) {}
    char *m = mmap(NULL, CHUNK * CHUNKS, PROT_READ, MAP_SHARED, mapFD, 0);
    if (m == MAP_FAILED) fail("mmap");
    volatile char sink = 0;
    for (size_t o = 0; o < CHUNK; o += 4096) sink += m[(size_t)target * CHUNK + o];
    for (size_t o = 0; o < CHUNK * CHUNKS; o += 4096) sink += m[o];
    return m;
}

static int checkMapping(void) {
    mapFD = open(mapPath, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (mapFD < 0 || ftruncate(mapFD, CHUNK * CHUNKS) != 0) fail("create mapped file");
    static char buf[CHUNK], back[CHUNK];
    for (generation = 1; generation <= 40; generation++) {
        pthread_t mapper;
        pthread_create(&mapper, NULL, mapperThread, NULL);
        for (int c = 0; c < CHUNKS; c++) {
            memset(buf, 'A' + (generation + c) % 26, CHUNK);
            writing = c;
            if (pwrite(mapFD, buf, CHUNK, (off_t)c * CHUNK) != CHUNK) fail("pwrite");
        }
        void *ret;
        pthread_join(mapper, &ret);
        writing = -1;
        char *m = ret;
        for (int c = 0; c < CHUNKS; c++) {
            char want = 'A' + (generation + c) % 26;
            if (pread(mapFD, back, CHUNK, (off_t)c * CHUNK) != CHUNK) fail("pread");
            for (int i = 0; i < CHUNK; i += 512)
                if (back[i] != want || m[(size_t)c * CHUNK + i] != want) {
                    printf("mapping: round %d chunk %d byte %d: read '%c', mapping '%c', written '%c'\n",
                           generation, c, i, back[i], m[(size_t)c * CHUNK + i], want);
                    return 1;
                }
        }
        munmap(m, CHUNK * CHUNKS);
    }
    close(mapFD);
    printf("mapping: 40 rounds, mapping, read and writes agree\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s DIR\n", argv[0]); return 2; }
    dir = argv[1];
    snprintf(appendPath, sizeof appendPath, "%s/appended", dir);
    snprintf(mapPath, sizeof mapPath, "%s/mapped", dir);
    int fd = open(appendPath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) fail("create appended file");
    close(fd);
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    int base = pid == 0 ? 2 : 0;
    pthread_t t;
    pthread_create(&t, NULL, writerThread, (void *)(long)(base + 1));
    writeRecords(base);
    pthread_join(t, NULL);
    if (pid == 0) _exit(0);
    int status;
    if (waitpid(pid, &status, 0) != pid || status != 0) { printf("appends: the child failed\n"); return 1; }
    if (checkAppends() || checkMapping()) return 1;
    unlink(appendPath);
    unlink(mapPath);
    return 0;
}
