/* Sanity of the harness itself; the real file cases live in files.c. */
#include "../compat.h"
#include <fcntl.h>

CASE(open_missing_file_is_enoent) {
    EXPECT_ERRNO(open("/nonexistent/file", O_RDONLY), ENOENT);
}

CASE(write_then_read_back) {
    int fd = open(scratch_path("f"), O_CREAT | O_RDWR, 0644);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "hello", 5), 5);
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    char buf[8] = {0};
    EXPECT_EQ(read(fd, buf, sizeof buf), 5);
    EXPECT_STREQ(buf, "hello");
}

COMPAT_MAIN()
