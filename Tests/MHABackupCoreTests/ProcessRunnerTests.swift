import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

@Suite("process runner")
struct ProcessRunnerTests {
    let runner = ProcessRunner()

    @Test("a non-zero exit is a result with its stderr, not an error")
    func nonZeroExit() throws {
        let r = try runner.run(Command(["ls", "/nonexistent-mha-backup-path"]), timeout: 5)
        #expect(r.stages[0].exitCode == 2)
        #expect(!r.succeeded)
        #expect(r.stages[0].stderr.contains("nonexistent-mha-backup-path"))
        #expect(r.failureSummary.contains("'ls' exit 2"))
    }

    @Test("stdin data is fed while stdout is drained (no pipe deadlock at 3 MiB)")
    func stdinRoundTrip() throws {
        let input = Data((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let r = try runner.run(Command(["cat"]), timeout: 20, stdin: .data(input), outputLimit: 4 << 20)
        #expect(r.succeeded)
        #expect(r.stdout == input)
    }

    @Test("captured output is capped and the rest is drained")
    func cappedOutput() throws {
        let r = try runner.run(Command(["head", "-c", "20000000", "/dev/zero"]), timeout: 20, outputLimit: 1000)
        #expect(r.succeeded)
        #expect(r.stdout.count == 1000)
        #expect(r.stdoutTruncated)
    }

    @Test("a large stderr is read while the child runs and only its tail is kept")
    func stderrDrained() throws {
        var o = RunOptions(timeout: 20)
        o.stderrLimit = 4096
        var lines = 0
        o.onStderrLine = { _, _ in lines += 1 }
        // 200k lines on stderr: far more than a pipe holds.
        let r = try runner.runPipeline([Command(["sh", "-c", "seq 1 200000 >&2; echo done"])], options: o)
        #expect(r.succeeded)
        #expect(r.stdoutString == "done\n")
        #expect(lines == 200000)
        #expect(r.stages[0].stderr.hasSuffix("200000\n"))
        #expect(r.stages[0].stderr.utf8.count <= 4096 + 16)
        #expect(r.stages[0].stderrTruncated)
    }

    @Test("a timeout tears down the whole process group, grandchildren included")
    func timeoutKillsGroup() throws {
        let marker = "mha-backup-test-\(UInt32.random(in: 0...UInt32.max))"
        var o = RunOptions(timeout: 0.5)
        o.grace = 0.5
        let start = Date()
        // The grandchild ignores SIGTERM: only the SIGKILL of the group ends it.
        let r = try runner.runPipeline([Command(["sh", "-c", "trap '' TERM; sleep 30 & exec -a \(marker) sleep 31"])], options: o)
        #expect(r.timedOut)
        #expect(!r.succeeded)
        #expect(Date().timeIntervalSince(start) < 5)
        usleep(200_000)
        #expect(pids(withCmdlineContaining: marker).isEmpty)
    }

    @Test("each pipeline stage reports its own status")
    func pipelineStatus() throws {
        var o = RunOptions(timeout: 10)
        o.stdout = .capture(limit: 1 << 20)
        let r = try runner.runPipeline([Command(["sh", "-c", "echo hello; exit 3"]), Command(["tr", "a-z", "A-Z"])], options: o)
        #expect(r.stages.count == 2)
        #expect(r.stages[0].exitCode == 3)
        #expect(r.stages[1].exitCode == 0)
        #expect(r.stdoutString == "HELLO\n")
        #expect(r.failureSummary.hasPrefix("'sh' exit 3"))
        // Both stages ran in one new process group.
        #expect(!r.succeeded)
    }

    @Test("all stages share one process group that is not ours")
    func processGroup() throws {
        var o = RunOptions(timeout: 10)
        var group: pid_t = 0
        var pids: [pid_t] = []
        o.onStart = { g, p in group = g; pids = p }
        let r = try runner.runPipeline([Command(["sh", "-c", "ps -o pgid= -p $$"]), Command(["cat"])], options: o)
        #expect(r.succeeded)
        #expect(group == pids[0])
        #expect(group != getpgrp())
        #expect(Int32(r.stdoutString.trimmingCharacters(in: .whitespacesAndNewlines)) == group)
    }

    @Test("a cancellation flag stops a running child")
    func cancellation() throws {
        var o = RunOptions(timeout: 30)
        let flag = CancellationFlag()
        o.cancellation = flag
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { flag.cancel() }
        let start = Date()
        let r = try runner.runPipeline([Command(["sleep", "20"])], options: o)
        #expect(r.cancelled)
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test("a stdout handler error stops the children and is rethrown")
    func handlerError() throws {
        var o = RunOptions(timeout: 30)
        struct Boom: Error {}
        o.stdout = .handler { _ in throw Boom() }
        #expect(throws: Boom.self) {
            _ = try runner.runPipeline([Command(["yes"])], options: o)
        }
    }

    @Test("PATH lookup skips relative entries and names the package of a missing program")
    func pathLookup() throws {
        #expect(try ProcessRunner.resolve("ls").hasPrefix("/"))
        do {
            _ = try ProcessRunner.resolve("mariabackup-does-not-exist")
            Issue.record("expected an error")
        } catch let e as MBError {
            #expect(e.code == .unavailable)
        }
        do {
            _ = try ProcessRunner.resolve("/nonexistent/zstd")
            Issue.record("expected an error")
        } catch let e as MBError {
            #expect(e.code == .unavailable)
        }
        #expect(ToolPackages.hint(for: "mariabackup")?.contains("mariadb-backup") == true)
    }

    @Test("children get default signal handling even though we ignore SIGPIPE")
    func sigpipeDefault() throws {
        signal(SIGPIPE, SIG_IGN)
        var o = RunOptions(timeout: 10)
        o.stdout = .capture(limit: 100)
        // `yes | head -c 10`: yes must die of SIGPIPE rather than spin forever.
        let r = try runner.runPipeline([Command(["yes"]), Command(["head", "-c", "10"])], options: o)
        #expect(r.stages[0].signal == SIGPIPE)
        #expect(r.stages[1].exitCode == 0)
        #expect(r.stdout.count == 10)
    }
}

func pids(withCmdlineContaining needle: String) -> [Int32] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { e -> Int32? in
        guard let p = Int32(e), let raw = FileManager.default.contents(atPath: "/proc/\(e)/cmdline") else { return nil }
        let s = String(decoding: raw.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        guard s.contains(needle), !ProcessRunner.isZombieOrGone(p) else { return nil }
        return p
    }
}
