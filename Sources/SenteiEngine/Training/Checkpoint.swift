import Foundation

/// A resumable training state: master weights, optimiser moments and step, plus the run's seed and settings. Data
/// order depends only on (seed, step), so a run resumed from a checkpoint computes exactly what the uninterrupted run
/// would have.
///
/// File: "SNTCKPT1", a little-endian UInt32 header length, a JSON header, then the weights, first and second moments
/// as little-endian Float32. Written to a temporary file and renamed, so a crash never leaves a torn checkpoint.
package struct Checkpoint: Sendable {
    package struct Header: Codable, Sendable, Equatable {
        package var step: Int
        package var seed: UInt64
        package var layout: String
        package var settings: OptimizerSettings
        package var valueCount: Int
        package var secondMomentCount: Int
        /// Free-form numbers for the caller (e.g. CPU seconds spent so far).
        package var extra: [String: Double]
    }

    static let magic = Array("SNTCKPT1".utf8)

    package var header: Header
    package var values: [Float]
    package var firstMoment: [Float]
    package var secondMoment: [Float]

    package init(parameters: ParameterSet, optimizer: Optimizer, seed: UInt64, extra: [String: Double] = [:]) {
        header = Header(step: optimizer.step, seed: seed, layout: parameters.layoutSignature, settings: optimizer.settings,
                        valueCount: parameters.count, secondMomentCount: optimizer.secondMoment.count, extra: extra)
        values = parameters.values
        firstMoment = optimizer.firstMoment
        secondMoment = optimizer.secondMoment
    }

    package func write(to path: String) throws {
        var data = Data(Self.magic)
        let json = try JSONEncoder().encode(header)
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for array in [values, firstMoment, secondMoment] {
            array.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: UInt8.self), count: $0.count * 4)) }
        }
        let temporary = path + ".partial"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw EngineError(.io, "\(temporary): cannot write the checkpoint")
        }
        if FileManager.default.fileExists(atPath: path) { try? FileManager.default.removeItem(atPath: path) }
        do { try FileManager.default.moveItem(atPath: temporary, toPath: path) } catch {
            throw EngineError(.io, "\(path): cannot move the checkpoint into place (\(error))")
        }
    }

    package static func read(from path: String) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: path) else { throw EngineError(.io, "\(path): cannot read the checkpoint") }
        let bytes = [UInt8](data)
        guard bytes.count >= 12, Array(bytes[0..<8]) == magic else {
            throw EngineError(.malformedModel, "\(path): not a Sentei checkpoint (bad magic)")
        }
        let length = Int(UInt32(bytes[8]) | UInt32(bytes[9]) << 8 | UInt32(bytes[10]) << 16 | UInt32(bytes[11]) << 24)
        guard length <= bytes.count - 12 else { throw EngineError(.malformedModel, "\(path): header length \(length) past the end of the file") }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(bytes[12..<(12 + length)])) } catch {
            throw EngineError(.malformedModel, "\(path): unreadable checkpoint header (\(error))")
        }
        let counts = [header.valueCount, header.valueCount, header.secondMomentCount]
        guard counts.allSatisfy({ $0 >= 0 }), bytes.count == 12 + length + counts.reduce(0, +) * 4 else {
            throw EngineError(.malformedModel, "\(path): size \(bytes.count) does not match its header (\(header.valueCount) parameters)")
        }
        var offset = 12 + length
        var arrays: [[Float]] = []
        for count in counts {
            var array = [Float](repeating: 0, count: count)
            array.withUnsafeMutableBytes { dst in bytes.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + count * 4)])) } }
            arrays.append(array)
            offset += count * 4
        }
        return Checkpoint(header: header, values: arrays[0], firstMoment: arrays[1], secondMoment: arrays[2])
    }

    init(header: Header, values: [Float], firstMoment: [Float], secondMoment: [Float]) {
        self.header = header
        self.values = values
        self.firstMoment = firstMoment
        self.secondMoment = secondMoment
    }

    /// Restores weights and optimiser state; refuses a checkpoint of another model layout or other settings kind.
    package func restore(into parameters: inout ParameterSet, optimizer: inout Optimizer, path: String) throws {
        guard header.layout == parameters.layoutSignature, values.count == parameters.count else {
            throw EngineError(.invalidInput, "\(path): checkpoint is for another model (layout \(header.layout), this model \(parameters.layoutSignature))")
        }
        guard header.settings.kind == optimizer.settings.kind, secondMoment.count == optimizer.secondMoment.count else {
            throw EngineError(.invalidInput, "\(path): checkpoint was made with the \(header.settings.kind.rawValue) optimizer, this run uses \(optimizer.settings.kind.rawValue)")
        }
        parameters.values = values
        optimizer.firstMoment = firstMoment
        optimizer.secondMoment = secondMoment
        optimizer.step = header.step
    }
}
