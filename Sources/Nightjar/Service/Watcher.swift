import FoundationEssentials
import Glibc

/// `nightjar watch`: restores every RAW frame that lands in the capture directory, one at a
/// time through one `Restorer`, delivering each PNG durably before its original is moved,
/// deleted or kept, and putting frames that cannot be restored into `failed/` with the reason.
///
/// Discovery: inotify (`IN_CLOSE_WRITE`, `IN_MOVED_TO`), a scan at start and every `rescan`
/// seconds. A file is taken once it has been unchanged (size and mtime) for `settle` seconds,
/// by our observation or by its mtime's age. Output problems (disk full, unwritable directory)
/// pause the daemon with back-off (1 s doubling to 60 s) and lose nothing.
///
/// Signals are taken (sigtimedwait) between frames: SIGTERM and SIGINT stop after the frame in
/// hand is delivered (so a stop never leaves a partial output), SIGHUP reloads the
/// configuration. systemd hears READY=1, STATUS=..., WATCHDOG=1 and STOPPING=1.
public final class Watcher {
    public private(set) var settings: WatchSettings
    let configurationFile: String?
    let flags: [(String, String)]
    private var restorer: Restorer?
    private var spool: CaptureSpool
    private var events: DirectoryEvents?
    let notifier: ServiceNotifier
    /// SIGTERM, SIGINT, SIGHUP: blocked, and taken with sigtimedwait between frames and
    /// every `signalLatency` seconds while idle.
    private let signalMask: sigset_t
    static let signalLatency = 0.2
    public private(set) var metrics = WatchMetrics()

    private struct Candidate {
        var stamp: CaptureSpool.FileStamp
        /// When we last saw it change (monotonic seconds).
        var changed: Double
    }
    private var candidates: [String: Candidate] = [:]
    /// Frames a stopped daemon held, restored after the others waiting: a frame that stops the
    /// daemon (killed for memory, a crash) would otherwise be taken first again after each
    /// restart, and every frame after it by name would wait for ever.
    private var restoreLast: Set<String> = []
    /// Frames delivered whose original could not yet be moved (retried before new work).
    private var unfinished: [URL] = []
    private var nextRescan = 0.0
    private var nextWatchdog = 0.0
    private var pausedUntil = 0.0
    private var backoff = 0.0
    private var lastFrame: (name: String, time: Double)?
    private var stopping = false
    /// The next frame, claimed while the one before it ran so that it decodes meanwhile.
    private var claimedAhead: Claimed?
    private struct Claimed {
        var name: String
        var file: URL
        var stamp: CaptureSpool.FileStamp
    }

    /// Blocks SIGTERM, SIGINT and SIGHUP for this and every thread started later (before the
    /// engine's thread pool exists) and takes them between frames; loads the model.
    public init(settings: WatchSettings, configurationFile: String?, flags: [(String, String)],
                notifier: ServiceNotifier = ServiceNotifier()) throws {
        signalMask = Self.blockSignals()
        self.settings = settings
        self.configurationFile = configurationFile
        self.flags = flags
        self.notifier = notifier
        try Self.checkOutputDirectory(settings)
        spool = try CaptureSpool(root: URL(fileURLWithPath: settings.captureDirectory))
        events = DirectoryEvents(directory: settings.captureDirectory)
        restorer = try Self.makeRestorer(settings)
        watchRestorer()
    }

    /// Pings the watchdog from inside frames too (every band, and while waiting for the decoder),
    /// so a frame longer than `WatchdogSec=` does not look like a hang.
    private func watchRestorer() {
        restorer?.progress = { [unowned self] in self.pingWatchdog() }
    }

    private func pingWatchdog() {
        guard let interval = notifier.watchdogInterval else { return }
        let now = ProcessMetrics.now()
        if now >= nextWatchdog {
            notifier.send("WATCHDOG=1")
            nextWatchdog = now + interval
        }
    }

    /// Blocks SIGTERM, SIGINT and SIGHUP in this thread and every thread it starts later, so
    /// that they wait for the loop instead of killing the process; call as early as possible.
    @discardableResult
    public static func blockSignals() -> sigset_t {
        var mask = sigset_t()
        sigemptyset(&mask)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&mask, signal) }
        pthread_sigmask(SIG_BLOCK, &mask, nil)
        return mask
    }

    static func makeRestorer(_ settings: WatchSettings) throws -> Restorer {
        let baseline = MemoryFootprint.RuntimeBaseline(residentBytes: ProcessMetrics.currentResidentBytes() ?? 0,
                                                       anonymousBytes: ProcessMetrics.currentAnonymousResidentBytes() ?? 0)
        let restorer = try Restorer(modelURL: URL(fileURLWithPath: settings.model), options: settings.restoreOptions,
                                    threads: settings.threads, maximumSize: settings.maxSize.map { (width: $0.width, height: $0.height) },
                                    lockMemory: settings.mlock, precision: Precision(rawValue: settings.precision),
                                    int8Fallback: settings.int8Fallback)
        if let warning = restorer.engine.unusedFallbackWarning(settings.int8Fallback) {
            ServiceLog.warning(warning.replacing("--int8-fallback", with: "int8-fallback ="))
        }
        if let size = settings.maxSize, let engine = restorer.engine.engine, let limit = CgroupMemoryLimit.bytes {
            let footprint = MemoryFootprint(engine: engine, width: size.width, height: size.height, baseline: baseline,
                                            bits: settings.bits, fallback: restorer.engine.fallback?.engine)
            if let warning = memoryLimitWarning(footprint, cgroupLimit: limit) { ServiceLog.warning(warning) }
        }
        return restorer
    }

    /// Said at start when the service's cgroup limit (MemoryMax=) is below what frames of
    /// max-size need: the kernel would kill the daemon in the middle of such a frame, and the
    /// restarted daemon would take the same frame again.
    static func memoryLimitWarning(_ footprint: MemoryFootprint, cgroupLimit: Int) -> String? {
        guard cgroupLimit < footprint.predictedCombinedPeakBytes else { return nil }
        return "the service's memory limit (MemoryMax=, its cgroup's) of \(mebibytes(cgroupLimit)) is below the "
            + "\(mebibytes(footprint.predictedCombinedPeakBytes)) that \(footprint.width)x\(footprint.height) frames need (the process and its "
            + "decoder child): the kernel would stop the service in the middle of such a frame; set MemoryMax=\(footprint.suggestedMemoryMax) "
            + "or a smaller max-size (nightjar footprint says what a size needs)"
    }

    static func checkOutputDirectory(_ settings: WatchSettings) throws {
        let output = settings.outputDirectory
        if FileKind(atPath: output) == .missing {
            do {
                try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            } catch {
                throw CaptureError.unwritable(path: output, reason: "cannot create the output directory: \(SystemError.reason(for: error))")
            }
        }
        guard FileKind(atPath: output) == .directory else { throw CaptureError.unwritable(path: output, reason: "not a directory") }
        guard access(output, W_OK | X_OK) == 0 else {
            throw CaptureError.unwritable(path: output, reason: "the output directory is not writable: \(SystemError.last)")
        }
    }

    private static func wallClock() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    // MARK: - The loop

    /// Runs until SIGTERM or SIGINT; returns the exit status (0: stopped cleanly).
    public func run() -> Int32 {
        metrics.startTime = Self.wallClock()
        rescan()
        ServiceLog.info("watching \(settings.captureDirectory) → \(settings.outputDirectory) (\(candidates.count) waiting, "
                        + "daemon \(spool.id))")
        notifier.send("READY=1\nSTATUS=\(statusText)")
        nextWatchdog = ProcessMetrics.now()
        while !stopping {
            readSignals()
            if stopping { break }
            let now = ProcessMetrics.now()
            pingWatchdog()
            if let events {
                let (names, overflowed) = events.read()
                for name in names where CaptureSpool.isCandidate(name) { observe(name) }
                if overflowed { nextRescan = 0 }
            }
            if now >= nextRescan { rescan() }
            if now >= pausedUntil {
                if !unfinished.isEmpty {
                    finishUnfinished()
                } else if let frame = claimedAhead ?? nextReady().flatMap(claim) {
                    claimedAhead = nil
                    process(frame)
                    continue
                }
            }
            wait()
        }
        releaseClaimedAhead()
        notifier.send("STOPPING=1\nSTATUS=Stopping")
        ServiceLog.info("stopping: \(metrics.restored) restored, \(metrics.failed) failed")
        spool.close()
        metrics.queueDepth = candidates.count
        writeMetrics()
        return 0
    }

    private func wait() {
        let now = ProcessMetrics.now()
        var deadline = nextRescan
        if notifier.watchdogInterval != nil { deadline = min(deadline, nextWatchdog) }
        if pausedUntil > now {
            // Paused: nothing is taken before the back-off ends.
            deadline = min(deadline, pausedUntil)
        } else {
            if !unfinished.isEmpty { deadline = min(deadline, now + 1) }
            for (_, candidate) in candidates where candidate.changed + settings.settleSeconds > now {
                deadline = min(deadline, candidate.changed + settings.settleSeconds)
            }
        }
        let timeout = Int32(max(0, min(Self.signalLatency, deadline - now)) * 1000) + 1
        var fds = [pollfd(fd: events?.fd ?? -1, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 1, timeout)
    }

    private func readSignals() {
        var mask = signalMask
        var zero = timespec()
        while true {
            let signal = sigtimedwait(&mask, nil, &zero)
            if signal < 0 { break }
            switch signal {
            case SIGHUP: reload()
            default: stopping = true
            }
        }
    }

    // MARK: - Discovery

    private func observe(_ name: String) {
        guard let stamp = spool.stamp(of: spool.root.appendingPathComponent(name).path), !spool.isKept(name, stamp: stamp) else {
            candidates[name] = nil
            return
        }
        if candidates[name]?.stamp != stamp {
            candidates[name] = Candidate(stamp: stamp, changed: ProcessMetrics.now())
        }
    }

    private func rescan() {
        let recovery = spool.recover(policy: settings.originals, outputDirectory: URL(fileURLWithPath: settings.outputDirectory))
        for name in recovery.requeued {
            ServiceLog.warning("\(name): left over by a stopped daemon; restoring it again after the other waiting frames")
        }
        restoreLast.formUnion(recovery.requeued)
        for name in recovery.delivered { ServiceLog.info("\(name): delivered by a stopped daemon; original handled") }
        let waiting = spool.waiting()
        let present = Set(waiting.map(\.name))
        for name in candidates.keys where !present.contains(name) { candidates[name] = nil }
        for (name, _) in waiting { observe(name) }
        nextRescan = ProcessMetrics.now() + settings.rescanSeconds
        metrics.queueDepth = candidates.count
        writeMetrics()
    }

    /// The first waiting frame (by name) that has settled, those a stopped daemon held last.
    private func nextReady() -> String? {
        let now = ProcessMetrics.now(), wall = Self.wallClock()
        let names = candidates.keys.sorted()
        for name in names.filter({ !restoreLast.contains($0) }) + names.filter(restoreLast.contains) {
            let candidate = candidates[name]!
            let age = wall - Double(candidate.stamp.modifiedNanoseconds) / 1e9
            if age >= settings.settleSeconds || now - candidate.changed >= settings.settleSeconds { return name }
        }
        return nil
    }

    // MARK: - One frame

    /// Claims `name` for this daemon once it is known to be complete and not taken or kept by
    /// another daemon; nil when it is not to be restored now.
    private func claim(_ name: String) -> Claimed? {
        let before = candidates.removeValue(forKey: name)!
        restoreLast.remove(name)
        // Changed since we last looked: still being written.
        guard let stamp = spool.stamp(of: spool.root.appendingPathComponent(name).path), stamp == before.stamp else {
            observe(name)
            return nil
        }
        // Restored and kept in place by another daemon since we first saw it.
        if spool.isKept(name, stamp: stamp) { return nil }
        guard let file = spool.claim(name) else {
            // Gone: another daemon took it. Anything else is the capture directory's trouble.
            let reason = SystemError.last
            if reason.code != ENOENT {
                pause(nil, CaptureError.unwritable(path: spool.root.appendingPathComponent(name).path, reason: "cannot claim it: \(reason)"))
            }
            return nil
        }
        // Kept by another daemon between the check above and the claim (it records a kept
        // original before putting it back, so this sees it): put it back untouched.
        if spool.isKept(name, stamp: stamp) {
            spool.release(file)
            return nil
        }
        return Claimed(name: name, file: file, stamp: stamp)
    }

    /// Gives the frame claimed ahead back to the queue (stopping, pausing, reloading).
    private func releaseClaimedAhead() {
        guard let ahead = claimedAhead else { return }
        claimedAhead = nil
        restorer?.cancelDecodeAhead()
        spool.release(ahead.file)
        observe(ahead.name)
    }

    private func process(_ claimed: Claimed) {
        let (name, file, stamp) = (claimed.name, claimed.file, claimed.stamp)
        let start = ProcessMetrics.now()
        let output: URL
        do {
            // {date} and {time}: when the frame was taken (the file's own metadata, which the
            // decoder reads now for the restore to use), else the file's modification time.
            let taken = restorer?.captureTime(of: file) ?? stamp.modifiedNanoseconds / 1_000_000_000
            output = try chooseOutput(for: name, modified: taken)
            try spool.recordOutput(output, for: file)
        } catch {
            pause(file, error)
            return
        }
        // The next frame decodes while this one runs through the network.
        if !stopping, let name = nextReady() { claimedAhead = claim(name) }
        var fallback: String?
        do {
            guard let restorer else { throw CaptureError.invalidArgument("no model loaded") }
            let report = try restorer.restore(input: file, output: output, reportedInput: spool.root.appendingPathComponent(name).path,
                                              next: claimedAhead?.file)
            for warning in report.warnings ?? [] {
                ServiceLog.warning(warning.replacing(file.path, with: spool.root.appendingPathComponent(name).path))
            }
            metrics.arenaBytes = restorer.arenaBytes
            if report.int8ClippingWarns { metrics.int8Clipped += 1 }
            if report.int8Fallback != nil { metrics.int8Fallback += 1 }
            fallback = report.int8Fallback
        } catch let error as CaptureError {
            switch error {
            case .unwritable, .exists, .invalidArgument:
                pause(file, error)
            default:
                // Named where the user put it, not in the work area.
                let reason = error.description.replacing(file.path, with: spool.root.appendingPathComponent(name).path)
                do {
                    try spool.finishFailed(file, reason: reason)
                } catch {
                    ServiceLog.error("\(name): cannot move into \(spool.failed.path): \(error); it waits in the work area")
                }
                metrics.failed += 1
                ServiceLog.error(reason)
                finishFrame()
            }
            return
        } catch {
            pause(file, error)
            return
        }
        let seconds = ProcessMetrics.now() - start
        metrics.restored += 1
        metrics.secondsSum += seconds
        metrics.lastFrameTime = Self.wallClock()
        metrics.paused = false
        backoff = 0
        lastFrame = (name, metrics.lastFrameTime)
        ServiceLog.info("\(name) → \(output.path) (\(formatted("%.2f", seconds)) s"
                        + (fallback.map { ", in \($0): too bright for the int8 calibration)" } ?? ")"))
        do {
            try spool.finishDelivered(file, policy: settings.originals)
        } catch {
            ServiceLog.error("\(name): restored, but the original cannot be \(settings.originals == .delete ? "deleted" : "moved"): \(error); retrying")
            unfinished.append(file)
        }
        updateLatest(output)
        finishFrame()
    }

    private func finishFrame() {
        metrics.queueDepth = candidates.count
        writeMetrics()
        notifier.send("STATUS=\(statusText)")
    }

    private func finishUnfinished() {
        unfinished = unfinished.filter { file in
            (try? spool.finishDelivered(file, policy: settings.originals)) == nil
        }
        if !unfinished.isEmpty { pausedUntil = ProcessMetrics.now() + 5 }
    }

    /// The output for `name`: the template under the output directory, directories made,
    /// NAME-2.png ... when taken (an earlier frame of the same name is never replaced).
    private func chooseOutput(for name: String, modified: Int) throws -> URL {
        let relative = OutputName.render(settings.name, fileName: name, modified: modified)
        let first = URL(fileURLWithPath: settings.outputDirectory).appendingPathComponent(relative)
        let directory = first.deletingLastPathComponent()
        if FileKind(atPath: directory.path) != .directory {
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw CaptureError.unwritable(path: directory.path, reason: "cannot create the directory: \(SystemError.reason(for: error))")
            }
        }
        for n in 1...1000 {
            let candidate = n == 1 ? first : directory.appendingPathComponent(CaptureSpool.numbered(first.lastPathComponent, n))
            if !FileKind(atPath: candidate.path).exists, !FileKind(atPath: candidate.path + ".json").exists { return candidate }
        }
        throw CaptureError.unwritable(path: first.path, reason: "1000 outputs of that name exist")
    }

    /// Output trouble: the frame goes back to wait and the daemon pauses, 1 s doubling to 60 s.
    private func pause(_ file: URL?, _ error: any Error) {
        if let file { spool.release(file) }
        releaseClaimedAhead()
        backoff = min(max(1, backoff * 2), 60)
        pausedUntil = ProcessMetrics.now() + backoff
        metrics.paused = true
        let text = (error as? CustomStringConvertible)?.description ?? "\(error)"
        ServiceLog.warning("paused: \(text); retrying in \(Int(backoff)) s")
        notifier.send("STATUS=Paused: \(text)")
        rescanSoon()
        writeMetrics()
    }

    private func rescanSoon() { nextRescan = min(nextRescan, pausedUntil) }

    /// Points `latest` in the output directory at `output` (a relative link, replaced atomically).
    private func updateLatest(_ output: URL) {
        guard let latest = settings.latest else { return }
        let directory = URL(fileURLWithPath: settings.outputDirectory)
        let base = directory.standardizedFileURL.path + "/"
        let target = output.standardizedFileURL.path.hasPrefix(base)
            ? String(output.standardizedFileURL.path.dropFirst(base.count)) : output.path
        let temporary = directory.appendingPathComponent(".latest-\(getpid())").path
        unlink(temporary)
        guard symlink(target, temporary) == 0, rename(temporary, directory.appendingPathComponent(latest).path) == 0 else {
            ServiceLog.warning("cannot update the link \(latest): \(SystemError.last)")
            unlink(temporary)
            return
        }
    }

    private func writeMetrics() {
        do {
            try metrics.write(to: settings.metricsPath)
        } catch {
            // Not worth stopping for; said once per frame at most.
            ServiceLog.warning("cannot write the metrics file \(settings.metricsPath): \(error)")
        }
    }

    var statusText: String {
        var text = "Restored \(metrics.restored), failed \(metrics.failed), queue \(candidates.count)"
        if let lastFrame {
            var t = time_t(lastFrame.time)
            var parts = tm()
            localtime_r(&t, &parts)
            text += "; last \(lastFrame.name) at " + formatted("%02d:%02d:%02d", parts.tm_hour, parts.tm_min, parts.tm_sec)
        }
        return text
    }

    // MARK: - Reload

    private func reload() {
        do {
            let new = try WatchSettings.load(configurationFile: configurationFile, flags: flags)
            try Self.checkOutputDirectory(new)
            if new.captureDirectory != settings.captureDirectory {
                let newSpool = try CaptureSpool(root: URL(fileURLWithPath: new.captureDirectory))
                releaseClaimedAhead()
                spool.close()
                spool = newSpool
                events = DirectoryEvents(directory: new.captureDirectory)
                candidates = [:]
            }
            if settings.needsNewRestorer(new) {
                releaseClaimedAhead()
                // The old engine goes first, so memory never holds two.
                restorer = nil
                defer { watchRestorer() }
                do {
                    restorer = try Self.makeRestorer(new)
                } catch {
                    restorer = try? Self.makeRestorer(settings)
                    throw error
                }
            }
            settings = new
            nextRescan = 0
            ServiceLog.info("reloaded \(configurationFile ?? "the settings")")
        } catch {
            ServiceLog.error("reload failed, keeping the running configuration: \(error)")
        }
    }
}
