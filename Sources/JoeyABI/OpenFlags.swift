// Linux open(2) flags that Glibc's Swift overlay does not export (they are _GNU_SOURCE-only).
public let O_PATH: Int32 = 0o10000000
public let O_DIRECT: Int32 = 0o40000
public let O_NOATIME: Int32 = 0o1000000
public let O_TMPFILE_FLAG: Int32 = 0o20000000
