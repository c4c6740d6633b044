import AccessControl
import MQTTBroker
import NIOCore
import NIOPosix

/// MQTT user names and passwords against the user base both protocols share: the password is checked
/// against the user's SCRAM credential (PBKDF2 on the I/O pool, compared in constant time). A client
/// without a user name, or with one the user base does not know, is left to the next authenticator.
struct UserBaseAuthenticator: MQTTAuthenticator {
    let users: UserStore
    let threadPool: NIOThreadPool

    func authenticate(_ credentials: MQTTCredentials, on eventLoop: any EventLoop) -> EventLoopFuture<MQTTAuthenticationDecision> {
        guard let username = credentials.username, users.user(username) != nil else {
            return eventLoop.makeSucceededFuture(.ignore)
        }
        guard let passwordBytes = credentials.password, let password = String(validating: passwordBytes, as: UTF8.self) else {
            return eventLoop.makeSucceededFuture(.deny(.badUserNameOrPassword))
        }
        let users = self.users
        return threadPool.runIfActive(eventLoop: eventLoop) {
            users.verify(user: username, password: password) ? MQTTAuthenticationDecision.allow : .deny(.badUserNameOrPassword)
        }
    }
}
