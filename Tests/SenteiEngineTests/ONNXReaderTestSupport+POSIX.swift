#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

func getenvString(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

func fileExists(_ path: String) -> Bool {
    access(path, R_OK) == 0
}
