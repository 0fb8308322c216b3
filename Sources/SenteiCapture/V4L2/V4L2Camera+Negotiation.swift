import CV4L2
import Glibc

extension V4L2Camera {
    /// Opens the device and negotiates from scratch: QUERYCAP, ENUM_FMT/FRAMESIZES/FRAMEINTERVALS, S_FMT, S_PARM,
    /// REQBUFS + mmap ring, STREAMON. On any failure everything acquired so far is released before throwing.
    func connect() throws(CaptureError) -> V4L2Session {
        let direct = try open(system)
        do throws(CaptureError) {
            let caps = try queryCapabilities(direct)
            var offered = try enumerateFormats(direct)
            var candidates = FormatNegotiation.candidates(
                offered: offered, width: config.width, height: config.height, forced: config.format,
                highResolutionPixels: config.highResolutionPixels, includeEmulated: false)
            var session = direct
            var converted = false
            if candidates.isEmpty, config.allowConversion, let convertingSystem {
                direct.release()
                session = try open(convertingSystem)
                converted = true
                offered = try enumerateFormats(session)
                candidates = FormatNegotiation.candidates(
                    offered: offered, width: config.width, height: config.height, forced: config.format,
                    highResolutionPixels: config.highResolutionPixels, includeEmulated: true)
            }
            do throws(CaptureError) {
                guard !candidates.isEmpty else {
                    let list = offered.map(\.fourCC.description).joined(separator: " ")
                    throw CaptureError(
                        .noUsableFormat,
                        "\(name) offers no format we can use (offered: \(list.isEmpty ? "none" : list); need "
                            + "\(config.format.map { "\($0)" } ?? "MJPG, YUYV, NV12, YU12 or GREY"))")
                }
                var format = try setFormat(session, candidates: candidates, caps: caps, offered: offered)
                format.converted = converted
                format.grantedFps = try setFrameRate(session, format: format)
                format.bufferCount = try startStreaming(session, imageBytes: format.imageBytes)
                session.format = format
                return session
            } catch {
                session.release()
                throw error
            }
        } catch {
            direct.release()
            throw error
        }
    }

    private func open(_ system: any V4L2System) throws(CaptureError) -> V4L2Session {
        while true {
            switch system.open(name, flags: O_RDWR | O_NONBLOCK | O_CLOEXEC) {
            case .success(let fd): return V4L2Session(system: system, device: name, fd: fd)
            case .failure(let e) where e == .interrupted: continue
            case .failure(let e): throw .syscall("open", device: name, e)
            }
        }
    }

    private func string<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    private func queryCapabilities(_ s: V4L2Session) throws(CaptureError) -> (driver: String, card: String) {
        var cap = v4l2_capability()
        try s.require("VIDIOC_QUERYCAP", SW_VIDIOC_QUERYCAP, &cap)
        let caps = cap.capabilities & UInt32(V4L2_CAP_DEVICE_CAPS) != 0 ? cap.device_caps : cap.capabilities
        let driver = string(cap.driver)
        if caps & UInt32(V4L2_CAP_VIDEO_CAPTURE) == 0 {
            let mplane = caps & UInt32(V4L2_CAP_VIDEO_CAPTURE_MPLANE) != 0
            throw CaptureError(
                .notACaptureDevice,
                "\(name) (driver \(driver)) is not a single-planar video capture device"
                    + (mplane ? " (it is multi-planar, which is not supported)" : "")
                    + " (device caps 0x\(String(caps, radix: 16)))")
        }
        if caps & UInt32(V4L2_CAP_STREAMING) == 0 {
            throw CaptureError(
                .noStreaming, "\(name) (driver \(driver)) cannot stream (no V4L2_CAP_STREAMING, read() only)")
        }
        return (driver, string(cap.card))
    }

    /// Bounded loops: a driver that never returns EINVAL must not hang us.
    private static let enumerationLimit: UInt32 = 512

    func enumerateFormats(_ s: V4L2Session) throws(CaptureError) -> [DeviceFormat] {
        var formats: [DeviceFormat] = []
        for index in 0..<Self.enumerationLimit {
            var d = v4l2_fmtdesc()
            d.index = index
            d.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            switch s.ioctl(SW_VIDIOC_ENUM_FMT, &d) {
            case .success: break
            case .failure(let e) where e == .invalid: return formats
            case .failure(let e): throw .syscall("VIDIOC_ENUM_FMT", device: name, e)
            }
            let fourCC = FourCC(rawValue: d.pixelformat)
            formats.append(
                DeviceFormat(
                    fourCC: fourCC, description: string(d.description),
                    compressed: d.flags & UInt32(V4L2_FMT_FLAG_COMPRESSED) != 0,
                    emulated: d.flags & UInt32(V4L2_FMT_FLAG_EMULATED) != 0,
                    sizes: try enumerateSizes(s, fourCC)))
        }
        return formats
    }

    private func enumerateSizes(_ s: V4L2Session, _ fourCC: FourCC) throws(CaptureError) -> [FrameSizeOption] {
        var sizes: [FrameSizeOption] = []
        for index in 0..<Self.enumerationLimit {
            var e = v4l2_frmsizeenum()
            e.index = index
            e.pixel_format = fourCC.rawValue
            switch s.ioctl(SW_VIDIOC_ENUM_FRAMESIZES, &e) {
            case .success: break
            case .failure(let err) where err == .invalid || err == Errno(ENOTTY): return sizes
            case .failure(let err): throw .syscall("VIDIOC_ENUM_FRAMESIZES", device: name, err)
            }
            if e.type == V4L2_FRMSIZE_TYPE_DISCRETE.rawValue {
                sizes.append(.discrete(width: Int(e.discrete.width), height: Int(e.discrete.height)))
            } else {
                let w = e.stepwise
                sizes.append(
                    .range(
                        minWidth: Int(w.min_width), maxWidth: Int(w.max_width), stepWidth: Int(max(w.step_width, 1)),
                        minHeight: Int(w.min_height), maxHeight: Int(w.max_height),
                        stepHeight: Int(max(w.step_height, 1))))
                return sizes  // stepwise and continuous have exactly one entry
            }
        }
        return sizes
    }

    private func enumerateIntervals(_ s: V4L2Session, _ format: NegotiatedFormat) -> [(Int, Int)] {
        var intervals: [(Int, Int)] = []
        for index in 0..<Self.enumerationLimit {
            var e = v4l2_frmivalenum()
            e.index = index
            e.pixel_format = format.format.fourCC.rawValue
            e.width = UInt32(format.width)
            e.height = UInt32(format.height)
            guard case .success = s.ioctl(SW_VIDIOC_ENUM_FRAMEINTERVALS, &e) else { break }
            if e.type == V4L2_FRMIVAL_TYPE_DISCRETE.rawValue {
                intervals.append((Int(e.discrete.numerator), Int(e.discrete.denominator)))
            } else {
                break  // a range: any rate inside it is fine, S_PARM clamps
            }
        }
        return intervals
    }

    /// Tries the candidates in order; a driver may substitute another format (vivid answers MJPG requests with
    /// YUYV), which is accepted when it is one we understand.
    private func setFormat(
        _ s: V4L2Session, candidates: [FormatChoice], caps: (driver: String, card: String), offered: [DeviceFormat]
    ) throws(CaptureError) -> NegotiatedFormat {
        var lastError: CaptureError?
        for choice in candidates {
            var f = v4l2_format()
            f.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            f.fmt.pix.width = UInt32(choice.width)
            f.fmt.pix.height = UInt32(choice.height)
            f.fmt.pix.pixelformat = choice.format.fourCC.rawValue
            f.fmt.pix.field = V4L2_FIELD_NONE.rawValue
            if case .failure(let e) = s.ioctl(SW_VIDIOC_S_FMT, &f) {
                if e.meansDeviceGone { throw .syscall("VIDIOC_S_FMT", device: name, e) }
                lastError = .syscall("VIDIOC_S_FMT(\(choice.format) \(choice.width)x\(choice.height))", device: name, e)
                continue
            }
            let got = PixelFormat(fourCC: FourCC(rawValue: f.fmt.pix.pixelformat))
            if case .other = got { continue }
            let width = Int(f.fmt.pix.width), height = Int(f.fmt.pix.height)
            // Sizes come from the driver: refuse absurd ones instead of sizing buffers by them.
            guard width > 0, height > 0, width <= 16384, height <= 16384 else {
                lastError = CaptureError(.noUsableFormat, "\(name) answered S_FMT with \(width)x\(height)")
                continue
            }
            return NegotiatedFormat(
                device: name, driver: caps.driver, card: caps.card, format: got, width: width, height: height,
                bytesPerLine: got.isCompressed ? 0 : Int(f.fmt.pix.bytesperline), imageBytes: Int(f.fmt.pix.sizeimage),
                requestedFps: config.fps, grantedFps: nil, bufferCount: 0, converted: false, offered: offered)
        }
        throw lastError ?? CaptureError(.noUsableFormat, "\(name) accepted none of the formats we asked for")
    }

    /// Returns the rate the driver granted (nil when it has no frame-interval control).
    private func setFrameRate(_ s: V4L2Session, format: NegotiatedFormat) throws(CaptureError) -> Double? {
        var parm = v4l2_streamparm()
        parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        if case .failure(let e) = s.ioctl(SW_VIDIOC_G_PARM, &parm) {
            if e.meansDeviceGone { throw .syscall("VIDIOC_G_PARM", device: name, e) }
            return nil
        }
        if let fps = config.fps, fps > 0, parm.parm.capture.capability & UInt32(V4L2_CAP_TIMEPERFRAME) != 0 {
            let interval =
                FormatNegotiation.closestInterval(enumerateIntervals(s, format).map { ($0.0, $0.1) }, fps: fps)
                ?? (1000, Int((fps * 1000).rounded()))
            parm.parm.capture.timeperframe.numerator = UInt32(interval.numerator)
            parm.parm.capture.timeperframe.denominator = UInt32(interval.denominator)
            try s.require("VIDIOC_S_PARM", SW_VIDIOC_S_PARM, &parm)
        }
        let t = parm.parm.capture.timeperframe
        return t.numerator > 0 && t.denominator > 0 ? Double(t.denominator) / Double(t.numerator) : nil
    }

    /// REQBUFS, QUERYBUF + mmap + QBUF for each buffer, STREAMON. Returns the granted buffer count.
    private func startStreaming(_ s: V4L2Session, imageBytes: Int) throws(CaptureError) -> Int {
        var req = v4l2_requestbuffers()
        req.count = UInt32(config.bufferCount)
        req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        req.memory = V4L2_MEMORY_MMAP.rawValue
        try s.require("VIDIOC_REQBUFS", SW_VIDIOC_REQBUFS, &req)
        guard req.count >= 2, req.count <= 64 else {
            throw CaptureError(.notEnoughBuffers, "\(name) granted \(req.count) mmap buffers (need 2 to 64)")
        }
        for index in 0..<req.count {
            var b = v4l2_buffer()
            b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            b.memory = V4L2_MEMORY_MMAP.rawValue
            b.index = index
            try s.require("VIDIOC_QUERYBUF", SW_VIDIOC_QUERYBUF, &b)
            guard b.length > 0, b.length <= 256 << 20, let fd = s.fileDescriptor else {
                throw CaptureError(.notEnoughBuffers, "\(name) buffer \(index) has length \(b.length)")
            }
            switch s.system.mmap(fd: fd, length: Int(b.length), offset: Int(b.m.offset)) {
            case .success(let p): s.mappings.append((p, Int(b.length)))
            case .failure(let e): throw .syscall("mmap(buffer \(index))", device: name, e)
            }
            try s.require("VIDIOC_QBUF", SW_VIDIOC_QBUF, &b)
        }
        var type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        try s.require("VIDIOC_STREAMON", SW_VIDIOC_STREAMON, &type)
        s.streaming = true
        return Int(req.count)
    }
}
