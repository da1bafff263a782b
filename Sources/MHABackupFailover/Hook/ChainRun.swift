import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// The site's own script, run with MHA's argv (less our own options) and environment; its
/// output goes straight to MHA's log. Runs beside our work; `wait()` gives its exit code.
final class ChainRun: @unchecked Sendable {
    let path: String
    let argv: [String]
    private let done = DispatchSemaphore(value: 0)
    private(set) var code: Int32 = 1
    private(set) var summary = ""
    let started = Date()

    init(path: String, argv: [String], timeout: TimeInterval, environment: [String: String] = [:]) {
        self.path = path
        self.argv = argv
        Threads.start { [self] in
            var o = RunOptions(timeout: timeout)
            o.stdout = .fd(1)
            o.stderrFd = 2
            o.grace = 2
            o.cancellation = HookInterrupt.flag
            do {
                let r = try ProcessRunner().runPipeline([Command([path] + argv, environment: environment)], options: o)
                let s = r.stages[0]
                code = r.timedOut || r.cancelled ? 1 : (s.exitCode ?? 1)
                summary = r.timedOut ? "killed after \(Int(timeout)) s (chain_timeout)"
                    : r.cancelled ? "its process group stopped: the hook was interrupted" : s.statusText
            } catch {
                code = 1
                summary = "\(error)"
            }
            done.signal()
        }
    }

    func wait() -> Int32 {
        done.wait()
        return code
    }
}
