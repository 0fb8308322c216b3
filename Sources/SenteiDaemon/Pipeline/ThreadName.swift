import CSenteiKernels

/// Names the calling OS thread (the kernel keeps 15 bytes) so that top -H, perf and scripts/check-allocations.py
/// can tell the pipeline's threads apart. Foundation's `Thread.name` does not reach the kernel on Linux; the engine's
/// workers are named by the same C helper.
func nameCurrentThread(_ name: String) {
    sk_name_thread(name)
}
