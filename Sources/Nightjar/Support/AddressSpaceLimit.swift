import Glibc
import NightjarIOShims

/// Fitting inside an address-space limit (ulimit -v, systemd LimitAS=).
public enum AddressSpaceLimit {
    /// The limit in bytes, nil when none is set.
    public static var bytes: Int? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return Int(clamping: limit.rlim_cur)
    }

    /// Under a limit, keeps every thread's malloc in one arena. glibc gives each thread that
    /// allocates its own arena and reserves 64 MiB of address space for it; which threads
    /// allocate first depends on timing, so the same restore fitted a limit on one run and
    /// not on the next. Unlimited processes keep glibc's default (less lock contention).
    public static func shareMallocArenaWhenLimited() {
        if bytes != nil { _ = nj_limit_malloc_arenas(1) }
    }
}
