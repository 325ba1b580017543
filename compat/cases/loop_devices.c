/* Loop devices (loop(4)): /dev/loop-control's LOOP_CTL_GET_FREE, ADD and REMOVE; a
 * /dev/loopN bound to a file with LOOP_SET_FD or LOOP_CONFIGURE; reads and writes through
 * it reaching the file; its size, offset, size limit, read-only state and status; detaching
 * (LOOP_CLR_FD, autoclear on last close); the block-device ioctls tools ask (BLKGETSIZE64,
 * BLKSSZGET, BLKROGET); and the errors for each misuse. Natively these use the host's loop
 * driver: each case detaches what it attached. */
#include "../compat.h"
#include <linux/loop.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

/* A free loop device, opened read-write; its number in *number. */
static int open_free_loop(int *number) {
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    EXPECT(ctl >= 0);
    int n = ioctl(ctl, LOOP_CTL_GET_FREE);
    EXPECT(n >= 0);
    close(ctl);
    char path[64];
    snprintf(path, sizeof path, "/dev/loop%d", n);
    int fd = -1;
    /* Natively, a device LOOP_CTL_GET_FREE just added appears in /dev a moment later. */
    for (int i = 0; i < 200 && fd < 0; i++) {
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) usleep(10000);
    }
    EXPECT(fd >= 0);
    *number = n;
    return fd;
}

/* A scratch file of `size` bytes, byte i being (i * 7 + i / 4096) & 0xff; opened with `flags`. */
static int make_backing(const char *name, size_t size, int flags) {
    const char *path = scratch_path(name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT(fd >= 0);
    static unsigned char buf[65536];
    for (size_t done = 0; done < size;) {
        size_t n = size - done < sizeof buf ? size - done : sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = ((done + i) * 7 + (done + i) / 4096) & 0xff;
        EXPECT_EQ(pwrite(fd, buf, n, done), (long)n);
        done += n;
    }
    if (flags != O_RDWR) {
        close(fd);
        fd = open(path, flags);
        EXPECT(fd >= 0);
    }
    return fd;
}

/* Detaches `dev` and closes it: LOOP_CLR_FD, then ENXIO once the device is running down. */
static void detach(int dev) {
    EXPECT_OK(ioctl(dev, LOOP_CLR_FD, 0));
    EXPECT_ERRNO(ioctl(dev, LOOP_CLR_FD, 0), ENXIO);
    close(dev);
}

CASE(loop_device_is_a_block_device_unbound_until_set_fd) {
    int n;
    int dev = open_free_loop(&n);
    struct stat st;
    EXPECT_OK(fstat(dev, &st));
    EXPECT(S_ISBLK(st.st_mode));
    EXPECT_EQ(major(st.st_rdev), 7);
    EXPECT_EQ(minor(st.st_rdev), n);
    uint64_t size = 1;
    EXPECT_OK(ioctl(dev, BLKGETSIZE64, &size));
    EXPECT_EQ(size, 0);
    char c;
    EXPECT_EQ(read(dev, &c, 1), 0);
    struct loop_info64 info;
    EXPECT_ERRNO(ioctl(dev, LOOP_GET_STATUS64, &info), ENXIO);
    EXPECT_ERRNO(ioctl(dev, LOOP_CLR_FD, 0), ENXIO);
    memset(&info, 0, sizeof info);
    EXPECT_ERRNO(ioctl(dev, LOOP_SET_STATUS64, &info), ENXIO);
    EXPECT_ERRNO(ioctl(dev, LOOP_SET_CAPACITY, 0), ENXIO);
    close(dev);
}

CASE(loop_device_reads_and_writes_its_file) {
    int n;
    int dev = open_free_loop(&n);
    /* A size that is not a whole number of sectors: the device ends at the last whole one. */
    int file = make_backing("img", (1 << 20) + 100, O_RDWR);
    EXPECT_OK(ioctl(dev, LOOP_SET_FD, file));
    uint64_t size = 0;
    EXPECT_OK(ioctl(dev, BLKGETSIZE64, &size));
    EXPECT_EQ(size, 1 << 20);
    unsigned long sectors = 0;
    EXPECT_OK(ioctl(dev, BLKGETSIZE, &sectors));
    EXPECT_EQ(sectors, 2048);
    int ssz = 0, ro = -1;
    EXPECT_OK(ioctl(dev, BLKSSZGET, &ssz));
    EXPECT_EQ(ssz, 512);
    EXPECT_OK(ioctl(dev, BLKROGET, &ro));
    EXPECT_EQ(ro, 0);
    /* Reads see the file. */
    unsigned char a[8192], b[8192];
    EXPECT_EQ(pread(dev, a, sizeof a, 100000), (long)sizeof a);
    EXPECT_EQ(pread(file, b, sizeof b, 100000), (long)sizeof b);
    EXPECT(memcmp(a, b, sizeof a) == 0);
    /* Writes reach the file once the device is flushed. */
    memset(a, 0x5a, sizeof a);
    EXPECT_EQ(pwrite(dev, a, 1000, 500000), 1000);
    EXPECT_OK(fsync(dev));
    EXPECT_EQ(pread(file, b, 1000, 500000), 1000);
    EXPECT(memcmp(a, b, 1000) == 0);
    /* The end: a read there gets nothing, a write ENOSPC, one across it is cut short. */
    EXPECT_EQ(pread(dev, a, 10, 1 << 20), 0);
    EXPECT_ERRNO(pwrite(dev, a, 10, 1 << 20), ENOSPC);
    EXPECT_EQ(pwrite(dev, a, 1000, (1 << 20) - 100), 100);
    EXPECT_EQ(pread(dev, a, 1000, (1 << 20) - 100), 100);
    /* Seeking: SEEK_END is the device's size; past it, EINVAL. */
    EXPECT_EQ(lseek(dev, 0, SEEK_END), 1 << 20);
    EXPECT_EQ(lseek(dev, -512, SEEK_END), (1 << 20) - 512);
    EXPECT_ERRNO(lseek(dev, 1, SEEK_END), EINVAL);
    EXPECT_ERRNO(lseek(dev, (1 << 20) + 1, SEEK_SET), EINVAL);
    EXPECT_EQ(lseek(dev, 4096, SEEK_SET), 4096);
    EXPECT_EQ(read(dev, a, 512), 512);
    EXPECT_EQ(lseek(dev, 0, SEEK_CUR), 4096 + 512);
    /* A bound device is busy. */
    EXPECT_ERRNO(ioctl(dev, LOOP_SET_FD, file), EBUSY);
    close(file);
    detach(dev);
}

CASE(loop_status_names_the_file) {
    int n;
    int dev = open_free_loop(&n);
    int file = make_backing("img", 65536, O_RDWR);
    struct stat st;
    EXPECT_OK(fstat(file, &st));
    EXPECT_OK(ioctl(dev, LOOP_SET_FD, file));
    struct loop_info64 info;
    memset(&info, 0xff, sizeof info);
    EXPECT_OK(ioctl(dev, LOOP_GET_STATUS64, &info));
    EXPECT_EQ(info.lo_number, n);
    EXPECT_EQ(info.lo_inode, st.st_ino);
    EXPECT_EQ(info.lo_device, st.st_dev);
    EXPECT_EQ(info.lo_rdevice, 0);
    EXPECT_EQ(info.lo_offset, 0);
    EXPECT_EQ(info.lo_sizelimit, 0);
    EXPECT_EQ(info.lo_flags & ~(unsigned)LO_FLAGS_DIRECT_IO, 0);
    EXPECT_EQ(info.lo_file_name[0], 0);
    EXPECT_EQ(info.lo_encrypt_key_size, 0);
    /* LOOP_SET_STATUS names it, as losetup and LTP do; the old struct reads it back. */
    struct loop_info old;
    memset(&old, 0, sizeof old);
    strcpy(old.lo_name, "backing-name");
    EXPECT_OK(ioctl(dev, LOOP_SET_STATUS, &old));
    memset(&old, 0xff, sizeof old);
    EXPECT_OK(ioctl(dev, LOOP_GET_STATUS, &old));
    EXPECT_STREQ(old.lo_name, "backing-name");
    EXPECT_EQ(old.lo_number, n);
    EXPECT_EQ(old.lo_inode, st.st_ino);
    EXPECT_OK(ioctl(dev, LOOP_GET_STATUS64, &info));
    EXPECT_STREQ((char *)info.lo_file_name, "backing-name");
    /* Of the flags, SET_STATUS sets only autoclear and partscan, and clears only autoclear. */
    memset(&info, 0, sizeof info);
    info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
    EXPECT_OK(ioctl(dev, LOOP_SET_STATUS64, &info));
    EXPECT_OK(ioctl(dev, LOOP_GET_STATUS64, &info));
    EXPECT_EQ(info.lo_flags & ~(unsigned)LO_FLAGS_DIRECT_IO, LO_FLAGS_AUTOCLEAR);
    int ro = -1;
    EXPECT_OK(ioctl(dev, BLKROGET, &ro));
    EXPECT_EQ(ro, 0);
    info.lo_flags = 0;
    EXPECT_OK(ioctl(dev, LOOP_SET_STATUS64, &info));
    EXPECT_OK(ioctl(dev, LOOP_GET_STATUS64, &info));
    EXPECT_EQ(info.lo_flags & ~(unsigned)LO_FLAGS_DIRECT_IO, 0);
    /* The removed transformations are refused. */
    info.lo_encrypt_type = 1; /* LO_CRYPT_XOR */
    EXPECT_ERRNO(ioctl(dev, LOOP_SET_STATUS64, &info), EINVAL);
    info.lo_encrypt_type = 0;
    info.lo_encrypt_key_size = 33;
    EXPECT_ERRNO(ioctl(dev, LOOP_SET_STATUS64, &info), EINVAL);
    EXPECT_ERRNO(ioctl(dev, LOOP_GET_STATUS64, NULL), EINVAL);
    EXPECT_ERRNO(ioctl(dev, LOOP_SET_STATUS64, (void *)8), EFAULT);
    close(file);
    detach(dev);
}

CASE(loop_offset_and_size_limit) {
    int n;
    int dev = open_free_loop(&n);
    int file = make_backing("img", 65536, O_RDWR);
    struct loop_config config;
    memset(&config, 0, sizeof config);
    config.fd = file;
    config.info.lo_offset = 4096;
    config.info.lo_sizelimit = 8192 + 100;
    EXPECT_OK(ioctl(dev, LOOP_CONFIGURE, &config));
    uint64_t size = 0;
    EXPECT_OK(ioctl(dev, BLKGETSIZE64, &size));
    EXPECT_EQ(size, 8192);
    unsigned char a[512], b[512];
    EXPECT_EQ(pread(dev, a, 512, 1024), 512);
    EXPECT_EQ(pread(file, b, 512, 4096 + 1024), 512);
    EXPECT(memcmp(a, b, 512) == 0);
    struct loop_info64 info;
    EXPECT_OK(ioctl(dev, LOOP_GET_STATUS64, &info));
    EXPECT_EQ(info.lo_offset, 4096);
    EXPECT_EQ(info.lo_sizelimit, 8192 + 100);
    /* A new size limit (0: to the file's end) resizes the device at once. */
    info.lo_sizelimit = 0;
    EXPECT_OK(ioctl(dev, LOOP_SET_STATUS64, &info));
    EXPECT_OK(ioctl(dev, BLKGETSIZE64, &size));
    EXPECT_EQ(size, 65536 - 4096);
    /* The file growing is seen only at LOOP_SET_CAPACITY. */
    EXPECT_OK(ftruncate(file, 131072));
    EXPECT_OK(ioctl(dev, BLKGETSIZE64, &size));
    EXPECT_EQ(size, 65536 - 4096);
    EXPECT_OK(ioctl(dev, LOOP_SET_CAPACITY, 0));
    EXPECT_OK(ioctl(dev, BLKGETSIZE64, &size));
    EXPECT_EQ(size, 131072 - 4096);
    /* The grown part reads as zeros. */
    EXPECT_EQ(pread(dev, a, 512, 100000), 512);
    memset(b, 0, sizeof b);
    EXPECT(memcmp(a, b, 512) == 0);
    /* An offset past the file's end leaves an empty device. */
    info.lo_offset = 1 << 20;
    EXPECT_OK(ioctl(dev, LOOP_SET_STATUS64, &info));
    EXPECT_OK(ioctl(dev, BLKGETSIZE64, &size));
    EXPECT_EQ(size, 0);
    info.lo_offset = 1ULL << 63;
    EXPECT_ERRNO(ioctl(dev, LOOP_SET_STATUS64, &info), EOVERFLOW);
    close(file);
    detach(dev);
}

CASE(loop_configure_checks_what_it_is_given) {
    int n;
    int dev = open_free_loop(&n);
    int file = make_backing("img", 65536, O_RDWR);
    struct loop_config config;
    memset(&config, 0, sizeof config);
    config.fd = file;
    config.info.lo_flags = 0x100; /* not a flag LOOP_CONFIGURE sets */
    EXPECT_ERRNO(ioctl(dev, LOOP_CONFIGURE, &config), EINVAL);
    config.info.lo_flags = 0;
    config.block_size = 1000;
    EXPECT_ERRNO(ioctl(dev, LOOP_CONFIGURE, &config), EINVAL);
    config.block_size = 256;
    EXPECT_ERRNO(ioctl(dev, LOOP_CONFIGURE, &config), EINVAL);
    config.block_size = 1 << 17; /* past the largest (64 KiB since Linux 6.15, before a page) */
    EXPECT_ERRNO(ioctl(dev, LOOP_CONFIGURE, &config), EINVAL);
    config.block_size = 0;
    config.fd = 9999;
    EXPECT_ERRNO(ioctl(dev, LOOP_CONFIGURE, &config), EBADF);
    EXPECT_ERRNO(ioctl(dev, LOOP_CONFIGURE, (void *)8), EFAULT);
    EXPECT_ERRNO(ioctl(dev, LOOP_SET_FD, 9999), EBADF);
    /* Only a regular file or a block device backs a loop device. */
    int dir = open(scratch(), O_RDONLY | O_DIRECTORY);
    EXPECT_ERRNO(ioctl(dev, LOOP_SET_FD, dir), EINVAL);
    close(dir);
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_ERRNO(ioctl(dev, LOOP_SET_FD, p[0]), EINVAL);
    close(p[0]);
    close(p[1]);
    /* Nor itself (EBADF, loop_validate_file's answer to a loop). */
    EXPECT_ERRNO(ioctl(dev, LOOP_SET_FD, dev), EBADF);
    /* With a block size of 4096: the sector size tools read. */
    config.fd = file;
    config.block_size = 4096;
    EXPECT_OK(ioctl(dev, LOOP_CONFIGURE, &config));
    int ssz = 0;
    EXPECT_OK(ioctl(dev, BLKSSZGET, &ssz));
    EXPECT_EQ(ssz, 4096);
    EXPECT_ERRNO(ioctl(dev, LOOP_SET_BLOCK_SIZE, 3000), EINVAL);
    EXPECT_OK(ioctl(dev, LOOP_SET_BLOCK_SIZE, 512));
    EXPECT_OK(ioctl(dev, BLKSSZGET, &ssz));
    EXPECT_EQ(ssz, 512);
    /* What the loop driver does not know is EINVAL. */
    EXPECT_ERRNO(ioctl(dev, _IO(0x4c, 0x40), 0), EINVAL);
    close(file);
    detach(dev);
}

CASE(read_only_loop_device) {
    int n;
    int dev = open_free_loop(&n);
    int file = make_backing("img", 65536, O_RDONLY);
    EXPECT_OK(ioctl(dev, LOOP_SET_FD, file));
    int ro = 0;
    EXPECT_OK(ioctl(dev, BLKROGET, &ro));
    EXPECT_EQ(ro, 1);
    struct loop_info64 info;
    EXPECT_OK(ioctl(dev, LOOP_GET_STATUS64, &info));
    EXPECT(info.lo_flags & LO_FLAGS_READ_ONLY);
    char c = 1;
    EXPECT_ERRNO(pwrite(dev, &c, 1, 0), EPERM);
    EXPECT_EQ(pread(dev, &c, 1, 1), 1);
    EXPECT_EQ(c, 7);
    /* LOOP_CHANGE_FD swaps the file of a read-only device for one of the same size. */
    int same = make_backing("same", 65536 + 511, O_RDONLY);
    int other = make_backing("other", 32768, O_RDONLY);
    EXPECT_ERRNO(ioctl(dev, LOOP_CHANGE_FD, other), EINVAL);
    EXPECT_ERRNO(ioctl(dev, LOOP_CHANGE_FD, 9999), EBADF);
    EXPECT_OK(ioctl(dev, LOOP_CHANGE_FD, same));
    struct stat st;
    EXPECT_OK(fstat(same, &st));
    EXPECT_OK(ioctl(dev, LOOP_GET_STATUS64, &info));
    EXPECT_EQ(info.lo_inode, st.st_ino);
    close(file);
    close(same);
    close(other);
    detach(dev);
    /* A writable device refuses LOOP_CHANGE_FD. */
    dev = open_free_loop(&n);
    file = make_backing("img2", 65536, O_RDWR);
    same = make_backing("same2", 65536, O_RDWR);
    EXPECT_OK(ioctl(dev, LOOP_SET_FD, file));
    EXPECT_ERRNO(ioctl(dev, LOOP_CHANGE_FD, same), EINVAL);
    close(file);
    close(same);
    detach(dev);
}

CASE(loop_device_detaches_at_last_close) {
    int n;
    int dev = open_free_loop(&n);
    int file = make_backing("img", 65536, O_RDWR);
    EXPECT_OK(ioctl(dev, LOOP_SET_FD, file));
    close(file);
    /* Another opener: LOOP_CLR_FD only marks the device, which stays bound until both close. */
    char path[64];
    snprintf(path, sizeof path, "/dev/loop%d", n);
    int second = open(path, O_RDONLY);
    EXPECT(second >= 0);
    EXPECT_OK(ioctl(dev, LOOP_CLR_FD, 0));
    struct loop_info64 info;
    EXPECT_OK(ioctl(second, LOOP_GET_STATUS64, &info));
    EXPECT(info.lo_flags & LO_FLAGS_AUTOCLEAR);
    char c;
    EXPECT_EQ(pread(second, &c, 1, 1), 1);
    close(dev);
    EXPECT_OK(ioctl(second, LOOP_GET_STATUS64, &info));
    close(second);
    dev = open(path, O_RDONLY);
    EXPECT(dev >= 0);
    EXPECT_ERRNO(ioctl(dev, LOOP_GET_STATUS64, &info), ENXIO);
    close(dev);
    /* LOOP_CONFIGURE's autoclear: detached when the last opener closes. */
    dev = open_free_loop(&n);
    file = make_backing("img", 65536, O_RDWR);
    struct loop_config config;
    memset(&config, 0, sizeof config);
    config.fd = file;
    config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
    EXPECT_OK(ioctl(dev, LOOP_CONFIGURE, &config));
    close(file);
    close(dev);
    snprintf(path, sizeof path, "/dev/loop%d", n);
    dev = open(path, O_RDONLY);
    EXPECT(dev >= 0);
    EXPECT_ERRNO(ioctl(dev, LOOP_GET_STATUS64, &info), ENXIO);
    close(dev);
}

/* fallocate of a block device zeroes whole blocks (PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE); it
 * allocates nothing (mode 0: EOPNOTSUPP), and stays within the device. */
CASE(fallocate_of_a_loop_device_zeroes_its_blocks) {
    int n;
    int dev = open_free_loop(&n);
    int file = make_backing("img", 65536, O_RDWR);
    EXPECT_OK(ioctl(dev, LOOP_SET_FD, file));
    EXPECT_ERRNO(fallocate(dev, 0, 4096, 4096), EOPNOTSUPP);
    EXPECT_ERRNO(fallocate(dev, FALLOC_FL_KEEP_SIZE, 4096, 4096), EOPNOTSUPP);
    EXPECT_OK(fallocate(dev, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096));
    EXPECT_OK(fallocate(dev, FALLOC_FL_ZERO_RANGE, 16384, 512));
    EXPECT_OK(fallocate(dev, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 61440, 8192));
    EXPECT_ERRNO(fallocate(dev, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 65536, 512), EINVAL);
    EXPECT_ERRNO(fallocate(dev, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 512), EINVAL);
    EXPECT_OK(fsync(dev));
    unsigned char c = 1;
    EXPECT_EQ(pread(file, &c, 1, 5000), 1);
    EXPECT_EQ(c, 0);
    EXPECT_EQ(pread(file, &c, 1, 16384 + 511), 1);
    EXPECT_EQ(c, 0);
    EXPECT_EQ(pread(file, &c, 1, 16384 + 512), 1);
    EXPECT_EQ(c, ((16384 + 512) * 7 + 4) & 0xff);
    EXPECT_EQ(pread(file, &c, 1, 65535), 1);
    EXPECT_EQ(c, 0);
    close(file);
    detach(dev);
}

/* The first line of a sysfs attribute of loop device n, without its newline. */
static const char *attribute(int n, const char *name) {
    static char buf[4096];
    char path[128];
    snprintf(path, sizeof path, "/sys/block/loop%d/%s", n, name);
    if (slurp(path, buf, sizeof buf) < 0) return NULL;
    buf[strcspn(buf, "\n")] = 0;
    return buf;
}

CASE(loop_device_in_sysfs) {
    int n;
    int dev = open_free_loop(&n);
    char want[600];
    snprintf(want, sizeof want, "7:%d", n);
    EXPECT_STREQ(attribute(n, "dev"), want);
    EXPECT_STREQ(attribute(n, "size"), "0");
    /* loop/ is there only while a file is bound. */
    EXPECT(attribute(n, "loop/backing_file") == NULL);
    int file = make_backing("img", 65536, O_RDWR);
    struct loop_config config;
    memset(&config, 0, sizeof config);
    config.fd = file;
    config.info.lo_offset = 1024;
    config.info.lo_sizelimit = 8192;
    EXPECT_OK(ioctl(dev, LOOP_CONFIGURE, &config));
    char real[512];
    EXPECT(realpath(scratch_path("img"), real) != NULL);
    EXPECT_STREQ(attribute(n, "loop/backing_file"), real);
    EXPECT_STREQ(attribute(n, "loop/offset"), "1024");
    EXPECT_STREQ(attribute(n, "loop/sizelimit"), "8192");
    EXPECT_STREQ(attribute(n, "loop/autoclear"), "0");
    EXPECT_STREQ(attribute(n, "size"), "16");
    EXPECT_STREQ(attribute(n, "ro"), "0");
    EXPECT_STREQ(attribute(n, "queue/logical_block_size"), "512");
    /* The same device by number, as libblkid finds it. */
    char path[128], buf[64];
    snprintf(path, sizeof path, "/sys/dev/block/7:%d/loop/offset", n);
    EXPECT(slurp(path, buf, sizeof buf) > 0);
    EXPECT_STREQ(buf, "1024\n");
    /* An unlinked file is named so. */
    EXPECT_OK(unlink(scratch_path("img")));
    strcat(real, " (deleted)");
    EXPECT_STREQ(attribute(n, "loop/backing_file"), real);
    close(file);
    detach(dev);
}

CASE(loop_control_adds_and_removes_devices) {
    int ctl = open("/dev/loop-control", O_RDWR);
    EXPECT(ctl >= 0);
    /* A number well above those in use. */
    int n = 200 + getpid() % 200;
    while (ioctl(ctl, LOOP_CTL_ADD, n) < 0) {
        EXPECT_EQ(errno, EEXIST);
        n++;
    }
    EXPECT_ERRNO(ioctl(ctl, LOOP_CTL_ADD, n), EEXIST);
    char path[64];
    snprintf(path, sizeof path, "/dev/loop%d", n);
    int dev = -1;
    for (int i = 0; i < 200 && dev < 0; i++) {
        dev = open(path, O_RDWR);
        if (dev < 0) usleep(10000);
    }
    EXPECT(dev >= 0);
    /* An open device cannot be removed, nor a bound one. */
    EXPECT_ERRNO(ioctl(ctl, LOOP_CTL_REMOVE, n), EBUSY);
    close(dev);
    EXPECT_OK(ioctl(ctl, LOOP_CTL_REMOVE, n));
    EXPECT_ERRNO(ioctl(ctl, LOOP_CTL_REMOVE, n), ENODEV);
    EXPECT_ERRNO(ioctl(ctl, LOOP_CTL_REMOVE, -1), EINVAL);
    /* loop-control knows only its own three requests. */
    EXPECT_ERRNO(ioctl(ctl, LOOP_CLR_FD, 0), ENOSYS);
    char c;
    EXPECT_ERRNO(read(ctl, &c, 1), EINVAL);
    struct stat st;
    EXPECT_OK(fstat(ctl, &st));
    EXPECT(S_ISCHR(st.st_mode));
    EXPECT_EQ(major(st.st_rdev), 10);
    EXPECT_EQ(minor(st.st_rdev), 237);
    close(ctl);
}

static void nobody_opens_no_loop_device(void) {
    EXPECT_ERRNO(open("/dev/loop-control", O_RDWR), EACCES);
    EXPECT_ERRNO(open("/dev/loop0", O_RDONLY), EACCES);
}

CASE(loop_devices_belong_to_root_and_disk) {
    /* 0600 root:root as devtmpfs makes them, or 0660 root:disk as udev's rules leave them. */
    struct stat st;
    struct group *disk = getgrnam("disk");
    EXPECT_OK(stat("/dev/loop-control", &st));
    EXPECT(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_uid, 0);
    EXPECT((st.st_mode & 07777) == 0600 || ((st.st_mode & 07777) == 0660 && disk && st.st_gid == disk->gr_gid));
    EXPECT_OK(stat("/dev/loop0", &st));
    EXPECT(S_ISBLK(st.st_mode));
    EXPECT_EQ(st.st_uid, 0);
    EXPECT((st.st_mode & 07777) == 0600 || ((st.st_mode & 07777) == 0660 && disk && st.st_gid == disk->gr_gid));
    EXPECT_EQ(st.st_size, 0);
    AS_NOBODY(nobody_opens_no_loop_device);
}

COMPAT_MAIN()
