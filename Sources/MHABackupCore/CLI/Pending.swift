import Foundation
enum CheckCommand { static func run(_ c: Context, json: Bool) throws { throw MBError(.software, "not built yet") } }
enum BackupCommand { static func run(_ c: Context, args: Arguments) throws { throw MBError(.software, "not built yet") } }
enum ListCommand { static func run(_ c: Context, json: Bool) throws { throw MBError(.software, "not built yet") } }
enum JobsCommand { static func run(_ c: Context, args: Arguments) throws { throw MBError(.software, "not built yet") } }
enum BinlogCommand { static func run(_ c: Context, args: Arguments) throws { throw MBError(.software, "not built yet") } }
enum FenceCommand { static func run(_ c: Context, args: Arguments) throws { throw MBError(.software, "not built yet") } }
