// The comparison's sandboxed program: prints `ready` (the moment a sandbox counts as
// started), then sleeps for argv[1] seconds, idle, so its memory can be measured.
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (write(1, "ready\n", 6) != 6) return 1;
    if (argc > 1) sleep((unsigned)atoi(argv[1]));
    return 0;
}
