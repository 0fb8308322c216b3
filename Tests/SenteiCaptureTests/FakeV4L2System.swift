import CV4L2
import Glibc
import SenteiCapture

/// A scripted V4L2 device behind the `V4L2System` seam. It keeps the kernel-side state a capture client sees
/// (formats, the negotiated format, the buffer queue, sequence numbers), injects errno values per call, and counts
/// open file descriptors and live mappings so tests can prove nothing leaks.
final class FakeV4L2System: V4L2System {
    struct Device {
        var driver = "fake"
        var capabilities = UInt32(V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING)
        var formats: [(fourCC: FourCC, sizes: [(Int, Int)], emulated: Bool)]
        var maxFps = 30
        var maxBuffers = 4
    }

    /// What a dequeued buffer looks like.
    enum BufferBehaviour { case normal, staleNoSOI, errorFlag, oversized, empty }

    var device: Device?
    /// Errno values to return, in order, per call name ("open", "poll", "mmap", "DQBUF", "QUERYCAP", …); a nil
    /// entry lets that call through.
    var inject: [String: [Errno?]] = [:]
    /// Per dequeued frame (by driver sequence): how the buffer comes back.
    var behaviour: (UInt32) -> BufferBehaviour = { _ in .normal }
    /// Driver sequence increment per frame (2 = every other frame dropped).
    var sequenceStep: (UInt32) -> UInt32 = { _ in 1 }
    /// The device disappears when this many frames have been dequeued (DQBUF then fails with ENODEV) …
    var unplugAfterFrames: Int?
    /// … and comes back (as `replugDevice` when set) after this many failed opens.
    var replugAfterFailedOpens = 0
    var replugDevice: Device?
    /// This many polls report nothing (a frame timeout).
    var stalledPolls = 0

    private(set) var openFDs: Set<Int32> = []
    private(set) var mappings: [UnsafeMutableRawPointer: Int] = [:]
    private(set) var opens = 0, closes = 0, failedOpens = 0
    private(set) var calls: [String: Int] = [:]
    private(set) var framesDequeued = 0
    private var nextFD: Int32 = 3
    private var pendingDevice: Device?
    private var absentOpens = 0

    // Kernel-side stream state of the one open session.
    private var format = (fourCC: FourCC("YUYV"), width: 0, height: 0, bytesPerLine: 0, sizeImage: 0)
    private var interval = (numerator: 1, denominator: 30)
    private var bufferCount = 0
    private var bufferAddress: [Int: UnsafeMutableRawPointer] = [:]
    private var queue: [UInt32] = []
    private var streaming = false
    private var sequence: UInt32 = 0
    private var timeNs: UInt64 = 5_000_000_000

    init(device: Device?) { self.device = device }

    static func webcam(_ formats: [(String, [(Int, Int)])]) -> Device {
        Device(formats: formats.map { (FourCC(string: $0.0)!, $0.1, false) })
    }

    private func injected(_ call: String) -> Errno? {
        calls[call, default: 0] += 1
        guard var list = inject[call], !list.isEmpty else { return nil }
        let next = list.removeFirst()
        inject[call] = list
        return next
    }

    func open(_ path: String, flags: Int32) -> Result<Int32, Errno> {
        if let e = injected("open") { return .failure(e) }
        if device == nil, let back = pendingDevice, absentOpens >= replugAfterFailedOpens {
            device = back
            pendingDevice = nil
        }
        guard device != nil else {
            failedOpens += 1
            absentOpens += 1
            return .failure(.noEntry)
        }
        opens += 1
        let fd = nextFD
        nextFD += 1
        openFDs.insert(fd)
        streaming = false
        queue = []
        bufferCount = 0
        bufferAddress = [:]
        return .success(fd)
    }

    func close(_ fd: Int32) -> Result<Void, Errno> {
        guard openFDs.remove(fd) != nil else { return .failure(.badFileDescriptor) }
        closes += 1
        streaming = false
        return .success(())
    }

    func mmap(fd: Int32, length: Int, offset: Int) -> Result<UnsafeMutableRawPointer, Errno> {
        if let e = injected("mmap") { return .failure(e) }
        guard openFDs.contains(fd), offset % 0x10000 == 0, offset / 0x10000 < bufferCount else {
            return .failure(.invalid)
        }
        let p = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0xAA, count: length)  // stale contents, no SOI
        mappings[p] = length
        bufferAddress[offset / 0x10000] = p
        return .success(p)
    }

    func munmap(_ address: UnsafeMutableRawPointer, length: Int) -> Result<Void, Errno> {
        guard mappings[address] == length else { return .failure(.invalid) }
        mappings[address] = nil
        address.deallocate()
        return .success(())
    }

    func poll(_ fd: Int32, events: Int16, timeoutMs: Int32) -> Result<Int16, Errno> {
        if let e = injected("poll") { return .failure(e) }
        guard openFDs.contains(fd) else { return .success(Int16(POLLNVAL)) }
        guard device != nil else { return .success(Int16(POLLERR | POLLHUP)) }
        if stalledPolls > 0 {
            stalledPolls -= 1
            return .success(0)
        }
        return streaming && !queue.isEmpty ? .success(Int16(POLLIN)) : .success(0)
    }

    /// An absent device that appears after `failedOpens` opens have failed.
    func scheduleArrival(_ device: Device, afterFailedOpens failedOpens: Int) {
        pendingDevice = device
        replugAfterFailedOpens = failedOpens
        absentOpens = 0
    }

    private func unplug() {
        pendingDevice = replugDevice ?? device
        device = nil
        absentOpens = 0
    }

    private func name(_ request: UInt) -> String {
        let names: [UInt: String] = [
            SW_VIDIOC_QUERYCAP: "QUERYCAP", SW_VIDIOC_ENUM_FMT: "ENUM_FMT", SW_VIDIOC_ENUM_FRAMESIZES: "ENUM_FRAMESIZES",
            SW_VIDIOC_ENUM_FRAMEINTERVALS: "ENUM_FRAMEINTERVALS", SW_VIDIOC_S_FMT: "S_FMT", SW_VIDIOC_G_FMT: "G_FMT",
            SW_VIDIOC_G_PARM: "G_PARM", SW_VIDIOC_S_PARM: "S_PARM", SW_VIDIOC_REQBUFS: "REQBUFS",
            SW_VIDIOC_QUERYBUF: "QUERYBUF", SW_VIDIOC_QBUF: "QBUF", SW_VIDIOC_DQBUF: "DQBUF",
            SW_VIDIOC_STREAMON: "STREAMON", SW_VIDIOC_STREAMOFF: "STREAMOFF",
        ]
        return names[request] ?? "ioctl \(request)"
    }

    func ioctl(_ fd: Int32, _ request: UInt, _ argument: UnsafeMutableRawPointer) -> Result<Int32, Errno> {
        let call = name(request)
        if let e = injected(call) { return .failure(e) }
        guard openFDs.contains(fd) else { return .failure(.badFileDescriptor) }
        guard let device else { return .failure(.noDevice) }
        switch request {
        case SW_VIDIOC_QUERYCAP:
            let cap = argument.assumingMemoryBound(to: v4l2_capability.self)
            cap.pointee = v4l2_capability()
            withUnsafeMutableBytes(of: &cap.pointee.driver) { raw in
                for (i, c) in device.driver.utf8.prefix(15).enumerated() { raw[i] = c }
            }
            cap.pointee.capabilities = device.capabilities | UInt32(V4L2_CAP_DEVICE_CAPS)
            cap.pointee.device_caps = device.capabilities
        case SW_VIDIOC_ENUM_FMT:
            let d = argument.assumingMemoryBound(to: v4l2_fmtdesc.self)
            guard Int(d.pointee.index) < device.formats.count else { return .failure(.invalid) }
            let f = device.formats[Int(d.pointee.index)]
            d.pointee.pixelformat = f.fourCC.rawValue
            d.pointee.flags =
                (PixelFormat(fourCC: f.fourCC) == .mjpeg ? UInt32(V4L2_FMT_FLAG_COMPRESSED) : 0)
                | (f.emulated ? UInt32(V4L2_FMT_FLAG_EMULATED) : 0)
        case SW_VIDIOC_ENUM_FRAMESIZES:
            let e = argument.assumingMemoryBound(to: v4l2_frmsizeenum.self)
            guard let f = device.formats.first(where: { $0.fourCC.rawValue == e.pointee.pixel_format }),
                Int(e.pointee.index) < f.sizes.count
            else { return .failure(.invalid) }
            e.pointee.type = V4L2_FRMSIZE_TYPE_DISCRETE.rawValue
            e.pointee.discrete.width = UInt32(f.sizes[Int(e.pointee.index)].0)
            e.pointee.discrete.height = UInt32(f.sizes[Int(e.pointee.index)].1)
        case SW_VIDIOC_ENUM_FRAMEINTERVALS:
            let e = argument.assumingMemoryBound(to: v4l2_frmivalenum.self)
            let rates = [device.maxFps, 15, 5].filter { $0 <= device.maxFps }
            guard Int(e.pointee.index) < rates.count else { return .failure(.invalid) }
            e.pointee.type = V4L2_FRMIVAL_TYPE_DISCRETE.rawValue
            e.pointee.discrete.numerator = 1
            e.pointee.discrete.denominator = UInt32(rates[Int(e.pointee.index)])
        case SW_VIDIOC_S_FMT:
            let f = argument.assumingMemoryBound(to: v4l2_format.self)
            guard !streaming, bufferCount == 0 else { return .failure(.busy) }
            // Like real drivers: an unknown format is replaced by the first one, the size by the closest offered.
            let offer = device.formats.first(where: { $0.fourCC.rawValue == f.pointee.fmt.pix.pixelformat })
                ?? device.formats[0]
            let want = (Int(f.pointee.fmt.pix.width), Int(f.pointee.fmt.pix.height))
            let size = offer.sizes.first(where: { $0 == want }) ?? offer.sizes[0]
            let pf = PixelFormat(fourCC: offer.fourCC)
            let bpl = pf == .yuyv ? size.0 * 2 : (pf == .mjpeg ? 0 : size.0)
            let image = pf.minimumImageBytes(width: size.0, height: size.1, bytesPerLine: bpl) ?? size.0 * size.1
            format = (offer.fourCC, size.0, size.1, bpl, image)
            f.pointee.fmt.pix.pixelformat = offer.fourCC.rawValue
            f.pointee.fmt.pix.width = UInt32(size.0)
            f.pointee.fmt.pix.height = UInt32(size.1)
            f.pointee.fmt.pix.bytesperline = UInt32(bpl)
            f.pointee.fmt.pix.sizeimage = UInt32(image)
        case SW_VIDIOC_G_PARM, SW_VIDIOC_S_PARM:
            let p = argument.assumingMemoryBound(to: v4l2_streamparm.self)
            if request == SW_VIDIOC_S_PARM {
                let t = p.pointee.parm.capture.timeperframe
                let fps = t.numerator > 0 ? Double(t.denominator) / Double(t.numerator) : 30
                interval = (1, min(Int(fps.rounded()), device.maxFps))  // clamps like a webcam
            }
            p.pointee.parm.capture.capability = UInt32(V4L2_CAP_TIMEPERFRAME)
            p.pointee.parm.capture.timeperframe.numerator = UInt32(interval.numerator)
            p.pointee.parm.capture.timeperframe.denominator = UInt32(interval.denominator)
        case SW_VIDIOC_REQBUFS:
            let r = argument.assumingMemoryBound(to: v4l2_requestbuffers.self)
            guard mappings.isEmpty || r.pointee.count > 0 else { return .failure(.busy) }
            bufferCount = min(Int(r.pointee.count), device.maxBuffers)
            r.pointee.count = UInt32(bufferCount)
        case SW_VIDIOC_QUERYBUF:
            let b = argument.assumingMemoryBound(to: v4l2_buffer.self)
            guard Int(b.pointee.index) < bufferCount else { return .failure(.invalid) }
            b.pointee.length = UInt32(max(format.sizeImage, 4096))
            b.pointee.m.offset = b.pointee.index * 0x10000
        case SW_VIDIOC_QBUF:
            let b = argument.assumingMemoryBound(to: v4l2_buffer.self)
            guard Int(b.pointee.index) < bufferCount, !queue.contains(b.pointee.index) else {
                return .failure(.invalid)
            }
            queue.append(b.pointee.index)
        case SW_VIDIOC_STREAMON:
            guard bufferCount > 0 else { return .failure(.invalid) }
            streaming = true
        case SW_VIDIOC_STREAMOFF:
            streaming = false
            queue = []
        case SW_VIDIOC_DQBUF:
            if let limit = unplugAfterFrames, framesDequeued >= limit {
                unplugAfterFrames = nil
                unplug()
                return .failure(.noDevice)
            }
            guard streaming, !queue.isEmpty else { return .failure(.wouldBlock) }
            let index = queue.removeFirst()
            let b = argument.assumingMemoryBound(to: v4l2_buffer.self)
            let length = max(format.sizeImage, 4096)
            let how = behaviour(sequence)
            fill(index: Int(index), length: length, behaviour: how)
            timeNs += UInt64(1_000_000_000 / max(interval.denominator, 1))
            b.pointee.index = index
            b.pointee.sequence = sequence
            b.pointee.flags = UInt32(V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC) | (how == .errorFlag ? UInt32(V4L2_BUF_FLAG_ERROR) : 0)
            b.pointee.timestamp.tv_sec = Int(timeNs / 1_000_000_000)
            b.pointee.timestamp.tv_usec = Int(timeNs % 1_000_000_000 / 1000)
            switch how {
            case .oversized: b.pointee.bytesused = UInt32(length + 1)
            case .empty: b.pointee.bytesused = 0
            case .staleNoSOI: b.pointee.bytesused = UInt32(length)
            case .normal, .errorFlag:
                b.pointee.bytesused = UInt32(PixelFormat(fourCC: format.fourCC) == .mjpeg ? 64 : format.sizeImage)
            }
            sequence &+= sequenceStep(sequence)
            framesDequeued += 1
        default:
            return .failure(Errno(ENOTTY))
        }
        return .success(0)
    }

    /// Writes a recognisable payload: MJPEG buffers start with SOI, raw ones hold the low byte of the sequence.
    private func fill(index: Int, length: Int, behaviour: BufferBehaviour) {
        guard let p = bufferAddress[index] else { return }
        let bytes = p.assumingMemoryBound(to: UInt8.self)
        if behaviour == .staleNoSOI { return }
        if PixelFormat(fourCC: format.fourCC) == .mjpeg {
            bytes[0] = 0xFF
            bytes[1] = 0xD8
            bytes[2] = UInt8(truncatingIfNeeded: sequence)
        } else {
            bytes.update(repeating: UInt8(truncatingIfNeeded: sequence), count: format.sizeImage)
        }
    }
}
