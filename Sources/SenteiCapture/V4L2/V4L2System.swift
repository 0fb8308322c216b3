import CV4L2
import Glibc

/// The only door to the kernel for V4L2 capture: every open, close, ioctl, mmap, munmap and poll goes through it, so
/// tests can drive the capture state machine with a scripted fake (`EINTR`, `EAGAIN`, `ENODEV` mid-stream, leaks).
/// Each call returns the raw result or the errno; retry and classification live in `V4L2Camera`.
public protocol V4L2System: AnyObject {
    func open(_ path: String, flags: Int32) -> Result<Int32, Errno>
    func close(_ fd: Int32) -> Result<Void, Errno>
    func ioctl(_ fd: Int32, _ request: UInt, _ argument: UnsafeMutableRawPointer) -> Result<Int32, Errno>
    func mmap(fd: Int32, length: Int, offset: Int) -> Result<UnsafeMutableRawPointer, Errno>
    func munmap(_ address: UnsafeMutableRawPointer, length: Int) -> Result<Void, Errno>
    /// Returns the revents, 0 on timeout.
    func poll(_ fd: Int32, events: Int16, timeoutMs: Int32) -> Result<Int16, Errno>
}

/// The kernel, either directly or through libv4l2 (which adds converted formats such as YU12 for cameras that only
/// offer exotic ones). A libv4l2 fd must be used with the libv4l2 calls throughout.
public final class LinuxV4L2System: V4L2System {
    public enum Mode: Sendable { case direct, libv4l2 }
    public let mode: Mode

    public init(mode: Mode = .direct) { self.mode = mode }

    private func result(_ r: Int32) -> Result<Int32, Errno> { r < 0 ? .failure(Errno(errno)) : .success(r) }

    public func open(_ path: String, flags: Int32) -> Result<Int32, Errno> {
        result(mode == .direct ? sw_sys_open(path, flags) : sw_v4l2_open(path, flags))
    }

    public func close(_ fd: Int32) -> Result<Void, Errno> {
        (mode == .direct ? Glibc.close(fd) : v4l2_close(fd)) < 0 ? .failure(Errno(errno)) : .success(())
    }

    public func ioctl(_ fd: Int32, _ request: UInt, _ argument: UnsafeMutableRawPointer) -> Result<Int32, Errno> {
        result(mode == .direct ? sw_sys_ioctl(fd, request, argument) : sw_v4l2_ioctl(fd, request, argument))
    }

    public func mmap(fd: Int32, length: Int, offset: Int) -> Result<UnsafeMutableRawPointer, Errno> {
        let p =
            mode == .direct
            ? Glibc.mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(offset))
            : v4l2_mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, Int64(offset))
        guard let p, p != MAP_FAILED else { return .failure(Errno(errno)) }
        return .success(p)
    }

    public func munmap(_ address: UnsafeMutableRawPointer, length: Int) -> Result<Void, Errno> {
        (mode == .direct ? Glibc.munmap(address, length) : v4l2_munmap(address, length)) < 0
            ? .failure(Errno(errno)) : .success(())
    }

    public func poll(_ fd: Int32, events: Int16, timeoutMs: Int32) -> Result<Int16, Errno> {
        var p = pollfd(fd: fd, events: events, revents: 0)
        let r = Glibc.poll(&p, 1, timeoutMs)
        return r < 0 ? .failure(Errno(errno)) : .success(r == 0 ? 0 : p.revents)
    }
}
