/// The one function that turns argv elements into a string for a remote shell (ssh always
/// hands its command to the remote user's shell). Every element is single-quoted; a `'` inside
/// becomes `'\''`. Nothing else is ever pasted into a remote command.
public enum ShellQuote {
    public static func quote(_ s: String) -> String {
        if !s.isEmpty && s.unicodeScalars.allSatisfy({ safe.contains($0) }) { return s }
        return "'" + s.replacing("'", with: "'\\''") + "'"
    }

    public static func join(_ argv: [String]) -> String {
        argv.map(quote).joined(separator: " ")
    }

    private static let safe: Set<Unicode.Scalar> = Set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,@+%".unicodeScalars)
}
