// DescribeUserScramCredentials (key 50) and AlterUserScramCredentials (key 51), version 0 (KIP-554).
//
// Behavior: the user base (`__users`, see AccessControl/UserStore.swift) as Kafka's tools manage SCRAM
// users. Describe lists mechanisms and iterations, never salts or keys: all users when the list is null or empty,
// RESOURCE_NOT_FOUND for an unknown user, DUPLICATE_RESOURCE for a name asked twice. Alter takes
// deletions and upsertions (the client sends salt and salted password, as Kafka's AdminClient computes
// them); per user: UNACCEPTABLE_CREDENTIAL for an empty name, too few (< 4096) or too many (> 16384)
// iterations or a malformed salted password, UNSUPPORTED_SASL_MECHANISM for an unknown mechanism,
// DUPLICATE_RESOURCE when one credential is altered twice in the request, RESOURCE_NOT_FOUND when a
// deleted credential does not exist; a user with any error gets none of its changes. Changes are durable
// before the answer.
// Authorization: with the ACL authorizer, DESCRIBE (describe) or ALTER (alter) on the cluster, else
// CLUSTER_AUTHORIZATION_FAILED, as Kafka answers. Without it: with `super.users` set only they may; without
// that either, everyone may, as on a Kafka broker without an authorizer.

import AccessControl
import KafkaProtocol
import NIOCore

enum UserScramCredentialsHandler {
    static func mayManageUsers(_ context: RequestContext, _ operation: AclOperation) -> Bool {
        if context.broker.acls != nil { return context.authorizedOnCluster(operation) }
        let superUsers = context.broker.configuration.superUsers
        return superUsers.isEmpty || superUsers.contains(context.session.principal)
    }

    static func describe(_ request: DescribeUserScramCredentialsRequest, context: RequestContext) -> StartedRequest {
        guard mayManageUsers(context, .describe) else {
            context.logger.warning("refused DescribeUserScramCredentials: not a super user", metadata: ["principal": "\(context.session.principal)"])
            // As Kafka's error response: the error at the top and for each user asked about.
            let message = "Cluster authorization failed."
            return context.serial(DescribeUserScramCredentialsResponse(
                errorCode: KafkaErrorCode.clusterAuthorizationFailed.rawValue, errorMessage: message,
                results: (request.users ?? []).map {
                    .init(user: $0.name, errorCode: KafkaErrorCode.clusterAuthorizationFailed.rawValue, errorMessage: message, credentialInfos: [])
                }))
        }
        guard let users = context.broker.users else {
            return context.serial(DescribeUserScramCredentialsResponse(
                errorCode: KafkaErrorCode.kafkaStorageError.rawValue, errorMessage: "the user base is not loaded", results: []))
        }
        func result(_ record: UserRecord) -> DescribeUserScramCredentialsResponse.DescribeUserScramCredentialsResult {
            .init(user: record.name, errorCode: 0, errorMessage: nil, credentialInfos: record.mechanisms.map { mechanism in
                .init(mechanism: mechanism.kafkaType, iterations: Int32(clamping: record.credential(mechanism)?.iterations ?? 0))
            })
        }
        var response = DescribeUserScramCredentialsResponse(errorCode: 0, errorMessage: nil, results: [])
        // Null or empty: every user (as Kafka reads it).
        guard let names = request.users?.map(\.name), !names.isEmpty else {
            response.results = users.users.map(result)
            return context.serial(response)
        }
        var counts: [String: Int] = [:]
        for name in names { counts[name, default: 0] += 1 }
        var answered: Set<String> = []
        for name in names where answered.insert(name).inserted {
            if counts[name, default: 0] > 1 {
                response.results.append(.init(
                    user: name, errorCode: KafkaErrorCode.duplicateResource.rawValue,
                    errorMessage: "Cannot describe SCRAM credentials for the same user twice in a single request", credentialInfos: []))
            } else if let record = users.user(name) {
                response.results.append(result(record))
            } else {
                response.results.append(.init(
                    user: name, errorCode: KafkaErrorCode.resourceNotFound.rawValue,
                    errorMessage: "Attempt to describe a user credential that does not exist", credentialInfos: []))
            }
        }
        return context.serial(response)
    }

    static func alter(_ request: AlterUserScramCredentialsRequest, context: RequestContext) -> StartedRequest {
        var order: [String] = []
        var errors: [String: (KafkaErrorCode, String)] = [:]
        var changes: [String: [UserChange]] = [:]
        func note(_ user: String) {
            if !order.contains(user) { order.append(user) }
        }
        func fail(_ user: String, _ code: KafkaErrorCode, _ message: String) {
            note(user)
            if errors[user] == nil { errors[user] = (code, message) }
        }
        let authorized = mayManageUsers(context, .alter)
        let users = context.broker.users
        var seen: [String: Set<Int8>] = [:]
        let requested: [(name: String, mechanism: Int8, upsertion: AlterUserScramCredentialsRequest.ScramCredentialUpsertion?)] =
            request.deletions.map { ($0.name, $0.mechanism, nil) } + request.upsertions.map { ($0.name, $0.mechanism, $0) }
        for item in requested {
            note(item.name)
            if !authorized {
                fail(item.name, .clusterAuthorizationFailed, "Cluster authorization failed.")
                continue
            }
            if let problem = UserNames.problem(item.name) {
                fail(item.name, .unacceptableCredential, "Username \(problem)")
                continue
            }
            guard let mechanism = ScramMechanism(kafkaType: item.mechanism) else {
                fail(item.name, .unsupportedSaslMechanism, "Unknown SCRAM mechanism")
                continue
            }
            guard seen[item.name, default: []].insert(item.mechanism).inserted else {
                fail(item.name, .duplicateResource, "A user credential cannot be altered twice in the same request")
                continue
            }
            guard let upsertion = item.upsertion else {
                if users?.credential(user: item.name, mechanism: mechanism) == nil {
                    fail(item.name, .resourceNotFound, "Attempt to delete a user credential that does not exist")
                } else {
                    changes[item.name, default: []].append(.delete(user: item.name, mechanism: mechanism))
                }
                continue
            }
            let iterations = Int(upsertion.iterations)
            if iterations < ScramMechanism.minimumIterations {
                fail(item.name, .unacceptableCredential, "Too few iterations")
            } else if iterations > ScramMechanism.maximumIterations {
                fail(item.name, .unacceptableCredential, "Too many iterations")
            } else if upsertion.salt.readableBytes == 0 || upsertion.saltedPassword.readableBytes != mechanism.hashByteCount {
                fail(item.name, .unacceptableCredential, "The salt must not be empty and the salted password must be one \(mechanism.rawValue) hash long")
            } else {
                let credential = ScramCredential(
                    mechanism: mechanism, saltedPassword: Array(upsertion.saltedPassword.readableBytesView), salt: Array(upsertion.salt.readableBytesView),
                    iterations: iterations)
                changes[item.name, default: []].append(.upsert(user: item.name, mechanism: mechanism, credential: credential))
            }
        }
        let toApply = order.filter { errors[$0] == nil }.flatMap { changes[$0] ?? [] }
        let promise = context.eventLoop.makePromise(of: AlterUserScramCredentialsResponse.self)
        let logger = context.logger
        let principal = context.session.principal
        let (orderedUsers, errorsByUser) = (order, errors.mapValues { ($0.0.rawValue, $0.1) })
        promise.completeWithTask {
            var storeError: String? = nil
            if !toApply.isEmpty {
                if let users {
                    do {
                        try await users.apply(toApply)
                        logger.info("user credentials altered", metadata: ["principal": "\(principal)", "changes": "\(toApply.count)"])
                    } catch {
                        storeError = "\(error)"
                    }
                } else {
                    storeError = "the user base is not loaded"
                }
            }
            return AlterUserScramCredentialsResponse(results: orderedUsers.map { user in
                if let (code, message) = errorsByUser[user] {
                    return .init(user: user, errorCode: code, errorMessage: message)
                }
                if let storeError {
                    return .init(user: user, errorCode: KafkaErrorCode.kafkaStorageError.rawValue, errorMessage: storeError)
                }
                return .init(user: user, errorCode: 0, errorMessage: nil)
            })
        }
        return context.serial(promise.futureResult)
    }
}
