// Generated from openapi.yaml by `npm run generate`. Do not edit.

export interface paths {
    "/openapi.yaml": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["openapi"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head: operations["openapiHead"];
        patch?: never;
        trace?: never;
    };
    "/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["health"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head: operations["healthHead"];
        patch?: never;
        trace?: never;
    };
    "/get-livekit-token": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["getLivekitToken"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/live-session-start": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["liveSessionStart"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/live-session-end": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["liveSessionEnd"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/live-session-status": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["liveSessionStatus"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/call-initiate": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** @description Counted per caller: more than `call_initiate_rate_limit_per_minute` (10 by default) calls in a minute answer 429 `RATE_LIMITED` with `retryAfterSeconds`, and nothing is written or rung. With an `Idempotency-Key`, a resend by the same caller within 10 minutes rings nobody again: it answers with the call the first request made, as that call stands (201 while it rings or runs, `BUSY`, `PUSH_FAILED` or `CALLEE_UNREACHABLE` as the first answered, else 409 `INVALID_TRANSITION` with its `status` and `call`); a duplicate sent while the first is still ringing waits for it, up to `push_timeout_seconds` plus one. */
        post: operations["callInitiate"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/call-action": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["callAction"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/push-token-register": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** @description Counted per user: more than `push_register_rate_limit_per_minute` (10 by default) registrations in a minute answer 429 `RATE_LIMITED` with `retryAfterSeconds`, and nothing is registered. */
        post: operations["pushTokenRegister"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/push-token-unregister": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** @description The device forgets its push token (on sign-out): the caller's own registration of the token is removed. The answer is the same when the token was already gone or is another user's (that registration stays), so it tells nothing about whose a token is. */
        post: operations["pushTokenUnregister"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/livekit-webhook": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** @description LiveKit's webhooks. `Authorization` is LiveKit's bare JWT (HS256 with the API secret, `sha256` = the body's SHA-256). */
        post: operations["livekitWebhook"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/cleanup-orphans": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** @description Runs the sweep now, with `Authorization: Bearer <cron_secret>`. */
        post: operations["cleanupOrphans"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** @description What each push provider said when the call rang (also `calls.push_outcomes`); a provider appears when the callee has devices of its kind. PUSH_FAILED answers carry it as `push` too. */
        PushOutcomes: {
            expo?: components["schemas"]["PushProviderOutcome"];
            apns_voip?: components["schemas"]["PushProviderOutcome"];
            fcm?: components["schemas"]["PushProviderOutcome"];
        };
        PushProviderOutcome: {
            /** @enum {string} */
            outcome: "accepted" | "refused" | "no_answer";
            devices: number;
            delivered: number;
            /** @description Devices the provider called gone; their tokens were removed. */
            gone: number;
            /** @description The first refusal or failure, for support (never a token). */
            reason?: string;
        };
        /** Format: uuid */
        Uuid: string;
        /** @enum {string} */
        SessionType: "video_live" | "audio_live";
        /** @description Trimmed; empty after trimming is no title. No control characters. */
        SessionTitle: string | null;
        /** @enum {string} */
        ErrorCode: "UNAUTHORIZED" | "SESSION_NOT_FOUND" | "SUBSCRIPTION_REQUIRED" | "PAYMENT_REQUIRED" | "RATE_LIMITED" | "INTERNAL_ERROR" | "INVALID_REQUEST" | "CALL_NOT_FOUND" | "FORBIDDEN" | "SESSION_ENDED" | "CALL_ENDED" | "CALL_NOT_ACTIVE" | "ALREADY_LIVE" | "METHOD_NOT_ALLOWED" | "SERVICE_UNAVAILABLE" | "BUSY" | "INVALID_TRANSITION" | "CALL_EXPIRED" | "PUSH_FAILED" | "USER_NOT_FOUND" | "CANNOT_CALL_SELF" | "CALLEE_UNREACHABLE" | "INVALID_SIGNATURE" | "NOT_FOUND" | "PAYLOAD_TOO_LARGE" | "TIMEOUT";
        ErrorBody: {
            /** @constant */
            success: false;
            errorCode: components["schemas"]["ErrorCode"];
            error: string;
            retryable: boolean;
            retryAfterSeconds?: number;
            /** @description The call's status (BUSY, INVALID_TRANSITION, CALL_EXPIRED, CALL_ENDED, CALL_NOT_ACTIVE). */
            status?: string;
            /** @description PAYMENT_REQUIRED. */
            priceCoins?: number;
            /** @description ALREADY_LIVE. */
            sessionId?: string;
            /** @description INVALID_REQUEST. */
            field?: string;
            /** @description INVALID_REQUEST, in English for developers. */
            details?: string;
            /** @description The call as it is now (INVALID_TRANSITION, CALL_EXPIRED). */
            call?: components["schemas"]["Call"];
            /** @description PUSH_FAILED: what each provider said. */
            push?: components["schemas"]["PushOutcomes"];
        };
        Health: {
            /** @enum {string} */
            status: "ok" | "degraded";
            /** @enum {string} */
            database: "ok" | "unreachable" | "misconfigured";
            /** @description With `misconfigured`: which variables must agree. */
            reason?: string;
            version?: string;
        };
        TokenAnswer: {
            /** @constant */
            success: true;
            token: string;
            wsUrl: string;
            roomName: string;
            /** Format: uuid */
            identity: string;
            /** Format: date-time */
            expiresAt: string;
            /** @enum {string} */
            role?: "host" | "viewer" | "caller" | "callee";
        };
        /** @enum {string} */
        SessionStatus: "live" | "host_disconnected" | "paused" | "ended";
        /**
         * @description The `status` of the `call_ended` push (APNs VoIP, FCM data, Expo data) that stops a ringing call on the callee's devices: the states a ringing call moves to.
         * @enum {string}
         */
        CallEndedStatus: "accepted" | "rejected" | "cancelled" | "missed";
        Session: {
            /** Format: uuid */
            id: string;
            /** Format: uuid */
            creatorId?: string;
            /** @enum {string} */
            type?: "video_live" | "audio_live";
            status: components["schemas"]["SessionStatus"];
            /** @enum {string} */
            access?: "public" | "subscribers" | "paid";
            priceCoins?: number;
            title?: string | null;
            roomName: string;
            /** Format: date-time */
            createdAt?: string;
            endReason?: string;
            /** Format: date-time */
            endedAt?: string;
        };
        Call: {
            /** Format: uuid */
            id: string;
            /** Format: uuid */
            callerId: string;
            /** Format: uuid */
            calleeId: string;
            /** @enum {string} */
            callType: "audio" | "video";
            /** @enum {string} */
            status: "initiated" | "ringing" | "accepted" | "live" | "ended" | "failed" | "missed" | "rejected" | "busy" | "cancelled";
            roomName: string;
            /** Format: date-time */
            createdAt: string;
            /** Format: date-time */
            ringingAt: string | null;
            /** Format: date-time */
            acceptedAt: string | null;
            /** Format: date-time */
            liveAt: string | null;
            /** Format: date-time */
            endedAt: string | null;
            endReason: string | null;
        };
    };
    responses: {
        /** @description The error contract. */
        Error: {
            headers: {
                /** @description Seconds, for RATE_LIMITED and SERVICE_UNAVAILABLE. */
                "Retry-After"?: number;
                /** @description For METHOD_NOT_ALLOWED (405): the methods the path takes, comma-separated, e.g. `GET, HEAD`. */
                Allow?: string;
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorBody"];
            };
        };
        /** @description `PAYLOAD_TOO_LARGE`: the body is over 1 MiB, refused by the runtime host. Never retried. */
        PayloadTooLarge: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorBody"];
            };
        };
        /** @description `TIMEOUT`: the component did not answer within the host's request timeout. The request may or may not have taken effect: resend (3 times, exponential backoff) only what is safe to send twice. */
        Timeout: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorBody"];
            };
        };
    };
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    openapi: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description This document, as YAML (`application/yaml; charset=utf-8`). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/yaml": {
                        openapi: string;
                        info: Record<string, never>;
                        paths: Record<string, never>;
                        components: Record<string, never>;
                    };
                };
            };
            504: components["responses"]["Timeout"];
        };
    };
    openapiHead: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description As `GET`, without the body. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            504: components["responses"]["Timeout"];
        };
    };
    health: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The service and its database answer. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
            /** @description The allow-list refuses the database's address: `database_url` and `database_host` disagree (`database: misconfigured`, with `reason`). A configuration error, not an outage. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
            /** @description The database does not answer. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
            504: components["responses"]["Timeout"];
        };
    };
    healthHead: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description As `GET`, without the body: the service and its database answer. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description As `GET`, without the body: the allow-list refuses the database's address. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description As `GET`, without the body: the database does not answer. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            504: components["responses"]["Timeout"];
        };
    };
    getLivekitToken: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    sessionId: components["schemas"]["Uuid"];
                } | {
                    callId: components["schemas"]["Uuid"];
                };
            };
        };
        responses: {
            /** @description A LiveKit token for the session or call. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TokenAnswer"];
                };
            };
            413: components["responses"]["PayloadTooLarge"];
            504: components["responses"]["Timeout"];
            default: components["responses"]["Error"];
        };
    };
    liveSessionStart: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    type: components["schemas"]["SessionType"];
                    /** @constant */
                    access: "paid";
                    priceCoins: number;
                    title?: components["schemas"]["SessionTitle"];
                } | {
                    type: components["schemas"]["SessionType"];
                    /**
                     * @default public
                     * @enum {string}
                     */
                    access?: "public" | "subscribers";
                    title?: components["schemas"]["SessionTitle"];
                };
            };
        };
        responses: {
            /** @description The session is live; the host's publisher token. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TokenAnswer"] & {
                        session: components["schemas"]["Session"];
                    };
                };
            };
            413: components["responses"]["PayloadTooLarge"];
            504: components["responses"]["Timeout"];
            default: components["responses"]["Error"];
        };
    };
    liveSessionEnd: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    sessionId: components["schemas"]["Uuid"];
                };
            };
        };
        responses: {
            /** @description The session is ended (idempotent). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @constant */
                        success: true;
                        endedNow: boolean;
                        session: components["schemas"]["Session"];
                        /** @enum {string} */
                        roomDeletion: "done" | "pending";
                    };
                };
            };
            413: components["responses"]["PayloadTooLarge"];
            504: components["responses"]["Timeout"];
            default: components["responses"]["Error"];
        };
    };
    liveSessionStatus: {
        parameters: {
            query: {
                sessionId: components["schemas"]["Uuid"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The viewer-facing state of a broadcast. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @constant */
                        success: true;
                        /** Format: uuid */
                        sessionId: string;
                        status: components["schemas"]["SessionStatus"];
                        /** Format: date-time */
                        hostLeftAt?: string | null;
                        /** Format: date-time */
                        endedAt?: string | null;
                        endReason?: string | null;
                        /** Format: date-time */
                        graceEndsAt?: string | null;
                    };
                };
            };
            504: components["responses"]["Timeout"];
            default: components["responses"]["Error"];
        };
    };
    callInitiate: {
        parameters: {
            query?: never;
            header?: {
                /** @description A fresh UUID per call the user starts, reused on its resends (the client kit sends one and resends once after a 503). Anything but a UUID is 400 `INVALID_REQUEST` with `field` `Idempotency-Key`. Another caller's identical key is unrelated. */
                "Idempotency-Key"?: components["schemas"]["Uuid"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    calleeId: components["schemas"]["Uuid"];
                    /**
                     * @default audio
                     * @enum {string}
                     */
                    callType?: "audio" | "video";
                };
            };
        };
        responses: {
            /** @description The callee's devices ring; the caller's token. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TokenAnswer"] & {
                        call: components["schemas"]["Call"];
                        push: components["schemas"]["PushOutcomes"];
                    };
                };
            };
            413: components["responses"]["PayloadTooLarge"];
            504: components["responses"]["Timeout"];
            default: components["responses"]["Error"];
        };
    };
    callAction: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    callId: components["schemas"]["Uuid"];
                    /** @enum {string} */
                    action: "accept" | "reject" | "cancel" | "end";
                };
            };
        };
        responses: {
            /** @description The call after the action (`changed` false for a repeat). `accept` adds the callee's token fields; `end` adds `roomDeletion`. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @constant */
                        success: true;
                        changed: boolean;
                        call: components["schemas"]["Call"];
                        token?: string;
                        wsUrl?: string;
                        roomName?: string;
                        identity?: string;
                        /** Format: date-time */
                        expiresAt?: string;
                        role?: string;
                        /** @enum {string} */
                        roomDeletion?: "done" | "pending";
                    };
                };
            };
            413: components["responses"]["PayloadTooLarge"];
            504: components["responses"]["Timeout"];
            default: components["responses"]["Error"];
        };
    };
    pushTokenRegister: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description The device's push token as the OS gave it (Expo, APNs or FCM), sent unchanged. */
                    token: string;
                    /** @enum {string} */
                    platform: "ios" | "android" | "web";
                    /**
                     * @description The provider the token is for: Expo's push API, Apple's VoIP pushes (PushKit) or FCM. `apns_voip` goes only with platform `ios`, `fcm` only with `android` or `web`; another pairing is 400 `INVALID_REQUEST` with `field: kind`. An `apns_voip` token is hex, an `fcm` token letters, digits and `-_:.` (else `field: token`). A device may register several kinds, one call per token.
                     * @default expo
                     * @enum {string}
                     */
                    kind?: "expo" | "apns_voip" | "fcm";
                } & (unknown & unknown);
            };
        };
        responses: {
            /** @description The device token is registered to the caller. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @constant */
                        success: true;
                        token: {
                            platform?: string;
                            /** @enum {string} */
                            kind?: "expo" | "apns_voip" | "fcm";
                            /** Format: date-time */
                            updatedAt?: string;
                            /** @description True when the server did not have this token before this request (a new device, or one whose token the server had removed as dead): the device was unknown and is registered again now. A user keeps at most 20 devices: registering another removes the least recently registered. */
                            created?: boolean;
                        };
                    };
                };
            };
            413: components["responses"]["PayloadTooLarge"];
            504: components["responses"]["Timeout"];
            default: components["responses"]["Error"];
        };
    };
    pushTokenUnregister: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description The token as it was registered. */
                    token: string;
                };
            };
        };
        responses: {
            /** @description The caller no longer has this token registered. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @constant */
                        success: true;
                    };
                };
            };
            413: components["responses"]["PayloadTooLarge"];
            504: components["responses"]["Timeout"];
            default: components["responses"]["Error"];
        };
    };
    livekitWebhook: {
        parameters: {
            query?: never;
            header: {
                Authorization: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/webhook+json": Record<string, never>;
            };
        };
        responses: {
            /** @description Applied, a duplicate, stale, or ignored. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @constant */
                        success: true;
                        outcome: string;
                    };
                };
            };
            413: components["responses"]["PayloadTooLarge"];
            504: components["responses"]["Timeout"];
            default: components["responses"]["Error"];
        };
    };
    cleanupOrphans: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description What the run did. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @constant */
                        success: true;
                        summary: {
                            steps?: {
                                [key: string]: number;
                            };
                            livekitErrors?: number;
                            leftForNextRun?: {
                                [key: string]: number;
                            };
                            durationMs?: number;
                            /** @description The run met `sweep_deadline_seconds`; the rest waits for the next run. */
                            deadlineReached?: boolean;
                            /** @description Present when the run did nothing because another run holds the sweep's lease. */
                            skipped?: string;
                        };
                    };
                };
            };
            504: components["responses"]["Timeout"];
            default: components["responses"]["Error"];
        };
    };
}
