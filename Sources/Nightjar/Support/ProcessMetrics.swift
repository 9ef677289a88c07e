import FoundationEssentials
import Glibc
import NightjarKernels

/// Measurements for benchmarks and footprints: clocks, process memory, the FMA peak.
public enum ProcessMetrics {
    /// Monotonic seconds.
    public static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    /// Monotonic nanoseconds. A difference of two, divided by 1e9, is a duration with no
    /// rounding noise in its last digits (restore reports print durations this way).
    public static func nanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// CPU seconds (user and system) of all of this process's threads so far, and of its
    /// children waited for (the decoder's: a child counts once it has been reaped).
    public static func cpuSeconds() -> Double {
        func seconds(_ who: Int32) -> Double {
            var usage = rusage()
            getrusage(who, &usage)
            return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
                + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
        }
        return seconds(RUSAGE_SELF.rawValue) + seconds(RUSAGE_CHILDREN.rawValue)
    }

    /// The process's peak resident set so far, in bytes: VmHWM in /proc/self/status, or
    /// getrusage's ru_maxrss where there is no /proc. Not ru_maxrss first: Linux carries it
    /// across exec, so a process started by a large one (posix_spawn from a test runner or a
    /// Python harness) would report its parent's peak.
    public static func peakResidentBytes() -> Int {
        if let peak = statusBytes("VmHWM:") { return peak }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }

    /// The process's current resident set, in bytes (VmRSS in /proc/self/status).
    public static func currentResidentBytes() -> Int? { statusBytes("VmRSS:") }

    /// The anonymous part of the current resident set (RssAnon): heap, stacks, arenas. A
    /// forked child maps these pages copy-on-write, so they count in its resident set too.
    public static func currentAnonymousResidentBytes() -> Int? { statusBytes("RssAnon:") }

    /// A "Name:   N kB" line of /proc/self/status, in bytes.
    private static func statusBytes(_ field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field) {
            let digits = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int($0) }
            return digits.first.map { $0 * 1024 }
        }
        return nil
    }

    /// Gives memory freed during start-up (model parsing) back to the system, so the resident
    /// set while frames run holds only what they need.
    public static func releaseFreedMemory() {
        #if canImport(Glibc)
        _ = glibcMallocTrim(0)
        #endif
    }

    /// Median, minimum and maximum of some samples.
    public struct Summary: Codable, Sendable, Equatable {
        public var median: Double
        public var min: Double
        public var max: Double
        public var count: Int

        public init(_ samples: [Double]) {
            let sorted = samples.sorted()
            count = sorted.count
            min = sorted.first ?? .nan
            max = sorted.last ?? .nan
            if sorted.isEmpty {
                median = .nan
            } else if sorted.count % 2 == 1 {
                median = sorted[sorted.count / 2]
            } else {
                median = (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            }
        }
    }

    /// The float32 multiply-accumulate peak of `threads` threads running register-resident FMA
    /// loops at once, in MAC/s: the median of a few short runs.
    public static func fmaPeak(threads: Int) -> Double {
        guard let pool = nj_threadpool_create(Int32(threads)) else { return .nan }
        defer { nj_threadpool_destroy(pool) }
        var iterations: Int64 = 1 << 16
        // Grow the run until it lasts about 50 ms, then take the median of five.
        while true {
            let start = now()
            _ = nj_f32_fma_peak_run_parallel(pool, iterations)
            if now() - start > 0.05 || iterations > 1 << 34 { break }
            iterations *= 2
        }
        var rates: [Double] = []
        for _ in 0..<5 {
            let start = now()
            let macs = nj_f32_fma_peak_run_parallel(pool, iterations)
            rates.append(Double(macs) / (now() - start))
        }
        return Summary(rates).median
    }
}

extension ProcessMetrics {
    /// A cache line's round trip between the first two of `threads` pool threads, in ns (the
    /// median of five runs of 4000 hand-offs; nil for one thread): what every hand-off of work
    /// or data between the engine's threads costs at least (nj_threadpool_round_trip_ns).
    public static func threadRoundTrip(threads: Int) -> Double? {
        guard threads >= 2, let pool = nj_threadpool_create(Int32(threads)) else { return nil }
        defer { nj_threadpool_destroy(pool) }
        return Summary((0..<5).map { _ in nj_threadpool_round_trip_ns(pool, 4000) }).median
    }
}

#if canImport(Glibc)
/// glibc's malloc_trim (declared in malloc.h, which the Glibc module does not import).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
