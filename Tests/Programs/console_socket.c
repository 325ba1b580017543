// An OCI --console-socket peer, as conmon is: listens on argv[1], receives the pty master
// over SCM_RIGHTS, types argv[2] into it and copies what the container writes to stdout
// until the terminal closes.
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 1) != 0) { perror("listen"); return 1; }
    printf("listening\n");
    fflush(stdout);
    int c = accept(s, NULL, NULL);
    if (c < 0) { perror("accept"); return 1; }
    char name[256] = {0};
    struct iovec iov = { name, sizeof name - 1 };
    union { char b[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
    if (recvmsg(c, &msg, 0) < 0) { perror("recvmsg"); return 1; }
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (!cm || cm->cmsg_type != SCM_RIGHTS) { fprintf(stderr, "no fd received\n"); return 1; }
    int master;
    memcpy(&master, CMSG_DATA(cm), sizeof master);
    printf("received %s\n", name);
    fflush(stdout);
    if (write(master, argv[2], strlen(argv[2])) < 0) { perror("write"); return 1; }
    char buf[4096];
    for (;;) {
        struct pollfd p = { master, POLLIN, 0 };
        if (poll(&p, 1, 20000) <= 0) { fprintf(stderr, "timed out\n"); return 1; }
        ssize_t n = read(master, buf, sizeof buf);
        if (n <= 0) break; // EIO once the container's side is closed
        fwrite(buf, 1, (size_t)n, stdout);
        fflush(stdout);
    }
    return 0;
}
