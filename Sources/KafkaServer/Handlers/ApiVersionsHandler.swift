// ApiVersions (key 18), versions 0-4.
//
// Behavior: lists every API this broker implements with the versions it advertises (ApiDispatcher).
// A request for a version above 4 is answered per KIP-511: a v0 body (response header v0) with
// UNSUPPORTED_VERSION and the full key list, so the client retries with a version both sides know.
// Version notes: v3+ carries the client's software name and version, which must match
// [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])? or the answer is INVALID_REQUEST (as in Kafka). v3+ responses
// may carry supported/finalized features as tagged fields; this broker has none to report.

import KafkaProtocol
import NIOCore

enum ApiVersionsHandler {
    static var apiKeys: [ApiVersionsResponse.ApiVersion] {
        ApiDispatcher.supportedVersions.map { key, versions in
            ApiVersionsResponse.ApiVersion(apiKey: key.rawValue, minVersion: versions.lowerBound, maxVersion: versions.upperBound)
        }
    }

    static func handle(_ request: ApiVersionsRequest, context: RequestContext) -> StartedRequest {
        var response = ApiVersionsResponse(errorCode: KafkaErrorCode.noError.rawValue, apiKeys: apiKeys, throttleTimeMs: 0)
        if context.version >= 3 && !(isValidSoftwareText(request.clientSoftwareName) && isValidSoftwareText(request.clientSoftwareVersion)) {
            context.logger.info("ApiVersions with an invalid client software name or version", metadata: [
                "name": "\(request.clientSoftwareName)", "version": "\(request.clientSoftwareVersion)",
            ])
            response.errorCode = KafkaErrorCode.invalidRequest.rawValue
        }
        return context.serial(response)
    }

    static func unsupportedVersionResponse() -> ApiVersionsResponse {
        ApiVersionsResponse(errorCode: KafkaErrorCode.unsupportedVersion.rawValue, apiKeys: apiKeys, throttleTimeMs: 0)
    }

    static func isValidSoftwareText(_ text: String) -> Bool {
        func alphanumeric(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
        }
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last, alphanumeric(first), alphanumeric(last) else { return false }
        return bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }
}
