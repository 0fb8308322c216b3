import Foundation

/// What the machine offers when the config leaves a choice open: a file without `[[cameras]]` uses the first V4L2
/// device, else the installed replay clip, else (in a checkout) the shared tud-campus frames. Injected so tests do
/// not depend on the machine.
public struct ConfigEnvironment: Sendable {
    public var videoDevices: @Sendable () -> [String]
    public var replayCandidates: [String]
    public var directoryExists: @Sendable (String) -> Bool

    public init(videoDevices: @escaping @Sendable () -> [String], replayCandidates: [String],
                directoryExists: @escaping @Sendable (String) -> Bool) {
        self.videoDevices = videoDevices
        self.replayCandidates = replayCandidates
        self.directoryExists = directoryExists
    }

    public static let installedReplay = "/usr/share/sentei/replay"

    public static var system: ConfigEnvironment {
        var candidates = [installedReplay]
        if let shared = ProcessInfo.processInfo.environment["SENTEI_SHARED"] {
            candidates.append(shared + "/data/tud-campus/frames")
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/../shared/data/tud-campus/frames")
        return ConfigEnvironment(
            videoDevices: {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []
                return names.filter { $0.hasPrefix("video") && Int($0.dropFirst(5)) != nil }
                    .sorted { Int($0.dropFirst(5))! < Int($1.dropFirst(5))! }.map { "/dev/" + $0 }
            },
            replayCandidates: candidates,
            directoryExists: { path in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            })
    }

    func automaticCamera() -> CameraSettings {
        if let device = videoDevices().first {
            return CameraSettings(name: "default", source: .device(device))
        }
        let replay = replayCandidates.first(where: directoryExists) ?? Self.installedReplay
        var camera = CameraSettings(name: "default", source: .replay(path: replay, loop: true))
        camera.fps = 10
        return camera
    }
}
