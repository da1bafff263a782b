import Testing
@Suite("integration placeholder") struct Placeholder { @Test func nothing() {} }
