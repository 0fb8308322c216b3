// Unary activations and binary arithmetic on contiguous same-size arrays. Parts get contiguous chunks that are
// whole vectors (except the last), so no two parts touch one cache line more than at the seams.

@inline(__always) func elementRange(_ count: Int, _ ith: Int, _ nth: Int) -> (lo: Int, hi: Int) {
    let r = partRange(ceilDiv(count, vectorWidth), ith, nth)
    return (min(count, r.lo &* vectorWidth), min(count, r.hi &* vectorWidth))
}

@inline(__always) func unaryMap(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int, _ ith: Int, _ nth: Int,
    _ activation: Int
) {
    let r = elementRange(count, ith, nth)
    var i = r.lo
    let src = UnsafeRawPointer(x), dst = UnsafeMutableRawPointer(y)
    while i &+ vectorWidth <= r.hi {
        let v = src.loadUnaligned(fromByteOffset: i &* 4, as: FVec.self)
        dst.storeBytes(of: activate(v, activation), toByteOffset: i &* 4, as: FVec.self)
        i &+= vectorWidth
    }
    if i < r.hi {
        if UnsafePointer(y) != x { (y + i).update(from: x + i, count: r.hi &- i) }
        activateRow(y + i, r.hi &- i, activation)
    }
}

enum BinaryCode { static let add = 0, sub = 1, mul = 2, div = 3 }

@inline(__always) func binaryMap(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int,
    _ ith: Int, _ nth: Int, _ op: Int
) {
    let r = elementRange(count, ith, nth)
    var i = r.lo
    let pa = UnsafeRawPointer(a), pb = UnsafeRawPointer(b), dst = UnsafeMutableRawPointer(y)
    while i &+ vectorWidth <= r.hi {
        let u = pa.loadUnaligned(fromByteOffset: i &* 4, as: FVec.self)
        let v = pb.loadUnaligned(fromByteOffset: i &* 4, as: FVec.self)
        let z: FVec
        switch op {
        case BinaryCode.add: z = u + v
        case BinaryCode.sub: z = u - v
        case BinaryCode.mul: z = u * v
        default: z = u / v
        }
        dst.storeBytes(of: z, toByteOffset: i &* 4, as: FVec.self)
        i &+= vectorWidth
    }
    while i < r.hi {
        switch op {
        case BinaryCode.add: y[i] = a[i] + b[i]
        case BinaryCode.sub: y[i] = a[i] - b[i]
        case BinaryCode.mul: y[i] = a[i] * b[i]
        default: y[i] = a[i] / b[i]
        }
        i &+= 1
    }
}

extension FloatKernels {
    /// y[i] = max(x[i], 0). x and y may be the same buffer.
    public static func relu(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, ith: Int, nth: Int) {
        unaryMap(x, y, count, ith, nth, ActivationCode.relu)
    }
    /// y[i] = 1/(1+e^−x[i]); finite for every finite input. x and y may be the same buffer.
    public static func sigmoid(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, ith: Int, nth: Int) {
        unaryMap(x, y, count, ith, nth, ActivationCode.sigmoid)
    }
    /// y[i] = x[i]·sigmoid(x[i]). x and y may be the same buffer.
    public static func silu(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, ith: Int, nth: Int) {
        unaryMap(x, y, count, ith, nth, ActivationCode.silu)
    }
    /// y = a + b elementwise; y may alias a or b.
    public static func add(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, ith: Int, nth: Int
    ) { binaryMap(a, b, y, count, ith, nth, BinaryCode.add) }
    /// y = a − b elementwise; y may alias a or b.
    public static func sub(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, ith: Int, nth: Int
    ) { binaryMap(a, b, y, count, ith, nth, BinaryCode.sub) }
    /// y = a · b elementwise; y may alias a or b.
    public static func mul(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, ith: Int, nth: Int
    ) { binaryMap(a, b, y, count, ith, nth, BinaryCode.mul) }
    /// y = a / b elementwise; y may alias a or b.
    public static func div(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, ith: Int, nth: Int
    ) { binaryMap(a, b, y, count, ith, nth, BinaryCode.div) }
}
