import Glibc

/// Runs another program and collects its standard error (FoundationEssentials has no Process).
package enum ChildProcess {
    package enum Termination: Equatable, Sendable {
        case exited(status: Int32)
        case signalled(signal: Int32)
    }

    /// Runs `executable` with `arguments` (argv[0] is `executable`) and this process's
    /// environment and standard input, its standard output sent to /dev/null, and waits for it.
    /// Returns how it ended and everything it wrote to standard error; throws when it cannot
    /// be started (the executable is missing, not executable...).
    package static func runCollectingStandardError(executable: String, arguments: [String])
        throws(SystemError) -> (termination: Termination, standardError: [UInt8])
    {
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else { throw .last }
        let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
        defer { close(readEnd) }
        // Close-on-exec, so that no other child started meanwhile keeps the pipe open.
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0)
        // dup2 clears close-on-exec on the child's fd 2 only.
        posix_spawn_file_actions_adddup2(&actions, writeEnd, STDERR_FILENO)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let started = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        // The child holds its own copy; ours must go, or reading never sees end of file.
        close(writeEnd)
        guard started == 0 else { throw SystemError(code: started) }

        // Read before waiting, so that a chatty child cannot fill the pipe and stall.
        let standardError = (try? FileContents.readToEnd(readEnd)) ?? []
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw .last }
        }
        // WIFEXITED, WEXITSTATUS and WTERMSIG are macros Swift does not import.
        let signal = status & 0x7f
        let termination: Termination = signal == 0 ? .exited(status: (status >> 8) & 0xff) : .signalled(signal: signal)
        return (termination, standardError)
    }
}
