/* The key retention service (keyrings(7)): add_key, request_key and keyctl on "user",
 * "logon" and "keyring" keys; the thread, process, session and user keyrings; possession
 * and the permission mask; revocation, timeouts, quotas and /proc/keys. Every case starts
 * in a new anonymous session keyring of its own, so what the runner's session holds does
 * not matter. */
#include "../compat.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <linux/keyctl.h>

typedef int32_t key_serial_t;

static key_serial_t add_key(const char *type, const char *desc, const void *payload, size_t len, key_serial_t ring) {
    return syscall(SYS_add_key, type, desc, payload, len, ring);
}
static key_serial_t request_key(const char *type, const char *desc, const char *callout, key_serial_t ring) {
    return syscall(SYS_request_key, type, desc, callout, ring);
}
static long keyctl(int op, unsigned long a, unsigned long b, unsigned long c, unsigned long d) {
    return syscall(SYS_keyctl, op, a, b, c, d);
}

static key_serial_t new_session(void) {
    long s = keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0, 0, 0, 0);
    EXPECT(s > 0);
    return (key_serial_t)s;
}

/* The key's description as KEYCTL_DESCRIBE gives it ("type;uid;gid;perm;description"). */
static void describe(key_serial_t key, char *buf, size_t size) {
    memset(buf, 0, size);
    long n = keyctl(KEYCTL_DESCRIBE, (unsigned long)key, (unsigned long)buf, size, 0);
    EXPECT(n > 0 && (size_t)n <= size);
    EXPECT_EQ(n, (long)strlen(buf) + 1);
}

/* The key's description must be the one `fmt` formats. */
__attribute__((format(printf, 2, 3))) static void expect_description(key_serial_t key, const char *fmt, ...) {
    char buf[128], want[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    describe(key, buf, sizeof buf);
    EXPECT_STREQ(buf, want);
}

/* The serials a keyring links to, in `ids` (at most `max`); their number. */
static int links(key_serial_t ring, key_serial_t *ids, int max) {
    long n = keyctl(KEYCTL_READ, (unsigned long)ring, (unsigned long)ids, max * sizeof(key_serial_t), 0);
    EXPECT(n >= 0 && n % 4 == 0 && n / 4 <= max);
    return (int)(n / 4);
}

CASE(a_user_key_is_added_read_described_and_found) {
    key_serial_t session = new_session();
    key_serial_t key = add_key("user", "joey:a", "hello", 5, KEY_SPEC_SESSION_KEYRING);
    EXPECT(key > 0);
    char buf[128];
    EXPECT_EQ(keyctl(KEYCTL_READ, key, 0, 0, 0), 5);
    /* A buffer too small for the payload gets nothing; the payload's size comes back. */
    memset(buf, 'x', sizeof buf);
    EXPECT_EQ(keyctl(KEYCTL_READ, key, (unsigned long)buf, 3, 0), 5);
    EXPECT(buf[0] == 'x');
    EXPECT_EQ(keyctl(KEYCTL_READ, key, (unsigned long)buf, sizeof buf, 0), 5);
    EXPECT(memcmp(buf, "hello", 5) == 0);
    char want[128];
    snprintf(want, sizeof want, "user;%u;%u;3f010000;joey:a", getuid(), getgid());
    describe(key, buf, sizeof buf);
    EXPECT_STREQ(buf, want);
    /* DESCRIBE into a short buffer copies nothing. */
    memset(buf, 'x', sizeof buf);
    EXPECT_EQ(keyctl(KEYCTL_DESCRIBE, key, (unsigned long)buf, 4, 0), (long)strlen(want) + 1);
    EXPECT(buf[0] == 'x');
    EXPECT_EQ(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"user", (unsigned long)"joey:a", 0), key);
    EXPECT_ERRNO(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"user", (unsigned long)"joey:b", 0), ENOKEY);
    EXPECT_ERRNO(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"logon", (unsigned long)"joey:a", 0), ENOKEY);
    EXPECT_EQ(request_key("user", "joey:a", NULL, 0), key);
    key_serial_t ids[8];
    EXPECT_EQ(links(session, ids, 8), 1);
    EXPECT_EQ(ids[0], key);
    /* Adding the same type and description again updates the key in place. */
    EXPECT_EQ(add_key("user", "joey:a", "bye", 3, KEY_SPEC_SESSION_KEYRING), key);
    EXPECT_EQ(keyctl(KEYCTL_READ, key, (unsigned long)buf, sizeof buf, 0), 3);
    EXPECT(memcmp(buf, "bye", 3) == 0);
    EXPECT_OK(keyctl(KEYCTL_UPDATE, key, (unsigned long)"again!", 6, 0));
    EXPECT_EQ(keyctl(KEYCTL_READ, key, (unsigned long)buf, sizeof buf, 0), 6);
    /* A logon key is never readable. */
    key_serial_t logon = add_key("logon", "svc:secret", "pw", 2, KEY_SPEC_SESSION_KEYRING);
    EXPECT(logon > 0);
    EXPECT_ERRNO(keyctl(KEYCTL_READ, logon, (unsigned long)buf, sizeof buf, 0), EOPNOTSUPP);
    expect_description(logon, "logon;%u;%u;3d010000;svc:secret", getuid(), getgid());
    EXPECT_EQ(links(session, ids, 8), 2);
}

CASE(bad_arguments_get_linux_errors) {
    new_session();
    char big[40000];
    memset(big, 'p', sizeof big);
    EXPECT_ERRNO(add_key("nosuchtype", "d", "p", 1, KEY_SPEC_SESSION_KEYRING), ENODEV);
    EXPECT_ERRNO(add_key(".hidden", "d", "p", 1, KEY_SPEC_SESSION_KEYRING), EPERM);
    EXPECT_ERRNO(add_key("", "d", "p", 1, KEY_SPEC_SESSION_KEYRING), EINVAL);
    EXPECT_ERRNO(add_key("keyring", ".dot", NULL, 0, KEY_SPEC_SESSION_KEYRING), EPERM);
    EXPECT_ERRNO(add_key("keyring", "ring", "p", 1, KEY_SPEC_SESSION_KEYRING), EINVAL);
    EXPECT_ERRNO(add_key("user", "d", NULL, 0, KEY_SPEC_SESSION_KEYRING), EINVAL);
    EXPECT_ERRNO(add_key("user", "d", big, 32768, KEY_SPEC_SESSION_KEYRING), EINVAL);
    EXPECT(add_key("user", "d", big, 32767, KEY_SPEC_SESSION_KEYRING) > 0);
    EXPECT_ERRNO(add_key("user", NULL, "p", 1, KEY_SPEC_SESSION_KEYRING), EINVAL);
    EXPECT_ERRNO(add_key("user", "", "p", 1, KEY_SPEC_SESSION_KEYRING), EINVAL);
    EXPECT_ERRNO(add_key("user", "d", big, 1024 * 1024, KEY_SPEC_SESSION_KEYRING), EINVAL);
    EXPECT_ERRNO(add_key("logon", "nocolon", "p", 1, KEY_SPEC_SESSION_KEYRING), EINVAL);
    EXPECT_ERRNO(add_key("logon", ":noprefix", "p", 1, KEY_SPEC_SESSION_KEYRING), EINVAL);
    EXPECT_ERRNO(add_key("user", "d", (void *)8, 1, KEY_SPEC_SESSION_KEYRING), EFAULT);
    EXPECT_ERRNO(add_key((char *)8, "d", "p", 1, KEY_SPEC_SESSION_KEYRING), EFAULT);
    EXPECT_ERRNO(add_key("user", "d", "p", 1, 0), EINVAL);
    EXPECT_ERRNO(add_key("user", "d", "p", 1, KEY_SPEC_GROUP_KEYRING), EINVAL);
    EXPECT_ERRNO(add_key("user", "d", "p", 1, -100), EINVAL);
    EXPECT_ERRNO(add_key("user", "d", "p", 1, 0x7ffffff0), ENOKEY);
    /* A key that is not a keyring holds no links. */
    key_serial_t user = add_key("user", "u", "p", 1, KEY_SPEC_SESSION_KEYRING);
    EXPECT_ERRNO(add_key("user", "d", "p", 1, user), ENOTDIR);
    EXPECT_ERRNO(keyctl(KEYCTL_LINK, user, user, 0, 0), ENOTDIR);
    EXPECT_ERRNO(keyctl(9999, 0, 0, 0, 0), EOPNOTSUPP);
    EXPECT_ERRNO(keyctl(KEYCTL_JOIN_SESSION_KEYRING, (unsigned long)".builtin_trusted_keys", 0, 0, 0), EPERM);
    EXPECT_ERRNO(keyctl(KEYCTL_SETPERM, user, 0xffffffff, 0, 0), EINVAL);
    EXPECT_ERRNO(keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_GROUP_KEYRING, 0, 0, 0), EINVAL);
    EXPECT_ERRNO(keyctl(KEYCTL_SET_REQKEY_KEYRING, KEY_REQKEY_DEFL_GROUP_KEYRING, 0, 0, 0), EINVAL);
    EXPECT_ERRNO(keyctl(KEYCTL_SET_REQKEY_KEYRING, 8, 0, 0, 0), EINVAL);
    EXPECT_ERRNO(keyctl(KEYCTL_MOVE, user, KEY_SPEC_SESSION_KEYRING, KEY_SPEC_SESSION_KEYRING, 2), EINVAL);
    EXPECT_ERRNO(request_key("user", "d", NULL, KEY_SPEC_GROUP_KEYRING), EINVAL);
    /* An unknown type: add_key says ENODEV, lookups ENOKEY. */
    EXPECT_ERRNO(request_key("nosuchtype", "d", NULL, 0), ENOKEY);
    EXPECT_ERRNO(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"nosuchtype", (unsigned long)"d", 0), ENOKEY);
    /* Without an instantiation authority, nothing can be instantiated. */
    EXPECT_ERRNO(keyctl(KEYCTL_INSTANTIATE, user, (unsigned long)"p", 1, 0), EPERM);
    EXPECT_ERRNO(keyctl(KEYCTL_NEGATE, user, 10, 0, 0), EPERM);
    EXPECT_ERRNO(keyctl(KEYCTL_ASSUME_AUTHORITY, (unsigned long)-1, 0, 0, 0), EINVAL);
    EXPECT_EQ(keyctl(KEYCTL_ASSUME_AUTHORITY, 0, 0, 0, 0), 0);
    EXPECT_ERRNO(keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_REQKEY_AUTH_KEY, 0, 0, 0), ENOKEY);
}

/* Waits until `key` is gone (ENOKEY). Linux lets go of a cleared or displaced key after
 * an RCU grace period, and of what a dead keyring linked in its garbage collector; until
 * then the key is found but not possessed. */
static void wait_gone(key_serial_t key) {
    for (int tries = 0;; tries++) {
        errno = 0;
        long r = keyctl(KEYCTL_DESCRIBE, key, 0, 0, 0);
        if (r == -1 && errno == ENOKEY) return;
        EXPECT(r > 0 || errno == EACCES);
        EXPECT(tries < 200);
        usleep(10 * 1000);
    }
}

CASE(keyrings_link_unlink_clear_and_refuse_cycles) {
    key_serial_t session = new_session();
    key_serial_t ring = add_key("keyring", "ring", NULL, 0, KEY_SPEC_SESSION_KEYRING);
    key_serial_t inner = add_key("keyring", "inner", NULL, 0, ring);
    EXPECT(ring > 0 && inner > 0);
    key_serial_t a = add_key("user", "a", "1", 1, ring);
    key_serial_t b = add_key("user", "b", "2", 1, inner);
    key_serial_t ids[8];
    EXPECT_EQ(links(ring, ids, 8), 2);
    /* A search descends into linked keyrings. */
    EXPECT_EQ(keyctl(KEYCTL_SEARCH, session, (unsigned long)"user", (unsigned long)"b", 0), b);
    EXPECT_EQ(keyctl(KEYCTL_SEARCH, session, (unsigned long)"keyring", (unsigned long)"inner", 0), inner);
    /* A keyring cannot hold itself, or an ancestor. */
    EXPECT_ERRNO(keyctl(KEYCTL_LINK, ring, ring, 0, 0), EDEADLK);
    EXPECT_ERRNO(keyctl(KEYCTL_LINK, ring, inner, 0, 0), EDEADLK);
    EXPECT_ERRNO(keyctl(KEYCTL_LINK, session, inner, 0, 0), EDEADLK);
    EXPECT_OK(keyctl(KEYCTL_LINK, b, KEY_SPEC_SESSION_KEYRING, 0, 0));
    EXPECT_EQ(links(session, ids, 8), 2);
    /* Linking twice keeps one link. */
    EXPECT_OK(keyctl(KEYCTL_LINK, b, KEY_SPEC_SESSION_KEYRING, 0, 0));
    EXPECT_EQ(links(session, ids, 8), 2);
    EXPECT_OK(keyctl(KEYCTL_UNLINK, b, inner, 0, 0));
    EXPECT_ERRNO(keyctl(KEYCTL_UNLINK, b, inner, 0, 0), ENOENT);
    EXPECT_EQ(links(inner, ids, 8), 0);
    /* A key still linked elsewhere lives on. */
    EXPECT_EQ(keyctl(KEYCTL_READ, b, 0, 0, 0), 1);
    /* Moving takes the link from one keyring to another. */
    EXPECT_OK(keyctl(KEYCTL_MOVE, a, ring, inner, 0));
    EXPECT_EQ(links(inner, ids, 8), 1);
    EXPECT_EQ(ids[0], a);
    EXPECT_EQ(links(ring, ids, 8), 1);
    EXPECT_ERRNO(keyctl(KEYCTL_MOVE, a, ring, inner, 0), ENOENT);
    /* A new key of a description already in the keyring displaces the old one (keyrings
     * are not updated in place); MOVE_EXCL refuses to. */
    key_serial_t a2 = add_key("user", "a", "3", 1, session);
    EXPECT_ERRNO(keyctl(KEYCTL_MOVE, a2, session, inner, KEYCTL_MOVE_EXCL), EEXIST);
    key_serial_t inner2 = add_key("keyring", "inner", NULL, 0, ring);
    EXPECT(inner2 > 0 && inner2 != inner);
    EXPECT_EQ(links(ring, ids, 8), 1);
    EXPECT_EQ(ids[0], inner2);
    EXPECT_OK(keyctl(KEYCTL_CLEAR, session, 0, 0, 0));
    EXPECT_EQ(links(session, ids, 8), 0);
    /* Nothing holds them any more: they are gone. */
    wait_gone(ring);
    wait_gone(inner);
    wait_gone(a);
}

CASE(keyrings_nest_at_most_six_deep_for_links_and_searches) {
    new_session();
    key_serial_t ring[12];
    char name[16];
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof name, "c%d", i);
        ring[i] = add_key("keyring", name, NULL, 0, KEY_SPEC_SESSION_KEYRING);
        EXPECT(ring[i] > 0);
    }
    /* A chain built from its end: c4 would hold keyrings seven deep. */
    for (int i = 10; i >= 4; i--) EXPECT_OK(keyctl(KEYCTL_LINK, ring[i + 1], ring[i], 0, 0));
    EXPECT_ERRNO(keyctl(KEYCTL_LINK, ring[4], ring[3], 0, 0), ELOOP);
    /* A search looks in keyrings six below where it starts, not seven. */
    key_serial_t at6 = add_key("user", "six", "v", 1, ring[10]);
    key_serial_t at7 = add_key("user", "seven", "v", 1, ring[11]);
    EXPECT_EQ(keyctl(KEYCTL_SEARCH, ring[4], (unsigned long)"user", (unsigned long)"six", 0), at6);
    EXPECT_ERRNO(keyctl(KEYCTL_SEARCH, ring[4], (unsigned long)"user", (unsigned long)"seven", 0), ENOKEY);
    EXPECT_EQ(keyctl(KEYCTL_SEARCH, ring[5], (unsigned long)"user", (unsigned long)"seven", 0), at7);
    /* A keyring linked directly is a cycle, whatever lies deeper. */
    EXPECT_ERRNO(keyctl(KEYCTL_LINK, ring[4], ring[11], 0, 0), EDEADLK);
}

CASE(revoked_and_expired_keys_say_so) {
    new_session();
    key_serial_t key = add_key("user", "r", "p", 1, KEY_SPEC_SESSION_KEYRING);
    key_serial_t other = add_key("user", "t", "p", 1, KEY_SPEC_SESSION_KEYRING);
    EXPECT_OK(keyctl(KEYCTL_REVOKE, key, 0, 0, 0));
    EXPECT_ERRNO(keyctl(KEYCTL_READ, key, 0, 0, 0), EKEYREVOKED);
    EXPECT_ERRNO(keyctl(KEYCTL_DESCRIBE, key, 0, 0, 0), EKEYREVOKED);
    EXPECT_ERRNO(keyctl(KEYCTL_UPDATE, key, (unsigned long)"q", 1, 0), EKEYREVOKED);
    EXPECT_ERRNO(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"user", (unsigned long)"r", 0), EKEYREVOKED);
    /* Adding a revoked key's description makes a new key. */
    key_serial_t again = add_key("user", "r", "p", 1, KEY_SPEC_SESSION_KEYRING);
    EXPECT(again > 0 && again != key);
    EXPECT_OK(keyctl(KEYCTL_SET_TIMEOUT, other, 1, 0, 0));
    EXPECT_EQ(keyctl(KEYCTL_READ, other, 0, 0, 0), 1);
    usleep(1100 * 1000);
    EXPECT_ERRNO(keyctl(KEYCTL_READ, other, 0, 0, 0), EKEYEXPIRED);
    EXPECT_ERRNO(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"user", (unsigned long)"t", 0), EKEYEXPIRED);
    /* An invalidated key is gone (at once in Joey; Linux's collector is quick). */
    EXPECT_OK(keyctl(KEYCTL_INVALIDATE, again, 0, 0, 0));
    wait_gone(again);
}

static key_serial_t root_key;

static void nobody_uses_the_possessed_session(void) {
    /* The session keyring and what it links are possessed: the possessor's rights apply. */
    char buf[16];
    EXPECT_EQ(keyctl(KEYCTL_READ, root_key, (unsigned long)buf, sizeof buf, 0), 6);
    EXPECT(add_key("user", "mine", "x", 1, KEY_SPEC_SESSION_KEYRING) > 0);
    /* In a session of its own the key is no longer possessed: other users get nothing. */
    new_session();
    EXPECT_ERRNO(keyctl(KEYCTL_READ, root_key, (unsigned long)buf, sizeof buf, 0), EACCES);
    EXPECT_ERRNO(keyctl(KEYCTL_DESCRIBE, root_key, (unsigned long)buf, sizeof buf, 0), EACCES);
    EXPECT_ERRNO(keyctl(KEYCTL_SETPERM, root_key, 0x3f3f3f3f, 0, 0), EACCES);
}

CASE(possession_and_the_permission_mask_decide_access) {
    new_session();
    root_key = add_key("user", "rootkey", "secret", 6, KEY_SPEC_SESSION_KEYRING);
    EXPECT(root_key > 0);
    AS_NOBODY(nobody_uses_the_possessed_session);
    /* The owner's rights are the second byte, the possessor's the first. A key that does
     * not let the possessor search it is not possessed (here the owner may view). */
    EXPECT_OK(keyctl(KEYCTL_SETPERM, root_key, 0x20010000, 0, 0));
    char buf[64];
    EXPECT_ERRNO(keyctl(KEYCTL_READ, root_key, (unsigned long)buf, sizeof buf, 0), EACCES);
    describe(root_key, buf, sizeof buf);
    EXPECT_STREQ(buf, "user;0;0;20010000;rootkey");
    EXPECT_ERRNO(keyctl(KEYCTL_SETPERM, root_key, 0x3f000000, 0, 0), EACCES);
    key_serial_t key = add_key("user", "rootkey2", "secret", 6, KEY_SPEC_SESSION_KEYRING);
    EXPECT_OK(keyctl(KEYCTL_SETPERM, key, 0x3f000000, 0, 0));
    EXPECT_EQ(keyctl(KEYCTL_READ, key, (unsigned long)buf, sizeof buf, 0), 6);
    /* Read access is also granted to a possessed key that is only searchable. */
    EXPECT_OK(keyctl(KEYCTL_SETPERM, key, 0x08000000, 0, 0));
    EXPECT_EQ(keyctl(KEYCTL_READ, key, (unsigned long)buf, sizeof buf, 0), 6);
    EXPECT_ERRNO(keyctl(KEYCTL_DESCRIBE, key, (unsigned long)buf, sizeof buf, 0), EACCES);
    /* Without setattr, the mask cannot be changed back (root included). */
    EXPECT_ERRNO(keyctl(KEYCTL_SETPERM, key, 0x3f000000, 0, 0), EACCES);
    EXPECT_ERRNO(keyctl(KEYCTL_SET_TIMEOUT, key, 5, 0, 0), EACCES);
    EXPECT_ERRNO(keyctl(KEYCTL_CHOWN, key, 1, (unsigned long)-1, 0), EACCES);
}

CASE(chown_moves_a_key_to_another_user) {
    new_session();
    key_serial_t key = add_key("user", "k", "p", 1, KEY_SPEC_SESSION_KEYRING);
    EXPECT_EQ(keyctl(KEYCTL_CHOWN, key, (unsigned long)-1, (unsigned long)-1, 0), 0);
    EXPECT_OK(keyctl(KEYCTL_CHOWN, key, 65534, 65534, 0));
    char buf[64];
    describe(key, buf, sizeof buf);
    EXPECT_STREQ(buf, "user;65534;65534;3f010000;k");
}

static long creator_thread_keyring;

static void *thread_keyring_of_another_thread(void *arg) {
    (void)arg;
    /* A thread made by one that has a thread keyring gets a new one of its own; the
     * process keyring is shared. */
    long mine = keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 0, 0, 0);
    if (mine <= 0 || mine == creator_thread_keyring) return (void *)1;
    return (void *)(intptr_t)keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 0, 0, 0);
}

CASE(thread_process_and_session_keyrings_are_shared_as_linux_shares_them) {
    key_serial_t session = new_session();
    EXPECT_ERRNO(keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 0, 0, 0), ENOKEY);
    EXPECT_ERRNO(keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 0, 0, 0), ENOKEY);
    long thread = keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 1, 0, 0);
    long process = keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1, 0, 0);
    EXPECT(thread > 0 && process > 0 && thread != process);
    EXPECT_EQ(keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 1, 0, 0), thread);
    EXPECT_EQ(keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0, 0), session);
    expect_description((key_serial_t)thread, "keyring;%u;%u;3f010000;_tid", getuid(), getgid());
    expect_description((key_serial_t)process, "keyring;%u;%u;3f010000;_pid", getuid(), getgid());
    expect_description(session, "keyring;%u;%u;3f030000;_ses", getuid(), getgid());
    pthread_t t;
    void *result;
    creator_thread_keyring = thread;
    EXPECT_EQ(pthread_create(&t, NULL, thread_keyring_of_another_thread, NULL), 0);
    EXPECT_EQ(pthread_join(t, &result), 0);
    EXPECT_EQ((long)(intptr_t)result, process);
    /* A child shares the session keyring and has neither of the others. */
    key_serial_t key = add_key("user", "inherited", "p", 1, KEY_SPEC_PROCESS_KEYRING);
    pid_t child = fork();
    if (child == 0) {
        if (keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0, 0) != session) _exit(1);
        if (keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 0, 0, 0) != -1 || errno != ENOKEY) _exit(2);
        if (keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 0, 0, 0) != -1 || errno != ENOKEY) _exit(3);
        /* The parent's process keyring is not the child's to search. */
        if (request_key("user", "inherited", NULL, 0) != -1 || errno != ENOKEY) _exit(4);
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
    EXPECT_EQ(request_key("user", "inherited", NULL, 0), key);
}

/* Joins the session keyring named "joey-compat-named" in a new child that first joined an
 * anonymous one: that child's exit status is 0 if it got `want` (or, for 0, a new keyring). */
static int join_named_in_child(long want) {
    pid_t child = fork();
    if (child == 0) {
        key_serial_t anonymous = new_session();
        long got = keyctl(KEYCTL_JOIN_SESSION_KEYRING, (unsigned long)"joey-compat-named", 0, 0, 0);
        _exit(want ? got != want : got <= 0 || got == anonymous);
    }
    return wait_status(child);
}

CASE(named_session_keyrings_are_joined_by_name) {
    key_serial_t first = (key_serial_t)keyctl(KEYCTL_JOIN_SESSION_KEYRING, (unsigned long)"joey-compat-named", 0, 0, 0);
    EXPECT(first > 0);
    expect_description(first, "keyring;%u;%u;3f130000;joey-compat-named", getuid(), getgid());
    /* A keyring is joined by name only if it grants search to its owner (possession does
     * not count): with the default rights, joining makes another of the name. */
    long second = keyctl(KEYCTL_JOIN_SESSION_KEYRING, (unsigned long)"joey-compat-named", 0, 0, 0);
    EXPECT(second > 0 && second != first);
    EXPECT_EQ(keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0, 0), second);
    EXPECT_EQ(join_named_in_child(0), 0);
    EXPECT_OK(keyctl(KEYCTL_SETPERM, second, 0x3f1b0000, 0, 0));
    EXPECT_EQ(join_named_in_child(second), 0);
    /* Joining the session one is in changes nothing. */
    EXPECT_EQ(keyctl(KEYCTL_JOIN_SESSION_KEYRING, (unsigned long)"joey-compat-named", 0, 0, 0), 0);
    EXPECT_OK(keyctl(KEYCTL_INVALIDATE, second, 0, 0, 0));
    /* Anonymous sessions are new each time. */
    key_serial_t a = new_session(), b = new_session();
    EXPECT(a != b);
}

CASE(user_keyrings_exist_for_each_user) {
    new_session();
    long user = keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0, 0, 0);
    long user_session = keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_SESSION_KEYRING, 0, 0, 0);
    EXPECT(user > 0 && user_session > 0 && user != user_session);
    expect_description((key_serial_t)user, "keyring;%u;65534;1f3f0000;_uid.%u", getuid(), getuid());
    expect_description((key_serial_t)user_session, "keyring;%u;65534;1f3f0000;_uid_ses.%u", getuid(), getuid());
    /* The user session keyring links the user keyring. */
    key_serial_t ids[8];
    int n = links((key_serial_t)user_session, ids, 8);
    int found = 0;
    for (int i = 0; i < n; i++) found |= ids[i] == user;
    EXPECT(found);
    long persistent = keyctl(KEYCTL_GET_PERSISTENT, (unsigned long)-1, KEY_SPEC_SESSION_KEYRING, 0, 0);
    EXPECT(persistent > 0);
    expect_description((key_serial_t)persistent, "keyring;%u;65534;1f030000;_persistent.%u", getuid(), getuid());
    EXPECT_EQ(keyctl(KEYCTL_GET_PERSISTENT, getuid(), KEY_SPEC_SESSION_KEYRING, 0, 0), persistent);
}

CASE(request_key_with_callout_info_leaves_a_negative_key) {
    new_session();
    char buf[32];
    EXPECT_EQ(keyctl(KEYCTL_SET_REQKEY_KEYRING, KEY_REQKEY_DEFL_NO_CHANGE, 0, 0, 0), KEY_REQKEY_DEFL_DEFAULT);
    EXPECT_EQ(keyctl(KEYCTL_SET_REQKEY_KEYRING, KEY_REQKEY_DEFL_PROCESS_KEYRING, 0, 0, 0), KEY_REQKEY_DEFL_DEFAULT);
    EXPECT_EQ(keyctl(KEYCTL_SET_REQKEY_KEYRING, KEY_REQKEY_DEFL_NO_CHANGE, 0, 0, 0), KEY_REQKEY_DEFL_PROCESS_KEYRING);
    /* Setting the thread keyring as the default makes one. */
    EXPECT_EQ(keyctl(KEYCTL_SET_REQKEY_KEYRING, KEY_REQKEY_DEFL_THREAD_KEYRING, 0, 0, 0), KEY_REQKEY_DEFL_PROCESS_KEYRING);
    EXPECT(keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 0, 0, 0) > 0);
    EXPECT_ERRNO(request_key("user", "joey-compat-missing", NULL, 0), ENOKEY);
    errno = 0;
    EXPECT(request_key("user", "joey-compat-missing", "info", KEY_SPEC_PROCESS_KEYRING) == -1);
    EXPECT(errno == ENOKEY || errno == ENOENT);
    key_serial_t negative;
    EXPECT_EQ(keyctl(KEYCTL_READ, KEY_SPEC_PROCESS_KEYRING, (unsigned long)&negative, sizeof negative, 0), 4);
    EXPECT_ERRNO(keyctl(KEYCTL_READ, negative, (unsigned long)buf, sizeof buf, 0), ENOKEY);
    /* The negative key answers the next requests. */
    EXPECT_ERRNO(request_key("user", "joey-compat-missing", NULL, 0), ENOKEY);
    EXPECT_ERRNO(keyctl(KEYCTL_SEARCH, KEY_SPEC_PROCESS_KEYRING, (unsigned long)"user", (unsigned long)"joey-compat-missing", 0), ENOKEY);
}

CASE(proc_keys_lists_the_keys_a_process_may_view) {
    new_session();
    key_serial_t key = add_key("user", "joey-compat-listed", "12345", 5, KEY_SPEC_SESSION_KEYRING);
    key_serial_t ring = add_key("keyring", "joey-compat-ring", NULL, 0, KEY_SPEC_SESSION_KEYRING);
    EXPECT_OK(keyctl(KEYCTL_SET_TIMEOUT, ring, 600, 0, 0));
    static char text[1 << 16];
    EXPECT(slurp("/proc/keys", text, sizeof text) > 0);
    char want[160];
    snprintf(want, sizeof want, "%08x I--Q---     1 perm 3f010000 %5u %5u user      joey-compat-listed: 5\n",
             key, getuid(), getgid());
    EXPECT(strstr(text, want) != NULL);
    snprintf(want, sizeof want, "%08x I--Q---     1  10m 3f010000 %5u %5u keyring   joey-compat-ring: empty\n",
             ring, getuid(), getgid());
    EXPECT(strstr(text, want) != NULL);
    EXPECT(slurp("/proc/key-users", text, sizeof text) > 0);
    snprintf(want, sizeof want, "%5u:", getuid());
    EXPECT(strstr(text, want) != NULL);
    EXPECT(slurp("/proc/sys/kernel/keys/maxkeys", text, sizeof text) > 0);
    EXPECT_STREQ(text, "200\n");
    EXPECT(slurp("/proc/sys/kernel/keys/root_maxbytes", text, sizeof text) > 0);
    EXPECT_STREQ(text, "25000000\n");
}

static void nobody_fills_its_quota(void) {
    new_session();
    /* maxkeys (200) keys per user, the session keyring among them. */
    char desc[32];
    int made = 0;
    for (int i = 0; i < 250; i++) {
        snprintf(desc, sizeof desc, "q%d", i);
        if (add_key("user", desc, "p", 1, KEY_SPEC_SESSION_KEYRING) < 0) {
            EXPECT_EQ(errno, EDQUOT);
            break;
        }
        made++;
    }
    EXPECT(made > 150 && made < 200);
    /* Unlinking one frees its place. */
    EXPECT_OK(keyctl(KEYCTL_CLEAR, KEY_SPEC_SESSION_KEYRING, 0, 0, 0));
    for (int tries = 0; add_key("user", "after", "p", 1, KEY_SPEC_SESSION_KEYRING) < 0; tries++) {
        EXPECT_EQ(errno, EDQUOT);
        EXPECT(tries < 100); /* Linux frees the quota in its garbage collector, soon after */
        usleep(20 * 1000);
    }
    /* maxbytes (20000) bytes of descriptions and payloads. */
    new_session();
    static char big[20000];
    memset(big, 'b', sizeof big);
    EXPECT_ERRNO(add_key("user", "big", big, 20000, KEY_SPEC_SESSION_KEYRING), EDQUOT);
}

CASE(a_user_gets_its_key_quota) {
    AS_NOBODY(nobody_fills_its_quota);
}

static void child_gives_parent_its_session(void) {}

CASE(session_to_parent_replaces_the_parents_session) {
    new_session();
    int fds[2];
    EXPECT_OK(pipe(fds));
    pid_t child = fork();
    if (child == 0) {
        key_serial_t mine = new_session();
        if (keyctl(KEYCTL_SESSION_TO_PARENT, 0, 0, 0, 0) != 0) _exit(1);
        if (write(fds[1], &mine, sizeof mine) != sizeof mine) _exit(2);
        _exit(0);
    }
    key_serial_t theirs = 0;
    EXPECT_EQ(read(fds[0], &theirs, sizeof theirs), (long)sizeof theirs);
    EXPECT_EQ(wait_status(child), 0);
    /* Applied when the parent next returns to user space. */
    EXPECT_EQ(keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0, 0), theirs);
    (void)child_gives_parent_its_session;
}

CASE(capabilities_and_security_label) {
    new_session();
    unsigned char caps[4] = {0xff, 0xff, 0xff, 0xff};
    EXPECT_EQ(keyctl(KEYCTL_CAPABILITIES, (unsigned long)caps, sizeof caps, 0, 0), 2);
    EXPECT(caps[0] & 0x01);  /* KEYCTL_CAPS0_CAPABILITIES */
    EXPECT(caps[0] & 0x20);  /* INVALIDATE */
    EXPECT(caps[0] & 0x80);  /* MOVE */
    EXPECT(caps[1] & 0x01);  /* NS_KEYRING_NAME */
    EXPECT(caps[2] == 0 && caps[3] == 0);
    key_serial_t key = add_key("user", "k", "p", 1, KEY_SPEC_SESSION_KEYRING);
    char label[8] = "xxxxxxx";
    EXPECT_EQ(keyctl(KEYCTL_GET_SECURITY, key, (unsigned long)label, sizeof label, 0), 1);
    EXPECT(label[0] == 0);
}

COMPAT_MAIN()
