// Reads a host file of which the test left only the first half in the host's page cache, in
// one pread of the whole file: a regular file's read returns every byte asked for before its
// end (the sentry's first, non-waiting host read stops where the page cache does, which is
// not the end of the file). Each 4 KiB block starts with its offset (8 bytes), then bytes
// (offset/4096 + i) % 251, as host_file_read_from_disk.c.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) { perror("open"); return 1; }
    unsigned char *buf = malloc(st.st_size);
    ssize_t n = pread(fd, buf, st.st_size, 0);
    long bad = 0;
    for (long pos = 0; pos < n; pos++) {
        long block = pos / 4096, within = pos % 4096;
        unsigned char want = within < 8 ? (unsigned char)((uint64_t)(block * 4096) >> (8 * within)) : (unsigned char)((block + within) % 251);
        if (buf[pos] != want) bad++;
    }
    printf("read %zd of %lld bytes, %ld wrong\n", n, (long long)st.st_size, bad);
    return 0;
}
