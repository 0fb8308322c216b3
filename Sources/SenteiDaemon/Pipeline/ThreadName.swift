#if canImport(Glibc)
import Glibc
#endif

/// Names the calling OS thread (the kernel keeps 15 bytes) so that top -H, perf and scripts/check-allocations.py
/// can tell the pipeline's threads apart. Foundation's `Thread.name` does not reach the kernel on Linux.
func nameCurrentThread(_ name: String) {
    let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}
