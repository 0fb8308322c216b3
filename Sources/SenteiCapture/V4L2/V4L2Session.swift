import CV4L2

/// Everything one open of the device owns. `release()` gives it all back, in the order the kernel needs
/// (STREAMOFF, munmap, close), and ignores errors because after an unplug every call fails with ENODEV.
final class V4L2Session {
    let system: any V4L2System
    let device: String
    private(set) var fd: Int32?
    var mappings: [(address: UnsafeMutableRawPointer, length: Int)] = []
    var streaming = false
    var format: NegotiatedFormat?
    /// Driver sequence number of the last dequeued frame in this session (gap counting).
    var lastDriverSequence: UInt32?
    /// Why the session must end before the next poll (a QBUF failed after a frame was already copied).
    var pendingLoss: String?

    init(system: any V4L2System, device: String, fd: Int32) {
        self.system = system
        self.device = device
        self.fd = fd
    }

    /// ioctl with EINTR retried. EBADF/EFAULT mean our own bug (wrong fd or struct), never a device condition.
    func ioctl<T>(_ request: UInt, _ value: inout T) -> Result<Void, Errno> {
        guard let fd else { return .failure(.badFileDescriptor) }
        while true {
            let r = withUnsafeMutableBytes(of: &value) { system.ioctl(fd, request, $0.baseAddress!) }
            switch r {
            case .success: return .success(())
            case .failure(let e) where e == .interrupted: continue
            case .failure(let e):
                precondition(e != .badFileDescriptor && e != .fault, "ioctl \(request) on \(device): \(e) is a bug")
                return .failure(e)
            }
        }
    }

    /// ioctl that must succeed; throws naming the call and the device.
    func require<T>(_ call: String, _ request: UInt, _ value: inout T) throws(CaptureError) {
        if case .failure(let e) = ioctl(request, &value) { throw .syscall(call, device: device, e) }
    }

    func release() {
        guard let fd else { return }
        if streaming {
            var type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            _ = ioctl(SW_VIDIOC_STREAMOFF, &type)
            streaming = false
        }
        for m in mappings { _ = system.munmap(m.address, length: m.length) }
        mappings.removeAll()
        // close() is not retried on EINTR: on Linux the fd is released either way.
        _ = system.close(fd)
        self.fd = nil
    }

    var fileDescriptor: Int32? { fd }
}
