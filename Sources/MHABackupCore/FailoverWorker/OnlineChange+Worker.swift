import Foundation
import MHABackupBase
import MHABackupFailover

/// The detached half of master_ip_online_change start (`Phases/OnlineChange.swift`).
extension HookWorker {
    public func afterSwitch() {
        finishFailover(success: true, fullBackup: ctx.config.hooks.fullBackupAfterSwitch)
    }
}
