import FoundationEssentials
import Glibc

/// The daemon's counters, written as a Prometheus textfile for node_exporter's textfile
/// collector (replaced atomically, so a scrape never reads half of it), and read back by
/// `nightjar status`.
public struct WatchMetrics: Sendable, Equatable {
    public var restored = 0
    public var failed = 0
    /// Restored frames whose input was brighter than the int8 model's calibrated range (from
    /// `Int8InputClipping.significantShare` of it clipped): a sign to recalibrate.
    public var int8Clipped = 0
    /// Of those, the frames restored by the int8 fallback (`int8-fallback`) instead.
    public var int8Fallback = 0
    public var secondsSum = 0.0
    public var queueDepth = 0
    public var arenaBytes = 0
    /// Unix time of the last frame restored (0: none yet), for "no frame for 15 minutes" alerts.
    public var lastFrameTime = 0.0
    public var startTime = 0.0
    /// 1 while paused for a full or unwritable output (retrying with back-off).
    public var paused = false

    public init() {}

    public var text: String {
        func metric(_ name: String, _ type: String, _ help: String, _ value: String) -> String {
            "# HELP nightjar_\(name) \(help)\n# TYPE nightjar_\(name) \(type)\nnightjar_\(name) \(value)\n"
        }
        return metric("frames_restored_total", "counter", "Frames restored since the daemon started.", "\(restored)")
            + metric("frames_failed_total", "counter", "Frames moved to failed/ since the daemon started.", "\(failed)")
            + metric("frames_int8_clipped_total", "counter",
                     "Frames whose input was brighter than the int8 model's calibrated range (0.1 % or more).", "\(int8Clipped)")
            + metric("frames_int8_fallback_total", "counter",
                     "Frames too bright for the int8 model restored in the int8-fallback precision instead.", "\(int8Fallback)")
            + "# HELP nightjar_frame_seconds Seconds per restored frame, RAW in to PNG on disk.\n"
            + "# TYPE nightjar_frame_seconds summary\n"
            + "nightjar_frame_seconds_sum \(number(secondsSum))\nnightjar_frame_seconds_count \(restored)\n"
            + metric("queue_depth", "gauge", "Frames waiting in the capture directory.", "\(queueDepth)")
            + metric("arena_bytes", "gauge", "Bytes of the network's memory arena.", "\(arenaBytes)")
            + metric("last_frame_timestamp_seconds", "gauge", "Unix time of the last frame restored (0: none yet).",
                     number(lastFrameTime))
            + metric("start_time_seconds", "gauge", "Unix time the daemon started.", number(startTime))
            + metric("paused", "gauge", "1 while output is paused (disk full or unwritable), retrying.", paused ? "1" : "0")
    }

    private func number(_ value: Double) -> String { formatted("%.3f", value) }

    /// Parses a file written by `text` (unknown lines are ignored).
    public init(text: String) {
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Double(parts[1]) { values[String(parts[0])] = value }
        }
        restored = Int(values["nightjar_frames_restored_total"] ?? 0)
        failed = Int(values["nightjar_frames_failed_total"] ?? 0)
        int8Clipped = Int(values["nightjar_frames_int8_clipped_total"] ?? 0)
        int8Fallback = Int(values["nightjar_frames_int8_fallback_total"] ?? 0)
        secondsSum = values["nightjar_frame_seconds_sum"] ?? 0
        queueDepth = Int(values["nightjar_queue_depth"] ?? 0)
        arenaBytes = Int(values["nightjar_arena_bytes"] ?? 0)
        lastFrameTime = values["nightjar_last_frame_timestamp_seconds"] ?? 0
        startTime = values["nightjar_start_time_seconds"] ?? 0
        paused = (values["nightjar_paused"] ?? 0) != 0
    }

    /// Replaces `path` with the current values.
    public func write(to path: String) throws {
        try CaptureSpool.writeDurably(Array(text.utf8), to: URL(fileURLWithPath: path))
    }
}
