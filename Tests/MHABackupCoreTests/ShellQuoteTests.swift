import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

@Suite("shell quoting for remote commands")
struct ShellQuoteTests {
    @Test("plain words pass, everything else is single-quoted")
    func quoting() {
        #expect(ShellQuote.quote("mariabackup") == "mariabackup")
        #expect(ShellQuote.quote("--target-dir=/var/tmp/x") == "--target-dir=/var/tmp/x")
        #expect(ShellQuote.quote("") == "''")
        #expect(ShellQuote.quote("a b") == "'a b'")
        #expect(ShellQuote.quote("it's") == "'it'\\''s'")
        #expect(ShellQuote.quote("$(touch /tmp/x)") == "'$(touch /tmp/x)'")
    }
}
